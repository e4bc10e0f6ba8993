//! ListOffsets: offsets by position (earliest, latest, max timestamp) or by timestamp.
//!
//! Special timestamps, as Kafka defines them: -1 latest (the high watermark), -2 earliest (the
//! log start offset), -3 the record with the largest timestamp (v7+), -4 earliest local
//! (v8+, the same as earliest without tiered storage), -5 latest tiered (v9+; no tiered
//! storage, so "none": offset -1). Any other value finds the first record whose timestamp is at
//! or after it; the search is by batch in storage, then by record inside the batch found
//! ([`first_record_at_or_after`]).
//!
//! v0's multi-offset layout is not supported (no client in use needs it).

use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::error_code::ErrorCode;
use wire::messages::list_offsets_request::ListOffsetsRequest;
use wire::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsResponse, ListOffsetsTopicResponse,
};

use super::partition_calls::PartitionCalls;
use super::{storage_error_code, Request};
use crate::partitions::Partition;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 1..=9;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// The answer: (error, timestamp, offset).
type Found = (ErrorCode, i64, i64);

pub async fn handle(
    shard: Rc<Shard>,
    request: Request,
    body: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let answers = PartitionCalls::locate(
        &shard,
        body.topics.iter().map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|partition| (partition.partition_index, partition.timestamp))
                .collect();
            (topic.name.as_str(), partitions)
        }),
    )
    .run(
        &shard,
        |partition, timestamp| Box::pin(async move { find_offset(&partition, timestamp).await }),
        (ErrorCode::UnknownTopicOrPartition, -1, -1),
        (ErrorCode::NotLeaderOrFollower, -1, -1),
    )
    .await;
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
            // Storage knows the batch; the answer is its first record with that timestamp.
            Ok(Some((timestamp, offset))) => first_record_at_or_after(partition, offset, timestamp)
                .await
                .unwrap_or((ErrorCode::None, timestamp, offset.0)),
            Ok(None) => (ErrorCode::None, -1, -1),
            Err(error) => (storage_error_code(&error), -1, -1),
        },
        target if target < 0 => (ErrorCode::InvalidRequest, -1, -1),
        target => match log.offset_for_timestamp(target).await {
            Ok(Some((offset, timestamp))) => first_record_at_or_after(partition, offset, target)
                .await
                .unwrap_or((ErrorCode::None, timestamp, offset.0)),
            Ok(None) => (ErrorCode::None, -1, -1),
            Err(error) => (storage_error_code(&error), -1, -1),
        },
    }
}

/// Largest batch decoded while refining a timestamp lookup (a batch is at most the topic's
/// max.message.bytes; decompressed records are bounded by this too).
const SEARCH_BATCH_BYTES_MAX: usize = 64 << 20;

/// Storage finds the batch (the one holding `offset`) whose max timestamp reaches `target`;
/// Kafka answers with the first record in it that does. Decodes that one batch (decompressing
/// it if needed) and returns the record's offset and timestamp, skipping records below the log
/// start. `None` (keep the batch-level answer) if the batch cannot be read.
async fn first_record_at_or_after(
    partition: &Partition,
    offset: storage::Offset,
    target: i64,
) -> Option<Found> {
    let read = partition
        .log
        .read(offset, 1, partition.high_watermark())
        .await
        .ok()?;
    let bytes = bytes::Bytes::from(read.to_vec());
    let batch = wire::records::Batch::split(bytes, SEARCH_BATCH_BYTES_MAX)
        .next()?
        .ok()?;
    let records = batch.records(SEARCH_BATCH_BYTES_MAX).ok()?;
    let log_start = partition.log.log_start_offset().0;
    for record in records {
        let record = record.ok()?;
        if record.offset() >= log_start && record.timestamp() >= target {
            return Some((ErrorCode::None, record.timestamp(), record.offset()));
        }
    }
    None
}
