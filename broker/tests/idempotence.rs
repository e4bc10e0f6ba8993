//! The idempotent producer through a real in-process broker: InitProducerId hands out unique
//! ids, and Produce detects duplicates, gaps and stale epochs, also after a restart.

mod support;

use std::collections::HashSet;

use broker::checkpoint;
use broker::partitions::{PRODUCER_SNAPSHOT, PRODUCER_SNAPSHOT_FILE};
use broker::producer_state::{ProducerSnapshot, SnapshotProducer};
use broker::testing::TestBroker;
use bytes::Bytes;
use client::Connection;
use wire::codec::KStr;
use wire::messages::init_producer_id_request::InitProducerIdRequest;
use wire::records::{BatchBuilder, BatchOptions, NewRecord};

const TOPIC: &str = "idempotent";
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;

/// A batch of `count` records from producer `producer_id` at `epoch`, from `first_sequence`.
fn batch(producer_id: i64, epoch: i16, first_sequence: i32, count: usize) -> Bytes {
    let mut builder = BatchBuilder::new(BatchOptions {
        producer_id,
        producer_epoch: epoch,
        base_sequence: first_sequence,
        ..BatchOptions::default()
    });
    for index in 0..count {
        let value = format!("record {first_sequence}+{index}");
        builder
            .append(&NewRecord {
                timestamp_ms: 1_700_000_000_000 + index as i64,
                key: None,
                value: Some(value.as_bytes()),
                headers: &[],
            })
            .unwrap();
    }
    builder.finish().unwrap().freeze()
}

fn create_topic(connection: &mut Connection) {
    support::create_topic(connection, TOPIC);
}

/// Produces `records` to partition 0; returns (error code, base offset).
fn produce(connection: &mut Connection, records: Bytes) -> (i16, i64) {
    support::produce_to(connection, TOPIC, records).unwrap()
}

fn init_producer_id(connection: &mut Connection) -> (i16, i64, i16) {
    let response = connection
        .send(InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        })
        .unwrap();
    (
        response.error_code,
        response.producer_id,
        response.producer_epoch,
    )
}

#[test]
fn producer_ids_are_unique_across_shards_and_restarts() {
    let mut broker = TestBroker::start_two_shards();
    let mut seen = HashSet::new();
    for _round in 0..2 {
        // Several connections, so that both shards hand out ids.
        for _connection in 0..4 {
            let mut connection = Connection::connect(broker.addr()).unwrap();
            for _request in 0..3 {
                let (error, producer_id, epoch) = init_producer_id(&mut connection);
                assert_eq!(error, 0);
                assert_eq!(epoch, 0);
                assert!(producer_id >= 0);
                assert!(
                    seen.insert(producer_id),
                    "id {producer_id} handed out twice"
                );
            }
        }
        broker.restart();
    }
    assert_eq!(seen.len(), 24);
}

#[test]
fn a_transactional_id_is_refused_until_transactions_exist() {
    let broker = TestBroker::start();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    let response = connection
        .send(InitProducerIdRequest {
            transactional_id: Some(KStr::from("transactions".to_owned())),
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(response.error_code, 15, "COORDINATOR_NOT_AVAILABLE");
    assert_eq!(response.producer_id, -1);
    let empty = connection
        .send(InitProducerIdRequest {
            transactional_id: Some(KStr::from_static("")),
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        empty.error_code, 42,
        "INVALID_REQUEST for an empty transactional id"
    );
}

/// One batch to send, (producer id, epoch, first sequence, record count), and the expected
/// (error code, base offset).
type Step = (i64, i16, i32, usize, (i16, i64));

/// Sends each step's batch in turn and checks its answer; the offset is only compared on
/// success.
fn expect_answers(connection: &mut Connection, steps: &[Step]) {
    for (step, &(producer_id, epoch, first_sequence, count, expected)) in steps.iter().enumerate() {
        let (error, base_offset) =
            produce(connection, batch(producer_id, epoch, first_sequence, count));
        let answer = (error, if error == 0 { base_offset } else { expected.1 });
        assert_eq!(answer, expected, "step {step}");
    }
}

#[test]
fn a_retried_batch_gets_its_original_offset_and_is_stored_once() {
    let broker = TestBroker::start();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    create_topic(&mut connection);
    let (error, producer, epoch) = init_producer_id(&mut connection);
    assert_eq!(error, 0);
    let (_, other, _) = init_producer_id(&mut connection);
    expect_answers(
        &mut connection,
        &[
            (producer, epoch, 0, 3, (0, 0)),
            (producer, epoch, 3, 2, (0, 3)),
            // Both retried: answered with their offsets, not appended again.
            (producer, epoch, 0, 3, (0, 0)),
            (producer, epoch, 3, 2, (0, 3)),
            // The next batch lands right after the first two: the retries took no offsets.
            (producer, epoch, 5, 1, (0, 5)),
            // Another producer is independent, and plain batches are never deduplicated.
            (other, 0, 0, 3, (0, 6)),
            (-1, -1, -1, 1, (0, 9)),
            (-1, -1, -1, 1, (0, 10)),
        ],
    );
}

#[test]
fn gaps_and_stale_epochs_are_refused_without_writing() {
    let broker = TestBroker::start();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    create_topic(&mut connection);
    let (_, producer, _) = init_producer_id(&mut connection);
    let refused = |error| (error, -1);
    expect_answers(
        &mut connection,
        &[
            (producer, 0, 0, 2, (0, 0)),
            (producer, 0, 5, 1, refused(OUT_OF_ORDER_SEQUENCE_NUMBER)),
            (producer, 0, 1, 2, refused(OUT_OF_ORDER_SEQUENCE_NUMBER)),
            // A newer epoch starts again at 0 and fences the older one.
            (producer, 1, 2, 1, refused(OUT_OF_ORDER_SEQUENCE_NUMBER)),
            (producer, 1, 0, 1, (0, 2)),
            (producer, 0, 2, 1, refused(INVALID_PRODUCER_EPOCH)),
            // Nothing refused took an offset.
            (producer, 1, 1, 1, (0, 3)),
        ],
    );
}

#[test]
fn producer_state_survives_a_restart() {
    let mut broker = TestBroker::start();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    create_topic(&mut connection);
    let (_, producer, epoch) = init_producer_id(&mut connection);
    expect_answers(
        &mut connection,
        &[
            (producer, epoch, 0, 4, (0, 0)),
            (producer, epoch, 4, 1, (0, 4)),
        ],
    );
    drop(connection);
    let snapshot = broker
        .data_dir()
        .join("topics")
        .join(format!("{TOPIC}-0"))
        .join("producer.snapshot");

    // A clean stop writes a snapshot; the start loads it.
    broker.stop();
    assert!(
        snapshot.exists(),
        "a clean shutdown snapshots producer state"
    );
    broker.restart();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    expect_answers(
        &mut connection,
        &[
            (producer, epoch, 0, 4, (0, 0)),
            (producer, epoch, 4, 1, (0, 4)),
            (producer, epoch, 7, 1, (OUT_OF_ORDER_SEQUENCE_NUMBER, -1)),
            (producer, epoch, 5, 1, (0, 5)),
        ],
    );
    drop(connection);

    // Without a snapshot (as after a crash) the state is rebuilt from the log.
    broker.stop();
    std::fs::remove_file(&snapshot).unwrap();
    broker.restart();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    expect_answers(
        &mut connection,
        &[
            (producer, epoch, 5, 1, (0, 5)),
            (producer, epoch, 6, 1, (0, 6)),
        ],
    );
}

#[test]
fn a_snapshot_ahead_of_the_log_or_corrupt_is_ignored() {
    let mut broker = TestBroker::start();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    create_topic(&mut connection);
    let (_, producer, epoch) = init_producer_id(&mut connection);
    expect_answers(&mut connection, &[(producer, epoch, 0, 2, (0, 0))]);
    drop(connection);
    let snapshot = broker
        .data_dir()
        .join("topics")
        .join(format!("{TOPIC}-0"))
        .join(PRODUCER_SNAPSHOT_FILE);

    // A snapshot claiming more log than there is (as when a crash cut the tail): had it been
    // used, epoch 5 would fence the producer's epoch 0.
    broker.stop();
    let ahead = ProducerSnapshot {
        end_offset: 1_000,
        producers: vec![SnapshotProducer {
            producer_id: producer,
            epoch: 5,
            last_active_ms: 0,
            batches: vec![(0, 0, 999)],
        }],
    };
    let payload = rkyv::to_bytes::<rkyv::rancor::Error>(&ahead).unwrap();
    checkpoint::write(PRODUCER_SNAPSHOT, &snapshot, &payload).unwrap();
    broker.restart();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    expect_answers(
        &mut connection,
        &[
            (producer, epoch, 0, 2, (0, 0)),
            (producer, epoch, 2, 1, (0, 2)),
        ],
    );
    drop(connection);

    broker.stop();
    std::fs::write(&snapshot, b"not a snapshot").unwrap();
    broker.restart();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    expect_answers(
        &mut connection,
        &[
            (producer, epoch, 2, 1, (0, 2)),
            (producer, epoch, 3, 1, (0, 3)),
        ],
    );
}
