//! Control batches (transaction markers) and transactional attributes are recognised.

use bytes::Bytes;
use wire::records::{
    build_end_transaction_batch, Batch, BatchBuilder, BatchOptions, Compression, ControlDefect,
    ControlRecord, ControlType, EndTransaction, EndTransactionMarker, NewRecord, Record,
    RecordError, TransactionResult,
};

const BATCH_BYTES_MAX: usize = 1 << 20;
const DECOMPRESSED_BYTES_MAX: usize = 1 << 20;

fn marker(result: TransactionResult) -> EndTransaction {
    EndTransaction {
        producer_id: 4_242,
        producer_epoch: 7,
        result,
        coordinator_epoch: 19,
        timestamp_ms: 1_700_000_000_123,
        base_offset: 500,
        partition_leader_epoch: 3,
    }
}

/// A record's key and value.
type KeyValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// A control batch holding the given (key, value) records.
fn control_batch(records: &[KeyValue<'_>], compression: Compression) -> Batch {
    let options = BatchOptions {
        control: true,
        transactional: true,
        producer_id: 1,
        producer_epoch: 0,
        compression,
        ..BatchOptions::default()
    };
    let mut builder = BatchBuilder::new(options);
    for (key, value) in records {
        builder
            .append(&NewRecord {
                timestamp_ms: 10,
                key: *key,
                value: *value,
                headers: &[],
            })
            .unwrap();
    }
    Batch::parse(&builder.finish().unwrap().freeze(), BATCH_BYTES_MAX).unwrap()
}

fn only_record(batch: &Batch) -> Record {
    let mut records = batch.records(DECOMPRESSED_BYTES_MAX).unwrap();
    let record = records.next().unwrap().unwrap();
    assert!(records.next().is_none());
    record
}

#[test]
fn end_transaction_markers_round_trip() {
    for (result, control_type) in [
        (TransactionResult::Commit, ControlType::Commit),
        (TransactionResult::Abort, ControlType::Abort),
    ] {
        let bytes = build_end_transaction_batch(&marker(result)).unwrap();
        let batch = Batch::parse(&bytes, BATCH_BYTES_MAX).unwrap();
        let header = batch.header();
        assert!(header.attributes.is_control());
        assert!(header.attributes.is_transactional());
        assert_eq!(batch.compression(), Compression::None);
        assert_eq!(header.producer_id, 4_242);
        assert_eq!(header.producer_epoch, 7);
        assert_eq!(header.base_sequence, -1);
        assert_eq!(header.base_offset, 500);
        assert_eq!(header.partition_leader_epoch, 3);
        assert_eq!(header.record_count, 1);
        assert_eq!(header.max_timestamp, 1_700_000_000_123);

        let control = batch
            .control_record(DECOMPRESSED_BYTES_MAX)
            .unwrap()
            .unwrap();
        assert_eq!(control.key_version, 0);
        assert_eq!(control.control_type, control_type);
        assert_eq!(
            control.end_transaction,
            Some(EndTransactionMarker {
                version: 0,
                coordinator_epoch: 19
            })
        );

        // The exact bytes Kafka defines: key [version 0][type], value [version 0][epoch].
        let record = only_record(&batch);
        let type_id = control_type.id().to_be_bytes();
        assert_eq!(&record.key().unwrap()[..], &[0, 0, type_id[0], type_id[1]]);
        assert_eq!(&record.value().unwrap()[..], &[0, 0, 0, 0, 0, 19]);
        assert_eq!(record.offset(), 500);
        assert_eq!(record.timestamp(), 1_700_000_000_123);
    }
}

#[test]
fn data_batches_have_no_control_record_and_show_their_transactional_flag() {
    for transactional in [false, true] {
        let options = BatchOptions {
            transactional,
            producer_id: 9,
            producer_epoch: 1,
            base_sequence: 0,
            ..BatchOptions::default()
        };
        let mut builder = BatchBuilder::new(options);
        builder
            .append(&NewRecord {
                timestamp_ms: 1,
                key: Some(&[0, 0, 0, 1]),
                value: Some(&[0, 0, 0, 0, 0, 1]),
                headers: &[],
            })
            .unwrap();
        let batch = Batch::parse(&builder.finish().unwrap().freeze(), BATCH_BYTES_MAX).unwrap();
        assert_eq!(batch.header().attributes.is_transactional(), transactional);
        assert!(!batch.header().attributes.is_control());
        assert_eq!(batch.control_record(DECOMPRESSED_BYTES_MAX), Ok(None));
    }
}

#[test]
fn longer_keys_and_values_from_later_versions_are_accepted() {
    let batch = control_batch(
        &[(
            Some(&[0, 1, 0, 1, 0xee]),
            Some(&[0, 2, 0, 0, 1, 0, 0xee, 0xee]),
        )],
        Compression::None,
    );
    let control = batch
        .control_record(DECOMPRESSED_BYTES_MAX)
        .unwrap()
        .unwrap();
    assert_eq!(control.key_version, 1);
    assert_eq!(control.control_type, ControlType::Commit);
    assert_eq!(
        control.end_transaction,
        Some(EndTransactionMarker {
            version: 2,
            coordinator_epoch: 256
        })
    );
}

#[test]
fn other_control_types_keep_their_value_opaque() {
    // Type 3 is a KRaft snapshot header: not a transaction marker.
    let batch = control_batch(&[(Some(&[0, 0, 0, 3]), Some(b"opaque"))], Compression::Zstd);
    let control = batch
        .control_record(DECOMPRESSED_BYTES_MAX)
        .unwrap()
        .unwrap();
    assert_eq!(control.control_type, ControlType::Other(3));
    assert_eq!(control.end_transaction, None);
    assert_eq!(control.value, Some(Bytes::from_static(b"opaque")));
}

#[test]
fn malformed_control_records_are_typed_errors() {
    let cases: [(&[KeyValue<'_>], ControlDefect); 6] = [
        (
            &[(None, Some(&[0, 0, 0, 0, 0, 0]))],
            ControlDefect::KeyMissing,
        ),
        (
            &[(Some(&[0, 0, 0]), Some(&[0; 6]))],
            ControlDefect::KeyTooShort(3),
        ),
        (
            &[(Some(&[0xff, 0xff, 0, 0]), Some(&[0; 6]))],
            ControlDefect::NegativeKeyVersion(-1),
        ),
        (&[(Some(&[0, 0, 0, 1]), None)], ControlDefect::ValueMissing),
        (
            &[(Some(&[0, 0, 0, 0]), Some(&[0, 0, 0]))],
            ControlDefect::ValueTooShort(3),
        ),
        (
            &[
                (Some(&[0, 0, 0, 1]), Some(&[0; 6])),
                (Some(&[0, 0, 0, 1]), Some(&[0; 6])),
            ],
            ControlDefect::RecordCount(2),
        ),
    ];
    for (records, defect) in cases {
        let batch = control_batch(records, Compression::None);
        assert_eq!(
            batch.control_record(DECOMPRESSED_BYTES_MAX),
            Err(RecordError::Control(defect)),
            "{defect:?}"
        );
    }
}

#[test]
fn control_record_parse_works_on_any_record() {
    let batch = control_batch(
        &[(Some(&[0, 0, 0, 0]), Some(&[0, 0, 0, 0, 0, 5]))],
        Compression::Gzip,
    );
    let record = only_record(&batch);
    let control = ControlRecord::parse(&record).unwrap();
    assert_eq!(control.control_type, ControlType::Abort);
    assert_eq!(control.end_transaction.unwrap().coordinator_epoch, 5);
}
