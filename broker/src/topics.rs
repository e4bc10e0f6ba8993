//! Creating topics: shared by CreateTopics and Metadata's auto-creation.

use std::rc::Rc;

use wire::error_code::ErrorCode;

use crate::metadata::image::{check_topic_name, PARTITIONS_PER_TOPIC_MAX};
use crate::metadata::placement::place_partitions;
use crate::metadata::{MetadataImage, MetadataRecord, TopicId};
use crate::runtime::mesh::ShardGone;
use crate::shard::Shard;
use crate::topic_config;

/// A topic to create.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    pub partition_count: i32,
    pub configs: Vec<(String, String)>,
}

/// Why a topic was not created: the Kafka error code and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicError {
    pub code: ErrorCode,
    pub message: String,
}

impl TopicError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Checks `topic` against the image (name, existence, partition count, configs).
pub fn check_new_topic(image: &MetadataImage, topic: &NewTopic) -> Result<(), TopicError> {
    check_topic_name(&topic.name)
        .map_err(|error| TopicError::new(ErrorCode::InvalidTopicException, error.to_string()))?;
    if image.topic(&topic.name).is_some() {
        return Err(TopicError::new(
            ErrorCode::TopicAlreadyExists,
            format!("topic `{}` already exists", topic.name),
        ));
    }
    if topic.partition_count < 1 || topic.partition_count as usize > PARTITIONS_PER_TOPIC_MAX {
        return Err(TopicError::new(
            ErrorCode::InvalidPartitions,
            format!(
                "{} partitions is outside [1, {PARTITIONS_PER_TOPIC_MAX}]",
                topic.partition_count
            ),
        ));
    }
    topic_config::validate_all(
        topic
            .configs
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    )
    .map_err(|reason| TopicError::new(ErrorCode::InvalidConfig, reason))
}

/// Creates `topics` (each checked first; a topic that fails its check is not created) and
/// returns one outcome per topic, in order. With `validate_only` nothing is created.
pub async fn create_topics(
    shard: &Rc<Shard>,
    topics: Vec<NewTopic>,
    validate_only: bool,
) -> Result<Vec<Result<(), TopicError>>, ShardGone> {
    let (outcomes, checks) = shard
        .change_metadata(move |image, shard_count| {
            let mut checks = Vec::with_capacity(topics.len());
            let mut valid = Vec::new();
            for (position, topic) in topics.iter().enumerate() {
                let duplicate = topics[..position]
                    .iter()
                    .any(|earlier| earlier.name == topic.name);
                let check = if duplicate {
                    Err(TopicError::new(
                        ErrorCode::InvalidRequest,
                        format!("topic `{}` is named twice in the request", topic.name),
                    ))
                } else {
                    check_new_topic(image, topic)
                };
                if check.is_ok() {
                    valid.push(topic.clone());
                }
                checks.push(check);
            }
            if validate_only {
                return (Vec::new(), checks);
            }
            let total: usize = valid
                .iter()
                .map(|topic| topic.partition_count as usize)
                .sum();
            let mut shards = place_partitions(image, shard_count, total).into_iter();
            let records = valid
                .into_iter()
                .map(|topic| MetadataRecord::CreateTopic {
                    partition_shards: shards
                        .by_ref()
                        .take(topic.partition_count as usize)
                        .collect(),
                    name: topic.name,
                    id: TopicId::random(),
                    configs: topic.configs,
                })
                .collect();
            (records, checks)
        })
        .await?;
    // Records were made for the topics whose check passed, in order.
    let mut outcomes = outcomes.into_iter();
    Ok(checks
        .into_iter()
        .map(|check| {
            check?;
            if validate_only {
                return Ok(());
            }
            match outcomes.next() {
                Some(Ok(())) => Ok(()),
                Some(Err(reason)) => Err(TopicError::new(ErrorCode::UnknownServerError, reason)),
                None => Err(TopicError::new(
                    ErrorCode::UnknownServerError,
                    "the metadata change was not recorded",
                )),
            }
        })
        .collect())
}
