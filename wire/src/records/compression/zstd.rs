//! zstd frames through the zstd crate (libzstd). Decoding streams with a capped window, so
//! neither a declared window nor a declared content size decides how much memory is taken.

use std::cell::RefCell;
use std::io;

use bytes::BytesMut;

use super::{read_bounded, CompressionError};
use crate::records::batch::Compression;

/// The level Kafka's clients use unless configured otherwise.
const LEVEL_DEFAULT: i32 = 3;
/// Smallest window cap: 8 MiB covers the windows of levels 1-19 on inputs of any size.
const WINDOW_LOG_FLOOR: u32 = 23;
/// Largest window cap: libzstd's own default limit (128 MiB).
const WINDOW_LOG_CEILING: u32 = 27;

/// The window cap for output bounded by `limit_bytes`: a window larger than the whole output
/// is never needed by an honest encoder, but encoders that do not know the input size up front
/// declare their level's default window anyway, hence the floor.
fn window_log_max(limit_bytes: usize) -> u32 {
    let needed = usize::BITS - limit_bytes.saturating_sub(1).leading_zeros();
    needed.clamp(WINDOW_LOG_FLOOR, WINDOW_LOG_CEILING)
}

thread_local! {
    /// One compression context per thread, reused from batch to batch: a fresh context
    /// allocates its workspace (about a megabyte at level 3) on every batch otherwise. Holds the
    /// level it is set to.
    static COMPRESSOR: RefCell<Option<(i32, ::zstd::bulk::Compressor<'static>)>> =
        const { RefCell::new(None) };
}

/// Compresses `input` into `destination` with this thread's context at `level`.
fn compress_with_thread_context(
    input: &[u8],
    destination: &mut [u8],
    level: i32,
) -> io::Result<usize> {
    COMPRESSOR.with(|slot| {
        let mut slot = slot.borrow_mut();
        match slot.as_mut() {
            Some((current, compressor)) if *current != level => {
                compressor.set_compression_level(level)?;
                *current = level;
            }
            Some(_) => {}
            None => *slot = Some((level, ::zstd::bulk::Compressor::new(level)?)),
        }
        let (_, compressor) = slot.as_mut().expect("context set above");
        compressor.compress_to_buffer(input, destination)
    })
}

pub(super) fn compress(
    input: &[u8],
    level: Option<i32>,
    output: &mut BytesMut,
) -> Result<(), CompressionError> {
    let level = level.unwrap_or(LEVEL_DEFAULT);
    if !::zstd::compression_level_range().contains(&level) {
        return Err(CompressionError::InvalidLevel {
            compression: Compression::Zstd,
            level,
        });
    }
    let start = output.len();
    let bound = ::zstd::zstd_safe::compress_bound(input.len());
    output.resize(start + bound, 0);
    match compress_with_thread_context(input, &mut output[start..], level) {
        Ok(written) => {
            output.truncate(start + written);
            Ok(())
        }
        Err(error) => {
            output.truncate(start);
            Err(CompressionError::encoder_failed(Compression::Zstd, error))
        }
    }
}

pub(super) fn decompress(input: &[u8], limit_bytes: usize) -> Result<Vec<u8>, CompressionError> {
    let corrupt = |error| CompressionError::corrupt(Compression::Zstd, error);
    let mut decoder = ::zstd::stream::read::Decoder::with_buffer(input).map_err(corrupt)?;
    decoder
        .window_log_max(window_log_max(limit_bytes))
        .map_err(corrupt)?;
    read_bounded(decoder, Compression::Zstd, input.len(), limit_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_cap_follows_the_bound_within_floor_and_ceiling() {
        assert_eq!(window_log_max(0), WINDOW_LOG_FLOOR);
        assert_eq!(window_log_max(1 << 20), WINDOW_LOG_FLOOR);
        assert_eq!(window_log_max((1 << 24) + 1), 25);
        assert_eq!(window_log_max(1 << 26), 26);
        assert_eq!(window_log_max(usize::MAX), WINDOW_LOG_CEILING);
    }
}
