//! [`Encoder`] and the size functions of the primitive encodings.
//!
//! Messages compute their exact size first (`encoded_size`), so callers can reserve the buffer
//! (and write the frame's size prefix) before encoding. An [`Encoder`] in scatter mode emits
//! every records field as a chunk of its own that shares the records' buffer: a Fetch response
//! goes to the socket as a gather list without its record data ever being copied.

use super::decode::RawTaggedField;
use super::error::{EncodeError, EncodeErrorKind};
use super::uuid::Uuid;
use bytes::{BufMut, Bytes, BytesMut};

/// Records fields shorter than this are copied into the current chunk even in scatter mode: a
/// separate gather entry costs more than copying a few hundred bytes.
pub const RECORDS_CHUNK_BYTES_MIN: usize = 256;

/// The longest string a classic (int16) length prefix can express.
pub const STRING_BYTES_MAX: usize = i16::MAX as usize;

/// The longest bytes, records or array that an int32 or compact length can express.
pub const LENGTH_MAX: usize = i32::MAX as usize - 1;

/// Defines `Encoder` methods that write a fixed-width big-endian number through the
/// `BufMut` method of the same name.
macro_rules! fixed_width_writers {
    ($($(#[$doc:meta])* $name:ident($type:ty);)*) => {
        $(
            $(#[$doc])*
            #[inline]
            pub fn $name(&mut self, value: $type) {
                self.current.$name(value);
            }
        )*
    };
}

/// Writes messages into one contiguous buffer, or into a list of chunks where records fields
/// stay in the buffers they came from.
#[derive(Debug, Default)]
pub struct Encoder {
    current: BytesMut,
    chunks: Vec<Bytes>,
    records_as_chunks: bool,
    chunked_bytes: usize,
}

impl Encoder {
    /// An encoder that appends everything, records included, to `buffer`.
    pub fn contiguous(buffer: BytesMut) -> Self {
        Self {
            current: buffer,
            chunks: Vec::new(),
            records_as_chunks: false,
            chunked_bytes: 0,
        }
    }

    /// An encoder that emits records fields of at least [`RECORDS_CHUNK_BYTES_MIN`] bytes as
    /// chunks of their own. `capacity_bytes` is reserved for the small fields.
    pub fn scatter(capacity_bytes: usize) -> Self {
        Self {
            current: BytesMut::with_capacity(capacity_bytes),
            chunks: Vec::new(),
            records_as_chunks: true,
            chunked_bytes: 0,
        }
    }

    /// Bytes written so far, in all chunks.
    pub fn written_bytes(&self) -> usize {
        self.chunked_bytes + self.current.len()
    }

    /// Ends a contiguous encoding and returns its buffer.
    pub fn into_contiguous(self) -> BytesMut {
        assert!(
            self.chunks.is_empty(),
            "a contiguous encoder never emits chunks"
        );
        self.current
    }

    /// Ends the encoding and returns the chunks in order; their concatenation is the encoding.
    pub fn into_chunks(mut self) -> Vec<Bytes> {
        if !self.current.is_empty() {
            let last = self.current.split().freeze();
            self.chunks.push(last);
        }
        self.chunks
    }

    /// Appends raw bytes.
    #[inline]
    pub fn put_raw(&mut self, bytes: &[u8]) {
        self.current.put_slice(bytes);
    }

    /// Writes a boolean as one byte, 0 or 1.
    #[inline]
    pub fn put_bool(&mut self, value: bool) {
        self.current.put_u8(u8::from(value));
    }

    fixed_width_writers! {
        /// Writes an int8.
        put_i8(i8);
        /// Writes a big-endian int16.
        put_i16(i16);
        /// Writes a big-endian uint16.
        put_u16(u16);
        /// Writes a big-endian int32.
        put_i32(i32);
        /// Writes a big-endian int64.
        put_i64(i64);
        /// Writes a big-endian float64.
        put_f64(f64);
    }

    /// Writes a UUID's 16 bytes.
    #[inline]
    pub fn put_uuid(&mut self, value: Uuid) {
        self.current.put_slice(&value.0);
    }

    /// Writes an unsigned varint.
    #[inline]
    pub fn put_uvarint(&mut self, mut value: u32) {
        while value >= 0x80 {
            self.current.put_u8((value as u8) | 0x80);
            value >>= 7;
        }
        self.current.put_u8(value as u8);
    }

    /// Writes a zig-zag encoded signed varint.
    #[inline]
    pub fn put_varint(&mut self, value: i32) {
        self.put_uvarint(((value << 1) ^ (value >> 31)) as u32);
    }

    /// Writes a string length (`None` is null): int16, or compact in flexible versions.
    #[inline]
    pub fn put_string_length(
        &mut self,
        length: Option<usize>,
        flexible: bool,
        field: &'static str,
    ) -> Result<(), EncodeError> {
        if flexible {
            return self.put_compact_length(length, field);
        }
        match length {
            None => self.put_i16(-1),
            Some(length) if length > STRING_BYTES_MAX => {
                return Err(too_long(field, length, STRING_BYTES_MAX))
            }
            Some(length) => self.put_i16(length as i16),
        }
        Ok(())
    }

    /// Writes a bytes, records or array length (`None` is null): int32, or compact in
    /// flexible versions.
    #[inline]
    pub fn put_length(
        &mut self,
        length: Option<usize>,
        flexible: bool,
        field: &'static str,
    ) -> Result<(), EncodeError> {
        if flexible {
            return self.put_compact_length(length, field);
        }
        match length {
            None => self.put_i32(-1),
            Some(length) if length > LENGTH_MAX => return Err(too_long(field, length, LENGTH_MAX)),
            Some(length) => self.put_i32(length as i32),
        }
        Ok(())
    }

    #[inline]
    fn put_compact_length(
        &mut self,
        length: Option<usize>,
        field: &'static str,
    ) -> Result<(), EncodeError> {
        match length {
            None => self.put_uvarint(0),
            Some(length) if length > LENGTH_MAX => return Err(too_long(field, length, LENGTH_MAX)),
            Some(length) => self.put_uvarint(length as u32 + 1),
        }
        Ok(())
    }

    /// Writes a non-null string.
    #[inline]
    pub fn put_string(
        &mut self,
        value: &str,
        flexible: bool,
        field: &'static str,
    ) -> Result<(), EncodeError> {
        self.put_string_length(Some(value.len()), flexible, field)?;
        self.current.put_slice(value.as_bytes());
        Ok(())
    }

    /// Writes a non-null byte string.
    #[inline]
    pub fn put_bytes(
        &mut self,
        value: &[u8],
        flexible: bool,
        field: &'static str,
    ) -> Result<(), EncodeError> {
        self.put_length(Some(value.len()), flexible, field)?;
        self.current.put_slice(value);
        Ok(())
    }

    /// Writes a non-null records field. In scatter mode a records field of at least
    /// [`RECORDS_CHUNK_BYTES_MIN`] bytes becomes a chunk of its own that shares `value`'s buffer.
    #[inline]
    pub fn put_records(
        &mut self,
        value: &Bytes,
        flexible: bool,
        field: &'static str,
    ) -> Result<(), EncodeError> {
        self.put_length(Some(value.len()), flexible, field)?;
        if self.records_as_chunks && value.len() >= RECORDS_CHUNK_BYTES_MIN {
            let small_fields = self.current.split().freeze();
            self.chunked_bytes += small_fields.len() + value.len();
            if !small_fields.is_empty() {
                self.chunks.push(small_fields);
            }
            self.chunks.push(value.clone());
        } else {
            self.current.put_slice(value);
        }
        Ok(())
    }

    /// Writes the one-byte marker in front of a nullable struct.
    #[inline]
    pub fn put_struct_presence(&mut self, present: bool) {
        self.put_i8(if present { 1 } else { -1 });
    }
}

fn too_long(field: &'static str, length: usize, length_max: usize) -> EncodeError {
    EncodeError::new(field, EncodeErrorKind::TooLong { length, length_max })
}

/// Fails with [`EncodeErrorKind::NullNotAllowed`] unless the field is nullable at this version.
#[inline]
pub fn ensure_nullable(
    nullable: bool,
    field: &'static str,
    version: i16,
) -> Result<(), EncodeError> {
    if nullable {
        Ok(())
    } else {
        Err(EncodeError::new(
            field,
            EncodeErrorKind::NullNotAllowed { version },
        ))
    }
}

/// The error for a non-default value of a field that the version lacks.
#[inline]
pub fn field_not_in_version(field: &'static str, version: i16) -> EncodeError {
    EncodeError::new(field, EncodeErrorKind::FieldNotInVersion { version })
}

/// The error for unknown tagged fields set on a version without tagged fields.
#[inline]
pub fn tagged_fields_not_in_version(field: &'static str, version: i16) -> EncodeError {
    EncodeError::new(field, EncodeErrorKind::TaggedFieldsNotInVersion { version })
}

/// Size of an unsigned varint.
#[inline]
pub const fn uvarint_size(value: u32) -> usize {
    match value {
        0..0x80 => 1,
        0x80..0x4000 => 2,
        0x4000..0x20_0000 => 3,
        0x20_0000..0x1000_0000 => 4,
        _ => 5,
    }
}

/// Size of a zig-zag encoded signed varint.
#[inline]
pub const fn varint_size(value: i32) -> usize {
    uvarint_size(((value << 1) ^ (value >> 31)) as u32)
}

#[inline]
const fn compact_length_size(length: Option<usize>) -> usize {
    match length {
        None => 1,
        Some(length) if length >= LENGTH_MAX => 5,
        Some(length) => uvarint_size(length as u32 + 1),
    }
}

/// Size of a string length prefix (`None` is null).
#[inline]
pub const fn string_length_size(length: Option<usize>, flexible: bool) -> usize {
    if flexible {
        compact_length_size(length)
    } else {
        2
    }
}

/// Size of a bytes, records or array length prefix (`None` is null).
#[inline]
pub const fn length_size(length: Option<usize>, flexible: bool) -> usize {
    if flexible {
        compact_length_size(length)
    } else {
        4
    }
}

/// Size of a non-null string of `length` bytes, prefix included.
#[inline]
pub const fn string_size(length: usize, flexible: bool) -> usize {
    string_length_size(Some(length), flexible) + length
}

/// Size of non-null bytes or records of `length` bytes, prefix included.
#[inline]
pub const fn bytes_size(length: usize, flexible: bool) -> usize {
    length_size(Some(length), flexible) + length
}

/// Size of one tagged field whose value takes `value_bytes`.
#[inline]
pub const fn tagged_field_size(tag: u32, value_bytes: usize) -> usize {
    uvarint_size(tag) + uvarint_size(value_bytes as u32) + value_bytes
}

/// Size of the unknown tagged fields kept from a decoded message.
#[inline]
pub fn unknown_tagged_fields_size(unknown: &[RawTaggedField]) -> usize {
    unknown
        .iter()
        .map(|field| tagged_field_size(field.tag, field.data.len()))
        .sum()
}

/// Writes the unknown tagged fields of a message in tag order, interleaved with its known ones:
/// call [`write_before`](Self::write_before) before each known tag (in ascending order), then
/// [`write_rest`](Self::write_rest).
#[derive(Debug)]
pub struct UnknownTaggedFieldsWriter<'a> {
    remaining: std::slice::Iter<'a, RawTaggedField>,
    next: Option<&'a RawTaggedField>,
}

impl<'a> UnknownTaggedFieldsWriter<'a> {
    /// Starts writing `unknown`, which must be sorted by tag (decoding keeps wire order).
    pub fn new(unknown: &'a [RawTaggedField]) -> Self {
        let mut remaining = unknown.iter();
        let next = remaining.next();
        Self { remaining, next }
    }

    /// Writes the unknown fields whose tags are below `tag`.
    #[inline]
    pub fn write_before(&mut self, encoder: &mut Encoder, tag: u32) {
        while let Some(field) = self.next.filter(|field| field.tag < tag) {
            write_raw_tagged_field(encoder, field);
            self.next = self.remaining.next();
        }
    }

    /// Writes the unknown fields not yet written.
    #[inline]
    pub fn write_rest(mut self, encoder: &mut Encoder) {
        while let Some(field) = self.next {
            write_raw_tagged_field(encoder, field);
            self.next = self.remaining.next();
        }
    }
}

fn write_raw_tagged_field(encoder: &mut Encoder, field: &RawTaggedField) {
    encoder.put_uvarint(field.tag);
    encoder.put_uvarint(field.data.len() as u32);
    encoder.put_raw(&field.data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode::{read_uvarint, read_varint};

    #[test]
    fn varints_round_trip_and_sizes_match() {
        for value in [
            0u32,
            1,
            127,
            128,
            16_383,
            16_384,
            2_097_151,
            2_097_152,
            268_435_455,
            268_435_456,
            u32::MAX,
        ] {
            let mut encoder = Encoder::contiguous(BytesMut::new());
            encoder.put_uvarint(value);
            let mut written = encoder.into_contiguous().freeze();
            assert_eq!(written.len(), uvarint_size(value));
            assert_eq!(read_uvarint(&mut written, "f"), Ok(value));
        }
        for value in [0i32, -1, 1, -64, 64, i32::MIN, i32::MAX] {
            let mut encoder = Encoder::contiguous(BytesMut::new());
            encoder.put_varint(value);
            let mut written = encoder.into_contiguous().freeze();
            assert_eq!(written.len(), varint_size(value));
            assert_eq!(read_varint(&mut written, "f"), Ok(value));
        }
    }

    #[test]
    fn scatter_mode_keeps_large_records_in_their_own_buffer() {
        let records = Bytes::from(vec![7u8; RECORDS_CHUNK_BYTES_MIN]);
        let small = Bytes::from(vec![9u8; RECORDS_CHUNK_BYTES_MIN - 1]);
        let mut encoder = Encoder::scatter(64);
        encoder.put_i32(1);
        encoder.put_records(&records, false, "f").unwrap();
        encoder.put_records(&small, false, "f").unwrap();
        assert_eq!(
            encoder.written_bytes(),
            4 + 4 + records.len() + 4 + small.len()
        );
        let chunks = encoder.into_chunks();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[1].as_ptr(), records.as_ptr());
        assert_eq!(chunks[2].len(), 4 + small.len());
    }

    #[test]
    fn over_long_strings_are_refused() {
        let text = "x".repeat(STRING_BYTES_MAX + 1);
        let mut encoder = Encoder::contiguous(BytesMut::new());
        let error = encoder.put_string(&text, false, "f").unwrap_err();
        assert_eq!(
            error.kind,
            EncodeErrorKind::TooLong {
                length: STRING_BYTES_MAX + 1,
                length_max: STRING_BYTES_MAX
            }
        );
        assert!(encoder.put_string(&text, true, "f").is_ok());
    }
}
