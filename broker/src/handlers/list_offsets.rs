//! ListOffsets: offsets by position (earliest, latest, max timestamp) or by timestamp.
//!
//! Special timestamps, as Kafka defines them: -1 latest (the high watermark), -2 earliest (the
//! log start offset), -3 the record with the largest timestamp (v7+), -4 earliest local
//! (v8+, the same as earliest without tiered storage), -5 latest tiered (v9+; no tiered
//! storage, so "none": offset -1). Any other value finds the first record whose timestamp is at
//! or after it; the search is by batch in storage, then by record inside the batch found.
//!
//! v0's multi-offset layout is not supported (no client in use needs it).

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::error_code::ErrorCode;
use wire::messages::list_offsets_request::ListOffsetsRequest;
use wire::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsResponse, ListOffsetsTopicResponse,
};

use super::{storage_error_code, Request};
use crate::partitions::{Partition, PartitionKey};
use crate::runtime::executors::ShardId;
use crate::shard::{owner_shard, Shard};

pub const VERSIONS: RangeInclusive<i16> = 1..=9;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// One lookup on the owning shard.
struct Lookup {
    slot: (usize, usize),
    key: PartitionKey,
    timestamp: i64,
}

/// The answer: (error, timestamp, offset).
type Found = (ErrorCode, i64, i64);

pub async fn handle(
    shard: Rc<Shard>,
    request: Request,
    body: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let mut answers: Vec<Vec<Found>> = body
        .topics
        .iter()
        .map(|topic| vec![(ErrorCode::UnknownTopicOrPartition, -1, -1); topic.partitions.len()])
        .collect();
    let mut by_shard: BTreeMap<ShardId, Vec<Lookup>> = BTreeMap::new();
    {
        let image = shard.metadata.borrow();
        for (topic_position, topic) in body.topics.iter().enumerate() {
            let Some(info) = image.topic(topic.name.as_str()) else {
                continue;
            };
            for (partition_position, partition) in topic.partitions.iter().enumerate() {
                let Some(placement) = usize::try_from(partition.partition_index)
                    .ok()
                    .and_then(|index| info.partitions.get(index))
                else {
                    continue;
                };
                by_shard
                    .entry(owner_shard(placement, shard.shard_count()))
                    .or_default()
                    .push(Lookup {
                        slot: (topic_position, partition_position),
                        key: PartitionKey {
                            topic: info.id,
                            index: partition.partition_index,
                        },
                        timestamp: partition.timestamp,
                    });
            }
        }
    }
    let mut calls = Vec::new();
    for (target, lookups) in by_shard {
        let slots: Vec<(usize, usize)> = lookups.iter().map(|lookup| lookup.slot).collect();
        let call = shard
            .mesh
            .start_call(target, &shard, move |owner: Rc<Shard>| async move {
                let mut found = Vec::with_capacity(lookups.len());
                for lookup in lookups {
                    let answer = match owner.partitions.get(lookup.key) {
                        Some(partition) => find_offset(&partition, lookup.timestamp).await,
                        None => (ErrorCode::NotLeaderOrFollower, -1, -1),
                    };
                    found.push((lookup.slot, answer));
                }
                found
            })
            .await;
        calls.push((slots, call));
    }
    for (slots, call) in calls {
        let result = match call {
            Ok(call) => call.result().await.ok(),
            Err(_) => None,
        };
        match result {
            Some(found) => {
                for (slot, answer) in found {
                    answers[slot.0][slot.1] = answer;
                }
            }
            None => {
                for slot in slots {
                    answers[slot.0][slot.1] = (ErrorCode::NotLeaderOrFollower, -1, -1);
                }
            }
        }
    }
    ListOffsetsResponse {
        topics: body
            .topics
            .iter()
            .zip(answers)
            .map(|(topic, answers)| ListOffsetsTopicResponse {
                name: topic.name.clone(),
                partitions: topic
                    .partitions
                    .iter()
                    .zip(answers)
                    .map(
                        |(partition, (error, timestamp, offset))| ListOffsetsPartitionResponse {
                            partition_index: partition.partition_index,
                            error_code: error.code(),
                            timestamp,
                            offset,
                            // Leader epochs exist from v4; the encoder refuses values a version lacks.
                            leader_epoch: if error == ErrorCode::None && request.version >= 4 {
                                0
                            } else {
                                -1
                            },
                            ..ListOffsetsPartitionResponse::default()
                        },
                    )
                    .collect(),
                ..ListOffsetsTopicResponse::default()
            })
            .collect(),
        ..ListOffsetsResponse::default()
    }
}

async fn find_offset(partition: &Partition, timestamp: i64) -> Found {
    let log = &partition.log;
    match timestamp {
        LATEST => (ErrorCode::None, -1, partition.high_watermark().0),
        EARLIEST | EARLIEST_LOCAL => (ErrorCode::None, -1, log.log_start_offset().0),
        LATEST_TIERED => (ErrorCode::None, -1, -1),
        MAX_TIMESTAMP => match log.max_timestamp().await {
            Ok(Some((timestamp, offset))) => (ErrorCode::None, timestamp, offset.0),
            Ok(None) => (ErrorCode::None, -1, -1),
            Err(error) => (storage_error_code(&error), -1, -1),
        },
        target if target < 0 => (ErrorCode::InvalidRequest, -1, -1),
        target => match log.offset_for_timestamp(target).await {
            Ok(Some((offset, timestamp))) => (ErrorCode::None, timestamp, offset.0),
            Ok(None) => (ErrorCode::None, -1, -1),
            Err(error) => (storage_error_code(&error), -1, -1),
        },
    }
}
