//! The Rust `rdkafka` crate (librdkafka through its C API) against the real `ferrite` binary:
//! produce with acks=all and delivery reports, consume by assignment, watermarks.

mod support;

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use support::FerriteProcess;

const TOPIC: &str = "rdkafka";
const COUNT: usize = 100;

#[test]
fn rdkafka_produces_and_consumes() {
    let broker = FerriteProcess::start(&[]);
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("acks", "all")
        .set("compression.type", "lz4")
        .create()
        .expect("the producer is created");
    for index in 0..COUNT {
        let key = format!("key-{index}");
        let value = format!("value-{index}");
        let headers = OwnedHeaders::new().insert(Header {
            key: "index",
            value: Some(index.to_string().as_bytes()),
        });
        producer
            .send(
                BaseRecord::to(TOPIC)
                    .partition(0)
                    .key(&key)
                    .payload(&value)
                    .headers(headers),
            )
            .map_err(|(error, _)| error)
            .expect("the record is queued");
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("every record is acknowledged");

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "rdkafka-assign-only")
        .set("enable.auto.commit", "false")
        .create()
        .expect("the consumer is created");
    let (low, high) = consumer
        .fetch_watermarks(TOPIC, 0, Duration::from_secs(10))
        .expect("watermarks");
    assert_eq!((low, high), (0, COUNT as i64));
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(TOPIC, 0, Offset::Offset(10))
        .unwrap();
    consumer.assign(&assignment).expect("assigned");
    let mut next = 10;
    let deadline = Instant::now() + Duration::from_secs(30);
    while next < COUNT && Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message.expect("no consume error");
        assert_eq!(message.offset(), next as i64);
        assert_eq!(message.key(), Some(format!("key-{next}").as_bytes()));
        assert_eq!(message.payload(), Some(format!("value-{next}").as_bytes()));
        let header = message.headers().expect("headers").get(0);
        assert_eq!(header.key, "index");
        assert_eq!(header.value, Some(next.to_string().as_bytes()));
        next += 1;
    }
    assert_eq!(next, COUNT, "every record from offset 10 on was consumed");
}
