//! The four codecs Kafka compresses a batch's records section with, both directions.
//!
//! A compressed v2 batch keeps its 61-byte header in the clear and compresses the records that
//! follow as one stream. The broker never needs to look inside (batches are stored as
//! received); tools, compaction, the bench harness and tests do.
//!
//! | codec  | on the wire                                                        | crate    |
//! |--------|--------------------------------------------------------------------|----------|
//! | gzip   | RFC 1952 gzip (several members are read back to back)              | flate2   |
//! | snappy | raw snappy, or the xerial framing Java clients write ([`snappy`])  | snap     |
//! | lz4    | LZ4 frame format, magic `0x184D2204` (v2 batches use correct HC)   | lz4_flex |
//! | zstd   | zstd frames                                                        | zstd     |
//!
//! # Decompression bombs
//!
//! Every decompression takes `decompressed_bytes_max`, normally the topic's max message bytes.
//! Output past that bound is an error ([`CompressionError::OutputTooLarge`]), found while
//! streaming: the output buffer grows with what was actually produced, never from a length the
//! compressed stream claims, and its capacity never exceeds the bound. The codecs' own working
//! memory is bounded independently of the input:
//! - gzip: a 32 KiB window;
//! - snappy: none beyond the output; each block's declared length is checked against the bytes
//!   still allowed before anything is allocated;
//! - lz4: one block buffer sized by the frame's block-size code, at most 4 MiB (twice that plus
//!   64 KiB for linked blocks); the legacy frame (8 MiB blocks) is rejected;
//! - zstd: the window is capped at `2^ZSTD_WINDOW_LOG_MAX` bytes, derived from the output bound
//!   but never below `2^ZSTD_WINDOW_LOG_FLOOR` (8 MiB, room for every level Kafka clients use by
//!   default) nor above `2^ZSTD_WINDOW_LOG_CEILING` (128 MiB, zstd's own default limit).

mod gzip;
mod lz4;
pub mod snappy;
mod zstd;

use std::io::{self, Read};

use bytes::BytesMut;

use super::batch::Compression;

pub use snappy::SnappyFraming;

/// How to compress: codec-specific settings. The default suits Kafka's consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompressionOptions {
    /// Codec level: gzip 0-9 (default 6), zstd per the linked library's range (default 3).
    /// Snappy and lz4 have no levels and reject one.
    pub level: Option<i32>,
    /// Which snappy stream to write. Reading accepts both.
    pub snappy_framing: SnappyFraming,
}

/// Why compressing or decompressing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompressionError {
    /// Decompressing would produce more bytes than the caller allows.
    #[error("{} output exceeds the limit of {limit_bytes} bytes", compression.name())]
    OutputTooLarge {
        compression: Compression,
        limit_bytes: usize,
    },
    /// The compressed bytes are not a valid stream of the codec.
    #[error("{} data is corrupt: {detail}", compression.name())]
    Corrupt {
        compression: Compression,
        detail: String,
    },
    /// The requested level is outside the codec's range, or the codec has no levels.
    #[error("{} does not accept level {level}", compression.name())]
    InvalidLevel {
        compression: Compression,
        level: i32,
    },
    /// The encoder itself failed (out of memory in the codec library, for instance).
    #[error("{} compression failed: {detail}", compression.name())]
    EncoderFailed {
        compression: Compression,
        detail: String,
    },
}

impl CompressionError {
    fn corrupt(compression: Compression, error: impl std::fmt::Display) -> Self {
        Self::Corrupt {
            compression,
            detail: error.to_string(),
        }
    }

    fn encoder_failed(compression: Compression, error: impl std::fmt::Display) -> Self {
        Self::EncoderFailed {
            compression,
            detail: error.to_string(),
        }
    }
}

/// Appends `input` compressed with `compression` to `output`. `Compression::None` copies.
pub fn compress(
    compression: Compression,
    input: &[u8],
    options: CompressionOptions,
    output: &mut BytesMut,
) -> Result<(), CompressionError> {
    match compression {
        Compression::None => {
            reject_level(compression, options.level)?;
            output.extend_from_slice(input);
            Ok(())
        }
        Compression::Gzip => gzip::compress(input, options.level, output),
        Compression::Snappy => {
            reject_level(compression, options.level)?;
            snappy::compress(input, options.snappy_framing, output)
        }
        Compression::Lz4 => {
            reject_level(compression, options.level)?;
            lz4::compress(input, output)
        }
        Compression::Zstd => zstd::compress(input, options.level, output),
    }
}

/// Decompresses `input` into a new buffer of at most `decompressed_bytes_max` bytes.
/// `Compression::None` copies (callers that can borrow should not call this).
pub fn decompress(
    compression: Compression,
    input: &[u8],
    decompressed_bytes_max: usize,
) -> Result<Vec<u8>, CompressionError> {
    match compression {
        Compression::None => {
            if input.len() > decompressed_bytes_max {
                return Err(CompressionError::OutputTooLarge {
                    compression,
                    limit_bytes: decompressed_bytes_max,
                });
            }
            Ok(input.to_vec())
        }
        Compression::Gzip => gzip::decompress(input, decompressed_bytes_max),
        Compression::Snappy => snappy::decompress(input, decompressed_bytes_max),
        Compression::Lz4 => lz4::decompress(input, decompressed_bytes_max),
        Compression::Zstd => zstd::decompress(input, decompressed_bytes_max),
    }
}

fn reject_level(compression: Compression, level: Option<i32>) -> Result<(), CompressionError> {
    match level {
        None => Ok(()),
        Some(level) => Err(CompressionError::InvalidLevel { compression, level }),
    }
}

/// Bytes asked of a streaming decoder per read.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// First capacity guess, as a multiple of the compressed size (never above the bound).
const EXPANSION_GUESS: usize = 4;

/// Drains a streaming decoder into a buffer of at most `limit_bytes` bytes.
///
/// The buffer's capacity grows by doubling but is clamped to the bound, so a bomb costs at most
/// `limit_bytes` of memory before it is rejected. Reads one byte past the bound to tell "exactly
/// at the limit" from "over it".
fn read_bounded(
    mut decoder: impl Read,
    compression: Compression,
    compressed_len: usize,
    limit_bytes: usize,
) -> Result<Vec<u8>, CompressionError> {
    let too_large = CompressionError::OutputTooLarge {
        compression,
        limit_bytes,
    };
    let mut output: Vec<u8> = Vec::with_capacity(
        compressed_len
            .saturating_mul(EXPANSION_GUESS)
            .min(limit_bytes),
    );
    // Every successful read adds at least one byte, and more than `limit_bytes` is an error,
    // so the loop runs at most `limit_bytes + 1` times plus a bounded number of interruptions.
    let mut interruptions_left: u32 = 16;
    loop {
        let start = output.len();
        let chunk = READ_CHUNK_BYTES.min((limit_bytes - start).saturating_add(1));
        if output.capacity() - start < chunk {
            let wanted = output.capacity().saturating_mul(2).max(start + chunk);
            // One byte of slack past the bound for the overflow probe.
            let capacity = wanted.min(limit_bytes.saturating_add(1));
            output.reserve_exact(capacity - start);
        }
        output.resize(start + chunk, 0);
        match decoder.read(&mut output[start..]) {
            Ok(0) => {
                output.truncate(start);
                return Ok(output);
            }
            Ok(read) => {
                output.truncate(start + read);
                if output.len() > limit_bytes {
                    return Err(too_large);
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted && interruptions_left > 0 => {
                interruptions_left -= 1;
                output.truncate(start);
            }
            Err(error) => return Err(CompressionError::corrupt(compression, error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn sample(len: usize) -> Vec<u8> {
        (0..len)
            .map(|index| (index % 251) as u8 ^ (index / 997) as u8)
            .collect()
    }

    #[test]
    fn every_codec_round_trips_sizes_around_block_boundaries() {
        for compression in CODECS {
            for len in [0, 1, 100, 32 * 1024, 64 * 1024 + 1, 300_000] {
                let input = sample(len);
                let mut compressed = BytesMut::new();
                compress(
                    compression,
                    &input,
                    CompressionOptions::default(),
                    &mut compressed,
                )
                .unwrap();
                let output = decompress(compression, &compressed, len).unwrap();
                assert_eq!(output, input, "{compression:?} len {len}");
            }
        }
    }

    #[test]
    fn output_one_byte_over_the_bound_is_rejected() {
        for compression in CODECS {
            let input = sample(10_000);
            let mut compressed = BytesMut::new();
            compress(
                compression,
                &input,
                CompressionOptions::default(),
                &mut compressed,
            )
            .unwrap();
            assert_eq!(
                decompress(compression, &compressed, 9_999),
                Err(CompressionError::OutputTooLarge {
                    compression,
                    limit_bytes: 9_999
                }),
                "{compression:?}"
            );
        }
    }

    #[test]
    fn bombs_are_rejected_without_allocating_their_size() {
        // 16 MiB of zeros compresses to a few kilobytes with every codec.
        let zeros = vec![0u8; 16 << 20];
        for compression in CODECS.into_iter().skip(1) {
            let mut compressed = BytesMut::new();
            compress(
                compression,
                &zeros,
                CompressionOptions::default(),
                &mut compressed,
            )
            .unwrap();
            assert!(
                compressed.len() < 1 << 20,
                "{compression:?} did not compress"
            );
            let result = decompress(compression, &compressed, 1 << 20);
            assert!(
                matches!(result, Err(CompressionError::OutputTooLarge { .. })),
                "{compression:?}: {result:?}"
            );
        }
    }

    #[test]
    fn garbage_is_a_typed_error_for_every_codec() {
        let garbage: Vec<u8> = (0..200u32).map(|index| (index * 37 % 256) as u8).collect();
        for compression in CODECS.into_iter().skip(1) {
            let result = decompress(compression, &garbage, 1 << 20);
            assert!(
                matches!(result, Err(CompressionError::Corrupt { .. })),
                "{compression:?}: {result:?}"
            );
        }
    }

    #[test]
    fn levels_are_checked() {
        let mut output = BytesMut::new();
        let with_level = |level| CompressionOptions {
            level: Some(level),
            ..CompressionOptions::default()
        };
        assert!(compress(Compression::Gzip, b"abc", with_level(9), &mut output).is_ok());
        assert!(matches!(
            compress(Compression::Gzip, b"abc", with_level(10), &mut output),
            Err(CompressionError::InvalidLevel { .. })
        ));
        assert!(compress(Compression::Zstd, b"abc", with_level(19), &mut output).is_ok());
        assert!(matches!(
            compress(Compression::Zstd, b"abc", with_level(1000), &mut output),
            Err(CompressionError::InvalidLevel { .. })
        ));
        assert!(matches!(
            compress(Compression::Lz4, b"abc", with_level(1), &mut output),
            Err(CompressionError::InvalidLevel { .. })
        ));
    }
}
