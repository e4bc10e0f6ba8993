//! OffsetForLeaderEpoch: the end offset of a leader epoch, which clients use to detect log
//! truncation after a leader change (KIP-320).
//!
//! A single node has one leader epoch, 0, for every batch (replication will bring more). So
//! epoch 0 ends at the log end offset; a later epoch is unknown (UNDEFINED_EPOCH -1 and offset
//! -1, as Kafka answers for an epoch above its latest). A `current_leader_epoch` above 0 is
//! UNKNOWN_LEADER_EPOCH (the client knows a newer leader than this one); -1 skips the check.

use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::error_code::ErrorCode;
use wire::messages::offset_for_leader_epoch_request::OffsetForLeaderEpochRequest;
use wire::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderEpochResponse, OffsetForLeaderTopicResult,
};

use super::partition_calls::PartitionCalls;
use super::Request;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=4;

/// The only leader epoch of a single node.
const LEADER_EPOCH: i32 = 0;
const UNDEFINED_EPOCH: i32 = -1;
const UNDEFINED_OFFSET: i64 = -1;

pub async fn handle(
    shard: Rc<Shard>,
    request: Request,
    body: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let answers = PartitionCalls::locate(
        &shard,
        body.topics.iter().map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|partition| {
                    (
                        partition.partition,
                        (partition.current_leader_epoch, partition.leader_epoch),
                    )
                })
                .collect();
            (topic.topic.as_str(), partitions)
        }),
    )
    .run(
        &shard,
        |partition, (current_leader_epoch, leader_epoch)| {
            Box::pin(async move {
                if current_leader_epoch > LEADER_EPOCH {
                    return (
                        ErrorCode::UnknownLeaderEpoch,
                        UNDEFINED_EPOCH,
                        UNDEFINED_OFFSET,
                    );
                }
                if leader_epoch == LEADER_EPOCH {
                    (
                        ErrorCode::None,
                        LEADER_EPOCH,
                        partition.log.log_end_offset().0,
                    )
                } else {
                    (ErrorCode::None, UNDEFINED_EPOCH, UNDEFINED_OFFSET)
                }
            })
        },
        (
            ErrorCode::UnknownTopicOrPartition,
            UNDEFINED_EPOCH,
            UNDEFINED_OFFSET,
        ),
        (
            ErrorCode::NotLeaderOrFollower,
            UNDEFINED_EPOCH,
            UNDEFINED_OFFSET,
        ),
    )
    .await;
    OffsetForLeaderEpochResponse {
        topics: body
            .topics
            .iter()
            .zip(answers)
            .map(|(topic, answers)| OffsetForLeaderTopicResult {
                topic: topic.topic.clone(),
                partitions: topic
                    .partitions
                    .iter()
                    .zip(answers)
                    .map(|(partition, (error, epoch, end_offset))| EpochEndOffset {
                        error_code: error.code(),
                        partition: partition.partition,
                        // The epoch is in the response from v1.
                        leader_epoch: if request.version >= 1 { epoch } else { -1 },
                        end_offset,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
