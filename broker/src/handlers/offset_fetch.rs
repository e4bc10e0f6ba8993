//! OffsetFetch: a group's committed offsets, for the named partitions or (topics null, v2+)
//! every partition the group committed. One group before v8; several from v8 (KIP-709).
//! A partition without a commit answers offset -1, as does a group that does not exist.

use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::codec::KStr;
use wire::error_code::ErrorCode;
use wire::messages::offset_fetch_request::OffsetFetchRequest;
use wire::messages::offset_fetch_response::{
    OffsetFetchResponse, OffsetFetchResponseGroup, OffsetFetchResponsePartition,
    OffsetFetchResponsePartitions, OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};

use super::Request;
use crate::group::{on_coordinator, CommittedOffset, FetchedOffsets};
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=9;

/// Batched groups from this version.
const BATCHED_VERSION: i16 = 8;
/// A top-level error code from this version (before, errors are per partition).
const GROUP_ERROR_VERSION: i16 = 2;
/// Committed leader epochs from this version.
const LEADER_EPOCH_VERSION: i16 = 5;

/// One group's answer: its committed offsets, or why they could not be read.
type GroupAnswer = Result<FetchedOffsets, ErrorCode>;

async fn fetch_group(
    shard: &Rc<Shard>,
    group_id: String,
    topics: Option<Vec<(String, Vec<i32>)>>,
) -> GroupAnswer {
    let target = group_id.clone();
    on_coordinator(shard, &target, move |owner, _partition| async move {
        owner.groups.fetch_offsets(&group_id, topics)
    })
    .await
}

/// Offset, leader epoch, metadata of a partition's answer at `version`.
fn committed_fields(committed: Option<CommittedOffset>, version: i16) -> (i64, i32, KStr) {
    match committed {
        Some(committed) => (
            committed.offset,
            if version >= LEADER_EPOCH_VERSION {
                committed.leader_epoch
            } else {
                -1
            },
            KStr::from(committed.metadata.unwrap_or_default()),
        ),
        None => (-1, -1, KStr::new()),
    }
}

pub async fn handle(
    shard: Rc<Shard>,
    request: Request,
    body: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let version = request.version;
    if version >= BATCHED_VERSION {
        let mut groups = Vec::with_capacity(body.groups.len());
        for group in &body.groups {
            let topics = group.topics.as_ref().map(|topics| {
                topics
                    .iter()
                    .map(|topic| (topic.name.to_string(), topic.partition_indexes.clone()))
                    .collect()
            });
            let answer = fetch_group(&shard, group.group_id.to_string(), topics).await;
            groups.push(match answer {
                Ok(found) => OffsetFetchResponseGroup {
                    group_id: group.group_id.clone(),
                    topics: found
                        .into_iter()
                        .map(|(name, partitions)| OffsetFetchResponseTopics {
                            name: KStr::from(name),
                            partitions: partitions
                                .into_iter()
                                .map(|(index, committed)| {
                                    let (offset, epoch, metadata) =
                                        committed_fields(committed, version);
                                    OffsetFetchResponsePartitions {
                                        partition_index: index,
                                        committed_offset: offset,
                                        committed_leader_epoch: epoch,
                                        metadata: Some(metadata),
                                        ..Default::default()
                                    }
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                },
                Err(error) => OffsetFetchResponseGroup {
                    group_id: group.group_id.clone(),
                    error_code: error.code(),
                    ..Default::default()
                },
            });
        }
        return OffsetFetchResponse {
            groups,
            ..Default::default()
        };
    }
    let requested: Option<Vec<(String, Vec<i32>)>> = body.topics.as_ref().map(|topics| {
        topics
            .iter()
            .map(|topic| (topic.name.to_string(), topic.partition_indexes.clone()))
            .collect()
    });
    let answer = fetch_group(&shard, body.group_id.to_string(), requested.clone()).await;
    let (found, error) = match answer {
        Ok(found) => (found, ErrorCode::None),
        // Before v2 the error goes in every partition asked for.
        Err(error) => (
            requested
                .unwrap_or_default()
                .into_iter()
                .map(|(name, partitions)| {
                    (
                        name,
                        partitions.into_iter().map(|index| (index, None)).collect(),
                    )
                })
                .collect(),
            error,
        ),
    };
    let per_partition_error = if version < GROUP_ERROR_VERSION {
        error
    } else {
        ErrorCode::None
    };
    OffsetFetchResponse {
        error_code: if version >= GROUP_ERROR_VERSION {
            error.code()
        } else {
            0
        },
        topics: found
            .into_iter()
            .map(|(name, partitions)| OffsetFetchResponseTopic {
                name: KStr::from(name),
                partitions: partitions
                    .into_iter()
                    .map(|(index, committed)| {
                        let (offset, epoch, metadata) = committed_fields(committed, version);
                        OffsetFetchResponsePartition {
                            partition_index: index,
                            committed_offset: offset,
                            committed_leader_epoch: epoch,
                            metadata: Some(metadata),
                            error_code: per_partition_error.code(),
                            ..Default::default()
                        }
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
