//! LZ4 frame format (magic `0x184D2204`), as Kafka's clients write it for v2 batches.
//!
//! Kafka's Java client writes 64 KiB independent blocks without checksums or content size;
//! librdkafka writes through liblz4's frame API; other clients may use larger blocks, block
//! checksums, a content size or linked blocks. lz4_flex's frame decoder reads all of these.
//! (Magic v0/v1 message sets computed the header checksum over the wrong range; that quirk does
//! not apply to v2 batches and is not supported here.) The legacy LZ4 frame (magic
//! `0x184C2102`, 8 MiB blocks) was never a Kafka format and is rejected before decoding, which
//! also keeps the decoder's block buffer at 4 MiB at most.
//!
//! We write what the Java client writes: 64 KiB independent blocks, no checksums.

use std::io::Write;

use bytes::{BufMut, BytesMut};
use lz4_flex::frame::{BlockMode, BlockSize, FrameDecoder, FrameEncoder, FrameInfo};

use super::{read_bounded, CompressionError};
use crate::records::batch::Compression;

/// The LZ4 frame magic number, stored little-endian.
const FRAME_MAGIC: u32 = 0x184D_2204;

pub(super) fn compress(input: &[u8], output: &mut BytesMut) -> Result<(), CompressionError> {
    let frame_info = FrameInfo::new()
        .block_size(BlockSize::Max64KB)
        .block_mode(BlockMode::Independent);
    let mut encoder = FrameEncoder::with_frame_info(frame_info, BufMut::writer(output));
    encoder
        .write_all(input)
        .map_err(|error| CompressionError::encoder_failed(Compression::Lz4, error))?;
    encoder
        .finish()
        .map_err(|error| CompressionError::encoder_failed(Compression::Lz4, error))?;
    Ok(())
}

pub(super) fn decompress(input: &[u8], limit_bytes: usize) -> Result<Vec<u8>, CompressionError> {
    let magic = input
        .get(..4)
        .map(|bytes| u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]));
    if magic != Some(FRAME_MAGIC) {
        return Err(CompressionError::corrupt(
            Compression::Lz4,
            "does not start with the LZ4 frame magic",
        ));
    }
    read_bounded(
        FrameDecoder::new(input),
        Compression::Lz4,
        input.len(),
        limit_bytes,
    )
}
