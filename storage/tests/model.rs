//! Model-based test: random sequences of append / read / roll / truncate / retention /
//! log-start moves / close-and-reopen / crash / injected I/O failures against an in-memory
//! model, on the simulated file system. Each case prints its seed; set
//! `FERRITE_STORAGE_MODEL_SEED` to replay one.

mod common;

use std::rc::Rc;

use common::{context, directory, run};
use storage::{
    testing::{make_batch, payload},
    BatchCache, CrashMode, FlushPolicy, LogConfig, Offset, PartitionLog, SeededRandom,
    SimulatedFileSystem, StorageError,
};

#[derive(Debug, Clone)]
struct ModelBatch {
    base: i64,
    last: i64,
    payload: Vec<u8>,
}

#[derive(Debug, Default)]
struct Model {
    batches: Vec<ModelBatch>,
    log_start: i64,
    log_end: i64,
    /// Offsets below this are durable (as the log last reported).
    flushed: i64,
}

impl Model {
    fn keep_below(&mut self, end: i64) {
        self.batches.retain(|batch| batch.last < end);
        self.log_end = end;
        self.flushed = self.flushed.min(end);
        self.log_start = self.log_start.min(end);
    }
}

type Log = PartitionLog<SimulatedFileSystem>;

fn config_for(random: &mut SeededRandom) -> LogConfig {
    let flush = if random.below(2) == 0 {
        FlushPolicy::OnAppend
    } else {
        FlushPolicy::Interval {
            interval_ms: 50,
            bytes: 1 + random.below(20_000),
        }
    };
    LogConfig {
        segment_bytes_max: 16_384 + random.below(32_768),
        segment_ms: 1_000 + random.below(100_000),
        index_interval_bytes: 256 + random.below(2_048) as u32,
        write_chunk_bytes: 4096 * (1 + random.below(4) as usize),
        writes_in_flight_max: 1 + random.below(4) as usize,
        unwritten_bytes_max: 16_384 + random.below(32_768),
        preallocate_bytes: random.below(3) * 8_192,
        retention_ms: None,
        retention_bytes: Some(20_000 + random.below(60_000)),
        recovery_checkpoint_bytes: 4_096 + random.below(16_384),
        flush,
        ..LogConfig::default()
    }
}

async fn open(
    file_system: &SimulatedFileSystem,
    config: &LogConfig,
    cache: &Rc<BatchCache>,
) -> Log {
    PartitionLog::open(
        file_system.clone(),
        directory(),
        config.clone(),
        cache.clone(),
    )
    .await
    .expect("log opens")
}

/// Reads the whole log and compares it with the model.
async fn verify_all(log: &Log, model: &Model, step: usize) {
    let offsets = log.offsets();
    assert_eq!(
        offsets.log_end_offset.0, model.log_end,
        "step {step}: log end"
    );
    assert_eq!(
        offsets.log_start_offset.0, model.log_start,
        "step {step}: log start"
    );
    assert!(offsets.flushed_offset <= offsets.written_offset);
    assert!(offsets.written_offset <= offsets.log_end_offset);
    let mut expected = model
        .batches
        .iter()
        .filter(|batch| batch.last >= model.log_start)
        .peekable();
    let mut next = Offset(model.log_start);
    for _ in 0..10_000 {
        if next.0 >= model.log_end {
            break;
        }
        let read = log
            .read(next, 3_000, Offset(model.log_end))
            .await
            .unwrap_or_else(|error| panic!("step {step}: read at {next}: {error}"));
        assert!(read.bytes > 0, "step {step}: empty read at {next}");
        if std::env::var("FERRITE_STORAGE_MODEL_TRACE").is_ok() {
            let headers = read.headers();
            eprintln!(
                "  read at {next}: cache {} batches {:?} segments {:?}",
                read.from_cache,
                headers
                    .iter()
                    .map(|h| (h.base_offset, h.last_offset()))
                    .collect::<Vec<_>>(),
                log.segment_base_offsets()
            );
        }
        let bytes = read.to_vec();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let header = wire::records::BatchHeader::validate(rest, 1 << 20).unwrap();
            let (batch, tail) = rest.split_at(header.total_len());
            let model_batch = expected
                .next()
                .expect("log has no more batches than the model");
            assert_eq!(
                (header.base_offset, header.last_offset()),
                (model_batch.base, model_batch.last),
                "step {step}"
            );
            assert_eq!(payload(batch), &model_batch.payload[..], "step {step}");
            rest = tail;
        }
        next = read.next_offset;
    }
    assert!(
        expected.next().is_none(),
        "step {step}: model has batches the log lacks"
    );
}

async fn run_case(seed: u64, steps: usize) {
    let mut random = SeededRandom::new(seed);
    let config = config_for(&mut random);
    let file_system = SimulatedFileSystem::new();
    let cache = Rc::new(BatchCache::new(random.below(64_000) + 1_000));
    let mut log = Some(open(&file_system, &config, &cache).await);
    let mut model = Model::default();
    let mut now_ms = 0i64;
    let mut batch_seed = 0u64;
    let trace = std::env::var("FERRITE_STORAGE_MODEL_TRACE").is_ok();
    for step in 0..steps {
        now_ms += random.below(200) as i64;
        let current = log.as_ref().expect("log open");
        let choice = random.below(100);
        if trace {
            eprintln!(
                "step {step}: op {choice} model start {} end {} flushed {} log {:?}",
                model.log_start,
                model.log_end,
                model.flushed,
                current.offsets()
            );
        }
        match choice {
            0..=39 => {
                // Appends, sometimes several concurrently.
                let concurrent = 1 + random.below(4) as usize;
                let mut planned = Vec::new();
                for _ in 0..concurrent {
                    let batch_count = 1 + random.below(3) as usize;
                    let mut records = bytes::BytesMut::new();
                    let mut parts = Vec::new();
                    for _ in 0..batch_count {
                        batch_seed += 1;
                        let record_count = 1 + random.below(4) as i32;
                        let batch = make_batch(
                            record_count,
                            random.below(3_000) as usize,
                            now_ms,
                            batch_seed,
                        );
                        parts.push((record_count, payload(&batch).to_vec()));
                        records.extend_from_slice(&batch);
                    }
                    planned.push((records, parts));
                }
                let inject = random.below(25);
                if inject == 0 {
                    file_system.fail_write_number(1 + random.below(3));
                } else if inject == 1 {
                    file_system.fail_sync_number(1 + random.below(2));
                }
                let log_rc: &Log = current;
                let mut futures = Vec::new();
                for (records, _) in &planned {
                    futures.push(log_rc.append(records.clone(), context(now_ms)));
                }
                let results = join_all(futures).await;
                file_system.clear_faults();
                if trace {
                    let summary: Vec<String> = results
                        .iter()
                        .zip(&planned)
                        .map(|(result, (records, parts))| match result {
                            Ok(info) => format!(
                                "ok {}..{} ({} bytes, {} batches)",
                                info.base_offset,
                                info.last_offset,
                                records.len(),
                                parts.len()
                            ),
                            Err(error) => format!("error {error}"),
                        })
                        .collect();
                    eprintln!("  appends (inject {inject}): {summary:?}");
                }
                let failed = results.iter().any(Result::is_err);
                let mut expected_base = model.log_end;
                for ((_, parts), result) in planned.iter().zip(&results) {
                    match result {
                        Ok(info) if !failed => {
                            assert_eq!(info.base_offset.0, expected_base, "step {step}");
                            for (record_count, bytes) in parts {
                                model.batches.push(ModelBatch {
                                    base: expected_base,
                                    last: expected_base + i64::from(*record_count) - 1,
                                    payload: bytes.clone(),
                                });
                                expected_base += i64::from(*record_count);
                            }
                        }
                        Ok(_) | Err(StorageError::Io { .. } | StorageError::LogFailed { .. }) => {}
                        Err(error) => panic!("step {step}: unexpected append error {error}"),
                    }
                }
                if failed {
                    // Appends admitted before the failure got offsets even if they failed: the
                    // model learns them from the log end, in order.
                    let log_end = current.log_end_offset().0;
                    let mut base = model.log_end;
                    for (_, parts) in &planned {
                        for (record_count, bytes) in parts {
                            if base >= log_end {
                                break;
                            }
                            model.batches.push(ModelBatch {
                                base,
                                last: base + i64::from(*record_count) - 1,
                                payload: bytes.clone(),
                            });
                            base += i64::from(*record_count);
                        }
                    }
                    model.log_end = log_end;
                    model.flushed = current.flushed_offset().0;
                    assert!(current.failure().is_some(), "step {step}");
                    // A failed log must be reopened: crash it (unsynced data may or may not
                    // survive) and recover.
                    drop(log.take());
                    crash_and_reopen(
                        &file_system,
                        &config,
                        &cache,
                        &mut log,
                        &mut model,
                        random.next_u64(),
                        step,
                    )
                    .await;
                    continue;
                }
                model.log_end = expected_base;
                model.flushed = current.flushed_offset().0;
                if config.flush == FlushPolicy::OnAppend {
                    assert_eq!(model.flushed, model.log_end, "step {step}");
                }
            }
            40..=59 => {
                // A read at a random offset with a random bound.
                if model.log_end == model.log_start {
                    continue;
                }
                let offsets = current.offsets();
                let start =
                    model.log_start + random.below((model.log_end - model.log_start) as u64) as i64;
                let bound = match random.below(3) {
                    0 => offsets.flushed_offset,
                    1 => offsets.written_offset,
                    _ => offsets.log_end_offset,
                };
                let bytes_max = random.below(8_000) as usize;
                let read = current.read(Offset(start), bytes_max, bound).await.unwrap();
                let bytes = read.to_vec();
                let mut rest = &bytes[..];
                let mut expected = model.batches.iter().skip_while(|batch| batch.last < start);
                let mut total = 0usize;
                while !rest.is_empty() {
                    let header = wire::records::BatchHeader::validate(rest, 1 << 20).unwrap();
                    let model_batch = expected.next().expect("batch in model");
                    assert_eq!(header.base_offset, model_batch.base, "step {step}");
                    assert!(
                        header.last_offset() < bound.0,
                        "step {step}: read past the bound"
                    );
                    let (batch, tail) = rest.split_at(header.total_len());
                    assert_eq!(payload(batch), &model_batch.payload[..]);
                    if total > 0 {
                        assert!(
                            total + batch.len() <= bytes_max,
                            "step {step}: over the limit"
                        );
                    }
                    total += batch.len();
                    rest = tail;
                }
                if read.bytes == 0 {
                    // Nothing returned: the batch holding `start` must reach the bound.
                    let holder = model.batches.iter().find(|batch| batch.last >= start);
                    assert!(
                        holder.is_none_or(|batch| batch.last >= bound.0),
                        "step {step}"
                    );
                }
            }
            60..=64 => current.roll(now_ms).await.unwrap(),
            65..=69 => {
                if model.log_end == model.log_start {
                    continue;
                }
                let offset = model.log_start
                    + random.below((model.log_end - model.log_start) as u64 + 1) as i64;
                let kept_end = model
                    .batches
                    .iter()
                    .filter(|batch| batch.last < offset)
                    .map(|batch| batch.last + 1)
                    .next_back();
                let first_base = model
                    .batches
                    .first()
                    .map_or(model.log_end, |batch| batch.base);
                let expected_end = if offset >= model.log_end {
                    model.log_end
                } else {
                    kept_end.unwrap_or(first_base)
                };
                let new_end = current.truncate_to(Offset(offset)).await.unwrap();
                assert_eq!(new_end.0, expected_end, "step {step}: truncate to {offset}");
                model.keep_below(expected_end);
            }
            70..=73 => {
                current.apply_retention(now_ms).await.unwrap();
                let start = current.log_start_offset().0;
                assert!(
                    start >= model.log_start && start <= model.log_end,
                    "step {step}"
                );
                model.log_start = start;
            }
            74..=76 => {
                if model.log_end == model.log_start {
                    continue;
                }
                let offset = model.log_start
                    + random.below((model.log_end - model.log_start) as u64 + 1) as i64;
                current.advance_log_start(Offset(offset)).await.unwrap();
                model.log_start = offset;
            }
            77..=79 => current.tick(now_ms).await.unwrap(),
            80..=85 => {
                current.close().await.unwrap();
                drop(log.take());
                let reopened = open(&file_system, &config, &cache).await;
                model.flushed = model.log_end;
                log = Some(reopened);
                verify_all(log.as_ref().unwrap(), &model, step).await;
            }
            86..=91 => {
                model.flushed = current.flushed_offset().0;
                drop(log.take());
                crash_and_reopen(
                    &file_system,
                    &config,
                    &cache,
                    &mut log,
                    &mut model,
                    random.next_u64(),
                    step,
                )
                .await;
            }
            _ => verify_all(current, &model, step).await,
        }
    }
    verify_all(log.as_ref().unwrap(), &model, steps).await;
}

async fn crash_and_reopen(
    file_system: &SimulatedFileSystem,
    config: &LogConfig,
    cache: &Rc<BatchCache>,
    log: &mut Option<Log>,
    model: &mut Model,
    crash_seed: u64,
    step: usize,
) {
    file_system.crash(&CrashMode::Random { seed: crash_seed });
    let reopened = open(file_system, config, cache).await;
    let end = reopened.log_end_offset().0;
    assert!(
        end >= model.flushed && end <= model.log_end,
        "step {step}: recovered end {end} outside [flushed {}, end {}]",
        model.flushed,
        model.log_end
    );
    assert!(
        (end == model.log_end
                || model.batches.iter().any(|batch| batch.base == end)
                || end == model.flushed),
        "step {step}: recovered end {end} is not a batch boundary (start {}, flushed {}, end {}, batches near: {:?})",
        model.log_start,
        model.flushed,
        model.log_end,
        model
            .batches
            .iter()
            .filter(|batch| (batch.base - end).abs() < 10)
            .map(|batch| (batch.base, batch.last))
            .collect::<Vec<_>>()
    );
    model.keep_below(end);
    model.log_start = reopened.log_start_offset().0;
    model.flushed = end;
    *log = Some(reopened);
    verify_all(log.as_ref().unwrap(), model, step).await;
}

/// Polls the futures together (they share one log on one core), returning results in order.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = (0..futures.len()).map(|_| None).collect();
    std::future::poll_fn(|context| {
        let mut pending = false;
        for (future, result) in futures.iter_mut().zip(results.iter_mut()) {
            if result.is_none() {
                match future.as_mut().poll(context) {
                    std::task::Poll::Ready(output) => *result = Some(output),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results
        .into_iter()
        .map(|result| result.expect("completed"))
        .collect()
}

#[test]
fn random_operation_sequences_match_the_model() {
    let seeds: Vec<u64> = match std::env::var("FERRITE_STORAGE_MODEL_SEED") {
        Ok(seed) => vec![seed.parse().expect("seed is a number")],
        Err(_) => {
            let base = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |elapsed| elapsed.as_secs());
            (0..24)
                .map(|case| base.wrapping_mul(31).wrapping_add(case))
                .collect()
        }
    };
    for seed in seeds {
        eprintln!("model case seed {seed} (replay: FERRITE_STORAGE_MODEL_SEED={seed})");
        run(|| run_case(seed, 300));
    }
}
