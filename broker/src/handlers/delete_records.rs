//! DeleteRecords: moves partitions' log start offsets forward (records below become
//! unreadable, and whole segments below are deleted). Offset -1 means the high watermark; an
//! offset above the high watermark is OFFSET_OUT_OF_RANGE. The new log start is durable: the
//! partition checkpoint is written before the answer.

use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::error_code::ErrorCode;
use wire::messages::delete_records_request::DeleteRecordsRequest;
use wire::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsResponse, DeleteRecordsTopicResult,
};

use super::partition_calls::PartitionCalls;
use super::{storage_error_code, Request};
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=2;

/// "Up to the high watermark".
const HIGH_WATERMARK: i64 = -1;

pub async fn handle(
    shard: Rc<Shard>,
    _request: Request,
    body: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let answers = PartitionCalls::locate(
        &shard,
        body.topics.iter().map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|partition| (partition.partition_index, partition.offset))
                .collect();
            (topic.name.as_str(), partitions)
        }),
    )
    .run(
        &shard,
        |partition, offset| {
            Box::pin(async move {
                let high_watermark = partition.high_watermark().0;
                let target = if offset == HIGH_WATERMARK {
                    high_watermark
                } else {
                    offset
                };
                if target < 0 || target > high_watermark {
                    return (ErrorCode::OffsetOutOfRange, -1);
                }
                match partition
                    .log
                    .advance_log_start(storage::Offset(target))
                    .await
                {
                    Ok(start) => (ErrorCode::None, start.0),
                    Err(error) => (storage_error_code(&error), -1),
                }
            })
        },
        (ErrorCode::UnknownTopicOrPartition, -1),
        (ErrorCode::NotLeaderOrFollower, -1),
    )
    .await;
    DeleteRecordsResponse {
        topics: body
            .topics
            .iter()
            .zip(answers)
            .map(|(topic, answers)| DeleteRecordsTopicResult {
                name: topic.name.clone(),
                partitions: topic
                    .partitions
                    .iter()
                    .zip(answers)
                    .map(
                        |(partition, (error, low_watermark))| DeleteRecordsPartitionResult {
                            partition_index: partition.partition_index,
                            low_watermark,
                            error_code: error.code(),
                            ..Default::default()
                        },
                    )
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
