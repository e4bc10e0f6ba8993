//! One record inside a v2 batch: layout, decoding and the borrowed [`Record`] view.
//!
//! After decompression, a batch's records section is the records back to back, each:
//!
//! | field            | type                  | notes                                          |
//! |------------------|-----------------------|------------------------------------------------|
//! | length           | varint                | bytes of the fields below                      |
//! | attributes       | int8                  | unused by Kafka so far, kept as read           |
//! | timestamp delta  | varlong               | from the batch's base timestamp                |
//! | offset delta     | varint                | from the batch's base offset                   |
//! | key length       | varint                | -1 for a null key                              |
//! | key              | bytes                 |                                                |
//! | value length     | varint                | -1 for a null value                            |
//! | value            | bytes                 |                                                |
//! | header count     | varint                |                                                |
//! | headers          | header × count        | key length varint (never null), key (UTF-8),   |
//! |                  |                       | value length varint (-1 null), value           |
//!
//! All varints are zigzag-encoded ([`super::varint`]). Decoding checks every length against the
//! bytes left in the record before slicing, so garbage yields a [`RecordDefect`], never a
//! panic or an allocation. Keys, values and headers are [`Bytes`] slices of the buffer the
//! record was decoded from: no copies.

use bytes::Bytes;

use super::varint::{self, VarintError};

/// Fewest bytes a record takes, length prefix included: seven one-byte fields.
pub const RECORD_LEN_MIN: usize = 7;

/// What is wrong with one record's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordDefect {
    /// The record (or the section) ended inside this field.
    #[error("{field} truncated")]
    Truncated { field: &'static str },
    /// A varint with more bytes or bits than its type allows.
    #[error("{field} is an overlong varint")]
    OverlongVarint { field: &'static str },
    /// A length below -1 (or below 0 where null is not allowed).
    #[error("{field} length {length} is invalid")]
    InvalidLength { field: &'static str, length: i32 },
    /// A length longer than what is left of the record.
    #[error("{field} length {length} exceeds the {available} bytes left")]
    LengthBeyondRecord {
        field: &'static str,
        length: i32,
        available: usize,
    },
    /// The record's fields did not use exactly its declared length.
    #[error("record declares {declared} bytes but its fields take {used}")]
    LengthMismatch { declared: usize, used: usize },
    /// Offset deltas must increase within a batch and stay within its last offset delta.
    #[error("offset delta {offset_delta} after {previous}, last offset delta {last_offset_delta}")]
    OffsetDeltaOutOfOrder {
        offset_delta: i32,
        previous: i64,
        last_offset_delta: i32,
    },
    /// The base offset or base timestamp plus the delta leaves the 64-bit range.
    #[error("{field} overflows 64 bits")]
    Overflow { field: &'static str },
}

/// One record header: a non-null key and an optional value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// UTF-8 per the protocol; not validated here (Java replaces bad sequences on read).
    pub key: Bytes,
    pub value: Option<Bytes>,
}

impl Header {
    /// The key as text, or an error if a producer sent bytes that are not UTF-8.
    pub fn key_str(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(&self.key)
    }
}

/// The headers of a record: validated bytes, decoded on iteration without allocating.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordHeaders {
    bytes: Bytes,
    count: u32,
}

impl RecordHeaders {
    /// Number of headers.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The headers as encoded in the record (without the count), for copying verbatim.
    pub fn encoded_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn iter(&self) -> HeaderIter {
        HeaderIter {
            bytes: self.bytes.clone(),
            position: 0,
            remaining: self.count,
        }
    }
}

impl IntoIterator for &RecordHeaders {
    type Item = Header;
    type IntoIter = HeaderIter;

    fn into_iter(self) -> HeaderIter {
        self.iter()
    }
}

/// Iterates a record's headers. The bytes were fully validated when the record was decoded.
#[derive(Debug, Clone)]
pub struct HeaderIter {
    bytes: Bytes,
    position: usize,
    remaining: u32,
}

impl Iterator for HeaderIter {
    type Item = Header;

    fn next(&mut self) -> Option<Header> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let mut cursor = Cursor {
            data: &self.bytes,
            position: self.position,
            end: self.bytes.len(),
        };
        let header = decode_header(&mut cursor).expect("headers validated at record decode");
        self.position = cursor.position;
        Some(header)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining as usize, Some(self.remaining as usize))
    }
}

impl ExactSizeIterator for HeaderIter {}

/// One decoded record, borrowing its key, value and headers from the batch's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    offset: i64,
    timestamp: i64,
    offset_delta: i32,
    timestamp_delta: i64,
    attributes: i8,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: RecordHeaders,
}

impl Record {
    /// Absolute offset: the batch's base offset plus this record's offset delta.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Absolute timestamp in ms: base timestamp plus delta for `CreateTime` batches, the
    /// batch's max timestamp for `LogAppendTime` batches (as Kafka defines it).
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    pub fn offset_delta(&self) -> i32 {
        self.offset_delta
    }

    /// The delta as stored, even for `LogAppendTime` batches.
    pub fn timestamp_delta(&self) -> i64 {
        self.timestamp_delta
    }

    /// The record's attributes byte (unused by Kafka so far).
    pub fn attributes(&self) -> i8 {
        self.attributes
    }

    pub fn key(&self) -> Option<&Bytes> {
        self.key.as_ref()
    }

    pub fn value(&self) -> Option<&Bytes> {
        self.value.as_ref()
    }

    pub fn headers(&self) -> &RecordHeaders {
        &self.headers
    }
}

/// What decoding a record needs from its batch header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordContext {
    pub base_offset: i64,
    pub base_timestamp: i64,
    /// `Some(max timestamp)` for `LogAppendTime` batches.
    pub log_append_time: Option<i64>,
    pub last_offset_delta: i32,
}

/// A bounded read position over `data[..end]`.
struct Cursor<'a> {
    data: &'a Bytes,
    position: usize,
    end: usize,
}

impl Cursor<'_> {
    fn left(&self) -> usize {
        self.end - self.position
    }

    fn read_i8(&mut self, field: &'static str) -> Result<i8, RecordDefect> {
        if self.left() < 1 {
            return Err(RecordDefect::Truncated { field });
        }
        let value = self.data[self.position] as i8;
        self.position += 1;
        Ok(value)
    }

    fn varint_defect(error: VarintError, field: &'static str) -> RecordDefect {
        match error {
            VarintError::Truncated => RecordDefect::Truncated { field },
            VarintError::Overlong => RecordDefect::OverlongVarint { field },
        }
    }

    fn read_varint(&mut self, field: &'static str) -> Result<i32, RecordDefect> {
        let (value, used) = varint::read_varint(&self.data[self.position..self.end])
            .map_err(|error| Self::varint_defect(error, field))?;
        self.position += used;
        Ok(value)
    }

    fn read_varlong(&mut self, field: &'static str) -> Result<i64, RecordDefect> {
        let (value, used) = varint::read_varlong(&self.data[self.position..self.end])
            .map_err(|error| Self::varint_defect(error, field))?;
        self.position += used;
        Ok(value)
    }

    /// A length-prefixed byte string; `-1` is null when `nullable`.
    fn read_bytes(
        &mut self,
        field: &'static str,
        nullable: bool,
    ) -> Result<Option<Bytes>, RecordDefect> {
        let length = self.read_varint(field)?;
        if length == -1 && nullable {
            return Ok(None);
        }
        let Ok(len) = usize::try_from(length) else {
            return Err(RecordDefect::InvalidLength { field, length });
        };
        if len > self.left() {
            return Err(RecordDefect::LengthBeyondRecord {
                field,
                length,
                available: self.left(),
            });
        }
        let bytes = self.data.slice(self.position..self.position + len);
        self.position += len;
        Ok(Some(bytes))
    }
}

fn decode_header(cursor: &mut Cursor<'_>) -> Result<Header, RecordDefect> {
    let key = cursor
        .read_bytes("header key", false)?
        .expect("non-nullable read never yields null");
    let value = cursor.read_bytes("header value", true)?;
    Ok(Header { key, value })
}

/// Reads the length prefix of the record at `data[position..]`: the record's body range.
pub(crate) fn record_body_range(
    data: &Bytes,
    position: usize,
) -> Result<std::ops::Range<usize>, RecordDefect> {
    let mut cursor = Cursor {
        data,
        position,
        end: data.len(),
    };
    let length = cursor.read_varint("record length")?;
    let Ok(len) = usize::try_from(length) else {
        return Err(RecordDefect::InvalidLength {
            field: "record length",
            length,
        });
    };
    if len > cursor.left() {
        return Err(RecordDefect::LengthBeyondRecord {
            field: "record length",
            length,
            available: cursor.left(),
        });
    }
    Ok(cursor.position..cursor.position + len)
}

/// Decodes the record whose body (after the length prefix) is `data[body]`.
/// `previous_offset_delta` is -1 for the first record of a batch.
pub(crate) fn decode_record(
    data: &Bytes,
    body: std::ops::Range<usize>,
    context: &RecordContext,
    previous_offset_delta: i64,
) -> Result<Record, RecordDefect> {
    let mut cursor = Cursor {
        data,
        position: body.start,
        end: body.end,
    };
    let attributes = cursor.read_i8("attributes")?;
    let timestamp_delta = cursor.read_varlong("timestamp delta")?;
    let offset_delta = cursor.read_varint("offset delta")?;
    if i64::from(offset_delta) <= previous_offset_delta || offset_delta > context.last_offset_delta
    {
        return Err(RecordDefect::OffsetDeltaOutOfOrder {
            offset_delta,
            previous: previous_offset_delta,
            last_offset_delta: context.last_offset_delta,
        });
    }
    let key = cursor.read_bytes("key", true)?;
    let value = cursor.read_bytes("value", true)?;
    let header_count = cursor.read_varint("header count")?;
    let Ok(header_count) = u32::try_from(header_count) else {
        return Err(RecordDefect::InvalidLength {
            field: "header count",
            length: header_count,
        });
    };
    let headers_start = cursor.position;
    // Each header takes at least two bytes, so a count beyond the bytes left fails within
    // `left / 2` iterations.
    for _ in 0..header_count {
        decode_header(&mut cursor)?;
    }
    let headers = RecordHeaders {
        bytes: data.slice(headers_start..cursor.position),
        count: header_count,
    };
    if cursor.position != body.end {
        return Err(RecordDefect::LengthMismatch {
            declared: body.len(),
            used: cursor.position - body.start,
        });
    }
    let offset = context
        .base_offset
        .checked_add(i64::from(offset_delta))
        .ok_or(RecordDefect::Overflow { field: "offset" })?;
    let timestamp = match context.log_append_time {
        Some(append_time) => append_time,
        None => context
            .base_timestamp
            .checked_add(timestamp_delta)
            .ok_or(RecordDefect::Overflow { field: "timestamp" })?,
    };
    Ok(Record {
        offset,
        timestamp,
        offset_delta,
        timestamp_delta,
        attributes,
        key,
        value,
        headers,
    })
}
