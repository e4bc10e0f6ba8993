//! Kafka record batches, format v2 (magic 2).
//!
//! The broker stores batches exactly as producers sent them. It only ever looks at the fixed
//! 61-byte header ([`BatchHeader`]), checks the CRC32C, and rewrites the fields a broker owns
//! (base offset, partition leader epoch, and for `LogAppendTime` topics the timestamp type and
//! max timestamp). Individual records are decoded only by tools and compaction.

mod batch;

pub use batch::{
    crc32c_of_batch, set_base_offset, set_log_append_time, set_partition_leader_epoch,
    split_batches, Attributes, BatchError, BatchHeader, Compression, TimestampType,
    BATCH_HEADER_LEN, BATCH_OVERHEAD_LEN, CRC_RANGE_START,
};
