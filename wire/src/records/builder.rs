//! [`BatchBuilder`]: encodes records into a v2 batch, compresses it and seals it with a CRC.
//!
//! Records are encoded straight into one growing [`BytesMut`] that starts with room for the
//! 61-byte header; nothing is allocated per record. An uncompressed batch is finished in place;
//! a compressed one is compressed into a second buffer that starts with the header. The header
//! fields follow Kafka's producers: base timestamp = first record's timestamp, max timestamp =
//! the largest, last offset delta = the last record's (or a larger one set explicitly).
//!
//! The same builder re-builds a batch from iterated records ([`BatchBuilder::append_record`]),
//! keeping offset deltas, timestamps and the raw header bytes: what compaction and
//! re-compression need.

use bytes::{BufMut, BytesMut};

use super::batch::{
    crc32c_of_batch, Attributes, Compression, TimestampType, BATCH_HEADER_LEN, BATCH_OVERHEAD_LEN,
    CRC_RANGE_START,
};
use super::compression::{self, CompressionError, CompressionOptions};
use super::record::Record;
use super::varint::{put_varint, put_varlong, varint_len, varlong_len};

/// Where the CRC32C sits: the four bytes before the range it covers.
const CRC_OFFSET: usize = CRC_RANGE_START - 4;
/// Timestamp Kafka writes when a batch has no records.
const NO_TIMESTAMP: i64 = -1;

/// Why a batch could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// A key, value, header, record or the whole batch exceeds what an int32 length holds.
    #[error("{field} of {len} bytes exceeds the format's limit")]
    TooLarge { field: &'static str, len: usize },
    /// The timestamp's distance from the batch's base timestamp does not fit a varlong.
    #[error("timestamp {timestamp_ms} is out of range of base timestamp {base_timestamp_ms}")]
    TimestampOutOfRange {
        timestamp_ms: i64,
        base_timestamp_ms: i64,
    },
    /// Offset deltas must increase; the last offset delta cannot go backwards.
    #[error("offset delta {offset_delta} does not follow {previous}")]
    OffsetDeltaOutOfOrder { offset_delta: i64, previous: i64 },
    #[error(transparent)]
    Compression(#[from] CompressionError),
}

/// The batch-level fields a builder writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    pub compression: Compression,
    pub compression_options: CompressionOptions,
    pub timestamp_type: TimestampType,
    /// -1 unless the producer is idempotent or transactional.
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// Sequence number of the first record, -1 when not idempotent.
    pub base_sequence: i32,
    pub transactional: bool,
    pub control: bool,
    /// Producers write 0; the broker assigns the real one on append.
    pub base_offset: i64,
    /// Producers write -1; the leader writes its epoch on append.
    pub partition_leader_epoch: i32,
}

impl Default for BatchOptions {
    /// What a plain (non-idempotent) producer writes, uncompressed.
    fn default() -> Self {
        Self {
            compression: Compression::None,
            compression_options: CompressionOptions::default(),
            timestamp_type: TimestampType::CreateTime,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
            control: false,
            base_offset: 0,
            partition_leader_epoch: -1,
        }
    }
}

/// A header of a record to append. The key should be UTF-8 (the protocol says so); it is
/// written as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewHeader<'a> {
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
}

/// A record to append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewRecord<'a> {
    pub timestamp_ms: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [NewHeader<'a>],
}

/// Builds one v2 batch. Owned by one thread; reuse means building a new one (the buffer it
/// returns is the caller's).
#[derive(Debug)]
pub struct BatchBuilder {
    options: BatchOptions,
    /// Header placeholder, then the uncompressed records.
    buffer: BytesMut,
    record_count: i32,
    base_timestamp_ms: Option<i64>,
    max_timestamp_ms: i64,
    /// Offset delta of the last record appended, -1 before the first.
    last_offset_delta: i64,
    /// At least this last offset delta at finish (compaction keeps a batch's offset span).
    last_offset_delta_floor: i64,
}

/// Bytes an optional length-prefixed field takes.
fn nullable_len(bytes: Option<&[u8]>) -> usize {
    match bytes {
        None => varint_len(-1),
        Some(bytes) => varint_len(bytes.len() as i32) + bytes.len(),
    }
}

fn put_nullable(bytes: Option<&[u8]>, output: &mut BytesMut) {
    match bytes {
        None => put_varint(-1, output),
        Some(bytes) => {
            put_varint(bytes.len() as i32, output);
            output.put_slice(bytes);
        }
    }
}

/// Checks that a length fits the format's int32 lengths.
fn check_len(field: &'static str, len: usize) -> Result<i32, BuildError> {
    i32::try_from(len).map_err(|_| BuildError::TooLarge { field, len })
}

/// What the encoder needs of a record's headers: the raw encoding or the list to encode.
enum HeadersSource<'a> {
    New(&'a [NewHeader<'a>]),
    /// Already-encoded headers (from a decoded record) and their count.
    Encoded {
        bytes: &'a [u8],
        count: usize,
    },
}

impl<'a> HeadersSource<'a> {
    fn count(&self) -> usize {
        match self {
            Self::New(headers) => headers.len(),
            Self::Encoded { count, .. } => *count,
        }
    }

    fn encoded_len(&self) -> Result<usize, BuildError> {
        match self {
            Self::New(headers) => {
                let mut total: usize = 0;
                for header in headers.iter() {
                    check_len("header key", header.key.len())?;
                    if let Some(value) = header.value {
                        check_len("header value", value.len())?;
                    }
                    total = total
                        .saturating_add(varint_len(header.key.len() as i32) + header.key.len())
                        .saturating_add(nullable_len(header.value));
                }
                Ok(total)
            }
            Self::Encoded { bytes, .. } => Ok(bytes.len()),
        }
    }

    fn put(&self, output: &mut BytesMut) {
        match self {
            Self::New(headers) => {
                for header in headers.iter() {
                    put_varint(header.key.len() as i32, output);
                    output.put_slice(header.key);
                    put_nullable(header.value, output);
                }
            }
            Self::Encoded { bytes, .. } => output.put_slice(bytes),
        }
    }
}

impl BatchBuilder {
    pub fn new(options: BatchOptions) -> Self {
        Self::with_capacity(options, 16 * 1024)
    }

    /// A builder whose buffer starts with room for `capacity_bytes` (header included).
    pub fn with_capacity(options: BatchOptions, capacity_bytes: usize) -> Self {
        let mut buffer = BytesMut::with_capacity(capacity_bytes.max(BATCH_HEADER_LEN));
        buffer.put_bytes(0, BATCH_HEADER_LEN);
        Self {
            options,
            buffer,
            record_count: 0,
            base_timestamp_ms: None,
            max_timestamp_ms: NO_TIMESTAMP,
            last_offset_delta: -1,
            last_offset_delta_floor: 0,
        }
    }

    pub fn options(&self) -> &BatchOptions {
        &self.options
    }

    pub fn record_count(&self) -> usize {
        self.record_count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.record_count == 0
    }

    /// Bytes of the batch so far before compression, header included: what a producer compares
    /// with its batch size limit.
    pub fn uncompressed_len(&self) -> usize {
        self.buffer.len()
    }

    /// Appends a record at the next offset delta.
    pub fn append(&mut self, record: &NewRecord<'_>) -> Result<(), BuildError> {
        let offset_delta = self.last_offset_delta + 1;
        self.append_encoded(
            offset_delta,
            record.timestamp_ms,
            0,
            record.key,
            record.value,
            HeadersSource::New(record.headers),
        )
    }

    /// Appends a record at an explicit offset delta, which must exceed the previous one (gaps
    /// are allowed: compacted batches have them).
    pub fn append_with_offset_delta(
        &mut self,
        offset_delta: i32,
        record: &NewRecord<'_>,
    ) -> Result<(), BuildError> {
        self.append_encoded(
            i64::from(offset_delta),
            record.timestamp_ms,
            0,
            record.key,
            record.value,
            HeadersSource::New(record.headers),
        )
    }

    /// Appends a decoded record keeping its offset delta, absolute timestamp, attributes,
    /// key, value and header bytes as they were. With a builder whose options copy the source
    /// batch's header fields, this re-builds (re-compresses, compacts) a batch.
    pub fn append_record(&mut self, record: &Record) -> Result<(), BuildError> {
        let headers = record.headers();
        let encoded = headers.encoded_bytes();
        self.append_encoded(
            i64::from(record.offset_delta()),
            record.timestamp(),
            record.attributes(),
            record.key().map(|key| &key[..]),
            record.value().map(|value| &value[..]),
            HeadersSource::Encoded {
                bytes: encoded,
                count: headers.len(),
            },
        )
    }

    /// Makes the finished batch's last offset delta at least `last_offset_delta`, as
    /// compaction does when it drops a batch's last records but must keep its offset span.
    pub fn set_last_offset_delta_at_least(
        &mut self,
        last_offset_delta: i32,
    ) -> Result<(), BuildError> {
        let wanted = i64::from(last_offset_delta);
        if wanted < self.last_offset_delta || wanted < 0 {
            return Err(BuildError::OffsetDeltaOutOfOrder {
                offset_delta: wanted,
                previous: self.last_offset_delta,
            });
        }
        self.last_offset_delta_floor = wanted;
        Ok(())
    }

    fn append_encoded(
        &mut self,
        offset_delta: i64,
        timestamp_ms: i64,
        attributes: i8,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: HeadersSource<'_>,
    ) -> Result<(), BuildError> {
        if offset_delta <= self.last_offset_delta || offset_delta > i64::from(i32::MAX) {
            return Err(BuildError::OffsetDeltaOutOfOrder {
                offset_delta,
                previous: self.last_offset_delta,
            });
        }
        if self.record_count == i32::MAX {
            return Err(BuildError::TooLarge {
                field: "record count",
                len: self.record_count as usize + 1,
            });
        }
        if let Some(key) = key {
            check_len("key", key.len())?;
        }
        if let Some(value) = value {
            check_len("value", value.len())?;
        }
        let header_count = check_len("header count", headers.count())?;
        let base_timestamp_ms = self.base_timestamp_ms.unwrap_or(timestamp_ms);
        let timestamp_delta =
            timestamp_ms
                .checked_sub(base_timestamp_ms)
                .ok_or(BuildError::TimestampOutOfRange {
                    timestamp_ms,
                    base_timestamp_ms,
                })?;
        let offset_delta_i32 = offset_delta as i32;
        let body_len = 1usize
            .saturating_add(varlong_len(timestamp_delta))
            .saturating_add(varint_len(offset_delta_i32))
            .saturating_add(nullable_len(key))
            .saturating_add(nullable_len(value))
            .saturating_add(varint_len(header_count))
            .saturating_add(headers.encoded_len()?);
        let body_len_i32 = check_len("record", body_len)?;
        let record_len = varint_len(body_len_i32) + body_len;
        check_len(
            "batch",
            (self.buffer.len() - BATCH_OVERHEAD_LEN).saturating_add(record_len),
        )?;

        let start = self.buffer.len();
        self.buffer.reserve(record_len);
        put_varint(body_len_i32, &mut self.buffer);
        self.buffer.put_i8(attributes);
        put_varlong(timestamp_delta, &mut self.buffer);
        put_varint(offset_delta_i32, &mut self.buffer);
        put_nullable(key, &mut self.buffer);
        put_nullable(value, &mut self.buffer);
        put_varint(header_count, &mut self.buffer);
        headers.put(&mut self.buffer);
        assert_eq!(
            self.buffer.len() - start,
            record_len,
            "record length computed"
        );

        self.base_timestamp_ms = Some(base_timestamp_ms);
        self.max_timestamp_ms = if self.record_count == 0 {
            timestamp_ms
        } else {
            self.max_timestamp_ms.max(timestamp_ms)
        };
        self.record_count += 1;
        self.last_offset_delta = offset_delta;
        Ok(())
    }

    /// Compresses (if asked), fills in the header and the CRC32C, and returns the batch.
    /// A builder with no records yields a valid empty batch (record count 0, timestamps -1).
    pub fn finish(self) -> Result<BytesMut, BuildError> {
        let options = self.options;
        let mut batch = match options.compression {
            Compression::None => {
                if let Some(level) = options.compression_options.level {
                    return Err(CompressionError::InvalidLevel {
                        compression: Compression::None,
                        level,
                    }
                    .into());
                }
                self.buffer
            }
            codec => {
                let records = &self.buffer[BATCH_HEADER_LEN..];
                // A guess only: the output grows as needed.
                let mut output = BytesMut::with_capacity(BATCH_HEADER_LEN + records.len() / 2);
                output.put_bytes(0, BATCH_HEADER_LEN);
                compression::compress(codec, records, options.compression_options, &mut output)?;
                output
            }
        };
        let batch_length = check_len("batch", batch.len() - BATCH_OVERHEAD_LEN)?;
        let last_offset_delta = self.last_offset_delta.max(self.last_offset_delta_floor) as i32;
        let attributes = Attributes(0)
            .with_compression(options.compression)
            .with_timestamp_type(options.timestamp_type)
            .with_transactional(options.transactional)
            .with_control(options.control);
        let mut header = &mut batch[..BATCH_HEADER_LEN];
        header.put_i64(options.base_offset);
        header.put_i32(batch_length);
        header.put_i32(options.partition_leader_epoch);
        header.put_i8(2);
        header.put_u32(0); // CRC, filled in below.
        header.put_i16(attributes.0);
        header.put_i32(last_offset_delta);
        header.put_i64(self.base_timestamp_ms.unwrap_or(NO_TIMESTAMP));
        header.put_i64(self.max_timestamp_ms);
        header.put_i64(options.producer_id);
        header.put_i16(options.producer_epoch);
        header.put_i32(options.base_sequence);
        header.put_i32(self.record_count);
        assert!(header.is_empty(), "header fields fill 61 bytes");
        let crc = crc32c_of_batch(&batch);
        batch[CRC_OFFSET..CRC_RANGE_START].copy_from_slice(&crc.to_be_bytes());
        Ok(batch)
    }
}
