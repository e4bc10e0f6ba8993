//! Readers for the primitive encodings of Kafka messages.
//!
//! Every reader takes the frame as `&mut Bytes`, consumes what it reads, and checks every
//! length against the bytes that remain before it slices or allocates anything. Strings, bytes
//! and records are returned as slices of the frame (`Bytes::split_to`), never copied.
//!
//! Lengths come in two shapes: the classic ones (int16 for strings, int32 for bytes, records
//! and arrays, -1 meaning null) and the compact ones of flexible versions (an unsigned varint
//! holding length + 1, 0 meaning null).

use super::error::{DecodeError, DecodeErrorKind};
use super::kstr::KStr;
use super::uuid::Uuid;
use bytes::{Buf, Bytes};

/// At most this many bytes are reserved up front for the elements of one array. Longer arrays
/// grow as their elements are actually decoded, so memory follows the bytes received, never a
/// count claimed by the peer.
pub const ARRAY_PREALLOCATION_BYTES_MAX: usize = 64 * 1024;

/// The longest unsigned varint for a 32-bit value.
pub const UVARINT32_BYTES_MAX: usize = 5;

#[inline]
fn ensure_remaining(
    buf: &Bytes,
    needed_bytes: usize,
    field: &'static str,
) -> Result<(), DecodeError> {
    if buf.remaining() < needed_bytes {
        return Err(DecodeError::new(
            field,
            DecodeErrorKind::Truncated {
                needed_bytes,
                remaining_bytes: buf.remaining(),
            },
        ));
    }
    Ok(())
}

/// Reads a boolean (one byte; any non-zero value is true, as Kafka's own reader does).
#[inline]
pub fn read_bool(buf: &mut Bytes, field: &'static str) -> Result<bool, DecodeError> {
    ensure_remaining(buf, 1, field)?;
    Ok(buf.get_u8() != 0)
}

/// Defines readers of fixed-width big-endian numbers through the `Buf` method `$get`.
macro_rules! fixed_width_readers {
    ($($(#[$doc:meta])* $name:ident($get:ident) -> $type:ty;)*) => {
        $(
            $(#[$doc])*
            #[inline]
            pub fn $name(buf: &mut Bytes, field: &'static str) -> Result<$type, DecodeError> {
                ensure_remaining(buf, std::mem::size_of::<$type>(), field)?;
                Ok(buf.$get())
            }
        )*
    };
}

fixed_width_readers! {
    /// Reads an int8.
    read_i8(get_i8) -> i8;
    /// Reads a big-endian int16.
    read_i16(get_i16) -> i16;
    /// Reads a big-endian uint16.
    read_u16(get_u16) -> u16;
    /// Reads a big-endian int32.
    read_i32(get_i32) -> i32;
    /// Reads a big-endian int64.
    read_i64(get_i64) -> i64;
    /// Reads a big-endian IEEE 754 float64.
    read_f64(get_f64) -> f64;
}

/// Reads a 16-byte UUID.
#[inline]
pub fn read_uuid(buf: &mut Bytes, field: &'static str) -> Result<Uuid, DecodeError> {
    ensure_remaining(buf, 16, field)?;
    let mut id = [0u8; 16];
    buf.copy_to_slice(&mut id);
    Ok(Uuid(id))
}

/// Reads an unsigned varint of at most 32 bits (at most 5 bytes, the last one holding at most
/// 4 significant bits).
#[inline]
pub fn read_uvarint(buf: &mut Bytes, field: &'static str) -> Result<u32, DecodeError> {
    let mut value: u32 = 0;
    for index in 0..UVARINT32_BYTES_MAX {
        ensure_remaining(buf, 1, field)?;
        let byte = buf.get_u8();
        if index == UVARINT32_BYTES_MAX - 1 && byte > 0x0f {
            return Err(DecodeError::new(field, DecodeErrorKind::InvalidVarint));
        }
        value |= u32::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::new(field, DecodeErrorKind::InvalidVarint))
}

/// Reads a zig-zag encoded signed varint of at most 32 bits.
#[inline]
pub fn read_varint(buf: &mut Bytes, field: &'static str) -> Result<i32, DecodeError> {
    let raw = read_uvarint(buf, field)?;
    Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// The width of a classic (non-compact) length prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthWidth {
    /// int16, used by strings.
    Int16,
    /// int32, used by bytes, records and arrays.
    Int32,
}

/// Reads a length prefix; `None` is null. Checks nothing against the remaining bytes.
#[inline]
fn read_length(
    buf: &mut Bytes,
    flexible: bool,
    width: LengthWidth,
    field: &'static str,
) -> Result<Option<usize>, DecodeError> {
    let length: i64 = if flexible {
        i64::from(read_uvarint(buf, field)?) - 1
    } else {
        match width {
            LengthWidth::Int16 => i64::from(read_i16(buf, field)?),
            LengthWidth::Int32 => i64::from(read_i32(buf, field)?),
        }
    };
    match length {
        -1 => Ok(None),
        length if length < 0 => Err(DecodeError::new(
            field,
            DecodeErrorKind::NegativeLength { length },
        )),
        // A u32 varint minus one, or a non-negative i32, always fits in usize on the 64-bit
        // targets this crate builds for.
        length => Ok(Some(usize::try_from(length).unwrap_or(usize::MAX))),
    }
}

/// Splits `length_bytes` off the front of the buffer, after checking that they are there.
#[inline]
fn take(buf: &mut Bytes, length_bytes: usize, field: &'static str) -> Result<Bytes, DecodeError> {
    if length_bytes > buf.remaining() {
        return Err(DecodeError::new(
            field,
            DecodeErrorKind::LengthPastEnd {
                length_bytes,
                remaining_bytes: buf.remaining(),
            },
        ));
    }
    Ok(buf.split_to(length_bytes))
}

#[inline]
fn to_kstr(bytes: Bytes, field: &'static str) -> Result<KStr, DecodeError> {
    KStr::from_utf8(bytes).map_err(|_| DecodeError::new(field, DecodeErrorKind::InvalidUtf8))
}

/// Reads a string that may be null.
#[inline]
pub fn read_nullable_string(
    buf: &mut Bytes,
    flexible: bool,
    field: &'static str,
) -> Result<Option<KStr>, DecodeError> {
    match read_length(buf, flexible, LengthWidth::Int16, field)? {
        None => Ok(None),
        Some(length_bytes) => Ok(Some(to_kstr(take(buf, length_bytes, field)?, field)?)),
    }
}

/// Reads a string that must not be null.
#[inline]
pub fn read_string(
    buf: &mut Bytes,
    flexible: bool,
    field: &'static str,
) -> Result<KStr, DecodeError> {
    read_nullable_string(buf, flexible, field)?
        .ok_or(DecodeError::new(field, DecodeErrorKind::NonNullableNull))
}

/// Reads a byte string (or a records field) that may be null, as a slice of the frame.
#[inline]
pub fn read_nullable_bytes(
    buf: &mut Bytes,
    flexible: bool,
    field: &'static str,
) -> Result<Option<Bytes>, DecodeError> {
    match read_length(buf, flexible, LengthWidth::Int32, field)? {
        None => Ok(None),
        Some(length_bytes) => Ok(Some(take(buf, length_bytes, field)?)),
    }
}

/// Reads a byte string (or a records field) that must not be null, as a slice of the frame.
#[inline]
pub fn read_bytes(
    buf: &mut Bytes,
    flexible: bool,
    field: &'static str,
) -> Result<Bytes, DecodeError> {
    read_nullable_bytes(buf, flexible, field)?
        .ok_or(DecodeError::new(field, DecodeErrorKind::NonNullableNull))
}

/// Reads an array length that may be null, and checks that `count` elements of at least
/// `element_bytes_min` bytes each fit in what remains. A zero minimum counts as one byte, so
/// the count is always bounded by the frame size.
#[inline]
pub fn read_nullable_array_length(
    buf: &mut Bytes,
    flexible: bool,
    element_bytes_min: usize,
    field: &'static str,
) -> Result<Option<usize>, DecodeError> {
    let Some(count) = read_length(buf, flexible, LengthWidth::Int32, field)? else {
        return Ok(None);
    };
    let fits = count
        .checked_mul(element_bytes_min.max(1))
        .is_some_and(|needed_bytes| needed_bytes <= buf.remaining());
    if !fits {
        return Err(DecodeError::new(
            field,
            DecodeErrorKind::TooManyElements {
                count,
                element_bytes_min,
                remaining_bytes: buf.remaining(),
            },
        ));
    }
    Ok(Some(count))
}

/// Reads an array that may be null. `read_element` decodes one element.
#[inline]
pub fn read_nullable_array<T>(
    buf: &mut Bytes,
    flexible: bool,
    element_bytes_min: usize,
    field: &'static str,
    mut read_element: impl FnMut(&mut Bytes) -> Result<T, DecodeError>,
) -> Result<Option<Vec<T>>, DecodeError> {
    let Some(count) = read_nullable_array_length(buf, flexible, element_bytes_min, field)? else {
        return Ok(None);
    };
    let preallocated = count.min(ARRAY_PREALLOCATION_BYTES_MAX / std::mem::size_of::<T>().max(1));
    let mut elements = Vec::with_capacity(preallocated);
    for _ in 0..count {
        elements.push(read_element(buf)?);
    }
    Ok(Some(elements))
}

/// Reads an array that must not be null.
#[inline]
pub fn read_array<T>(
    buf: &mut Bytes,
    flexible: bool,
    element_bytes_min: usize,
    field: &'static str,
    read_element: impl FnMut(&mut Bytes) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    read_nullable_array(buf, flexible, element_bytes_min, field, read_element)?
        .ok_or(DecodeError::new(field, DecodeErrorKind::NonNullableNull))
}

/// Reads the one-byte marker in front of a nullable struct: `true` when the struct follows.
#[inline]
pub fn read_struct_presence(buf: &mut Bytes, field: &'static str) -> Result<bool, DecodeError> {
    match read_i8(buf, field)? {
        -1 => Ok(false),
        1 => Ok(true),
        marker => Err(DecodeError::new(
            field,
            DecodeErrorKind::InvalidPresenceMarker { marker },
        )),
    }
}

/// A tagged field this crate does not know, kept so that it can be re-encoded unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawTaggedField {
    /// The tag number.
    pub tag: u32,
    /// The field's encoded value (a slice of the frame it came from).
    pub data: Bytes,
}

/// Reads a tagged-field section. For every field, `read_known(tag, value)` decodes the value if
/// the tag is known at this version and returns `true`, or returns `false` to have the field
/// kept in `unknown` as raw bytes. A known field must consume exactly its declared length.
#[inline]
pub fn read_tagged_fields(
    buf: &mut Bytes,
    field: &'static str,
    unknown: &mut Vec<RawTaggedField>,
    mut read_known: impl FnMut(u32, &mut Bytes) -> Result<bool, DecodeError>,
) -> Result<(), DecodeError> {
    /// A tagged field takes at least a one-byte tag and a one-byte length.
    const TAGGED_FIELD_BYTES_MIN: usize = 2;
    let count = read_uvarint(buf, field)? as usize;
    if count.saturating_mul(TAGGED_FIELD_BYTES_MIN) > buf.remaining() {
        return Err(DecodeError::new(
            field,
            DecodeErrorKind::TooManyElements {
                count,
                element_bytes_min: TAGGED_FIELD_BYTES_MIN,
                remaining_bytes: buf.remaining(),
            },
        ));
    }
    for _ in 0..count {
        let tag = read_uvarint(buf, field)?;
        let declared_bytes = read_uvarint(buf, field)? as usize;
        let mut value = take(buf, declared_bytes, field)?;
        if read_known(tag, &mut value)? {
            if !value.is_empty() {
                return Err(DecodeError::new(
                    field,
                    DecodeErrorKind::TaggedFieldLengthMismatch {
                        tag,
                        declared_bytes,
                        consumed_bytes: declared_bytes - value.len(),
                    },
                ));
            }
        } else {
            unknown.push(RawTaggedField { tag, data: value });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(bytes: &'static [u8]) -> Bytes {
        Bytes::from_static(bytes)
    }

    #[test]
    fn uvarint_rejects_more_than_five_bytes_and_overflow() {
        assert_eq!(read_uvarint(&mut frame(&[0x7f]), "f"), Ok(127));
        assert_eq!(read_uvarint(&mut frame(&[0x80, 0x01]), "f"), Ok(128));
        assert_eq!(
            read_uvarint(&mut frame(&[0xff, 0xff, 0xff, 0xff, 0x0f]), "f"),
            Ok(u32::MAX)
        );
        let error = read_uvarint(&mut frame(&[0xff, 0xff, 0xff, 0xff, 0x1f]), "f").unwrap_err();
        assert_eq!(error.kind, DecodeErrorKind::InvalidVarint);
        let error =
            read_uvarint(&mut frame(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), "f").unwrap_err();
        assert_eq!(error.kind, DecodeErrorKind::InvalidVarint);
        let error = read_uvarint(&mut frame(&[0x80]), "f").unwrap_err();
        assert!(matches!(error.kind, DecodeErrorKind::Truncated { .. }));
    }

    #[test]
    fn zigzag_varint_decodes_signs() {
        assert_eq!(read_varint(&mut frame(&[0x01]), "f"), Ok(-1));
        assert_eq!(read_varint(&mut frame(&[0x02]), "f"), Ok(1));
        assert_eq!(
            read_varint(&mut frame(&[0xff, 0xff, 0xff, 0xff, 0x0f]), "f"),
            Ok(i32::MIN)
        );
    }

    #[test]
    fn strings_borrow_the_frame_and_check_lengths() {
        let buffer = frame(&[0, 3, b'a', b'b', b'c', 0xff]);
        let mut cursor = buffer.clone();
        let text = read_string(&mut cursor, false, "f").unwrap();
        assert_eq!(&*text, "abc");
        assert_eq!(text.as_bytes().as_ptr(), buffer[2..].as_ptr());
        assert_eq!(cursor.len(), 1);
        let error = read_string(&mut frame(&[0, 9, b'a']), false, "f").unwrap_err();
        assert_eq!(
            error.kind,
            DecodeErrorKind::LengthPastEnd {
                length_bytes: 9,
                remaining_bytes: 1
            }
        );
        let error = read_string(&mut frame(&[0xff, 0xfe]), false, "f").unwrap_err();
        assert_eq!(error.kind, DecodeErrorKind::NegativeLength { length: -2 });
        let error = read_string(&mut frame(&[0xff, 0xff]), false, "f").unwrap_err();
        assert_eq!(error.kind, DecodeErrorKind::NonNullableNull);
        assert_eq!(read_nullable_string(&mut frame(&[0]), true, "f"), Ok(None));
        let error = read_string(&mut frame(&[2, 0xc3]), true, "f").unwrap_err();
        assert_eq!(error.kind, DecodeErrorKind::InvalidUtf8);
    }

    #[test]
    fn huge_array_counts_fail_before_allocating() {
        let error = read_array(
            &mut frame(&[0x7f, 0xff, 0xff, 0xff, 0]),
            false,
            4,
            "f",
            |buf| read_i32(buf, "f"),
        )
        .unwrap_err();
        assert_eq!(
            error.kind,
            DecodeErrorKind::TooManyElements {
                count: i32::MAX as usize,
                element_bytes_min: 4,
                remaining_bytes: 1
            }
        );
        let elements = read_array(&mut frame(&[3, 0, 1, 0, 2]), true, 2, "f", |buf| {
            read_i16(buf, "f")
        })
        .unwrap();
        assert_eq!(elements, vec![1, 2]);
    }

    #[test]
    fn tagged_fields_keep_unknown_and_check_known_lengths() {
        let mut unknown = Vec::new();
        // Two fields: tag 0 (known, 1 byte) and tag 7 (unknown, 2 bytes).
        let mut buffer = frame(&[2, 0, 1, 42, 7, 2, 0xaa, 0xbb]);
        let mut known = None;
        read_tagged_fields(&mut buffer, "f", &mut unknown, |tag, value| {
            if tag == 0 {
                known = Some(read_i8(value, "f")?);
                return Ok(true);
            }
            Ok(false)
        })
        .unwrap();
        assert_eq!(known, Some(42));
        assert_eq!(
            unknown,
            vec![RawTaggedField {
                tag: 7,
                data: frame(&[0xaa, 0xbb])
            }]
        );

        let error = read_tagged_fields(
            &mut frame(&[1, 0, 2, 42, 0]),
            "f",
            &mut unknown,
            |_, value| read_i8(value, "f").map(|_| true),
        )
        .unwrap_err();
        assert_eq!(
            error.kind,
            DecodeErrorKind::TaggedFieldLengthMismatch {
                tag: 0,
                declared_bytes: 2,
                consumed_bytes: 1
            }
        );
    }
}
