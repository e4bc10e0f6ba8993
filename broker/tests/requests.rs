//! The basic request path through a real in-process broker, driven by the `client` crate:
//! auto-creation through Metadata, Produce, Fetch and ListOffsets, across a restart, and the
//! answers of OffsetForLeaderEpoch.

mod support;

use broker::testing::TestBroker;
use bytes::Bytes;
use client::Connection;
use wire::codec::KStr;
use wire::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use wire::records::Batch;

fn batch(values: &[&str]) -> Bytes {
    support::batch_of(values, 1_700_000_000_000)
}

fn produce(connection: &mut Connection, topic: &str, values: &[&str]) -> (i16, i64) {
    support::produce_to(connection, topic, batch(values)).unwrap()
}

fn fetch_values(connection: &mut Connection, topic: &str, offset: i64) -> Vec<String> {
    let fetched = support::fetch_from(connection, topic, offset);
    assert_eq!(fetched.error_code, 0);
    let mut values = Vec::new();
    for batch in Batch::split(fetched.records, 1 << 20) {
        let batch = batch.unwrap();
        for record in batch.records(1 << 20).unwrap() {
            let record = record.unwrap();
            values.push(String::from_utf8(record.value().unwrap().to_vec()).unwrap());
        }
    }
    values
}

fn latest_offset(connection: &mut Connection, topic: &str) -> i64 {
    let response = connection
        .send(ListOffsetsRequest {
            replica_id: -1,
            topics: vec![ListOffsetsTopic {
                name: KStr::from(topic.to_owned()),
                partitions: vec![ListOffsetsPartition {
                    partition_index: 0,
                    timestamp: -1,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
        .unwrap();
    let partition = &response.topics[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    partition.offset
}

#[test]
fn produce_fetch_and_list_offsets_survive_a_restart() {
    let mut broker = TestBroker::start();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    support::create_topic(&mut connection, "events");

    assert_eq!(produce(&mut connection, "events", &["a", "b"]), (0, 0));
    assert_eq!(produce(&mut connection, "events", &["c"]), (0, 2));
    assert_eq!(fetch_values(&mut connection, "events", 0), ["a", "b", "c"]);
    assert_eq!(latest_offset(&mut connection, "events"), 3);

    drop(connection);
    broker.restart();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    // Fetch returns whole batches: offset 1 sits in the batch that starts at 0.
    assert_eq!(fetch_values(&mut connection, "events", 1), ["a", "b", "c"]);
    assert_eq!(fetch_values(&mut connection, "events", 2), ["c"]);
    assert_eq!(produce(&mut connection, "events", &["d"]), (0, 3));
    assert_eq!(latest_offset(&mut connection, "events"), 4);
}

#[test]
fn produce_to_an_unknown_partition_is_refused() {
    let broker = TestBroker::start_with(|config| config.auto_create_topics = false);
    let mut connection = Connection::connect(broker.addr()).unwrap();
    let (error_code, _) = produce(&mut connection, "missing", &["x"]);
    assert_eq!(
        error_code,
        wire::error_code::ErrorCode::UnknownTopicOrPartition.code()
    );
}

#[test]
fn deleted_records_stay_deleted_across_a_restart() {
    use wire::messages::delete_records_request::{
        DeleteRecordsPartition, DeleteRecordsRequest, DeleteRecordsTopic,
    };
    let mut broker = TestBroker::start();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    support::create_topic(&mut connection, "trimmed");
    for value in ["a", "b", "c", "d"] {
        assert_eq!(produce(&mut connection, "trimmed", &[value]).0, 0);
    }
    let delete = |connection: &mut Connection, offset: i64| {
        let response = connection
            .send(DeleteRecordsRequest {
                topics: vec![DeleteRecordsTopic {
                    name: KStr::from_static("trimmed"),
                    partitions: vec![DeleteRecordsPartition {
                        partition_index: 0,
                        offset,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                timeout_ms: 5_000,
                ..Default::default()
            })
            .unwrap();
        let partition = &response.topics[0].partitions[0];
        (partition.error_code, partition.low_watermark)
    };
    assert_eq!(delete(&mut connection, 2), (0, 2));
    assert_eq!(
        delete(&mut connection, 9).0,
        wire::error_code::ErrorCode::OffsetOutOfRange.code(),
        "beyond the high watermark"
    );
    drop(connection);
    broker.restart();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    assert_eq!(fetch_values(&mut connection, "trimmed", 2), ["c", "d"]);
    // -1: everything up to the high watermark.
    assert_eq!(delete(&mut connection, -1), (0, 4));
    assert_eq!(latest_offset(&mut connection, "trimmed"), 4);
}

#[test]
fn timestamp_lookups_answer_the_exact_record() {
    use wire::records::{BatchBuilder, BatchOptions, Compression, NewRecord};
    let broker = TestBroker::start();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    support::create_topic(&mut connection, "timed");
    // One compressed batch whose records' timestamps are not in order.
    let mut builder = BatchBuilder::new(BatchOptions {
        compression: Compression::Lz4,
        ..BatchOptions::default()
    });
    for timestamp_ms in [1_000, 3_000, 2_000, 3_000] {
        builder
            .append(&NewRecord {
                timestamp_ms,
                key: None,
                value: Some(b"v"),
                headers: &[],
            })
            .unwrap();
    }
    let records = builder.finish().unwrap().freeze();
    assert_eq!(
        support::produce_to(&mut connection, "timed", records).unwrap(),
        (0, 0)
    );
    let lookup = |connection: &mut Connection, timestamp: i64| {
        let response = connection
            .send(ListOffsetsRequest {
                replica_id: -1,
                topics: vec![ListOffsetsTopic {
                    name: KStr::from_static("timed"),
                    partitions: vec![ListOffsetsPartition {
                        partition_index: 0,
                        timestamp,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            })
            .unwrap();
        let partition = &response.topics[0].partitions[0];
        assert_eq!(partition.error_code, 0);
        (partition.offset, partition.timestamp)
    };
    assert_eq!(lookup(&mut connection, 500), (0, 1_000));
    assert_eq!(lookup(&mut connection, 1_500), (1, 3_000));
    assert_eq!(lookup(&mut connection, 2_500), (1, 3_000));
    assert_eq!(lookup(&mut connection, 3_500), (-1, -1));
    // -3: the first record carrying the largest timestamp.
    assert_eq!(lookup(&mut connection, -3), (1, 3_000));
}

/// One OffsetForLeaderEpoch answer: error code, leader epoch, end offset.
fn epoch_end(
    connection: &mut Connection,
    topic: &str,
    partition: i32,
    current_leader_epoch: i32,
    leader_epoch: i32,
) -> (i16, i32, i64) {
    use wire::messages::offset_for_leader_epoch_request::{
        OffsetForLeaderEpochRequest, OffsetForLeaderPartition, OffsetForLeaderTopic,
    };
    let response = connection
        .send(OffsetForLeaderEpochRequest {
            replica_id: -1,
            topics: vec![OffsetForLeaderTopic {
                topic: KStr::from(topic.to_owned()),
                partitions: vec![OffsetForLeaderPartition {
                    partition,
                    current_leader_epoch,
                    leader_epoch,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
        .unwrap();
    let answer = &response.topics[0].partitions[0];
    (answer.error_code, answer.leader_epoch, answer.end_offset)
}

#[test]
fn offset_for_leader_epoch_answers_the_single_epoch_and_refuses_the_rest() {
    use wire::error_code::ErrorCode;
    let broker = TestBroker::start();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    support::create_topic(&mut connection, "epochs");
    assert_eq!(produce(&mut connection, "epochs", &["a", "b", "c"]).0, 0);
    // Epoch 0 (the only one on a single node) ends at the log end.
    assert_eq!(epoch_end(&mut connection, "epochs", 0, -1, 0), (0, 0, 3));
    assert_eq!(epoch_end(&mut connection, "epochs", 0, 0, 0), (0, 0, 3));
    // A later epoch is unknown: undefined epoch and offset, no error.
    assert_eq!(epoch_end(&mut connection, "epochs", 0, -1, 5), (0, -1, -1));
    // A client that knows a newer leader epoch than this broker's is told so.
    assert_eq!(
        epoch_end(&mut connection, "epochs", 0, 3, 0).0,
        ErrorCode::UnknownLeaderEpoch.code()
    );
    assert_eq!(
        epoch_end(&mut connection, "epochs", 7, -1, 0).0,
        ErrorCode::UnknownTopicOrPartition.code()
    );
    assert_eq!(
        epoch_end(&mut connection, "missing", 0, -1, 0).0,
        ErrorCode::UnknownTopicOrPartition.code()
    );
}
