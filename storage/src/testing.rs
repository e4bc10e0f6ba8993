//! Helpers for tests, benchmarks and the crash-test writer: synthetic v2 batches.
//!
//! The batches carry opaque record bytes (the storage layer never decodes records), a valid
//! header and a valid CRC32C, so they pass the same validation real producer batches do.

use bytes::BytesMut;
use wire::records::{crc32c_of_batch, BATCH_HEADER_LEN, BATCH_OVERHEAD_LEN};

/// A valid v2 batch of `record_count` records (offset deltas `0..record_count`), with
/// `payload_bytes` of record data derived from `seed`, and both timestamps set to
/// `timestamp_ms`. The base offset is 0 until the log assigns one.
pub fn make_batch(
    record_count: i32,
    payload_bytes: usize,
    timestamp_ms: i64,
    seed: u64,
) -> BytesMut {
    assert!(record_count >= 1, "a batch holds at least one record");
    let mut batch = BytesMut::zeroed(BATCH_HEADER_LEN + payload_bytes);
    let length = (batch.len() - BATCH_OVERHEAD_LEN) as i32;
    batch[8..12].copy_from_slice(&length.to_be_bytes());
    batch[12..16].copy_from_slice(&(-1i32).to_be_bytes());
    batch[16] = 2;
    batch[23..27].copy_from_slice(&(record_count - 1).to_be_bytes());
    batch[27..35].copy_from_slice(&timestamp_ms.to_be_bytes());
    batch[35..43].copy_from_slice(&timestamp_ms.to_be_bytes());
    batch[43..51].copy_from_slice(&(-1i64).to_be_bytes());
    batch[51..53].copy_from_slice(&(-1i16).to_be_bytes());
    batch[53..57].copy_from_slice(&(-1i32).to_be_bytes());
    batch[57..61].copy_from_slice(&record_count.to_be_bytes());
    let mut state = seed ^ 0x5DEE_CE66_D1CE_4E5B;
    for chunk in batch[BATCH_HEADER_LEN..].chunks_mut(8) {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let bytes = state.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    let crc = crc32c_of_batch(&batch);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch
}

/// The record payload of a batch (bytes after the header), to compare content ignoring the
/// fields the log rewrites.
pub fn payload(batch: &[u8]) -> &[u8] {
    &batch[BATCH_HEADER_LEN.min(batch.len())..]
}
