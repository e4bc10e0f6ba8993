//! Per-log configuration, with Kafka's topic-config defaults where Kafka has one.

use wire::records::TimestampType;

use crate::{error::StorageError, offset::PAGE_BYTES};

/// When appended data is made durable with fdatasync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// An append completes only once an fdatasync that started after its write finished has
    /// completed (group commit). This is what acks=all uses by default.
    OnAppend,
    /// An append completes once written (readable, in the device's hands but not necessarily
    /// durable). A flush runs when `bytes` have been written since the last one, or when
    /// `interval_ms` has passed since it (checked on append and by [`crate::PartitionLog::tick`]).
    Interval { interval_ms: u64, bytes: u64 },
}

/// How one partition log behaves. Field names carry their units.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// `segment.bytes`: a segment rolls before an append would take it past this size.
    pub segment_bytes_max: u64,
    /// `segment.ms`: a segment older than this (since its first append) rolls on the next append.
    pub segment_ms: u64,
    /// `index.interval.bytes`: bytes of batches between two sparse offset index entries.
    pub index_interval_bytes: u32,
    /// `retention.ms`: closed segments whose newest timestamp is older than this are deleted.
    pub retention_ms: Option<u64>,
    /// `retention.bytes`: closed segments are deleted, oldest first, while the log is larger.
    pub retention_bytes: Option<u64>,
    /// `flush.ms`/`flush.messages` generalised: see [`FlushPolicy`].
    pub flush: FlushPolicy,
    /// `message.timestamp.type`: with `LogAppendTime`, append stamps the batch's max timestamp.
    pub timestamp_type: TimestampType,
    /// `message.max.bytes`: the largest batch accepted, header included.
    pub batch_bytes_max: usize,
    /// Size of one aligned write buffer; small appends are coalesced into writes up to this size.
    pub write_chunk_bytes: usize,
    /// Writes of full chunks that may be in flight at once.
    pub writes_in_flight_max: usize,
    /// Appends wait (in arrival order) while more than this many bytes are appended but not yet
    /// written. Bounds the memory a log holds in write buffers.
    pub unwritten_bytes_max: u64,
    /// Bytes of file space reserved ahead of the writes with fallocate (0: none).
    pub preallocate_bytes: u64,
    /// [`crate::PartitionLog::tick`] writes a new recovery checkpoint once this many bytes were
    /// made durable since the last one: it bounds what the next open has to scan.
    pub recovery_checkpoint_bytes: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes_max: 1 << 30,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            index_interval_bytes: 4096,
            retention_ms: Some(7 * 24 * 60 * 60 * 1000),
            retention_bytes: None,
            flush: FlushPolicy::OnAppend,
            timestamp_type: TimestampType::CreateTime,
            batch_bytes_max: 1_048_588,
            write_chunk_bytes: 1 << 20,
            writes_in_flight_max: 4,
            unwritten_bytes_max: 8 << 20,
            preallocate_bytes: 32 << 20,
            recovery_checkpoint_bytes: 64 << 20,
        }
    }
}

impl LogConfig {
    /// Checks the bounds the log relies on.
    pub fn validate(&self) -> Result<(), StorageError> {
        let fail = |reason: String| Err(StorageError::InvalidConfig(reason));
        if self.segment_bytes_max < PAGE_BYTES || self.segment_bytes_max > u64::from(u32::MAX) {
            return fail(format!(
                "segment_bytes_max {} outside [4096, {}]",
                self.segment_bytes_max,
                u32::MAX
            ));
        }
        if self.write_chunk_bytes == 0
            || !(self.write_chunk_bytes as u64).is_multiple_of(PAGE_BYTES)
        {
            return fail(format!(
                "write_chunk_bytes {} is not a positive multiple of 4096",
                self.write_chunk_bytes
            ));
        }
        if self.write_chunk_bytes > 64 << 20 {
            return fail(format!(
                "write_chunk_bytes {} above 64 MiB",
                self.write_chunk_bytes
            ));
        }
        if self.writes_in_flight_max == 0 || self.writes_in_flight_max > 64 {
            return fail(format!(
                "writes_in_flight_max {} outside [1, 64]",
                self.writes_in_flight_max
            ));
        }
        if self.index_interval_bytes == 0 {
            return fail("index_interval_bytes must be positive".to_string());
        }
        if self.batch_bytes_max < wire::records::BATCH_HEADER_LEN {
            return fail(format!(
                "batch_bytes_max {} below a batch header",
                self.batch_bytes_max
            ));
        }
        if self.unwritten_bytes_max < self.write_chunk_bytes as u64 {
            return fail("unwritten_bytes_max below write_chunk_bytes".to_string());
        }
        if let FlushPolicy::Interval { bytes: 0, .. } = self.flush {
            return fail("flush interval bytes must be positive".to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_refused() {
        LogConfig::default().validate().unwrap();
        let bad_chunk = LogConfig {
            write_chunk_bytes: 5000,
            ..LogConfig::default()
        };
        assert!(bad_chunk.validate().is_err());
        let huge_segment = LogConfig {
            segment_bytes_max: 1 << 40,
            ..LogConfig::default()
        };
        assert!(huge_segment.validate().is_err());
        let no_writes = LogConfig {
            writes_in_flight_max: 0,
            ..LogConfig::default()
        };
        assert!(no_writes.validate().is_err());
    }
}
