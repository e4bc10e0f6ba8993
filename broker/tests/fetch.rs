//! Fetch long polls against an in-process broker: a waiting fetch answers when records arrive,
//! answers empty at `max_wait_ms`, and `min_bytes` adds up across partitions on different
//! cores.

mod support;

use std::time::{Duration, Instant};

use broker::testing::TestBroker;
use client::Connection;
use wire::codec::KStr;
use wire::messages::create_topics_request::{CreatableTopic, CreateTopicsRequest};
use wire::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use wire::messages::fetch_response::FetchResponse;

/// A fetch of `partitions` of `topic` from `offset`, waiting up to `max_wait_ms` for
/// `min_bytes`.
fn long_poll(
    topic: &str,
    partitions: &[i32],
    offset: i64,
    min_bytes: i32,
    max_wait_ms: i32,
) -> FetchRequest {
    FetchRequest {
        replica_id: -1,
        max_wait_ms,
        min_bytes,
        max_bytes: 1 << 20,
        session_epoch: -1,
        topics: vec![FetchTopic {
            topic: KStr::from(topic.to_owned()),
            partitions: partitions
                .iter()
                .map(|partition| FetchPartition {
                    partition: *partition,
                    fetch_offset: offset,
                    partition_max_bytes: 1 << 20,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn record_bytes(response: &FetchResponse) -> Vec<usize> {
    response.responses[0]
        .partitions
        .iter()
        .map(|partition| {
            partition
                .records
                .as_ref()
                .map_or(0, |records| records.len())
        })
        .collect()
}

fn produce_to_partition(connection: &mut Connection, topic: &str, partition: i32, value: &str) {
    use wire::messages::produce_request::{PartitionProduceData, ProduceRequest, TopicProduceData};
    let response = connection
        .send(ProduceRequest {
            acks: -1,
            timeout_ms: 5_000,
            topic_data: vec![TopicProduceData {
                name: KStr::from(topic.to_owned()),
                partition_data: vec![PartitionProduceData {
                    index: partition,
                    records: Some(support::batch_of(&[value], 1_700_000_000_000)),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
}

#[test]
fn a_waiting_fetch_answers_when_records_arrive_and_empty_at_max_wait() {
    let broker = TestBroker::start();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    support::create_topic(&mut connection, "poll");

    // Nothing arrives: the fetch answers empty once max_wait_ms has passed.
    let started = Instant::now();
    let response = connection
        .send_at(12, long_poll("poll", &[0], 0, 1, 300))
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "waited for max_wait_ms"
    );
    assert_eq!(record_bytes(&response), vec![0]);

    // A record arrives while the fetch waits: it answers with it, long before max_wait_ms.
    let addr = broker.addr();
    let waiting = std::thread::spawn(move || {
        let mut consumer = Connection::connect(addr).unwrap();
        let started = Instant::now();
        let response = consumer
            .send_at(12, long_poll("poll", &[0], 0, 1, 20_000))
            .unwrap();
        (started.elapsed(), record_bytes(&response))
    });
    std::thread::sleep(Duration::from_millis(300));
    produce_to_partition(&mut connection, "poll", 0, "arrived");
    let (elapsed, bytes) = waiting.join().unwrap();
    assert!(bytes[0] > 0, "the fetch returned the new record");
    assert!(
        elapsed < Duration::from_secs(10),
        "answered on arrival, not at max_wait: {elapsed:?}"
    );
}

#[test]
fn min_bytes_adds_up_across_partitions_on_different_cores() {
    let broker = TestBroker::start_two_shards();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    // Two partitions: placement puts them on the two shards.
    let created = connection
        .send(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: KStr::from_static("spread"),
                num_partitions: 2,
                replication_factor: 1,
                ..Default::default()
            }],
            timeout_ms: 5_000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(created.topics[0].error_code, 0);
    let value = "x".repeat(400);
    produce_to_partition(&mut connection, "spread", 0, &value);
    produce_to_partition(&mut connection, "spread", 1, &value);
    let one = record_bytes(
        &connection
            .send_at(12, long_poll("spread", &[0], 0, 0, 0))
            .unwrap(),
    )[0];
    assert!(one > 400);

    // Each partition alone holds less than min_bytes; together they hold more. The fetch
    // answers at once with both, instead of waiting out max_wait_ms.
    let started = Instant::now();
    let response = connection
        .send_at(
            12,
            long_poll("spread", &[0, 1], 0, (one + one / 2) as i32, 20_000),
        )
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(record_bytes(&response), vec![one, one]);
    assert!(
        elapsed < Duration::from_secs(10),
        "answered without waiting out max_wait: {elapsed:?}"
    );
}
