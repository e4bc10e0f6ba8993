//! Nothing acknowledged is lost: produce with acks=all, SIGKILL the broker mid-stream, restart
//! it on the same directory, and read everything back, three times over. The records are read
//! back both through the `client` crate and through kcat (a real client).

mod support;

use std::collections::HashSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use client::{Connection, ConnectionOptions};
use support::{run_with_timeout, FerriteProcess};
use wire::records::Batch;

const TOPIC: &str = "crash";
/// Records per produce request.
const RECORDS_PER_BATCH: u64 = 10;
/// Bound on each produce phase.
const PRODUCE_PHASE_MAX: Duration = Duration::from_secs(3);

fn batch(first: u64) -> Bytes {
    let values: Vec<String> = (first..first + RECORDS_PER_BATCH)
        .map(|number| format!("record-{number}"))
        .collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    support::batch_of(&values, 1_700_000_000_000)
}

/// Produces batches numbered from `next` until the broker goes away or `stop` is set; returns
/// the number after the last acknowledged record and the number after the last one sent.
fn produce_until_gone(addr: std::net::SocketAddr, mut next: u64, stop: &AtomicBool) -> (u64, u64) {
    let options = ConnectionOptions {
        timeout: Duration::from_secs(10),
        ..ConnectionOptions::default()
    };
    let mut connection = Connection::connect_with(addr, options).expect("the broker is up");
    let mut sent_end = next;
    let started = Instant::now();
    while !stop.load(Ordering::SeqCst) && started.elapsed() < PRODUCE_PHASE_MAX * 3 {
        sent_end = next + RECORDS_PER_BATCH;
        let result = support::produce_to(&mut connection, TOPIC, batch(next));
        match result {
            Ok((error_code, _)) => {
                assert_eq!(error_code, 0, "produce failed");
                next += RECORDS_PER_BATCH;
            }
            Err(_) => break,
        }
    }
    (next, sent_end)
}

fn read_all(addr: std::net::SocketAddr) -> Vec<u64> {
    let mut connection = Connection::connect(addr).expect("the broker is up");
    let mut numbers = Vec::new();
    let mut offset = 0i64;
    for _ in 0..10_000 {
        let fetched = support::fetch_from(&mut connection, TOPIC, offset);
        assert_eq!(fetched.error_code, 0, "fetch failed");
        let records = fetched.records;
        if records.is_empty() {
            assert_eq!(offset, fetched.high_watermark, "read stops at the end");
            return numbers;
        }
        for batch in Batch::split(records, 4 << 20) {
            let batch = batch.expect("stored batches are valid");
            let base_offset = batch.header().base_offset;
            for record in batch.records(4 << 20).expect("records decode") {
                let record = record.expect("records decode");
                let record_offset = base_offset + i64::from(record.offset_delta());
                if record_offset < offset {
                    continue;
                }
                let value = String::from_utf8(record.value().expect("a value").to_vec()).unwrap();
                let number = value
                    .strip_prefix("record-")
                    .expect("our record")
                    .parse()
                    .unwrap();
                numbers.push(number);
                offset = record_offset + 1;
            }
        }
    }
    panic!("read did not reach the end");
}

#[test]
fn acknowledged_records_survive_sigkill() {
    let mut broker = FerriteProcess::start(&[]);
    support::create_topic(&mut Connection::connect(broker.addr()).unwrap(), TOPIC);
    let mut acknowledged_end = 0u64;
    for cycle in 0..3u64 {
        let stop = Arc::new(AtomicBool::new(false));
        let addr = broker.addr();
        let producer = {
            let stop = stop.clone();
            let start = acknowledged_end;
            std::thread::spawn(move || produce_until_gone(addr, start, &stop))
        };
        // Kill at a different point of each cycle.
        std::thread::sleep(Duration::from_millis(400 + 300 * cycle));
        broker.kill();
        stop.store(true, Ordering::SeqCst);
        let (acknowledged, sent_end) = producer.join().expect("the producer thread ends");
        assert!(
            acknowledged > acknowledged_end,
            "cycle {cycle}: nothing was acknowledged"
        );

        broker.restart();
        let numbers = read_all(broker.addr());
        let unique: HashSet<u64> = numbers.iter().copied().collect();
        assert_eq!(unique.len(), numbers.len(), "cycle {cycle}: duplicates");
        assert!(
            numbers.windows(2).all(|pair| pair[0] < pair[1]),
            "cycle {cycle}: records out of order"
        );
        // Every acknowledged record is there, in order, from the start.
        assert!(
            numbers.len() as u64 >= acknowledged,
            "cycle {cycle}: lost records"
        );
        assert_eq!(
            numbers[..acknowledged as usize],
            (0..acknowledged).collect::<Vec<_>>()[..],
            "cycle {cycle}: acknowledged records missing"
        );
        // What is beyond was sent (the batch in flight at the kill may or may not be there).
        assert!(
            *numbers.last().unwrap() < sent_end,
            "cycle {cycle}: records nobody sent"
        );
        // The next cycle continues after what survived.
        acknowledged_end = numbers.len() as u64;

        // A real client reads the same.
        let mut command = Command::new("kcat");
        command.args([
            "-b",
            &broker.bootstrap(),
            "-C",
            "-t",
            TOPIC,
            "-e",
            "-q",
            "-f",
            "%s\\n",
        ]);
        let output = run_with_timeout(command, b"", Duration::from_secs(60));
        assert!(output.success, "kcat failed: {}", output.stderr);
        let from_kcat: Vec<u64> = output
            .stdout
            .lines()
            .map(|line| line.strip_prefix("record-").unwrap().parse().unwrap())
            .collect();
        assert_eq!(
            from_kcat, numbers,
            "cycle {cycle}: kcat reads the same records"
        );
    }
}

#[test]
fn sigterm_stops_cleanly_and_keeps_everything() {
    let mut broker = FerriteProcess::start(&[]);
    let mut connection = Connection::connect(broker.addr()).unwrap();
    support::create_topic(&mut connection, TOPIC);
    let stop = AtomicBool::new(false);
    let addr = broker.addr();
    let (acknowledged, _) = std::thread::scope(|scope| {
        let producer = scope.spawn(|| produce_until_gone(addr, 0, &stop));
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::SeqCst);
        producer.join().unwrap()
    });
    drop(connection);
    let status = broker.terminate().expect("the broker was running");
    assert!(status.success(), "SIGTERM exits cleanly: {status:?}");
    let log = broker.stderr();
    assert!(
        log.contains("ferrite stopped"),
        "the stop is logged:\n{log}"
    );

    broker.restart();
    let numbers = read_all(broker.addr());
    assert_eq!(numbers, (0..acknowledged).collect::<Vec<_>>());
    let log = broker.stderr();
    assert!(
        log.contains("metadata recovered"),
        "recovery is logged:\n{log}"
    );
}
