//! Fuzzes record batch parsing: arbitrary bytes are split into batches, validated, and every
//! record of every batch is iterated with whatever codec the attributes name, decompression
//! bounded. A second pass re-seals the input's CRC so that the record and codec decoders are
//! reached even though random bytes almost never carry a valid CRC32C. Nothing may panic, and
//! no allocation may exceed the bounds below.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use wire::records::{crc32c_of_batch, Batch, BATCH_HEADER_LEN, CRC_RANGE_START};

const BATCH_BYTES_MAX: usize = 1 << 20;
/// Small, so that bombs are found quickly and cost little.
const DECOMPRESSED_BYTES_MAX: usize = 256 << 10;

fn walk(bytes: Bytes) {
    for batch in Batch::split(bytes, BATCH_BYTES_MAX) {
        let Ok(batch) = batch else { return };
        let header = *batch.header();
        assert_eq!(batch.as_bytes().len(), header.total_len());
        if let Ok(records) = batch.records(DECOMPRESSED_BYTES_MAX) {
            let mut count: i64 = 0;
            for record in records {
                let Ok(record) = record else { break };
                assert!(record.offset() >= header.base_offset);
                assert!(record.offset() <= header.last_offset());
                count += 1;
                for header in record.headers() {
                    let _ = header.key_str();
                }
            }
            assert!(count <= i64::from(header.record_count));
        }
        let _ = batch.control_record(DECOMPRESSED_BYTES_MAX);
    }
}

fuzz_target!(|data: &[u8]| {
    walk(Bytes::copy_from_slice(data));

    // Same bytes with the batch length and CRC made consistent, to get past validation.
    if data.len() >= BATCH_HEADER_LEN {
        let mut sealed = data.to_vec();
        let length = (sealed.len() - 12) as i32;
        sealed[8..12].copy_from_slice(&length.to_be_bytes());
        sealed[16] = 2;
        let crc = crc32c_of_batch(&sealed);
        sealed[CRC_RANGE_START - 4..CRC_RANGE_START].copy_from_slice(&crc.to_be_bytes());
        walk(Bytes::from(sealed));
    }
});
