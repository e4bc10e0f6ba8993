//! Zigzag variable-length integers, as the v2 record format uses them.
//!
//! Every length, delta and count inside a record is a zigzag varint (protobuf `sint32`) or a
//! zigzag varlong (protobuf `sint64`): the signed value is mapped to an unsigned one
//! (`0, -1, 1, -2, …` to `0, 1, 2, 3, …`) and written seven bits at a time, least significant
//! group first, with the high bit of each byte set while more bytes follow.
//!
//! Decoding is strict: a varint longer than 5 bytes (varlong: 10), or whose last byte carries
//! bits beyond 32 (varlong: 64), is rejected rather than silently truncated. Encoders never
//! write such forms, so a strict decoder only turns away garbage.

use bytes::BufMut;

/// Most bytes a zigzag varint (32-bit) takes.
pub const VARINT_BYTES_MAX: usize = 5;
/// Most bytes a zigzag varlong (64-bit) takes.
pub const VARLONG_BYTES_MAX: usize = 10;

/// Why bytes are not a varint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VarintError {
    /// The bytes ended while the continuation bit was still set.
    #[error("varint truncated")]
    Truncated,
    /// More bytes than the type allows, or bits beyond its width.
    #[error("varint too long for its type")]
    Overlong,
}

fn zigzag_encode_32(value: i32) -> u32 {
    ((value << 1) ^ (value >> 31)) as u32
}

fn zigzag_encode_64(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn zigzag_decode_32(raw: u32) -> i32 {
    ((raw >> 1) as i32) ^ -((raw & 1) as i32)
}

fn zigzag_decode_64(raw: u64) -> i64 {
    ((raw >> 1) as i64) ^ -((raw & 1) as i64)
}

/// Bytes the unsigned LEB128 form of `raw` takes.
fn unsigned_len(raw: u64) -> usize {
    // One byte per started group of seven bits; zero still takes one byte.
    let significant_bits = 64 - raw.leading_zeros() as usize;
    significant_bits.div_ceil(7).max(1)
}

fn put_unsigned(mut raw: u64, output: &mut impl BufMut) {
    // At most 10 iterations: each shifts seven bits out of a 64-bit value.
    while raw >= 0x80 {
        output.put_u8((raw as u8 & 0x7f) | 0x80);
        raw >>= 7;
    }
    output.put_u8(raw as u8);
}

/// Reads an unsigned LEB128 value of at most `bytes_max` bytes and `bits` significant bits.
fn read_unsigned(bytes: &[u8], bytes_max: usize, bits: u32) -> Result<(u64, usize), VarintError> {
    let mut raw: u64 = 0;
    for index in 0..bytes_max {
        let Some(&byte) = bytes.get(index) else {
            return Err(VarintError::Truncated);
        };
        let shift = 7 * index as u32;
        let group = u64::from(byte & 0x7f);
        // Bits of this group that land at or above `bits` make the value too wide.
        if shift + 7 > bits && group >> (bits - shift) != 0 {
            return Err(VarintError::Overlong);
        }
        raw |= group << shift;
        if byte & 0x80 == 0 {
            return Ok((raw, index + 1));
        }
    }
    Err(VarintError::Overlong)
}

/// Bytes `value` takes as a zigzag varint.
pub fn varint_len(value: i32) -> usize {
    unsigned_len(u64::from(zigzag_encode_32(value)))
}

/// Bytes `value` takes as a zigzag varlong.
pub fn varlong_len(value: i64) -> usize {
    unsigned_len(zigzag_encode_64(value))
}

/// Appends `value` as a zigzag varint.
pub fn put_varint(value: i32, output: &mut impl BufMut) {
    put_unsigned(u64::from(zigzag_encode_32(value)), output);
}

/// Appends `value` as a zigzag varlong.
pub fn put_varlong(value: i64, output: &mut impl BufMut) {
    put_unsigned(zigzag_encode_64(value), output);
}

/// Decodes a zigzag varint from the start of `bytes`: the value and the bytes it took.
pub fn read_varint(bytes: &[u8]) -> Result<(i32, usize), VarintError> {
    let (raw, len) = read_unsigned(bytes, VARINT_BYTES_MAX, 32)?;
    Ok((zigzag_decode_32(raw as u32), len))
}

/// Decodes a zigzag varlong from the start of `bytes`: the value and the bytes it took.
pub fn read_varlong(bytes: &[u8]) -> Result<(i64, usize), VarintError> {
    let (raw, len) = read_unsigned(bytes, VARLONG_BYTES_MAX, 64)?;
    Ok((zigzag_decode_64(raw), len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings() {
        // Zigzag maps 0, -1, 1, -2, 2 to 0, 1, 2, 3, 4.
        let cases: [(i32, &[u8]); 7] = [
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (-2, &[0x03]),
            (63, &[0x7e]),
            (64, &[0x80, 0x01]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for (value, expected) in cases {
            let mut encoded = Vec::new();
            put_varint(value, &mut encoded);
            assert_eq!(encoded, expected, "encoding of {value}");
            assert_eq!(varint_len(value), expected.len());
            assert_eq!(read_varint(expected), Ok((value, expected.len())));
        }
    }

    #[test]
    fn truncated_and_overlong_are_rejected() {
        assert_eq!(read_varint(&[]), Err(VarintError::Truncated));
        assert_eq!(read_varint(&[0x80, 0x80]), Err(VarintError::Truncated));
        // Six bytes for a 32-bit varint.
        assert_eq!(
            read_varint(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
            Err(VarintError::Overlong)
        );
        // Five bytes whose last one carries bits beyond 32.
        assert_eq!(
            read_varint(&[0xff, 0xff, 0xff, 0xff, 0x1f]),
            Err(VarintError::Overlong)
        );
        assert_eq!(read_varlong(&[0xff; 11]), Err(VarintError::Overlong));
        let mut ten = [0xffu8; 10];
        ten[9] = 0x02;
        assert_eq!(read_varlong(&ten), Err(VarintError::Overlong));
        ten[9] = 0x01;
        assert_eq!(read_varlong(&ten), Ok((i64::MIN, 10)));
    }

    proptest! {
        #[test]
        fn varint_round_trips(value in any::<i32>(), tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut encoded = Vec::new();
            put_varint(value, &mut encoded);
            prop_assert_eq!(encoded.len(), varint_len(value));
            let used = encoded.len();
            encoded.extend(tail);
            prop_assert_eq!(read_varint(&encoded), Ok((value, used)));
        }

        #[test]
        fn varlong_round_trips(value in any::<i64>()) {
            let mut encoded = Vec::new();
            put_varlong(value, &mut encoded);
            prop_assert_eq!(encoded.len(), varlong_len(value));
            prop_assert_eq!(read_varlong(&encoded), Ok((value, encoded.len())));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            if let Ok((_, used)) = read_varint(&bytes) {
                prop_assert!(used <= VARINT_BYTES_MAX && used <= bytes.len());
            }
            if let Ok((_, used)) = read_varlong(&bytes) {
                prop_assert!(used <= VARLONG_BYTES_MAX && used <= bytes.len());
            }
        }
    }
}
