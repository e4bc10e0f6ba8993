//! The in-memory metadata state that records are applied to.

use std::collections::BTreeMap;

use super::record::{MetadataRecord, TopicId};

/// Longest topic name, as Kafka allows.
pub const TOPIC_NAME_BYTES_MAX: usize = 249;
/// Most partitions one topic may have. A bound on what one request can make a broker create.
pub const PARTITIONS_PER_TOPIC_MAX: usize = 10_000;

/// A record that cannot be applied to the current image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("topic `{0}` already exists")]
    TopicExists(String),
    #[error("topic id {0:?} already exists")]
    TopicIdExists(TopicId),
    #[error("no topic with id {0:?}")]
    UnknownTopicId(TopicId),
    #[error("invalid topic name `{name}`: {reason}")]
    InvalidTopicName { name: String, reason: &'static str },
    #[error("invalid partition count {0}")]
    InvalidPartitionCount(usize),
    #[error("producer ids from {first} (count {count}) do not follow the reserved ones (next is {next})")]
    ProducerIdsOutOfOrder { first: i64, count: u32, next: i64 },
}

/// What the broker knows of one partition.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct PartitionInfo {
    /// The shard (core index) that owns the partition's log, as recorded at placement.
    pub shard: u32,
}

/// What the broker knows of one topic.
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct TopicInfo {
    pub name: String,
    pub id: TopicId,
    pub partitions: Vec<PartitionInfo>,
    /// Config overrides; settings not here take the broker default.
    pub configs: BTreeMap<String, String>,
}

/// The metadata state machine: the result of applying every record up to `applied_offset`.
#[derive(Debug, Clone, Default, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct MetadataImage {
    /// Offset of the last record applied; -1 for none.
    pub applied_offset: i64,
    topics_by_name: BTreeMap<String, TopicInfo>,
    names_by_id: BTreeMap<TopicId, String>,
    /// The first producer id not yet reserved by a [`MetadataRecord::ReserveProducerIds`].
    next_producer_id: i64,
}

/// The image as snapshot format version 1 stored it (before producer ids were reserved).
#[derive(Debug, Clone, Default, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct MetadataImageV1 {
    pub applied_offset: i64,
    topics_by_name: BTreeMap<String, TopicInfo>,
    names_by_id: BTreeMap<TopicId, String>,
}

impl From<MetadataImageV1> for MetadataImage {
    /// No producer id was handed out before version 2, so reservation starts at 0.
    fn from(old: MetadataImageV1) -> Self {
        Self {
            applied_offset: old.applied_offset,
            topics_by_name: old.topics_by_name,
            names_by_id: old.names_by_id,
            next_producer_id: 0,
        }
    }
}

/// Checks a topic name as Kafka does: 1 to 249 characters from `[a-zA-Z0-9._-]`, not `.` or
/// `..`.
pub fn check_topic_name(name: &str) -> Result<(), MetadataError> {
    let invalid = |reason| MetadataError::InvalidTopicName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("empty"));
    }
    if name.len() > TOPIC_NAME_BYTES_MAX {
        return Err(invalid("longer than 249 characters"));
    }
    if name == "." || name == ".." {
        return Err(invalid("`.` and `..` are not allowed"));
    }
    if !name
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
    {
        return Err(invalid(
            "only ASCII letters, digits, `.`, `_` and `-` are allowed",
        ));
    }
    Ok(())
}

impl MetadataImage {
    pub fn new() -> Self {
        Self {
            applied_offset: -1,
            ..Self::default()
        }
    }

    pub fn topic(&self, name: &str) -> Option<&TopicInfo> {
        self.topics_by_name.get(name)
    }

    pub fn topic_by_id(&self, id: TopicId) -> Option<&TopicInfo> {
        self.names_by_id
            .get(&id)
            .and_then(|name| self.topics_by_name.get(name))
    }

    /// Every topic, in name order.
    pub fn topics(&self) -> impl Iterator<Item = &TopicInfo> {
        self.topics_by_name.values()
    }

    /// How many partitions each shard owns, for `shard_count` shards. Partitions recorded on a
    /// shard that no longer exists count on `shard % shard_count`, where they are served.
    pub fn partitions_per_shard(&self, shard_count: usize) -> Vec<usize> {
        let shard_count = shard_count.max(1);
        let mut counts = vec![0usize; shard_count];
        for topic in self.topics_by_name.values() {
            for partition in &topic.partitions {
                counts[partition.shard as usize % shard_count] += 1;
            }
        }
        counts
    }

    /// The first producer id not yet reserved.
    pub fn next_producer_id(&self) -> i64 {
        self.next_producer_id
    }

    /// Checks `record` against the image without changing it.
    pub fn check(&self, record: &MetadataRecord) -> Result<(), MetadataError> {
        match record {
            MetadataRecord::CreateTopic {
                name,
                id,
                partition_shards,
                ..
            } => {
                check_topic_name(name)?;
                if self.topics_by_name.contains_key(name) {
                    return Err(MetadataError::TopicExists(name.clone()));
                }
                if self.names_by_id.contains_key(id) {
                    return Err(MetadataError::TopicIdExists(*id));
                }
                check_partition_count(partition_shards.len())
            }
            MetadataRecord::CreatePartitions {
                id,
                new_partition_shards,
            } => {
                let topic = self
                    .topic_by_id(*id)
                    .ok_or(MetadataError::UnknownTopicId(*id))?;
                if new_partition_shards.is_empty() {
                    return Err(MetadataError::InvalidPartitionCount(0));
                }
                check_partition_count(topic.partitions.len() + new_partition_shards.len())
            }
            MetadataRecord::DeleteTopic { id } | MetadataRecord::AlterTopicConfigs { id, .. } => {
                if self.names_by_id.contains_key(id) {
                    Ok(())
                } else {
                    Err(MetadataError::UnknownTopicId(*id))
                }
            }
            MetadataRecord::ReserveProducerIds { first, count } => {
                let fits = first
                    .checked_add(i64::from(*count))
                    .is_some_and(|_| *count > 0);
                if *first == self.next_producer_id && fits {
                    Ok(())
                } else {
                    Err(MetadataError::ProducerIdsOutOfOrder {
                        first: *first,
                        count: *count,
                        next: self.next_producer_id,
                    })
                }
            }
        }
    }

    /// Applies the record at `offset`. Offsets must increase by one.
    pub fn apply(&mut self, offset: i64, record: &MetadataRecord) -> Result<(), MetadataError> {
        assert_eq!(
            offset,
            self.applied_offset + 1,
            "metadata records must be applied in offset order"
        );
        self.check(record)?;
        match record {
            MetadataRecord::CreateTopic {
                name,
                id,
                partition_shards,
                configs,
            } => {
                self.names_by_id.insert(*id, name.clone());
                self.topics_by_name.insert(
                    name.clone(),
                    TopicInfo {
                        name: name.clone(),
                        id: *id,
                        partitions: partition_shards
                            .iter()
                            .map(|&shard| PartitionInfo { shard })
                            .collect(),
                        configs: configs.iter().cloned().collect(),
                    },
                );
            }
            MetadataRecord::CreatePartitions {
                id,
                new_partition_shards,
            } => {
                let topic = self.topic_mut(*id);
                topic.partitions.extend(
                    new_partition_shards
                        .iter()
                        .map(|&shard| PartitionInfo { shard }),
                );
            }
            MetadataRecord::DeleteTopic { id } => {
                let name = self.names_by_id.remove(id).expect("checked above");
                self.topics_by_name.remove(&name);
            }
            MetadataRecord::AlterTopicConfigs { id, set, remove } => {
                let topic = self.topic_mut(*id);
                for key in remove {
                    topic.configs.remove(key);
                }
                for (key, value) in set {
                    topic.configs.insert(key.clone(), value.clone());
                }
            }
            MetadataRecord::ReserveProducerIds { first, count } => {
                self.next_producer_id = first + i64::from(*count);
            }
        }
        self.applied_offset = offset;
        Ok(())
    }

    fn topic_mut(&mut self, id: TopicId) -> &mut TopicInfo {
        let name = self.names_by_id.get(&id).expect("checked above");
        self.topics_by_name
            .get_mut(name)
            .expect("name and id maps agree")
    }
}

fn check_partition_count(count: usize) -> Result<(), MetadataError> {
    if count == 0 || count > PARTITIONS_PER_TOPIC_MAX {
        return Err(MetadataError::InvalidPartitionCount(count));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(name: &str, partitions: u32) -> MetadataRecord {
        MetadataRecord::CreateTopic {
            name: name.to_owned(),
            id: TopicId::random(),
            partition_shards: (0..partitions).map(|index| index % 2).collect(),
            configs: vec![("retention.ms".into(), "1000".into())],
        }
    }

    #[test]
    fn create_alter_grow_and_delete_a_topic() {
        let mut image = MetadataImage::new();
        let record = create("orders", 3);
        let MetadataRecord::CreateTopic { id, .. } = record.clone() else {
            unreachable!()
        };
        image.apply(0, &record).unwrap();
        assert_eq!(image.topic("orders").unwrap().partitions.len(), 3);
        assert_eq!(image.partitions_per_shard(2), vec![2, 1]);

        image
            .apply(
                1,
                &MetadataRecord::AlterTopicConfigs {
                    id,
                    set: vec![("segment.bytes".into(), "1048576".into())],
                    remove: vec!["retention.ms".into()],
                },
            )
            .unwrap();
        let configs = &image.topic("orders").unwrap().configs;
        assert_eq!(
            configs.get("segment.bytes").map(String::as_str),
            Some("1048576")
        );
        assert!(!configs.contains_key("retention.ms"));

        image
            .apply(
                2,
                &MetadataRecord::CreatePartitions {
                    id,
                    new_partition_shards: vec![1, 1],
                },
            )
            .unwrap();
        assert_eq!(image.topic_by_id(id).unwrap().partitions.len(), 5);

        image.apply(3, &MetadataRecord::DeleteTopic { id }).unwrap();
        assert!(image.topic("orders").is_none());
        assert!(image.topic_by_id(id).is_none());
        assert_eq!(image.applied_offset, 3);
    }

    #[test]
    fn invalid_records_are_refused_without_changing_the_image() {
        let mut image = MetadataImage::new();
        image.apply(0, &create("a", 1)).unwrap();
        let before = image.clone();
        assert_eq!(
            image.check(&create("a", 1)),
            Err(MetadataError::TopicExists("a".into()))
        );
        assert!(image.check(&create("bad name", 1)).is_err());
        assert!(image.check(&create("", 1)).is_err());
        assert!(image.check(&create("..", 1)).is_err());
        assert!(image.check(&create(&"x".repeat(250), 1)).is_err());
        assert!(image.check(&create("zero", 0)).is_err());
        let unknown = TopicId::random();
        assert_eq!(
            image.check(&MetadataRecord::DeleteTopic { id: unknown }),
            Err(MetadataError::UnknownTopicId(unknown))
        );
        assert!(image.apply(1, &create("a", 1)).is_err());
        assert_eq!(image, before);
    }
}
