//! Message codec throughput: ours against the `kafka-protocol` crate, in the same run.
//!
//! - decode of a ProduceRequest (v9) carrying 1 MiB of records across 16 partitions;
//! - encode of a FetchResponse (v12) with 16 partitions of 1 MiB of records each: ours as a
//!   gather list (records stay in their buffers), ours into one buffer, and kafka-protocol's
//!   (into one buffer, its only mode).
//!
//! Run: `cargo bench -p wire --bench messages` (optionally `-- SECONDS_PER_CASE`, default 2).
//! Throughput counts the bytes of the encoded message. Both decoders slice records out of the
//! frame without copying them, so the decode figure is really a per-message cost. Not a test:
//! nothing here asserts speed.

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::{Decodable, Encodable};
use std::hint::black_box;
use std::time::{Duration, Instant};
use wire::codec::{KStr, Message};
use wire::messages::{fetch_response, produce_request, FetchResponse, ProduceRequest};

const PARTITIONS_COUNT: usize = 16;
const PRODUCE_RECORDS_BYTES: usize = 1024 * 1024;
const FETCH_PARTITION_RECORDS_BYTES: usize = 1024 * 1024;
const PRODUCE_VERSION: i16 = 9;
const FETCH_VERSION: i16 = 12;

/// Runs `operation` repeatedly for about `duration` (at least 3 times); returns bytes/second.
fn measure(duration: Duration, bytes_per_operation: usize, mut operation: impl FnMut()) -> f64 {
    operation(); // warm-up
    let started = Instant::now();
    let mut operations: u64 = 0;
    while operations < 3 || started.elapsed() < duration {
        operation();
        operations += 1;
        // A hard bound on the loop, whatever the clock does.
        if operations >= 10_000_000 {
            break;
        }
    }
    (bytes_per_operation as f64 * operations as f64) / started.elapsed().as_secs_f64()
}

/// Throughput, and the time one message takes.
fn report(bytes_per_second: f64, bytes_per_operation: usize) -> String {
    format!(
        "{:9.2} GiB/s  {:10.2} us per message",
        bytes_per_second / (1024.0 * 1024.0 * 1024.0),
        bytes_per_operation as f64 / bytes_per_second * 1e6
    )
}

fn produce_request() -> Bytes {
    let records = Bytes::from(vec![0xab; PRODUCE_RECORDS_BYTES / PARTITIONS_COUNT]);
    let partitions = (0..PARTITIONS_COUNT as i32)
        .map(|index| produce_request::PartitionProduceData {
            index,
            records: Some(records.clone()),
            ..Default::default()
        })
        .collect();
    let request = ProduceRequest {
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![produce_request::TopicProduceData {
            name: KStr::from("bench-topic"),
            partition_data: partitions,
            ..Default::default()
        }],
        ..Default::default()
    };
    Bytes::from(request.encode_to_vec(PRODUCE_VERSION).expect("encodes"))
}

fn fetch_response() -> FetchResponse {
    let partitions = (0..PARTITIONS_COUNT as i32)
        .map(|partition_index| fetch_response::PartitionData {
            partition_index,
            high_watermark: 1_000_000,
            records: Some(Bytes::from(vec![0xcd; FETCH_PARTITION_RECORDS_BYTES])),
            ..Default::default()
        })
        .collect();
    FetchResponse {
        responses: vec![fetch_response::FetchableTopicResponse {
            topic: KStr::from("bench-topic"),
            partitions,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn main() {
    let seconds_per_case: u64 = std::env::args()
        .skip(1)
        .find_map(|argument| argument.parse().ok())
        .unwrap_or(2)
        .clamp(1, 60);
    let duration = Duration::from_secs(seconds_per_case);

    let produce = produce_request();
    let ours_decode = measure(duration, produce.len(), || {
        let mut frame = produce.clone();
        black_box(ProduceRequest::decode(&mut frame, PRODUCE_VERSION).expect("decodes"));
    });
    let theirs_decode = measure(duration, produce.len(), || {
        let mut frame = produce.clone();
        black_box(
            kafka_protocol::messages::ProduceRequest::decode(&mut frame, PRODUCE_VERSION)
                .expect("decodes"),
        );
    });

    let response = fetch_response();
    let response_bytes = response.encoded_size(FETCH_VERSION);
    let theirs_response = kafka_protocol::messages::FetchResponse::decode(
        &mut Bytes::from(response.encode_to_vec(FETCH_VERSION).expect("encodes")),
        FETCH_VERSION,
    )
    .expect("kafka-protocol decodes our encoding");
    let ours_chunks = measure(duration, response_bytes, || {
        black_box(response.encode_to_chunks(FETCH_VERSION).expect("encodes"));
    });
    let ours_contiguous = measure(duration, response_bytes, || {
        let mut out = BytesMut::with_capacity(response_bytes);
        response
            .encode_into(&mut out, FETCH_VERSION)
            .expect("encodes");
        black_box(out);
    });
    let theirs_encode = measure(duration, response_bytes, || {
        let size = theirs_response.compute_size(FETCH_VERSION).expect("sizes");
        let mut out = BytesMut::with_capacity(size);
        theirs_response
            .encode(&mut out, FETCH_VERSION)
            .expect("encodes");
        black_box(out);
    });

    println!("wire message codecs vs kafka-protocol 0.18 ({seconds_per_case}s per case)");
    println!(
        "ProduceRequest v{PRODUCE_VERSION} decode, {} partitions, {} KiB records: ",
        PARTITIONS_COUNT,
        PRODUCE_RECORDS_BYTES / 1024
    );
    println!("  ours            {}", report(ours_decode, produce.len()));
    println!("  kafka-protocol  {}", report(theirs_decode, produce.len()));
    println!("  ratio ours/theirs {:.2}x", ours_decode / theirs_decode);
    println!(
        "FetchResponse v{FETCH_VERSION} encode, {} partitions x {} KiB records:",
        PARTITIONS_COUNT,
        FETCH_PARTITION_RECORDS_BYTES / 1024
    );
    println!(
        "  ours, gather list      {}",
        report(ours_chunks, response_bytes)
    );
    println!(
        "  ours, one buffer       {}",
        report(ours_contiguous, response_bytes)
    );
    println!(
        "  kafka-protocol         {}",
        report(theirs_encode, response_bytes)
    );
    println!(
        "  ratio ours/theirs: gather list {:.2}x, one buffer {:.2}x",
        ours_chunks / theirs_encode,
        ours_contiguous / theirs_encode
    );
}
