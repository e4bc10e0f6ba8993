//! Cluster metadata: topics, their partitions and configs, and which shard owns each partition.
//!
//! Metadata is a log of change records ([`MetadataRecord`]) applied in order to an in-memory
//! state machine ([`MetadataImage`]). The log is durable ([`log::MetadataLog`]) and is
//! periodically folded into a snapshot, so start-up replays the snapshot and the records after
//! it. On one node the log is a local file; in a cluster the same records will be replicated by
//! Raft, which is why every change, however small, goes through a record.
//!
//! Partition placement is decided when a record is made ([`placement`]) and stored in it, so
//! replaying a log always gives the same assignment even if the placement rule changes later.
//!
//! Architecture invariant: the image is changed only by [`MetadataImage::apply`]; shards other
//! than the one that owns the log receive records and apply them to their own copy.

pub mod image;
pub mod log;
pub mod placement;
pub mod record;

pub use image::{MetadataError, MetadataImage, PartitionInfo, TopicInfo};
pub use record::{MetadataRecord, TopicId};
