//! Snappy, raw or in the xerial framing.
//!
//! Kafka's Java client compresses with xerial's `SnappyOutputStream`, which frames raw snappy
//! blocks like this (integers big-endian):
//!
//! | bytes | field                                             |
//! |------:|---------------------------------------------------|
//! |     8 | magic `\x82SNAPPY\0`                              |
//! |     4 | format version (1)                                |
//! |     4 | minimum compatible version (1)                    |
//! |     … | blocks: `[int32 compressed length][raw snappy]`   |
//!
//! Each block holds at most 32 KiB of input. librdkafka writes a single raw snappy block (no
//! framing; seen from librdkafka 2.0.2 in `wire/tests/records_kcat.rs`) and reads both. Readers tell the two apart by the magic; we accept both and write
//! either ([`SnappyFraming`]), xerial by default because Java consumers before 3.x only read
//! that.

use bytes::{BufMut, BytesMut};

use super::CompressionError;
use crate::records::batch::Compression;

/// The first eight bytes of a xerial-framed stream.
pub const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Bytes of the xerial header: magic, version, compatible version.
pub const XERIAL_HEADER_LEN: usize = 16;
/// Input bytes per block we write, as xerial's `SnappyOutputStream` does by default.
pub const XERIAL_BLOCK_INPUT_BYTES: usize = 32 * 1024;
const XERIAL_VERSION: i32 = 1;
const XERIAL_COMPATIBLE_VERSION: i32 = 1;
const BLOCK_LENGTH_LEN: usize = 4;

/// Which snappy stream a writer produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnappyFraming {
    /// xerial framing: what Java clients write and every Kafka client reads.
    #[default]
    Xerial,
    /// One raw snappy block: what librdkafka writes.
    Raw,
}

fn corrupt(detail: impl std::fmt::Display) -> CompressionError {
    CompressionError::corrupt(Compression::Snappy, detail)
}

/// Appends one raw snappy block for `input`.
/// Fails only for inputs snappy cannot represent (4 GiB or more).
fn compress_block(
    encoder: &mut snap::raw::Encoder,
    input: &[u8],
    output: &mut BytesMut,
) -> Result<(), CompressionError> {
    let start = output.len();
    output.resize(start + snap::raw::max_compress_len(input.len()), 0);
    match encoder.compress(input, &mut output[start..]) {
        Ok(written) => {
            output.truncate(start + written);
            Ok(())
        }
        Err(error) => {
            output.truncate(start);
            Err(CompressionError::encoder_failed(Compression::Snappy, error))
        }
    }
}

pub(super) fn compress(
    input: &[u8],
    framing: SnappyFraming,
    output: &mut BytesMut,
) -> Result<(), CompressionError> {
    let mut encoder = snap::raw::Encoder::new();
    match framing {
        SnappyFraming::Raw => compress_block(&mut encoder, input, output)?,
        SnappyFraming::Xerial => {
            output.reserve(XERIAL_HEADER_LEN + snap::raw::max_compress_len(input.len()));
            output.put_slice(&XERIAL_MAGIC);
            output.put_i32(XERIAL_VERSION);
            output.put_i32(XERIAL_COMPATIBLE_VERSION);
            for block in input.chunks(XERIAL_BLOCK_INPUT_BYTES) {
                let length_at = output.len();
                output.put_i32(0);
                compress_block(&mut encoder, block, output)?;
                let block_len = output.len() - length_at - BLOCK_LENGTH_LEN;
                let block_len = i32::try_from(block_len).expect("a 32 KiB block compresses small");
                output[length_at..length_at + BLOCK_LENGTH_LEN]
                    .copy_from_slice(&block_len.to_be_bytes());
            }
        }
    }
    Ok(())
}

/// Decompresses one raw snappy block onto the end of `output`, which may hold at most
/// `limit_bytes` bytes in total. The block's declared length is checked before allocating.
fn decompress_block(
    decoder: &mut snap::raw::Decoder,
    block: &[u8],
    output: &mut Vec<u8>,
    limit_bytes: usize,
) -> Result<(), CompressionError> {
    let declared = snap::raw::decompress_len(block).map_err(corrupt)?;
    let start = output.len();
    if declared > limit_bytes - start {
        return Err(CompressionError::OutputTooLarge {
            compression: Compression::Snappy,
            limit_bytes,
        });
    }
    output.resize(start + declared, 0);
    let written = decoder
        .decompress(block, &mut output[start..])
        .map_err(corrupt)?;
    if written != declared {
        return Err(corrupt("block shorter than its declared length"));
    }
    Ok(())
}

pub(super) fn decompress(input: &[u8], limit_bytes: usize) -> Result<Vec<u8>, CompressionError> {
    let mut decoder = snap::raw::Decoder::new();
    let mut output = Vec::new();
    if !input.starts_with(&XERIAL_MAGIC) {
        decompress_block(&mut decoder, input, &mut output, limit_bytes)?;
        return Ok(output);
    }
    if input.len() < XERIAL_HEADER_LEN {
        return Err(corrupt("xerial header truncated"));
    }
    let compatible_version = i32::from_be_bytes([input[12], input[13], input[14], input[15]]);
    if compatible_version < XERIAL_COMPATIBLE_VERSION {
        return Err(corrupt(format!(
            "xerial compatible version {compatible_version} is below 1"
        )));
    }
    let mut rest = &input[XERIAL_HEADER_LEN..];
    // Each iteration consumes at least the 4-byte length, so it ends within input.len() / 4.
    while !rest.is_empty() {
        let Some((length, after)) = rest.split_first_chunk::<BLOCK_LENGTH_LEN>() else {
            return Err(corrupt("xerial block length truncated"));
        };
        let length = i32::from_be_bytes(*length);
        let Some(block) = usize::try_from(length)
            .ok()
            .and_then(|length| after.get(..length))
        else {
            return Err(corrupt(format!(
                "xerial block length {length} outside the {} bytes left",
                after.len()
            )));
        };
        decompress_block(&mut decoder, block, &mut output, limit_bytes)?;
        rest = &after[block.len()..];
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compressed(input: &[u8], framing: SnappyFraming) -> BytesMut {
        let mut output = BytesMut::new();
        compress(input, framing, &mut output).unwrap();
        output
    }

    #[test]
    fn xerial_layout_is_what_java_writes() {
        let input = vec![7u8; XERIAL_BLOCK_INPUT_BYTES + 10];
        let framed = compressed(&input, SnappyFraming::Xerial);
        assert_eq!(framed[..8], XERIAL_MAGIC);
        assert_eq!(framed[8..12], 1i32.to_be_bytes());
        assert_eq!(framed[12..16], 1i32.to_be_bytes());
        // Two blocks: the first 32 KiB, then 10 bytes.
        let first_len = i32::from_be_bytes(framed[16..20].try_into().unwrap()) as usize;
        let first = &framed[20..20 + first_len];
        assert_eq!(
            snap::raw::decompress_len(first).unwrap(),
            XERIAL_BLOCK_INPUT_BYTES
        );
        let second_at = 20 + first_len;
        let second_len =
            i32::from_be_bytes(framed[second_at..second_at + 4].try_into().unwrap()) as usize;
        assert_eq!(second_at + 4 + second_len, framed.len());
        assert_eq!(decompress(&framed, input.len()).unwrap(), input);
    }

    #[test]
    fn raw_snappy_is_read_too() {
        let input = b"librdkafka writes one raw block".repeat(20);
        let raw = compressed(&input, SnappyFraming::Raw);
        assert_ne!(raw[..8], XERIAL_MAGIC);
        assert_eq!(decompress(&raw, input.len()).unwrap(), input);
    }

    #[test]
    fn bad_xerial_framing_is_corrupt() {
        let framed = compressed(b"hello hello hello", SnappyFraming::Xerial);
        for cut in [10, XERIAL_HEADER_LEN + 2, framed.len() - 1] {
            assert!(
                matches!(
                    decompress(&framed[..cut], 1 << 20),
                    Err(CompressionError::Corrupt { .. })
                ),
                "cut at {cut}"
            );
        }
        let mut negative = framed.to_vec();
        negative[16..20].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(matches!(
            decompress(&negative, 1 << 20),
            Err(CompressionError::Corrupt { .. })
        ));
        let mut incompatible = framed.to_vec();
        incompatible[12..16].copy_from_slice(&0i32.to_be_bytes());
        assert!(matches!(
            decompress(&incompatible, 1 << 20),
            Err(CompressionError::Corrupt { .. })
        ));
    }

    #[test]
    fn declared_length_over_the_bound_is_rejected_before_allocating() {
        // A raw block header claiming 2^31 bytes, followed by nothing.
        let claim = [0x80, 0x80, 0x80, 0x80, 0x08];
        assert_eq!(
            decompress(&claim, 1 << 20),
            Err(CompressionError::OutputTooLarge {
                compression: Compression::Snappy,
                limit_bytes: 1 << 20
            })
        );
    }
}
