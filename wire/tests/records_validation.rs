//! Bad batches and bad records give typed errors, never panics: CRC checks, truncation,
//! malformed record fields, count mismatches, corrupt compressed sections and decompression
//! bombs; plus seeded fuzzing of whole batches and of records sections behind a valid CRC.

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use wire::records::compression::{self, CompressionError, CompressionOptions};
use wire::records::varint::{put_varint, put_varlong};
use wire::records::{
    crc32c_of_batch, Attributes, Batch, BatchBuilder, BatchError, BatchOptions, Compression,
    NewHeader, NewRecord, RecordDefect, RecordError, BATCH_HEADER_LEN,
};

const BATCH_BYTES_MAX: usize = 1 << 20;
const DECOMPRESSED_BYTES_MAX: usize = 1 << 20;
const SEED: u64 = 0xBAD_BA7C4;

/// A batch whose records section is exactly `section` (already compressed if `compression`
/// says so), with the given count and last offset delta and a correct CRC.
fn raw_batch(
    section: &[u8],
    record_count: i32,
    last_offset_delta: i32,
    compression: Compression,
) -> Bytes {
    let mut batch = BatchBuilder::new(BatchOptions::default()).finish().unwrap();
    assert_eq!(batch.len(), BATCH_HEADER_LEN);
    batch.extend_from_slice(section);
    let length = (batch.len() - 12) as i32;
    batch[8..12].copy_from_slice(&length.to_be_bytes());
    let attributes = Attributes(0).with_compression(compression);
    batch[21..23].copy_from_slice(&attributes.0.to_be_bytes());
    batch[23..27].copy_from_slice(&last_offset_delta.to_be_bytes());
    batch[57..61].copy_from_slice(&record_count.to_be_bytes());
    reseal(&mut batch);
    batch.freeze()
}

const COMPRESSED_CODECS: [Compression; 4] = [
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn compressed_with(compression: Compression, input: &[u8]) -> BytesMut {
    let mut compressed = BytesMut::new();
    compression::compress(
        compression,
        input,
        CompressionOptions::default(),
        &mut compressed,
    )
    .unwrap();
    compressed
}

/// Recomputes the CRC after the bytes were changed.
fn reseal(batch: &mut [u8]) {
    let crc = crc32c_of_batch(batch);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// Encodes one record by hand: `fields` is the body after the length prefix.
fn framed(fields: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(fields.len() as i32, &mut out);
    out.extend_from_slice(fields);
    out
}

/// Body of a well-formed record with the given offset delta, key and value.
fn body(offset_delta: i32, key: Option<&[u8]>, value: Option<&[u8]>) -> Vec<u8> {
    let mut out = vec![0u8]; // attributes
    put_varlong(0, &mut out);
    put_varint(offset_delta, &mut out);
    for field in [key, value] {
        match field {
            None => put_varint(-1, &mut out),
            Some(bytes) => {
                put_varint(bytes.len() as i32, &mut out);
                out.extend_from_slice(bytes);
            }
        }
    }
    put_varint(0, &mut out); // header count
    out
}

/// The first error the records of `batch` give, if any.
fn first_error(batch: &Bytes) -> Option<RecordError> {
    let batch = Batch::parse(batch, BATCH_BYTES_MAX).expect("test batch has a valid header");
    match batch.records(DECOMPRESSED_BYTES_MAX) {
        Err(error) => Some(error),
        Ok(records) => records.filter_map(Result::err).next(),
    }
}

fn malformed(batch: &Bytes) -> (u32, RecordDefect) {
    match first_error(batch) {
        Some(RecordError::Malformed { index, defect }) => (index, defect),
        other => panic!("expected a malformed record, got {other:?}"),
    }
}

#[test]
fn hand_encoded_records_decode() {
    let mut section = framed(&body(0, Some(b"k"), Some(b"v")));
    section.extend(framed(&body(1, None, None)));
    let batch = raw_batch(&section, 2, 1, Compression::None);
    assert_eq!(first_error(&batch), None);
    let batch = Batch::parse(&batch, BATCH_BYTES_MAX).unwrap();
    let records: Vec<_> = batch
        .records(1 << 20)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(records[0].key().unwrap(), &b"k"[..]);
    assert_eq!(records[1].key(), None);
    assert_eq!(records[1].value(), None);
}

#[test]
fn crc_is_accepted_and_any_change_in_the_covered_range_is_rejected() {
    let mut builder = BatchBuilder::new(BatchOptions::default());
    for index in 0..3u8 {
        builder
            .append(&NewRecord {
                timestamp_ms: 1_700_000_000_000,
                key: Some(&[index]),
                value: Some(b"payload"),
                headers: &[NewHeader {
                    key: b"h",
                    value: None,
                }],
            })
            .unwrap();
    }
    let batch = builder.finish().unwrap().freeze();
    assert!(Batch::parse(&batch, BATCH_BYTES_MAX).is_ok());
    for position in BATCH_HEADER_LEN..batch.len() {
        let mut corrupted = batch.to_vec();
        corrupted[position] ^= 0x01;
        assert!(
            matches!(
                Batch::parse(&Bytes::from(corrupted), BATCH_BYTES_MAX),
                Err(BatchError::CrcMismatch { .. })
            ),
            "flip at {position} accepted"
        );
    }
    // Bytes before the covered range (base offset, length aside, leader epoch) are not in it.
    let mut moved = batch.to_vec();
    moved[0..8].copy_from_slice(&77i64.to_be_bytes());
    moved[12..16].copy_from_slice(&5i32.to_be_bytes());
    assert!(Batch::parse(&Bytes::from(moved), BATCH_BYTES_MAX).is_ok());
}

#[test]
fn truncated_batches_are_typed_errors() {
    let batch = raw_batch(
        &framed(&body(0, Some(b"key"), Some(b"value"))),
        1,
        0,
        Compression::None,
    );
    for cut in [
        0,
        1,
        30,
        BATCH_HEADER_LEN - 1,
        BATCH_HEADER_LEN,
        batch.len() - 1,
    ] {
        assert!(
            matches!(
                Batch::parse(&batch.slice(..cut), BATCH_BYTES_MAX),
                Err(BatchError::Truncated { .. })
            ),
            "cut at {cut}"
        );
    }
}

#[test]
fn record_length_beyond_the_section() {
    let mut section = Vec::new();
    put_varint(100, &mut section);
    section.extend_from_slice(&[0; 10]);
    let batch = raw_batch(&section, 1, 0, Compression::None);
    assert!(matches!(
        malformed(&batch),
        (
            0,
            RecordDefect::LengthBeyondRecord {
                field: "record length",
                length: 100,
                ..
            }
        )
    ));
}

#[test]
fn negative_record_length() {
    let mut section = Vec::new();
    put_varint(-3, &mut section);
    section.extend_from_slice(&[0; 10]);
    let batch = raw_batch(&section, 1, 0, Compression::None);
    assert_eq!(
        malformed(&batch),
        (
            0,
            RecordDefect::InvalidLength {
                field: "record length",
                length: -3
            }
        )
    );
}

#[test]
fn key_length_beyond_the_record_and_below_minus_one() {
    // Key length 50 in a record of a dozen bytes.
    let mut fields = vec![0u8];
    put_varlong(0, &mut fields);
    put_varint(0, &mut fields);
    put_varint(50, &mut fields);
    fields.extend_from_slice(b"short");
    let batch = raw_batch(&framed(&fields), 1, 0, Compression::None);
    assert!(matches!(
        malformed(&batch),
        (
            0,
            RecordDefect::LengthBeyondRecord {
                field: "key",
                length: 50,
                available: 5
            }
        )
    ));

    let mut fields = vec![0u8];
    put_varlong(0, &mut fields);
    put_varint(0, &mut fields);
    put_varint(-2, &mut fields);
    fields.extend_from_slice(&[1, 1, 0]);
    let batch = raw_batch(&framed(&fields), 1, 0, Compression::None);
    assert_eq!(
        malformed(&batch),
        (
            0,
            RecordDefect::InvalidLength {
                field: "key",
                length: -2
            }
        )
    );
}

#[test]
fn null_header_key_is_rejected() {
    let mut fields = body(0, None, Some(b"v"));
    fields.pop(); // header count 0
    put_varint(1, &mut fields);
    put_varint(-1, &mut fields); // null header key
    put_varint(-1, &mut fields);
    let batch = raw_batch(&framed(&fields), 1, 0, Compression::None);
    assert_eq!(
        malformed(&batch),
        (
            0,
            RecordDefect::InvalidLength {
                field: "header key",
                length: -1
            }
        )
    );
}

#[test]
fn huge_header_count_fails_on_the_bytes_not_on_the_count() {
    let mut fields = body(0, None, None);
    fields.pop();
    put_varint(i32::MAX, &mut fields);
    fields.extend_from_slice(&[0, 1]); // one header: empty key, null value
    let batch = raw_batch(&framed(&fields), 1, 0, Compression::None);
    assert_eq!(
        malformed(&batch),
        (
            0,
            RecordDefect::Truncated {
                field: "header key"
            }
        )
    );
}

#[test]
fn overlong_varint_is_rejected() {
    let mut fields = vec![0u8];
    fields.extend_from_slice(&[0xff; 11]); // timestamp delta: 11 continuation bytes
    let batch = raw_batch(&framed(&fields), 1, 0, Compression::None);
    assert_eq!(
        malformed(&batch),
        (
            0,
            RecordDefect::OverlongVarint {
                field: "timestamp delta"
            }
        )
    );
}

#[test]
fn fields_must_use_exactly_the_declared_length() {
    let mut fields = body(0, Some(b"k"), Some(b"v"));
    fields.extend_from_slice(&[9, 9]); // two stray bytes inside the record
    let declared = fields.len();
    let batch = raw_batch(&framed(&fields), 1, 0, Compression::None);
    assert_eq!(
        malformed(&batch),
        (
            0,
            RecordDefect::LengthMismatch {
                declared,
                used: declared - 2
            }
        )
    );
}

#[test]
fn offset_deltas_must_increase_and_stay_within_the_batch() {
    let mut section = framed(&body(1, None, None));
    section.extend(framed(&body(1, None, None)));
    let batch = raw_batch(&section, 2, 1, Compression::None);
    assert!(matches!(
        malformed(&batch),
        (
            1,
            RecordDefect::OffsetDeltaOutOfOrder {
                offset_delta: 1,
                previous: 1,
                ..
            }
        )
    ));

    let batch = raw_batch(&framed(&body(3, None, None)), 1, 2, Compression::None);
    assert!(matches!(
        malformed(&batch),
        (
            0,
            RecordDefect::OffsetDeltaOutOfOrder {
                offset_delta: 3,
                last_offset_delta: 2,
                ..
            }
        )
    ));
}

#[test]
fn record_count_must_match() {
    let one = framed(&body(0, None, Some(b"a value of some length")));
    let mut two = one.clone();
    two.extend(framed(&body(1, None, Some(b"w"))));

    let fewer_than_declared = raw_batch(&one, 2, 1, Compression::None);
    assert_eq!(
        first_error(&fewer_than_declared),
        Some(RecordError::CountMismatch {
            declared: 2,
            found: 1
        })
    );

    let more_than_declared = raw_batch(&two, 1, 1, Compression::None);
    assert_eq!(
        first_error(&more_than_declared),
        Some(RecordError::TrailingBytes {
            declared: 1,
            bytes: two.len() - one.len()
        })
    );

    let impossible = raw_batch(&one, 1_000_000, 999_999, Compression::None);
    assert!(matches!(
        first_error(&impossible),
        Some(RecordError::RecordCountImpossible {
            declared: 1_000_000,
            ..
        })
    ));
}

#[test]
fn iteration_stops_after_the_first_error() {
    let mut section = framed(&body(0, None, Some(b"a value of some length")));
    section.extend_from_slice(&[0x7f, 0x00]); // a record claiming 63 bytes
    let batch = raw_batch(&section, 2, 1, Compression::None);
    let batch = Batch::parse(&batch, BATCH_BYTES_MAX).unwrap();
    let items: Vec<_> = batch.records(1 << 20).unwrap().collect();
    assert_eq!(items.len(), 2);
    assert!(items[0].is_ok());
    assert!(items[1].is_err());
}

#[test]
fn corrupt_compressed_sections_are_typed_errors() {
    let records = framed(&body(0, Some(b"key"), Some(b"value")));
    for compression in COMPRESSED_CODECS {
        let compressed = compressed_with(compression, &records);
        let good = raw_batch(&compressed, 1, 0, compression);
        assert_eq!(first_error(&good), None, "{compression:?}");

        // A stream cut short (lz4_flex tolerates a missing end mark alone, so cut into data).
        let truncated = raw_batch(&compressed[..compressed.len() / 2], 1, 0, compression);
        assert!(
            matches!(
                first_error(&truncated),
                Some(RecordError::Compression(CompressionError::Corrupt { .. }))
            ),
            "{compression:?}: {:?}",
            first_error(&truncated)
        );
        // Garbage where the stream should start.
        let mut garbled = compressed.to_vec();
        for byte in &mut garbled[..4] {
            *byte ^= 0xa5;
        }
        let garbled = raw_batch(&garbled, 1, 0, compression);
        assert!(
            matches!(
                first_error(&garbled),
                Some(RecordError::Compression(CompressionError::Corrupt { .. }))
            ),
            "{compression:?}: {:?}",
            first_error(&garbled)
        );
    }
    // gzip carries a CRC32 of its content, so a change anywhere is caught by the codec (the
    // others rely on the batch CRC32C, which covers the compressed bytes).
    let mut compressed = compressed_with(Compression::Gzip, &records);
    let middle = compressed.len() / 2;
    compressed[middle] ^= 0x10;
    let batch = raw_batch(&compressed, 1, 0, Compression::Gzip);
    assert!(matches!(
        first_error(&batch),
        Some(RecordError::Compression(CompressionError::Corrupt { .. }))
    ));
}

#[test]
fn decompression_bombs_are_rejected_at_the_callers_bound() {
    // One record with an 8 MiB value of zeros: a few KiB compressed.
    let mut fields = vec![0u8];
    put_varlong(0, &mut fields);
    put_varint(0, &mut fields);
    put_varint(-1, &mut fields);
    let value_len = 8 << 20;
    put_varint(value_len as i32, &mut fields);
    fields.resize(fields.len() + value_len, 0);
    put_varint(0, &mut fields);
    let records = framed(&fields);
    for compression in COMPRESSED_CODECS {
        let compressed = compressed_with(compression, &records);
        assert!(compressed.len() < BATCH_BYTES_MAX, "{compression:?}");
        let batch = raw_batch(&compressed, 1, 0, compression);
        let batch = Batch::parse(&batch, BATCH_BYTES_MAX).unwrap();
        assert_eq!(
            batch.records(1 << 20).err(),
            Some(RecordError::Compression(CompressionError::OutputTooLarge {
                compression,
                limit_bytes: 1 << 20
            })),
            "{compression:?}"
        );
        // With room for it, the same batch reads fine.
        let record = batch.records(16 << 20).unwrap().next().unwrap().unwrap();
        assert_eq!(record.value().unwrap().len(), value_len);
    }
}

#[test]
fn compressed_batch_claiming_more_records_than_the_bound_holds_is_refused_before_decompressing() {
    let mut compressed = BytesMut::new();
    compressed.put_slice(b"not even looked at");
    let batch = raw_batch(&compressed, i32::MAX, i32::MAX, Compression::Zstd);
    let batch = Batch::parse(&batch, BATCH_BYTES_MAX).unwrap();
    assert!(matches!(
        batch.records(1 << 20).err(),
        Some(RecordError::RecordCountImpossible { .. })
    ));
}

fn config() -> Config {
    Config {
        cases: 512,
        rng_seed: RngSeed::Fixed(SEED),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Walks every batch and record of `bytes`; only checks that nothing panics and that the
/// iterator ends.
fn walk(bytes: Bytes) -> usize {
    let mut seen = 0;
    for batch in Batch::split(bytes, BATCH_BYTES_MAX) {
        let Ok(batch) = batch else { break };
        if let Ok(records) = batch.records(DECOMPRESSED_BYTES_MAX) {
            for record in records {
                let Ok(record) = record else { break };
                seen += 1 + record.headers().iter().count();
            }
        }
        let _ = batch.control_record(DECOMPRESSED_BYTES_MAX);
    }
    seen
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        walk(Bytes::from(bytes));
    }

    #[test]
    fn arbitrary_sections_behind_a_valid_crc_never_panic(
        section in proptest::collection::vec(any::<u8>(), 0..300),
        record_count in 0i32..40,
        extra_delta in 0i32..40,
        codec in 0u8..5,
        control in any::<bool>(),
    ) {
        let compression = Compression::from_id(codec).unwrap();
        let mut batch = raw_batch(&section, record_count, record_count + extra_delta, compression)
            .to_vec();
        if control {
            let attributes = Attributes(i16::from_be_bytes([batch[21], batch[22]])).with_control(true);
            batch[21..23].copy_from_slice(&attributes.0.to_be_bytes());
            reseal(&mut batch);
        }
        walk(Bytes::from(batch));
    }

    #[test]
    fn mutated_valid_sections_never_panic(
        seed_records in 1usize..6,
        mutations in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        codec in 0u8..5,
    ) {
        let compression = Compression::from_id(codec).unwrap();
        let mut section = Vec::new();
        for index in 0..seed_records {
            section.extend(framed(&body(index as i32, Some(b"key"), Some(b"value"))));
        }
        let mut compressed = BytesMut::new();
        compression::compress(compression, &section, CompressionOptions::default(), &mut compressed)
            .unwrap();
        let mut compressed = compressed.to_vec();
        for (position, byte) in mutations {
            let len = compressed.len();
            compressed[position % len] = byte;
        }
        let count = seed_records as i32;
        walk(raw_batch(&compressed, count, count - 1, compression));
    }
}
