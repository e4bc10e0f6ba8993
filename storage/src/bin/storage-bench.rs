//! Storage benchmark (not a test): append throughput and latency, tail and disk read-back
//! speed, and the memory of many idle partitions. `scripts/bench-storage` runs it beside fio
//! and writes the comparison; see docs/PERFORMANCE.md.
//!
//! ```text
//! storage-bench append --directory D --write-bytes N --flush on|off --concurrency C --seconds S
//! storage-bench read --directory D --total-bytes N --read-bytes N
//! storage-bench idle-partitions --directory D --count N
//! ```
//! Each run prints one JSON object on stdout.

use std::{
    cell::{Cell, RefCell},
    path::{Path, PathBuf},
    rc::Rc,
    time::{Duration, Instant},
};

use storage::{
    run_on_local_executor, testing::make_batch, AppendContext, BatchCache, FlushPolicy,
    GlommioFileSystem, LogConfig, Offset, PartitionLog, STORAGE_IO_MEMORY_BYTES,
};

struct Arguments {
    command: String,
    directory: PathBuf,
    write_bytes: usize,
    flush: bool,
    concurrency: usize,
    seconds: f64,
    total_bytes: u64,
    read_bytes: usize,
    count: usize,
    io_memory_bytes: usize,
    chunk_bytes: Option<usize>,
    writes_in_flight: Option<usize>,
    preallocate_bytes: Option<u64>,
}

fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, multiplier) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((index, _)) => {
            let multiplier = match text[index..].to_ascii_lowercase().as_str() {
                "k" | "kib" => 1 << 10,
                "m" | "mib" => 1 << 20,
                "g" | "gib" => 1 << 30,
                other => return Err(format!("unknown size unit {other:?}")),
            };
            (&text[..index], multiplier)
        }
        None => (text, 1),
    };
    digits
        .parse::<u64>()
        .map(|value| value * multiplier)
        .map_err(|error| format!("{text:?}: {error}"))
}

fn parse_arguments() -> Result<Arguments, String> {
    let mut raw = std::env::args().skip(1);
    let command = raw
        .next()
        .ok_or("missing command: append, read or idle-partitions")?;
    let mut arguments = Arguments {
        command,
        directory: PathBuf::from("target/bench-storage/data"),
        write_bytes: 16 << 10,
        flush: false,
        concurrency: 1,
        seconds: 5.0,
        total_bytes: 1 << 30,
        read_bytes: 1 << 20,
        count: 10_000,
        io_memory_bytes: STORAGE_IO_MEMORY_BYTES,
        chunk_bytes: None,
        writes_in_flight: None,
        preallocate_bytes: None,
    };
    while let Some(flag) = raw.next() {
        let value = raw.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--directory" => arguments.directory = PathBuf::from(value),
            "--write-bytes" => arguments.write_bytes = parse_size(&value)? as usize,
            "--flush" => arguments.flush = value == "on",
            "--concurrency" => {
                arguments.concurrency = value.parse().map_err(|e| format!("{flag}: {e}"))?
            }
            "--seconds" => arguments.seconds = value.parse().map_err(|e| format!("{flag}: {e}"))?,
            "--total-bytes" => arguments.total_bytes = parse_size(&value)?,
            "--read-bytes" => arguments.read_bytes = parse_size(&value)? as usize,
            "--count" => arguments.count = value.parse().map_err(|e| format!("{flag}: {e}"))?,
            "--io-memory-bytes" => arguments.io_memory_bytes = parse_size(&value)? as usize,
            "--chunk-bytes" => arguments.chunk_bytes = Some(parse_size(&value)? as usize),
            "--writes-in-flight" => {
                arguments.writes_in_flight =
                    Some(value.parse().map_err(|e| format!("{flag}: {e}"))?)
            }
            "--preallocate-bytes" => arguments.preallocate_bytes = Some(parse_size(&value)?),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if arguments.concurrency == 0 || arguments.concurrency > 1024 {
        return Err("--concurrency must be in 1..=1024".to_string());
    }
    if arguments.write_bytes < 128 || arguments.write_bytes > 1 << 20 {
        return Err("--write-bytes must be in 128..=1MiB".to_string());
    }
    Ok(arguments)
}

fn percentile(sorted: &[u64], fraction: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn fresh_directory(path: &Path) -> Result<(), String> {
    if path.exists() {
        std::fs::remove_dir_all(path).map_err(|e| format!("remove {}: {e}", path.display()))?;
    }
    std::fs::create_dir_all(path).map_err(|e| format!("create {}: {e}", path.display()))
}

fn bench_config(arguments: &Arguments) -> LogConfig {
    let defaults = LogConfig::default();
    let write_chunk_bytes = arguments.chunk_bytes.unwrap_or(defaults.write_chunk_bytes);
    let flush = arguments.flush;
    LogConfig {
        write_chunk_bytes,
        unwritten_bytes_max: defaults
            .unwritten_bytes_max
            .max(4 * write_chunk_bytes as u64),
        writes_in_flight_max: arguments
            .writes_in_flight
            .unwrap_or(defaults.writes_in_flight_max),
        preallocate_bytes: arguments
            .preallocate_bytes
            .unwrap_or(defaults.preallocate_bytes),
        flush: if flush {
            FlushPolicy::OnAppend
        } else {
            FlushPolicy::Interval {
                interval_ms: u64::MAX / 4,
                bytes: u64::MAX / 4,
            }
        },
        retention_ms: None,
        ..LogConfig::default()
    }
}

/// Latencies are kept per append, bounded: at most this many samples (the rest are counted).
const LATENCY_SAMPLES_MAX: usize = 4_000_000;

async fn append_benchmark(arguments: &Arguments) -> Result<String, String> {
    let directory = arguments.directory.join("append");
    fresh_directory(&directory)?;
    let cache = Rc::new(BatchCache::new(64 << 20));
    let log = Rc::new(
        PartitionLog::open(
            GlommioFileSystem,
            &directory,
            bench_config(arguments),
            cache,
        )
        .await
        .map_err(|e| e.to_string())?,
    );
    let payload_bytes = arguments.write_bytes - wire::records::BATCH_HEADER_LEN;
    let template = make_batch(1, payload_bytes, 0, 1);
    let duration = Duration::from_secs_f64(arguments.seconds);
    let latencies_ns = Rc::new(RefCell::new(Vec::with_capacity(1 << 16)));
    let appended_bytes = Rc::new(Cell::new(0u64));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..arguments.concurrency {
        let log = log.clone();
        let template = template.clone();
        let latencies_ns = latencies_ns.clone();
        let appended_bytes = appended_bytes.clone();
        tasks.push(glommio::spawn_local(async move {
            while started.elapsed() < duration {
                let batch = template.clone();
                let length = batch.len() as u64;
                let before = Instant::now();
                let context = AppendContext {
                    now_ms: 0,
                    leader_epoch: 0,
                };
                log.append(batch, context)
                    .await
                    .map_err(|e| e.to_string())?;
                let elapsed = before.elapsed().as_nanos() as u64;
                let mut samples = latencies_ns.borrow_mut();
                if samples.len() < LATENCY_SAMPLES_MAX {
                    samples.push(elapsed);
                }
                appended_bytes.set(appended_bytes.get() + length);
            }
            Ok::<(), String>(())
        }));
    }
    for task in tasks {
        task.await?;
    }
    // Without flush_on_append, the appends are written; count the final flush in the time so
    // that both modes report bytes that reached the device.
    log.flush().await.map_err(|e| e.to_string())?;
    let elapsed = started.elapsed().as_secs_f64();
    log.close().await.map_err(|e| e.to_string())?;
    let mut samples = latencies_ns.borrow().clone();
    samples.sort_unstable();
    let bytes = appended_bytes.get();
    let _ = std::fs::remove_dir_all(&directory);
    Ok(format!(
        "{{\"benchmark\":\"append\",\"write_bytes\":{},\"flush_on_append\":{},\"concurrency\":{},\"seconds\":{:.3},\"bytes\":{},\"appends\":{},\"bytes_per_second\":{:.0},\"latency_us\":{{\"p50\":{:.1},\"p99\":{:.1},\"p999\":{:.1},\"max\":{:.1}}}}}",
        arguments.write_bytes,
        arguments.flush,
        arguments.concurrency,
        elapsed,
        bytes,
        samples.len(),
        bytes as f64 / elapsed,
        percentile(&samples, 0.50) as f64 / 1e3,
        percentile(&samples, 0.99) as f64 / 1e3,
        percentile(&samples, 0.999) as f64 / 1e3,
        samples.last().copied().unwrap_or(0) as f64 / 1e3,
    ))
}

async fn read_all(
    log: &PartitionLog<GlommioFileSystem>,
    from: Offset,
    read_bytes: usize,
) -> Result<(u64, bool), String> {
    let end = log.log_end_offset();
    let mut next = from;
    let mut bytes = 0u64;
    let mut all_cached = true;
    let mut checksum = 0u64;
    while next < end {
        let read = log
            .read(next, read_bytes, end)
            .await
            .map_err(|e| e.to_string())?;
        if read.bytes == 0 {
            return Err(format!("empty read at {next}"));
        }
        all_cached &= read.from_cache;
        bytes += read.bytes as u64;
        // Touch every byte, as a copy into a socket would.
        for piece in &read.pieces {
            checksum ^= fold(piece);
        }
        next = read.next_offset;
    }
    std::hint::black_box(checksum);
    Ok((bytes, all_cached))
}

/// XOR of the bytes as little-endian u64 words (the tail shorter than a word is ignored).
fn fold(bytes: &[u8]) -> u64 {
    bytes.chunks_exact(8).fold(0u64, |accumulator, word| {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(word);
        accumulator ^ u64::from_le_bytes(raw)
    })
}

async fn read_benchmark(arguments: &Arguments) -> Result<String, String> {
    let directory = arguments.directory.join("read");
    fresh_directory(&directory)?;
    let write_bytes = 1 << 20;
    let batch = make_batch(1, write_bytes - wire::records::BATCH_HEADER_LEN, 0, 7);
    let batches = (arguments.total_bytes / write_bytes as u64).max(1);
    // Tail reads: a cache big enough for the whole run, read right after appending.
    let cache = Rc::new(BatchCache::new(arguments.total_bytes + (64 << 20)));
    let log = PartitionLog::open(
        GlommioFileSystem,
        &directory,
        bench_config(arguments),
        cache.clone(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let context = AppendContext {
        now_ms: 0,
        leader_epoch: 0,
    };
    for _ in 0..batches {
        log.append(batch.clone(), context)
            .await
            .map_err(|e| e.to_string())?;
    }
    log.flush().await.map_err(|e| e.to_string())?;
    let started = Instant::now();
    let (cached_bytes, all_cached) = read_all(&log, Offset(0), arguments.read_bytes).await?;
    let cache_seconds = started.elapsed().as_secs_f64();
    if !all_cached {
        return Err("tail read missed the cache".to_string());
    }
    log.close().await.map_err(|e| e.to_string())?;
    drop(log);
    // Disk reads: reopen with an empty cache.
    let cache = Rc::new(BatchCache::new(1 << 20));
    let log = PartitionLog::open(
        GlommioFileSystem,
        &directory,
        bench_config(arguments),
        cache,
    )
    .await
    .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let (disk_bytes, _) = read_all(&log, Offset(0), arguments.read_bytes).await?;
    let disk_seconds = started.elapsed().as_secs_f64();
    log.close().await.map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&directory);
    Ok(format!(
        "{{\"benchmark\":\"read\",\"read_bytes\":{},\"cache_bytes_per_second\":{:.0},\"disk_bytes_per_second\":{:.0},\"bytes\":{}}}",
        arguments.read_bytes,
        cached_bytes as f64 / cache_seconds,
        disk_bytes as f64 / disk_seconds,
        disk_bytes
    ))
}

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

async fn idle_partitions_benchmark(arguments: &Arguments) -> Result<String, String> {
    let directory = arguments.directory.join("idle");
    fresh_directory(&directory)?;
    let cache = Rc::new(BatchCache::new(64 << 20));
    let config = LogConfig {
        preallocate_bytes: 0,
        ..bench_config(arguments)
    };
    let batch = make_batch(1, 200, 0, 3);
    // Warm up allocator and runtime with one log so the baseline includes them.
    let warm = PartitionLog::open(
        GlommioFileSystem,
        directory.join("warm"),
        config.clone(),
        cache.clone(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let before = resident_bytes();
    let started = Instant::now();
    let logs = Rc::new(RefCell::new(Vec::with_capacity(arguments.count)));
    let next = Rc::new(Cell::new(0usize));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (logs, next, cache, config, batch, directory) = (
            logs.clone(),
            next.clone(),
            cache.clone(),
            config.clone(),
            batch.clone(),
            directory.clone(),
        );
        let count = arguments.count;
        tasks.push(glommio::spawn_local(async move {
            loop {
                let index = next.get();
                if index >= count {
                    return Ok::<(), String>(());
                }
                next.set(index + 1);
                let path = directory.join(format!("topic-{index}"));
                let log =
                    PartitionLog::open(GlommioFileSystem, &path, config.clone(), cache.clone())
                        .await
                        .map_err(|e| e.to_string())?;
                let context = AppendContext {
                    now_ms: 0,
                    leader_epoch: 0,
                };
                log.append(batch.clone(), context)
                    .await
                    .map_err(|e| e.to_string())?;
                logs.borrow_mut().push(log);
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let open_seconds = started.elapsed().as_secs_f64();
    let cached = cache.usage();
    let after = resident_bytes();
    let delta = after.saturating_sub(before);
    let count = logs.borrow().len();
    drop(warm);
    Ok(format!(
        "{{\"benchmark\":\"idle_partitions\",\"partitions\":{count},\"rss_before_bytes\":{before},\"rss_after_bytes\":{after},\"rss_delta_bytes\":{delta},\"bytes_per_partition\":{},\"read_cache_bytes\":{},\"open_and_append_seconds\":{open_seconds:.1}}}",
        delta / count.max(1) as u64,
        cached.used_bytes
    ))
}

fn main() {
    let arguments = match parse_arguments() {
        Ok(arguments) => arguments,
        Err(error) => {
            eprintln!("storage-bench: {error}");
            std::process::exit(2);
        }
    };
    let io_memory_bytes = arguments.io_memory_bytes;
    let outcome = run_on_local_executor(io_memory_bytes, || async move {
        match arguments.command.as_str() {
            "append" => append_benchmark(&arguments).await,
            "read" => read_benchmark(&arguments).await,
            "idle-partitions" => idle_partitions_benchmark(&arguments).await,
            other => Err(format!("unknown command {other}")),
        }
    });
    match outcome {
        Ok(Ok(json)) => println!("{json}"),
        Ok(Err(error)) => {
            eprintln!("storage-bench: {error}");
            std::process::exit(1);
        }
        Err(error) => {
            eprintln!("storage-bench: executor: {error}");
            std::process::exit(1);
        }
    }
}
