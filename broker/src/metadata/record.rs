//! The metadata change records.
//!
//! Records are stored as rkyv archives inside [`super::log::MetadataLog`] entries. A record
//! kind's fields never change once released: a different shape is a new variant, appended at
//! the end, so that older logs stay readable.

use std::fmt;

/// A topic's permanent id (Kafka's topic UUID). Never reused, unlike names.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[rkyv(derive(PartialEq, Eq, PartialOrd, Ord))]
pub struct TopicId(pub [u8; 16]);

impl TopicId {
    /// A fresh random id (version-4 UUID layout), never all zeros.
    pub fn random() -> Self {
        let mut bytes: [u8; 16] = rand::random();
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Self(bytes)
    }
}

impl fmt::Debug for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// One change to the cluster metadata.
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum MetadataRecord {
    /// A new topic; `partition_shards[i]` is the shard that owns partition `i`.
    CreateTopic {
        name: String,
        id: TopicId,
        partition_shards: Vec<u32>,
        configs: Vec<(String, String)>,
    },
    /// More partitions for a topic, numbered after the existing ones.
    CreatePartitions {
        id: TopicId,
        new_partition_shards: Vec<u32>,
    },
    /// The topic is gone; its data is deleted by the shards that own it.
    DeleteTopic { id: TopicId },
    /// Topic config overrides set (or replaced) and removed (back to the broker default).
    AlterTopicConfigs {
        id: TopicId,
        set: Vec<(String, String)>,
        remove: Vec<String>,
    },
    /// Producer ids `first..first + count` are handed out (InitProducerId); never again.
    ReserveProducerIds { first: i64, count: u32 },
}
