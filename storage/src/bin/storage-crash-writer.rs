//! Crash-test helper: appends batches with `flush_on_append` to a log directory and prints one
//! line per acknowledged (durable) append, until killed or until it has appended `--count`.
//!
//! Usage: `storage-crash-writer DIRECTORY COUNT`
//!
//! Output lines: `ACK <sequence> <base offset> <last offset>`. Batch `sequence` has
//! `1 + sequence % 3` records and a payload made by `storage::testing::make_batch` from the
//! sequence number, so a checker can recompute it. Four tasks append concurrently, so group
//! commit is exercised too. Exits 0 after `COUNT` appends.

use std::{cell::Cell, io::Write, path::PathBuf, rc::Rc};

use storage::{
    run_on_local_executor, testing::make_batch, AppendContext, BatchCache, FlushPolicy,
    GlommioFileSystem, LogConfig, PartitionLog, STORAGE_IO_MEMORY_BYTES,
};

/// The payload size of batch `sequence` (the checker uses the same function).
fn payload_bytes(sequence: u64) -> usize {
    100 + (sequence as usize * 37) % 3_000
}

fn main() {
    let mut arguments = std::env::args().skip(1);
    let (Some(directory), Some(count)) = (arguments.next(), arguments.next()) else {
        eprintln!("usage: storage-crash-writer DIRECTORY COUNT");
        std::process::exit(2);
    };
    let directory = PathBuf::from(directory);
    let count: u64 = match count.parse() {
        Ok(count) => count,
        Err(error) => {
            eprintln!("COUNT: {error}");
            std::process::exit(2);
        }
    };
    let result = run_on_local_executor(STORAGE_IO_MEMORY_BYTES, || async move {
        let config = LogConfig {
            segment_bytes_max: 256 * 1024,
            flush: FlushPolicy::OnAppend,
            preallocate_bytes: 64 * 1024,
            ..LogConfig::default()
        };
        let cache = Rc::new(BatchCache::new(4 << 20));
        let log = Rc::new(
            PartitionLog::open(GlommioFileSystem, &directory, config, cache)
                .await
                .expect("log opens"),
        );
        let next_sequence = Rc::new(Cell::new(0u64));
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let log = log.clone();
            let next_sequence = next_sequence.clone();
            tasks.push(glommio::spawn_local(async move {
                loop {
                    let sequence = next_sequence.get();
                    if sequence >= count {
                        return;
                    }
                    next_sequence.set(sequence + 1);
                    let record_count = 1 + (sequence % 3) as i32;
                    let batch = make_batch(
                        record_count,
                        payload_bytes(sequence),
                        sequence as i64,
                        sequence,
                    );
                    let context = AppendContext {
                        now_ms: sequence as i64,
                        leader_epoch: 0,
                    };
                    let info = log.append(batch, context).await.expect("append");
                    let mut stdout = std::io::stdout().lock();
                    writeln!(
                        stdout,
                        "ACK {sequence} {} {}",
                        info.base_offset, info.last_offset
                    )
                    .and_then(|()| stdout.flush())
                    .expect("stdout");
                }
            }));
        }
        for task in tasks {
            task.await;
        }
        log.close().await.expect("close");
    });
    if let Err(error) = result {
        eprintln!("executor: {error}");
        std::process::exit(1);
    }
}
