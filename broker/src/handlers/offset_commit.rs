//! OffsetCommit: stores a group's consumed positions in `__consumer_offsets` and answers once
//! they are durable. Commits from members are checked against the group (UNKNOWN_MEMBER_ID,
//! ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS, FENCED_INSTANCE_ID); commits with generation -1
//! and no member id come from consumers that assign partitions themselves and are accepted
//! while the group has no members. Unknown partitions get UNKNOWN_TOPIC_OR_PARTITION and
//! metadata above `offset_metadata_bytes_max` OFFSET_METADATA_TOO_LARGE, each on its own.

use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::error_code::ErrorCode;
use wire::messages::offset_commit_request::OffsetCommitRequest;
use wire::messages::offset_commit_response::{
    OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};

use super::{now_ms, Request};
use crate::group::log::OffsetValue;
use crate::group::{on_coordinator, Commit, Identity};
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=9;

/// Generation and member id are in the request from this version.
const MEMBER_VERSION: i16 = 1;

pub async fn handle(
    shard: Rc<Shard>,
    request: Request,
    body: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let now = now_ms();
    let metadata_max = shard.config.groups.offset_metadata_bytes_max;
    // One answer per partition, in request order; `None` until the coordinator answers.
    let mut answers: Vec<Vec<Option<ErrorCode>>> = Vec::with_capacity(body.topics.len());
    let mut commits: Vec<Commit> = Vec::new();
    {
        let image = shard.metadata.borrow();
        for topic in &body.topics {
            let partition_count = image.topic(&topic.name).map(|info| info.partitions.len());
            let mut topic_answers = Vec::with_capacity(topic.partitions.len());
            for partition in &topic.partitions {
                let known = partition_count.is_some_and(|count| {
                    (0..count as i64).contains(&i64::from(partition.partition_index))
                });
                let metadata_len = partition
                    .committed_metadata
                    .as_ref()
                    .map_or(0, |text| text.len());
                if !known {
                    topic_answers.push(Some(ErrorCode::UnknownTopicOrPartition));
                } else if metadata_len > metadata_max {
                    topic_answers.push(Some(ErrorCode::OffsetMetadataTooLarge));
                } else {
                    topic_answers.push(None);
                    commits.push((
                        topic.name.to_string(),
                        partition.partition_index,
                        OffsetValue {
                            offset: partition.committed_offset,
                            leader_epoch: partition.committed_leader_epoch,
                            metadata: partition
                                .committed_metadata
                                .as_ref()
                                .map(|text| text.to_string()),
                            commit_timestamp_ms: now,
                        },
                    ));
                }
            }
            answers.push(topic_answers);
        }
    }
    let group_id = body.group_id.to_string();
    let (who, generation_id) = if request.version >= MEMBER_VERSION {
        (
            Identity {
                member_id: body.member_id.to_string(),
                instance_id: body.group_instance_id.as_ref().map(|id| id.to_string()),
            },
            body.generation_id_or_member_epoch,
        )
    } else {
        (Identity::default(), -1)
    };
    let target = group_id.clone();
    let outcome = on_coordinator(&shard, &target, move |owner, partition| async move {
        owner
            .groups
            .commit(&partition, &group_id, who, generation_id, commits)
            .await
    })
    .await
    .and_then(|outcome| outcome);
    let committed = outcome.err().unwrap_or(ErrorCode::None);
    OffsetCommitResponse {
        topics: body
            .topics
            .iter()
            .zip(answers)
            .map(|(topic, answers)| OffsetCommitResponseTopic {
                name: topic.name.clone(),
                partitions: topic
                    .partitions
                    .iter()
                    .zip(answers)
                    .map(|(partition, answer)| OffsetCommitResponsePartition {
                        partition_index: partition.partition_index,
                        error_code: answer.unwrap_or(committed).code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
