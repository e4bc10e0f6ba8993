//! Real-process crash test: a writer appends with flush_on_append and prints every
//! acknowledged batch; it is killed with SIGKILL at a random moment (seeded, seed printed);
//! the log is reopened and every acknowledged batch must be there, in order, exactly once.

mod common;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    rc::Rc,
    sync::mpsc,
    time::{Duration, Instant},
};

use common::run;
use storage::{
    testing::{make_batch, payload},
    BatchCache, GlommioFileSystem, LogConfig, Offset, PartitionLog, SeededRandom,
};

fn payload_bytes(sequence: u64) -> usize {
    100 + (sequence as usize * 37) % 3_000
}

struct Ack {
    base: i64,
    last: i64,
}

fn kill_writer_at_random(seed: u64) {
    let mut random = SeededRandom::new(seed);
    let kill_after = Duration::from_millis(30 + random.below(400));
    eprintln!("sigkill case seed {seed}: kill after {kill_after:?}");
    let directory = tempfile::tempdir().unwrap();
    let log_directory = directory.path().join("topic-0");
    let mut child = Command::new(env!("CARGO_BIN_EXE_storage-crash-writer"))
        .arg(&log_directory)
        .arg("1000000")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("writer starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (sender, receiver) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    // Wait for the first acknowledgement (bounded), then the random delay, then SIGKILL.
    let started = Instant::now();
    let mut lines = Vec::new();
    while lines.is_empty() && started.elapsed() < Duration::from_secs(20) {
        if let Ok(line) = receiver.recv_timeout(Duration::from_millis(50)) {
            lines.push(line);
        }
    }
    assert!(
        !lines.is_empty(),
        "seed {seed}: writer acknowledged nothing in 20 s"
    );
    std::thread::sleep(kill_after);
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    reader.join().expect("reader thread");
    lines.extend(receiver.try_iter());
    let mut acks = BTreeMap::new();
    for line in &lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != 4 || fields[0] != "ACK" {
            // The last line may be cut by the kill.
            continue;
        }
        let (Ok(sequence), Ok(base), Ok(last)) = (
            fields[1].parse::<u64>(),
            fields[2].parse::<i64>(),
            fields[3].parse::<i64>(),
        ) else {
            continue;
        };
        acks.insert(sequence, Ack { base, last });
    }
    assert!(!acks.is_empty());
    eprintln!(
        "seed {seed}: {} acknowledged appends before the kill",
        acks.len()
    );

    run(|| async move {
        let cache = Rc::new(BatchCache::new(1 << 20));
        let config = LogConfig {
            segment_bytes_max: 256 * 1024,
            ..LogConfig::default()
        };
        let log = PartitionLog::open(GlommioFileSystem, &log_directory, config, cache)
            .await
            .expect("log reopens after SIGKILL");
        let end = log.log_end_offset();
        // Read everything: map base offset -> (last offset, payload).
        let mut batches: BTreeMap<i64, (i64, Vec<u8>)> = BTreeMap::new();
        let mut next = Offset(0);
        let mut previous_last = -1i64;
        for _ in 0..1_000_000 {
            if next >= end {
                break;
            }
            let read = log.read(next, 1 << 20, end).await.expect("read");
            assert!(
                read.bytes > 0,
                "seed {seed}: empty read at {next} below end {end}"
            );
            let bytes = read.to_vec();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let header =
                    wire::records::BatchHeader::validate(rest, 1 << 20).expect("valid batch");
                assert_eq!(
                    header.base_offset,
                    previous_last + 1,
                    "seed {seed}: offsets in order, no gap"
                );
                previous_last = header.last_offset();
                let (batch, tail) = rest.split_at(header.total_len());
                batches.insert(
                    header.base_offset,
                    (header.last_offset(), payload(batch).to_vec()),
                );
                rest = tail;
            }
            next = read.next_offset;
        }
        for (sequence, ack) in &acks {
            let Some((last, stored)) = batches.get(&ack.base) else {
                panic!(
                    "seed {seed}: acknowledged batch {sequence} at offset {} lost (log end {end})",
                    ack.base
                );
            };
            assert_eq!(*last, ack.last, "seed {seed}: batch {sequence}");
            let record_count = 1 + (*sequence % 3) as i32;
            let expected = make_batch(
                record_count,
                payload_bytes(*sequence),
                *sequence as i64,
                *sequence,
            );
            assert_eq!(
                stored,
                payload(&expected),
                "seed {seed}: batch {sequence} content"
            );
        }
        // Exactly once: every stored payload is a distinct batch.
        let mut distinct: Vec<&Vec<u8>> = batches.values().map(|(_, bytes)| bytes).collect();
        let count = distinct.len();
        distinct.sort();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            count,
            "seed {seed}: a batch is stored twice"
        );
    });
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    let seed = std::env::var("FERRITE_STORAGE_SIGKILL_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |elapsed| elapsed.as_nanos() as u64)
        });
    let mut random = SeededRandom::new(seed);
    for _ in 0..3 {
        kill_writer_at_random(random.next_u64());
    }
}
