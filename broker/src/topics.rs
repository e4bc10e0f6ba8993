//! Topic changes as metadata records: creating topics (CreateTopics and Metadata's
//! auto-creation), deleting them, adding partitions and altering config overrides. Each change
//! is decided on the metadata shard against its image, recorded durably, then applied on every
//! shard; callers get one outcome per topic, in request order.

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
    Ok(merge_outcomes(checks, outcomes, validate_only))
}

/// One outcome per checked topic: its refusal, or the outcome of its record (records were
/// made, in order, for the topics whose check passed, unless only validating).
fn merge_outcomes(
    checks: Vec<Result<(), TopicError>>,
    outcomes: Vec<crate::shard::RecordOutcome>,
    validate_only: bool,
) -> Vec<Result<(), TopicError>> {
    let mut outcomes = outcomes.into_iter();
    checks
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
        .collect()
}

/// The outcomes of `count` topic changes when the metadata shard is gone (the broker stops).
pub fn stopping(count: usize) -> Vec<Result<(), TopicError>> {
    (0..count)
        .map(|_| {
            Err(TopicError::new(
                ErrorCode::NotController,
                "the broker is stopping",
            ))
        })
        .collect()
}

/// Resolves `wanted` topics and records one change for each found; returns one outcome per
/// topic, in order. `change` turns a found topic into its record or a refusal.
async fn change_topics<W, F>(
    shard: &Rc<Shard>,
    wanted: Vec<W>,
    validate_only: bool,
    change: F,
) -> Result<Vec<Result<(), TopicError>>, ShardGone>
where
    W: Send + 'static,
    F: Fn(&MetadataImage, usize, &W) -> Result<MetadataRecord, TopicError> + Send + 'static,
{
    let (outcomes, checks) = shard
        .change_metadata(move |image, shard_count| {
            let mut records = Vec::new();
            let checks: Vec<Result<(), TopicError>> = wanted
                .iter()
                .map(|want| {
                    let record = change(image, shard_count, want)?;
                    if !validate_only {
                        records.push(record);
                    }
                    Ok(())
                })
                .collect();
            (records, checks)
        })
        .await?;
    Ok(merge_outcomes(checks, outcomes, validate_only))
}

/// A topic named by name or by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicRef {
    Name(String),
    Id(TopicId),
}

fn find<'a>(
    image: &'a MetadataImage,
    topic: &TopicRef,
) -> Result<&'a crate::metadata::TopicInfo, TopicError> {
    match topic {
        TopicRef::Name(name) => image.topic(name).ok_or_else(|| {
            TopicError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("topic `{name}` does not exist"),
            )
        }),
        TopicRef::Id(id) => image.topic_by_id(*id).ok_or_else(|| {
            TopicError::new(ErrorCode::UnknownTopicId, "no topic has this id".to_owned())
        }),
    }
}

/// Internal topics keep their partitions: groups are placed by partition count.
fn refuse_internal(name: &str, what: &str) -> Result<(), TopicError> {
    if crate::group::is_internal_topic(name) {
        return Err(TopicError::new(
            ErrorCode::InvalidRequest,
            format!("internal topic `{name}` cannot be {what}"),
        ));
    }
    Ok(())
}

/// Deletes topics (their data is removed by the shards that own it).
pub async fn delete_topics(
    shard: &Rc<Shard>,
    topics: Vec<TopicRef>,
) -> Result<Vec<Result<(), TopicError>>, ShardGone> {
    change_topics(shard, topics, false, |image, _, topic| {
        let info = find(image, topic)?;
        refuse_internal(&info.name, "deleted")?;
        Ok(MetadataRecord::DeleteTopic { id: info.id })
    })
    .await
}

/// Raises a topic's partition count to `total`, placing the new partitions on shards.
pub async fn create_partitions(
    shard: &Rc<Shard>,
    requests: Vec<(String, i32)>,
    validate_only: bool,
) -> Result<Vec<Result<(), TopicError>>, ShardGone> {
    change_topics(shard, requests, validate_only, |image, shard_count, (name, total)| {
        let info = find(image, &TopicRef::Name(name.clone()))?;
        refuse_internal(&info.name, "given more partitions")?;
        let current = info.partitions.len() as i32;
        if *total <= current || *total as usize > PARTITIONS_PER_TOPIC_MAX {
            return Err(TopicError::new(
                ErrorCode::InvalidPartitions,
                format!(
                    "topic `{name}` has {current} partitions; the new count must be above that and at most {PARTITIONS_PER_TOPIC_MAX}, not {total}"
                ),
            ));
        }
        let new_count = (*total - current) as usize;
        Ok(MetadataRecord::CreatePartitions {
            id: info.id,
            new_partition_shards: place_partitions(image, shard_count, new_count),
        })
    })
    .await
}

/// A change to one topic's config overrides, worked out from its current overrides: the
/// overrides to set and the names to remove, or a refusal.
pub type ConfigChange = Box<
    dyn Fn(
            &std::collections::BTreeMap<String, String>,
        ) -> Result<(Vec<(String, String)>, Vec<String>), TopicError>
        + Send,
>;

/// Alters topic configs: each change is validated against the config table and recorded.
pub async fn alter_topic_configs(
    shard: &Rc<Shard>,
    changes: Vec<(String, ConfigChange)>,
    validate_only: bool,
) -> Result<Vec<Result<(), TopicError>>, ShardGone> {
    change_topics(shard, changes, validate_only, |image, _, (name, change)| {
        let info = find(image, &TopicRef::Name(name.clone()))?;
        let (set, remove) = change(&info.configs)?;
        topic_config::validate_all(
            set.iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        )
        .map_err(|reason| TopicError::new(ErrorCode::InvalidConfig, reason))?;
        if let Some(unknown) = remove
            .iter()
            .find(|name| topic_config::spec(name).is_none())
        {
            return Err(TopicError::new(
                ErrorCode::InvalidConfig,
                format!("unknown topic config `{unknown}`"),
            ));
        }
        Ok(MetadataRecord::AlterTopicConfigs {
            id: info.id,
            set,
            remove,
        })
    })
    .await
}
