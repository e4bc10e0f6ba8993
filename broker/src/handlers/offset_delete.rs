//! OffsetDelete: removes a group's committed offsets for partitions it does not consume
//! (GROUP_SUBSCRIBED_TO_TOPIC for topics its members subscribe to), with tombstones in
//! `__consumer_offsets`.

use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::error_code::ErrorCode;
use wire::messages::offset_delete_request::OffsetDeleteRequest;
use wire::messages::offset_delete_response::{
    OffsetDeleteResponse, OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};

use super::Request;
use crate::group::on_coordinator;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=0;

pub async fn handle(
    shard: Rc<Shard>,
    _request: Request,
    body: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let known: Vec<Vec<bool>> = {
        let image = shard.metadata.borrow();
        body.topics
            .iter()
            .map(|topic| {
                let count = image
                    .topic(&topic.name)
                    .map_or(0, |info| info.partitions.len());
                topic
                    .partitions
                    .iter()
                    .map(|partition| {
                        usize::try_from(partition.partition_index).is_ok_and(|index| index < count)
                    })
                    .collect()
            })
            .collect()
    };
    let wanted: Vec<(String, Vec<i32>)> = body
        .topics
        .iter()
        .zip(&known)
        .map(|(topic, known)| {
            let partitions = topic
                .partitions
                .iter()
                .zip(known)
                .filter(|(_, known)| **known)
                .map(|(partition, _)| partition.partition_index)
                .collect();
            (topic.name.to_string(), partitions)
        })
        .collect();
    let group_id = body.group_id.to_string();
    let target = group_id.clone();
    let outcome = on_coordinator(&shard, &target, move |owner, partition| async move {
        owner
            .groups
            .delete_offsets(&partition, &group_id, wanted)
            .await
    })
    .await
    .and_then(|outcome| outcome);
    let answers = match outcome {
        Ok(answers) => answers,
        Err(error) => {
            return OffsetDeleteResponse {
                error_code: error.code(),
                ..Default::default()
            }
        }
    };
    OffsetDeleteResponse {
        topics: body
            .topics
            .iter()
            .zip(known)
            .zip(answers)
            .map(|((topic, known), answers)| {
                let mut answers = answers.into_iter();
                OffsetDeleteResponseTopic {
                    name: topic.name.clone(),
                    partitions: topic
                        .partitions
                        .iter()
                        .zip(known)
                        .map(|(partition, known)| OffsetDeleteResponsePartition {
                            partition_index: partition.partition_index,
                            error_code: if known {
                                answers.next().unwrap_or(ErrorCode::None)
                            } else {
                                ErrorCode::UnknownTopicOrPartition
                            }
                            .code(),
                        })
                        .collect(),
                }
            })
            .collect(),
        ..Default::default()
    }
}
