//! gzip (RFC 1952) through flate2. Java and librdkafka both write a single gzip member; members
//! written back to back are read as one stream, as Java's `GZIPInputStream` does.

use std::io::Write;

use bytes::{BufMut, BytesMut};
use flate2::write::GzEncoder;

use super::{read_bounded, CompressionError};
use crate::records::batch::Compression;

const LEVEL_MAX: i32 = 9;

pub(super) fn compress(
    input: &[u8],
    level: Option<i32>,
    output: &mut BytesMut,
) -> Result<(), CompressionError> {
    let level = match level {
        None => flate2::Compression::default(),
        Some(level @ 0..=LEVEL_MAX) => flate2::Compression::new(level as u32),
        Some(level) => {
            return Err(CompressionError::InvalidLevel {
                compression: Compression::Gzip,
                level,
            })
        }
    };
    let failed = |error| CompressionError::encoder_failed(Compression::Gzip, error);
    let mut encoder = GzEncoder::new(BufMut::writer(output), level);
    encoder.write_all(input).map_err(failed)?;
    encoder.finish().map_err(failed)?;
    Ok(())
}

pub(super) fn decompress(input: &[u8], limit_bytes: usize) -> Result<Vec<u8>, CompressionError> {
    let decoder = flate2::read::MultiGzDecoder::new(input);
    read_bounded(decoder, Compression::Gzip, input.len(), limit_bytes)
}
