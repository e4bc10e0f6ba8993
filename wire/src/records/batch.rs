//! The record batch v2 header: layout, validation and the in-place rewrites a broker does.
//!
//! On-wire and on-disk layout (all integers big-endian), 61 bytes before the records:
//!
//! | offset | size | field                  | notes                                              |
//! |-------:|-----:|------------------------|----------------------------------------------------|
//! |      0 |    8 | base offset            | rewritten by the broker on append                  |
//! |      8 |    4 | batch length           | bytes that follow this field (total = 12 + length) |
//! |     12 |    4 | partition leader epoch | rewritten by the broker on append                  |
//! |     16 |    1 | magic                  | always 2                                           |
//! |     17 |    4 | CRC32C                 | over bytes 21..end (attributes onwards)            |
//! |     21 |    2 | attributes             | see [`Attributes`]                                 |
//! |     23 |    4 | last offset delta      | record count - 1 for an uncompacted batch          |
//! |     27 |    8 | base timestamp         |                                                    |
//! |     35 |    8 | max timestamp          | rewritten for `LogAppendTime` topics               |
//! |     43 |    8 | producer id            | -1 when not idempotent                             |
//! |     51 |    2 | producer epoch         |                                                    |
//! |     53 |    4 | base sequence          |                                                    |
//! |     57 |    4 | record count           |                                                    |
//! |     61 |    … | records                | possibly compressed as a whole                     |
//!
//! The base offset, batch length and leader epoch sit before the CRC range, so the broker can
//! rewrite the offset and epoch without recomputing the CRC. Changing the attributes or the max
//! timestamp (for `LogAppendTime`) does require a new CRC; [`set_log_append_time`] recomputes it.

use std::fmt;

/// Bytes in a v2 batch header, before the first record.
pub const BATCH_HEADER_LEN: usize = 61;
/// Bytes before the batch-length field's count starts: base offset (8) and batch length (4).
pub const BATCH_OVERHEAD_LEN: usize = 12;
/// Where the CRC32C-covered range begins (the attributes field).
pub const CRC_RANGE_START: usize = 21;

const OFFSET_BASE_OFFSET: usize = 0;
const OFFSET_BATCH_LENGTH: usize = 8;
const OFFSET_LEADER_EPOCH: usize = 12;
const OFFSET_MAGIC: usize = 16;
const OFFSET_CRC: usize = 17;
const OFFSET_ATTRIBUTES: usize = 21;
const OFFSET_LAST_OFFSET_DELTA: usize = 23;
const OFFSET_BASE_TIMESTAMP: usize = 27;
const OFFSET_MAX_TIMESTAMP: usize = 35;
const OFFSET_PRODUCER_ID: usize = 43;
const OFFSET_PRODUCER_EPOCH: usize = 51;
const OFFSET_BASE_SEQUENCE: usize = 53;
const OFFSET_RECORD_COUNT: usize = 57;

/// Why a byte range is not a valid v2 record batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Fewer bytes than a batch header, or than the batch length claims.
    #[error("record batch truncated: need {needed} bytes, have {available}")]
    Truncated { needed: usize, available: usize },
    /// The batch length field is below the header size or above the allowed maximum.
    #[error("record batch length {length} outside [{min}, {max}]")]
    InvalidLength { length: i64, min: usize, max: usize },
    /// Magic byte other than 2 (v0/v1 message sets are not accepted).
    #[error("record batch magic {0} is not 2")]
    UnsupportedMagic(i8),
    /// The stored CRC32C does not match the bytes.
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    /// The header's fields contradict each other (negative record count, count vs delta).
    #[error("record batch header inconsistent: {0}")]
    Inconsistent(&'static str),
    /// The compression codec id (attributes bits 0-2) is not one Kafka defines.
    #[error("unknown compression codec id {0}")]
    UnknownCompression(u8),
}

/// Compression codec of a batch (attributes bits 0-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// The codec for attributes bits 0-2, or an error for ids Kafka does not define.
    pub fn from_id(id: u8) -> Result<Self, BatchError> {
        match id {
            0 => Ok(Self::None),
            1 => Ok(Self::Gzip),
            2 => Ok(Self::Snappy),
            3 => Ok(Self::Lz4),
            4 => Ok(Self::Zstd),
            other => Err(BatchError::UnknownCompression(other)),
        }
    }

    /// The id stored in attributes bits 0-2.
    pub fn id(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
            Self::Snappy => 2,
            Self::Lz4 => 3,
            Self::Zstd => 4,
        }
    }

    /// The name Kafka uses in configs (`compression.type`).
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

/// Which clock a batch's timestamps come from (attributes bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// The attributes field of a v2 batch.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Attributes(pub i16);

impl Attributes {
    const COMPRESSION_MASK: i16 = 0x07;
    const TIMESTAMP_TYPE_BIT: i16 = 0x08;
    const TRANSACTIONAL_BIT: i16 = 0x10;
    const CONTROL_BIT: i16 = 0x20;
    const DELETE_HORIZON_BIT: i16 = 0x40;

    /// The compression codec, or an error for an id Kafka does not define.
    pub fn compression(self) -> Result<Compression, BatchError> {
        Compression::from_id((self.0 & Self::COMPRESSION_MASK) as u8)
    }

    pub fn timestamp_type(self) -> TimestampType {
        if self.0 & Self::TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// The batch belongs to a transaction (its records become visible on commit).
    pub fn is_transactional(self) -> bool {
        self.0 & Self::TRANSACTIONAL_BIT != 0
    }

    /// The batch holds one control record (a transaction COMMIT or ABORT marker).
    pub fn is_control(self) -> bool {
        self.0 & Self::CONTROL_BIT != 0
    }

    /// Compaction has set the base timestamp to the delete horizon (KIP-534).
    pub fn has_delete_horizon(self) -> bool {
        self.0 & Self::DELETE_HORIZON_BIT != 0
    }

    /// These attributes with the given codec.
    pub fn with_compression(self, compression: Compression) -> Self {
        Self((self.0 & !Self::COMPRESSION_MASK) | compression.id() as i16)
    }

    /// These attributes with the given timestamp type.
    pub fn with_timestamp_type(self, timestamp_type: TimestampType) -> Self {
        match timestamp_type {
            TimestampType::CreateTime => Self(self.0 & !Self::TIMESTAMP_TYPE_BIT),
            TimestampType::LogAppendTime => Self(self.0 | Self::TIMESTAMP_TYPE_BIT),
        }
    }

    /// These attributes with the transactional flag set or cleared.
    pub fn with_transactional(self, transactional: bool) -> Self {
        if transactional {
            Self(self.0 | Self::TRANSACTIONAL_BIT)
        } else {
            Self(self.0 & !Self::TRANSACTIONAL_BIT)
        }
    }

    /// These attributes with the control flag set or cleared.
    pub fn with_control(self, control: bool) -> Self {
        if control {
            Self(self.0 | Self::CONTROL_BIT)
        } else {
            Self(self.0 & !Self::CONTROL_BIT)
        }
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attributes")
            .field("compression", &self.compression())
            .field("timestamp_type", &self.timestamp_type())
            .field("transactional", &self.is_transactional())
            .field("control", &self.is_control())
            .field("delete_horizon", &self.has_delete_horizon())
            .finish()
    }
}

/// The decoded 61-byte header of a v2 record batch. A plain copy: it borrows nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Bytes after the batch-length field; the whole batch is `12 + batch_length` bytes.
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: Attributes,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

fn read_i16(bytes: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([bytes[at], bytes[at + 1]])
}

fn read_i32(bytes: &[u8], at: usize) -> i32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&bytes[at..at + 4]);
    i32::from_be_bytes(raw)
}

fn read_i64(bytes: &[u8], at: usize) -> i64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&bytes[at..at + 8]);
    i64::from_be_bytes(raw)
}

impl BatchHeader {
    /// Reads the header fields from the first 61 bytes. Checks only that the bytes are there;
    /// [`BatchHeader::validate`] checks the batch.
    pub fn parse(bytes: &[u8]) -> Result<Self, BatchError> {
        if bytes.len() < BATCH_HEADER_LEN {
            return Err(BatchError::Truncated {
                needed: BATCH_HEADER_LEN,
                available: bytes.len(),
            });
        }
        Ok(Self {
            base_offset: read_i64(bytes, OFFSET_BASE_OFFSET),
            batch_length: read_i32(bytes, OFFSET_BATCH_LENGTH),
            partition_leader_epoch: read_i32(bytes, OFFSET_LEADER_EPOCH),
            magic: bytes[OFFSET_MAGIC] as i8,
            crc: read_i32(bytes, OFFSET_CRC) as u32,
            attributes: Attributes(read_i16(bytes, OFFSET_ATTRIBUTES)),
            last_offset_delta: read_i32(bytes, OFFSET_LAST_OFFSET_DELTA),
            base_timestamp: read_i64(bytes, OFFSET_BASE_TIMESTAMP),
            max_timestamp: read_i64(bytes, OFFSET_MAX_TIMESTAMP),
            producer_id: read_i64(bytes, OFFSET_PRODUCER_ID),
            producer_epoch: read_i16(bytes, OFFSET_PRODUCER_EPOCH),
            base_sequence: read_i32(bytes, OFFSET_BASE_SEQUENCE),
            record_count: read_i32(bytes, OFFSET_RECORD_COUNT),
        })
    }

    /// Total bytes of this batch on the wire: `12 + batch_length`.
    pub fn total_len(&self) -> usize {
        BATCH_OVERHEAD_LEN + self.batch_length.max(0) as usize
    }

    /// Offset of the last record in the batch. Saturates for garbage headers; a header that
    /// passed [`BatchHeader::check`] never needs to.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// The header checks that need no bytes beyond the header: magic, length bounds against
    /// `batch_bytes_max` (the whole batch, header included), codec id, count/delta sanity.
    pub fn check(&self, batch_bytes_max: usize) -> Result<(), BatchError> {
        if self.magic != 2 {
            return Err(BatchError::UnsupportedMagic(self.magic));
        }
        let total = BATCH_OVERHEAD_LEN as i64 + i64::from(self.batch_length);
        if total < BATCH_HEADER_LEN as i64 || total > batch_bytes_max as i64 {
            return Err(BatchError::InvalidLength {
                length: total,
                min: BATCH_HEADER_LEN,
                max: batch_bytes_max,
            });
        }
        self.attributes.compression()?;
        if self.record_count < 0 {
            return Err(BatchError::Inconsistent("negative record count"));
        }
        if self.last_offset_delta < 0 {
            return Err(BatchError::Inconsistent("negative last offset delta"));
        }
        if self.record_count > 0 && self.last_offset_delta < self.record_count - 1 {
            return Err(BatchError::Inconsistent(
                "last offset delta smaller than record count - 1",
            ));
        }
        if self
            .base_offset
            .checked_add(i64::from(self.last_offset_delta))
            .is_none()
        {
            return Err(BatchError::Inconsistent(
                "base offset plus last offset delta overflows",
            ));
        }
        Ok(())
    }

    /// Parses and fully validates the batch at the start of `bytes`: header checks, the whole
    /// batch present, and CRC32C. Returns the header; the batch is `bytes[..header.total_len()]`.
    pub fn validate(bytes: &[u8], batch_bytes_max: usize) -> Result<Self, BatchError> {
        let header = Self::parse(bytes)?;
        header.check(batch_bytes_max)?;
        let total = header.total_len();
        if bytes.len() < total {
            return Err(BatchError::Truncated {
                needed: total,
                available: bytes.len(),
            });
        }
        let computed = crc32c_of_batch(&bytes[..total]);
        if computed != header.crc {
            return Err(BatchError::CrcMismatch {
                stored: header.crc,
                computed,
            });
        }
        Ok(header)
    }
}

/// CRC32C of a whole batch's covered range (attributes to the end). `batch` must be at least a
/// header long and exactly one batch.
pub fn crc32c_of_batch(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[CRC_RANGE_START..])
}

/// Rewrites the base offset in place. The CRC does not cover it.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[OFFSET_BASE_OFFSET..OFFSET_BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Rewrites the partition leader epoch in place. The CRC does not cover it.
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[OFFSET_LEADER_EPOCH..OFFSET_LEADER_EPOCH + 4].copy_from_slice(&epoch.to_be_bytes());
}

/// Marks the batch as `LogAppendTime` with the given broker time as max timestamp, and
/// recomputes the CRC (both fields are inside the covered range). `batch` is exactly one batch.
pub fn set_log_append_time(batch: &mut [u8], append_time_ms: i64) {
    let attributes = Attributes(read_i16(batch, OFFSET_ATTRIBUTES))
        .with_timestamp_type(TimestampType::LogAppendTime);
    batch[OFFSET_ATTRIBUTES..OFFSET_ATTRIBUTES + 2].copy_from_slice(&attributes.0.to_be_bytes());
    batch[OFFSET_MAX_TIMESTAMP..OFFSET_MAX_TIMESTAMP + 8]
        .copy_from_slice(&append_time_ms.to_be_bytes());
    let crc = crc32c_of_batch(batch);
    batch[OFFSET_CRC..OFFSET_CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Splits a buffer of concatenated batches (a produce request's `records` field, or a stretch
/// of a segment file) into validated batches. Stops with an error at the first bad batch;
/// trailing bytes shorter than a header are an error too.
pub fn split_batches(
    mut bytes: &[u8],
    batch_bytes_max: usize,
) -> impl Iterator<Item = Result<(BatchHeader, &[u8]), BatchError>> {
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || bytes.is_empty() {
            return None;
        }
        match BatchHeader::validate(bytes, batch_bytes_max) {
            Ok(header) => {
                let (batch, rest) = bytes.split_at(header.total_len());
                bytes = rest;
                Some(Ok((header, batch)))
            }
            Err(error) => {
                failed = true;
                Some(Err(error))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A syntactically valid batch with `records_len` bytes of opaque record data.
    fn sample_batch(records_len: usize) -> Vec<u8> {
        let mut batch = vec![0u8; BATCH_HEADER_LEN + records_len];
        let length = (batch.len() - BATCH_OVERHEAD_LEN) as i32;
        batch[8..12].copy_from_slice(&length.to_be_bytes());
        batch[OFFSET_MAGIC] = 2;
        batch[OFFSET_LAST_OFFSET_DELTA..OFFSET_LAST_OFFSET_DELTA + 4]
            .copy_from_slice(&2i32.to_be_bytes());
        batch[OFFSET_BASE_TIMESTAMP..OFFSET_BASE_TIMESTAMP + 8]
            .copy_from_slice(&1_000i64.to_be_bytes());
        batch[OFFSET_MAX_TIMESTAMP..OFFSET_MAX_TIMESTAMP + 8]
            .copy_from_slice(&1_002i64.to_be_bytes());
        batch[OFFSET_PRODUCER_ID..OFFSET_PRODUCER_ID + 8].copy_from_slice(&(-1i64).to_be_bytes());
        batch[OFFSET_RECORD_COUNT..OFFSET_RECORD_COUNT + 4].copy_from_slice(&3i32.to_be_bytes());
        for (index, byte) in batch[BATCH_HEADER_LEN..].iter_mut().enumerate() {
            *byte = index as u8;
        }
        let crc = crc32c_of_batch(&batch);
        batch[OFFSET_CRC..OFFSET_CRC + 4].copy_from_slice(&crc.to_be_bytes());
        batch
    }

    #[test]
    fn valid_batch_parses_with_every_field() {
        let batch = sample_batch(20);
        let header = BatchHeader::validate(&batch, 1 << 20).unwrap();
        assert_eq!(header.total_len(), batch.len());
        assert_eq!(header.magic, 2);
        assert_eq!(header.record_count, 3);
        assert_eq!(header.last_offset_delta, 2);
        assert_eq!(header.base_timestamp, 1_000);
        assert_eq!(header.max_timestamp, 1_002);
        assert_eq!(header.producer_id, -1);
        assert_eq!(header.attributes.compression(), Ok(Compression::None));
    }

    #[test]
    fn every_flipped_byte_in_crc_range_is_rejected() {
        let batch = sample_batch(8);
        for position in CRC_RANGE_START..batch.len() {
            let mut corrupted = batch.clone();
            corrupted[position] ^= 0x5a;
            let result = BatchHeader::validate(&corrupted, 1 << 20);
            assert!(result.is_err(), "flip at {position} accepted");
        }
    }

    #[test]
    fn offset_and_epoch_rewrite_keep_crc_valid() {
        let mut batch = sample_batch(8);
        set_base_offset(&mut batch, 4242);
        set_partition_leader_epoch(&mut batch, 7);
        let header = BatchHeader::validate(&batch, 1 << 20).unwrap();
        assert_eq!(header.base_offset, 4242);
        assert_eq!(header.last_offset(), 4244);
        assert_eq!(header.partition_leader_epoch, 7);
    }

    #[test]
    fn log_append_time_rewrite_recomputes_crc() {
        let mut batch = sample_batch(8);
        set_log_append_time(&mut batch, 99_999);
        let header = BatchHeader::validate(&batch, 1 << 20).unwrap();
        assert_eq!(header.max_timestamp, 99_999);
        assert_eq!(
            header.attributes.timestamp_type(),
            TimestampType::LogAppendTime
        );
    }

    #[test]
    fn truncation_length_magic_and_codec_errors() {
        let batch = sample_batch(8);
        assert!(matches!(
            BatchHeader::validate(&batch[..40], 1 << 20),
            Err(BatchError::Truncated { .. })
        ));
        assert!(matches!(
            BatchHeader::validate(&batch[..batch.len() - 1], 1 << 20),
            Err(BatchError::Truncated { .. })
        ));
        assert!(matches!(
            BatchHeader::validate(&batch, 30),
            Err(BatchError::InvalidLength { .. })
        ));
        let mut bad_magic = batch.clone();
        bad_magic[OFFSET_MAGIC] = 1;
        assert_eq!(
            BatchHeader::validate(&bad_magic, 1 << 20),
            Err(BatchError::UnsupportedMagic(1))
        );
        let mut negative_length = batch.clone();
        negative_length[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(matches!(
            BatchHeader::validate(&negative_length, 1 << 20),
            Err(BatchError::InvalidLength { .. })
        ));
    }

    #[test]
    fn last_offset_overflow_is_rejected_not_a_panic() {
        let mut batch = sample_batch(8);
        set_base_offset(&mut batch, i64::MAX - 1);
        assert_eq!(
            BatchHeader::validate(&batch, 1 << 20),
            Err(BatchError::Inconsistent(
                "base offset plus last offset delta overflows"
            ))
        );
        assert_eq!(BatchHeader::parse(&batch).unwrap().last_offset(), i64::MAX);
    }

    #[test]
    fn split_batches_walks_and_stops_at_garbage() {
        let mut buffer = sample_batch(4);
        buffer.extend(sample_batch(9));
        let good: Vec<_> = split_batches(&buffer, 1 << 20).collect();
        assert_eq!(good.len(), 2);
        assert!(good.iter().all(Result::is_ok));
        buffer.extend([1, 2, 3]);
        let with_tail: Vec<_> = split_batches(&buffer, 1 << 20).collect();
        assert_eq!(with_tail.len(), 3);
        assert!(with_tail[2].is_err());
    }

    #[test]
    fn attribute_flags_round_trip() {
        let attributes = Attributes(0)
            .with_compression(Compression::Zstd)
            .with_transactional(true)
            .with_control(true)
            .with_timestamp_type(TimestampType::LogAppendTime);
        assert_eq!(attributes.compression(), Ok(Compression::Zstd));
        assert!(attributes.is_transactional());
        assert!(attributes.is_control());
        assert_eq!(attributes.timestamp_type(), TimestampType::LogAppendTime);
        assert!(!attributes.with_control(false).is_control());
        assert_eq!(
            Attributes(7).compression(),
            Err(BatchError::UnknownCompression(7))
        );
    }
}
