//! CreatePartitions: raise a topic's partition count. New partitions are placed on shards by
//! the same balanced rule as new topics; manual assignments must name only this broker.

use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::codec::KStr;
use wire::error_code::ErrorCode;
use wire::messages::create_partitions_request::CreatePartitionsRequest;
use wire::messages::create_partitions_response::{
    CreatePartitionsResponse, CreatePartitionsTopicResult,
};

use super::Request;
use crate::shard::Shard;
use crate::topics::{create_partitions, stopping, TopicError};

pub const VERSIONS: RangeInclusive<i16> = 0..=3;

pub async fn handle(
    shard: Rc<Shard>,
    _request: Request,
    body: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let node = shard.config.node_id;
    let mut results: Vec<(KStr, Option<TopicError>)> = Vec::new();
    let mut requested = Vec::new();
    for topic in &body.topics {
        let bad_assignment = topic.assignments.as_ref().is_some_and(|assignments| {
            assignments
                .iter()
                .any(|assignment| assignment.broker_ids != [node])
        });
        if bad_assignment {
            results.push((
                topic.name.clone(),
                Some(TopicError::new(
                    ErrorCode::InvalidReplicaAssignment,
                    format!("new partitions must be assigned to broker {node} alone"),
                )),
            ));
        } else {
            requested.push((results.len(), (topic.name.to_string(), topic.count)));
            results.push((topic.name.clone(), None));
        }
    }
    let positions: Vec<usize> = requested.iter().map(|(position, _)| *position).collect();
    let outcomes = create_partitions(
        &shard,
        requested.into_iter().map(|(_, request)| request).collect(),
        body.validate_only,
    )
    .await
    .unwrap_or_else(|_| stopping(positions.len()));
    for (position, outcome) in positions.into_iter().zip(outcomes) {
        results[position].1 = outcome.err();
    }
    CreatePartitionsResponse {
        results: results
            .into_iter()
            .map(|(name, error)| {
                let (error_code, error_message) = match error {
                    Some(error) => (error.code.code(), Some(KStr::from(error.message))),
                    None => (0, None),
                };
                CreatePartitionsTopicResult {
                    name,
                    error_code,
                    error_message,
                    ..Default::default()
                }
            })
            .collect(),
        ..Default::default()
    }
}
