//! CreateTopics: new topics with their partition counts and config overrides.
//!
//! Single node: replication factor -1 or 1 (anything else is INVALID_REPLICATION_FACTOR);
//! manual assignments are accepted when every partition names only this broker. A partition
//! count of -1 takes `default_partitions`. v5+ answers with the topic's partition count,
//! replication factor and every config with its effective value; v7 with the topic id.

use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::codec::{KStr, Uuid};
use wire::error_code::ErrorCode;
use wire::messages::create_topics_request::{CreatableTopic, CreateTopicsRequest};
use wire::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult, CreateTopicsResponse,
};

use super::config_resources::{SOURCE_DEFAULT, SOURCE_TOPIC};
use super::Request;
use crate::shard::Shard;
use crate::topic_config::{self, TOPIC_CONFIGS};
use crate::topics::{create_topics, stopping, NewTopic, TopicError};

pub const VERSIONS: RangeInclusive<i16> = 0..=7;

fn to_new_topic(shard: &Shard, topic: &CreatableTopic) -> Result<NewTopic, TopicError> {
    let name = topic.name.to_string();
    if topic.replication_factor != -1 && topic.replication_factor != 1 {
        return Err(TopicError::new(
            ErrorCode::InvalidReplicationFactor,
            format!(
                "replication factor {} is not possible on a single broker (use 1 or -1)",
                topic.replication_factor
            ),
        ));
    }
    let mut partition_count = topic.num_partitions;
    if !topic.assignments.is_empty() {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err(TopicError::new(
                ErrorCode::InvalidRequest,
                "give either assignments or a partition count and replication factor",
            ));
        }
        let node = shard.config.node_id;
        let valid = topic
            .assignments
            .iter()
            .enumerate()
            .all(|(index, assignment)| {
                assignment.partition_index == index as i32 && assignment.broker_ids == [node]
            });
        if !valid {
            return Err(TopicError::new(
                ErrorCode::InvalidReplicaAssignment,
                format!("every partition must be assigned to broker {node} alone, numbered from 0"),
            ));
        }
        partition_count = topic.assignments.len() as i32;
    } else if partition_count == -1 {
        partition_count = shard.config.default_partitions;
    }
    let configs = topic
        .configs
        .iter()
        .filter_map(|config| {
            config
                .value
                .as_ref()
                .map(|value| (config.name.to_string(), value.to_string()))
        })
        .collect();
    Ok(NewTopic {
        name,
        partition_count,
        configs,
    })
}

pub async fn handle(
    shard: Rc<Shard>,
    request: Request,
    body: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let mut results: Vec<CreatableTopicResult> = Vec::with_capacity(body.topics.len());
    let mut to_create = Vec::new();
    for topic in &body.topics {
        match to_new_topic(&shard, topic) {
            Ok(new_topic) => {
                to_create.push((results.len(), new_topic));
                results.push(result(&topic.name, None));
            }
            Err(error) => results.push(result(&topic.name, Some(error))),
        }
    }
    let positions: Vec<usize> = to_create.iter().map(|(position, _)| *position).collect();
    let new_topics: Vec<NewTopic> = to_create.into_iter().map(|(_, topic)| topic).collect();
    let outcomes = create_topics(&shard, new_topics.clone(), body.validate_only).await;
    let outcomes = outcomes.unwrap_or_else(|_| stopping(positions.len()));
    for ((position, outcome), new_topic) in positions.into_iter().zip(outcomes).zip(new_topics) {
        let entry = &mut results[position];
        match outcome {
            Err(error) => {
                entry.error_code = error.code.code();
                entry.error_message = Some(KStr::from(error.message));
            }
            Ok(()) if request.version >= 5 => {
                entry.num_partitions = new_topic.partition_count;
                entry.replication_factor = 1;
                entry.configs = Some(described_configs(&new_topic.configs));
                if let Some(topic) = shard.metadata.borrow().topic(&new_topic.name) {
                    entry.topic_id = Uuid(topic.id.0);
                }
            }
            Ok(()) => {}
        }
    }
    CreateTopicsResponse {
        topics: results,
        ..Default::default()
    }
}

fn result(name: &KStr, error: Option<TopicError>) -> CreatableTopicResult {
    let (error_code, error_message) = match error {
        Some(error) => (error.code.code(), Some(KStr::from(error.message))),
        None => (0, None),
    };
    CreatableTopicResult {
        name: name.clone(),
        error_code,
        error_message,
        num_partitions: -1,
        replication_factor: -1,
        configs: None,
        ..Default::default()
    }
}

/// Every topic config with its effective value for a topic created with `overrides`.
fn described_configs(overrides: &[(String, String)]) -> Vec<CreatableTopicConfigs> {
    let overrides: std::collections::BTreeMap<String, String> = overrides.iter().cloned().collect();
    TOPIC_CONFIGS
        .iter()
        .map(|spec| CreatableTopicConfigs {
            name: KStr::from_static(spec.name),
            value: topic_config::effective(&overrides, spec.name)
                .map(|value| KStr::from(value.to_owned())),
            read_only: false,
            config_source: if overrides.contains_key(spec.name) {
                SOURCE_TOPIC
            } else {
                SOURCE_DEFAULT
            },
            is_sensitive: false,
            ..Default::default()
        })
        .collect()
}
