//! One run, start to end: set up topics, start one pinned glommio executor per bench core
//! with its share of producers and consumers, print a progress line every second, merge what
//! the cores measured into a [`Report`], delete the topics.
//!
//! Threads: the main thread does set-up, progress and merging; each bench core runs one
//! executor thread that owns its clients and their [`CoreStats`]. Cores talk to the main
//! thread only through a std channel (one interval report per core per second, then one final
//! result), so measuring takes no locks.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use glommio::{LocalExecutorBuilder, Placement};

use crate::admin::{self, PartitionTarget};
use crate::consumer::{run_consumer, ConsumerSetup};
use crate::latency::LatencyHistogram;
use crate::machine::Machine;
use crate::producer::{run_producer, ProducerSetup};
use crate::report::{Delivery, Report, SecondPoint, ThroughputSummary, REPORT_FORMAT_VERSION};
use crate::stats::{
    CoreMessage, CoreResult, CoreStats, Counters, IntervalReport, Phases, RunClock, Shared,
};
use crate::workload::{ConsumerMode, Workload};

/// Set by the SIGINT handler: the run stops its clients, reports what it measured and deletes
/// its topics.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_signal: libc::c_int) {
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        // The second Ctrl-C: leave now (only async-signal-safe calls here).
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(130) };
    }
}

/// Makes Ctrl-C end the run early but cleanly (clients stop, topics are deleted, the report
/// is written and marked interrupted); a second Ctrl-C exits at once.
pub fn install_interrupt_handler() {
    // SAFETY: the handler only touches an atomic and calls _exit.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
}

/// Whether Ctrl-C interrupted a run.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// How the run is carried out (as opposed to what load it offers: the [`Workload`]).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `host:port` of a broker.
    pub bootstrap: String,
    /// Cores the bench's executors are pinned to.
    pub cores: Vec<usize>,
    /// io_uring buffer memory per executor (locked memory: keep it small).
    pub io_memory_bytes: usize,
    /// Print a progress line every second (on stderr).
    pub progress: bool,
}

/// The default bench core: the last one this process may use (the broker takes the first).
pub fn default_cores() -> Vec<usize> {
    crate::machine::available_cores()
        .last()
        .copied()
        .map_or_else(|| vec![0], |core| vec![core])
}

/// Runs `workload` against `options.bootstrap` and returns the report.
pub fn run(workload: &Workload, options: &RunOptions) -> Result<Report> {
    workload.validate()?;
    if options.cores.is_empty() {
        bail!("no bench cores given");
    }
    let started_at_unix_seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let run_id = format!("{started_at_unix_seconds}-{:04x}", rand::random::<u16>());
    let machine = Machine::describe();
    let plan = admin::prepare(&options.bootstrap, workload, &run_id)?;
    let result = run_planned(
        workload,
        options,
        &plan,
        &run_id,
        started_at_unix_seconds,
        machine,
    );
    if plan.created && workload.topics.delete {
        if let Err(error) = admin::delete_topics(&options.bootstrap, &plan.topics) {
            eprintln!("ferrite-bench: warning: {error:#}");
        }
    }
    result
}

fn run_planned(
    workload: &Workload,
    options: &RunOptions,
    plan: &admin::Plan,
    run_id: &str,
    started_at_unix_seconds: u64,
    machine: Machine,
) -> Result<Report> {
    let workload_shared = Arc::new(workload.clone());
    let partitions = Arc::new(plan.partitions.clone());
    let shared = Arc::new(Shared::default());
    shared
        .producers_running
        .store(u64::from(workload.producer.count), Ordering::Release);
    let warmup_ns = (workload.run.warmup_seconds * 1e9) as u64;
    let duration_ns = (workload.run.duration_seconds * 1e9) as u64;
    // Start a little in the future, so every core's schedule starts together.
    let clock = RunClock::starting_in(Duration::from_millis(50));
    let phases = Phases {
        warmup_end_ns: warmup_ns,
        end_ns: warmup_ns + duration_ns,
    };
    let rate_per_producer = workload
        .producer
        .rate
        .messages_per_second(workload.message.size.mean())
        .map(|rate| rate / f64::from(workload.producer.count));

    let core_count = options.cores.len();
    let mut producers: Vec<Vec<ProducerSetup>> = vec![Vec::new(); core_count];
    for index in 0..workload.producer.count {
        producers[index as usize % core_count].push(ProducerSetup {
            index,
            workload: workload_shared.clone(),
            partitions: partitions.clone(),
            produce_version: plan.broker.produce_version,
            rate_per_second: rate_per_producer,
            clock,
            phases,
            shared: shared.clone(),
        });
    }
    let mut consumers: Vec<Vec<ConsumerSetup>> = vec![Vec::new(); core_count];
    // Each subscription reads every partition once, split over its consumers.
    let per_subscription = workload.consumer.count;
    for index in 0..per_subscription * workload.consumer.subscriptions {
        let assigned: Vec<PartitionTarget> = plan
            .partitions
            .iter()
            .enumerate()
            .filter(|(position, _)| *position as u32 % per_subscription == index % per_subscription)
            .map(|(_, target)| target.clone())
            .collect();
        if assigned.is_empty() {
            continue;
        }
        consumers[index as usize % core_count].push(ConsumerSetup {
            index,
            workload: workload_shared.clone(),
            partitions: assigned,
            fetch_version: plan.broker.fetch_version,
            clock,
            phases,
            shared: shared.clone(),
        });
    }

    let (sender, receiver) = mpsc::channel::<CoreMessage>();
    let mut handles = Vec::new();
    for (core_index, ((&core, producers), consumers)) in options
        .cores
        .iter()
        .zip(producers)
        .zip(consumers)
        .enumerate()
    {
        let sender = sender.clone();
        let spawned = LocalExecutorBuilder::new(Placement::Fixed(core))
            .name(&format!("bench-core-{core_index}"))
            .io_memory(options.io_memory_bytes)
            .spawn(move || core_main(core_index, clock, producers, consumers, sender));
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(error) => {
                // Stop the cores already running before reporting the failure.
                shared.abort.store(true, Ordering::Relaxed);
                for handle in handles {
                    let _ = handle.join();
                }
                bail!("cannot start the bench executor on core {core}: {error}");
            }
        }
    }
    drop(sender);

    let merged = collect(
        receiver,
        core_count,
        workload,
        phases,
        options.progress,
        &shared,
    );
    if merged.is_ok() {
        for handle in handles {
            if let Err(error) = handle.join() {
                eprintln!("ferrite-bench: a bench core failed: {error}");
            }
        }
    }
    // Otherwise the cores were told to stop but may be stuck on a broker that does not
    // answer: they are left behind (the process is about to report the error and exit).
    let mut merged = merged?;
    // The measured window ends at the run's end, or earlier when the producers stopped early
    // (Ctrl-C).
    let measured_end_ns = shared
        .producers_done_at()
        .map_or(phases.end_ns, |done| done.min(phases.end_ns));
    merged.measured_seconds = measured_end_ns.saturating_sub(phases.warmup_end_ns) as f64 / 1e9;
    let mut report = build_report(
        workload,
        options,
        plan,
        run_id,
        started_at_unix_seconds,
        machine,
        merged,
    );
    report.interrupted = shared.aborted();
    Ok(report)
}

/// One bench core: its clients, and a ticker that reports every second.
async fn core_main(
    core: usize,
    clock: RunClock,
    producers: Vec<ProducerSetup>,
    consumers: Vec<ConsumerSetup>,
    sender: mpsc::Sender<CoreMessage>,
) {
    let stats = Rc::new(RefCell::new(CoreStats::default()));
    let finished = Rc::new(Cell::new(false));
    // Wait for the common start.
    glommio::timer::sleep(clock.start.saturating_duration_since(Instant::now())).await;
    let ticker = {
        let stats = stats.clone();
        let finished = finished.clone();
        let sender = sender.clone();
        glommio::spawn_local(async move {
            let mut second = 1u64;
            loop {
                let due = clock.instant_at(second * 1_000_000_000);
                glommio::timer::sleep(due.saturating_duration_since(Instant::now())).await;
                if finished.get() {
                    return;
                }
                let _ = sender.send(interval_report(core, second, &stats));
                second += 1;
            }
        })
        .detach()
    };
    let mut tasks = Vec::new();
    for setup in producers {
        tasks.push(glommio::spawn_local(run_producer(setup, stats.clone())).detach());
    }
    for setup in consumers {
        tasks.push(glommio::spawn_local(run_consumer(setup, stats.clone())).detach());
    }
    for task in tasks {
        task.await;
    }
    finished.set(true);
    ticker.cancel();
    // The partial last second.
    let second = clock.now_ns() / 1_000_000_000 + 1;
    let _ = sender.send(interval_report(core, second, &stats));
    let stats = stats.replace(CoreStats::default());
    let _ = sender.send(CoreMessage::Finished(Box::new(CoreResult { core, stats })));
}

fn interval_report(core: usize, second: u64, stats: &Rc<RefCell<CoreStats>>) -> CoreMessage {
    let (counters, produce_latency, end_to_end_latency) = stats.borrow_mut().take_interval();
    CoreMessage::Interval(Box::new(IntervalReport {
        core,
        second,
        counters,
        produce_latency,
        end_to_end_latency,
    }))
}

/// What the main thread gathered.
struct Merged {
    stats: CoreStats,
    series: Vec<SecondPoint>,
    /// Length of the measured window (shorter than the workload's when interrupted).
    measured_seconds: f64,
}

#[derive(Default)]
struct PendingSecond {
    counters: Counters,
    produce: LatencyHistogram,
    end_to_end: LatencyHistogram,
}

fn collect(
    receiver: mpsc::Receiver<CoreMessage>,
    core_count: usize,
    workload: &Workload,
    phases: Phases,
    progress: bool,
    shared: &Shared,
) -> Result<Merged> {
    let mut merged = CoreStats::default();
    let mut finished = vec![false; core_count];
    let mut last_second = vec![0u64; core_count];
    let mut pending: BTreeMap<u64, PendingSecond> = BTreeMap::new();
    let mut series = Vec::new();
    let mut so_far_produce = LatencyHistogram::new();
    let mut so_far_end_to_end = LatencyHistogram::new();
    // Bound: the run's length, the producers' final wait and the consumers' drain, plus slack.
    let deadline = Instant::now()
        + Duration::from_secs_f64(
            workload.run.warmup_seconds
                + workload.run.duration_seconds
                + workload.consumer.drain_seconds_max
                + f64::from(workload.producer.request_timeout_ms) / 1000.0
                + 60.0,
        );
    let mut interrupted = false;
    while finished.iter().any(|done| !done) {
        if !interrupted && INTERRUPTED.load(Ordering::Relaxed) {
            interrupted = true;
            eprintln!(
                "ferrite-bench: interrupted; stopping the clients (Ctrl-C again to quit now)"
            );
            shared.abort.store(true, Ordering::Relaxed);
        }
        if Instant::now() >= deadline {
            shared.abort.store(true, Ordering::Relaxed);
            bail!("the run did not finish in time; aborted");
        }
        // Short waits, so that an interruption is noticed within a fraction of a second.
        let message = match receiver.recv_timeout(Duration::from_millis(200)) {
            Ok(message) => message,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        match message {
            CoreMessage::Interval(report) => {
                last_second[report.core] = last_second[report.core].max(report.second);
                let entry = pending.entry(report.second).or_default();
                entry.counters.add(&report.counters);
                entry.produce.merge(&report.produce_latency);
                entry.end_to_end.merge(&report.end_to_end_latency);
            }
            CoreMessage::Finished(result) => {
                finished[result.core] = true;
                merge_core(&mut merged, result.stats);
            }
        }
        // Emit every second all cores have reported (or finished).
        while let Some((&second, _)) = pending.first_key_value() {
            let complete =
                (0..core_count).all(|core| finished[core] || last_second[core] >= second);
            if !complete {
                break;
            }
            let Some((second, figures)) = pending.pop_first() else {
                break;
            };
            so_far_produce.merge(&figures.produce);
            so_far_end_to_end.merge(&figures.end_to_end);
            let point = SecondPoint {
                second,
                warmup: (second * 1_000_000_000) <= phases.warmup_end_ns,
                acked_messages: figures.counters.acked_messages,
                acked_bytes: figures.counters.acked_bytes,
                consumed_messages: figures.counters.consumed_messages,
                consumed_bytes: figures.counters.consumed_bytes,
                errors: figures.counters.errors(),
                produce_p50_us: figures.produce.percentile_us(50.0),
                produce_p99_us: figures.produce.percentile_us(99.0),
                produce_max_us: figures.produce.max_us(),
                end_to_end_p99_us: figures.end_to_end.percentile_us(99.0),
            };
            if progress {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(
                    err,
                    "[{:>4}s{}] produce {:>9} msg/s {:>8.2} MB/s p99 {:>9.3} ms | consume {:>9} msg/s e2e p99 {:>9.3} ms | errors {}",
                    point.second,
                    if point.warmup { " warm-up" } else { "" },
                    point.acked_messages,
                    point.acked_bytes as f64 / 1e6,
                    so_far_produce.percentile_us(99.0) / 1000.0,
                    point.consumed_messages,
                    so_far_end_to_end.percentile_us(99.0) / 1000.0,
                    point.errors,
                );
            }
            series.push(point);
        }
    }
    Ok(Merged {
        stats: merged,
        series,
        measured_seconds: workload.run.duration_seconds,
    })
}

fn merge_core(merged: &mut CoreStats, core: CoreStats) {
    merged.totals.add(&core.totals);
    merged.produce_latency.merge(&core.produce_latency);
    merged.end_to_end_latency.merge(&core.end_to_end_latency);
    merged.measured_acked_messages += core.measured_acked_messages;
    merged.measured_acked_bytes += core.measured_acked_bytes;
    merged.measured_consumed_messages += core.measured_consumed_messages;
    merged.measured_consumed_bytes += core.measured_consumed_bytes;
    let earliest = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    merged.first_consumed_ns = earliest(merged.first_consumed_ns, core.first_consumed_ns);
    merged.consume_started_ns = earliest(merged.consume_started_ns, core.consume_started_ns);
    merged.last_consumed_ns = merged.last_consumed_ns.max(core.last_consumed_ns);
    for (kind, count) in core.error_kinds {
        merged.count_error(kind, count);
    }
}

fn build_report(
    workload: &Workload,
    options: &RunOptions,
    plan: &admin::Plan,
    run_id: &str,
    started_at_unix_seconds: u64,
    machine: Machine,
    merged: Merged,
) -> Report {
    let measured_seconds = merged.measured_seconds;
    let stats = merged.stats;
    let totals = stats.totals;
    let consume_seconds = match workload.consumer.mode {
        ConsumerMode::Tail => measured_seconds,
        // From the moment the consumers started reading the backlog to the last record.
        ConsumerMode::CatchUp => match (stats.consume_started_ns, stats.last_consumed_ns) {
            (Some(first), Some(last)) if last > first => (last - first) as f64 / 1e9,
            _ => 0.0,
        },
    };
    let checked = workload.consumer.count > 0;
    let subscriptions = u64::from(workload.consumer.subscriptions);
    let unique_consumed =
        totals.consumed_messages - totals.duplicates.min(totals.consumed_messages);
    let unconsumed = if checked {
        (totals.acked_messages * subscriptions).saturating_sub(unique_consumed)
    } else {
        0
    };
    let delivery = Delivery {
        acknowledged: totals.acked_messages,
        subscriptions: if checked { subscriptions } else { 0 },
        consumed: totals.consumed_messages,
        duplicates: totals.duplicates,
        missing: totals.missing,
        unconsumed,
        checked,
        exactly_once: checked
            && totals.duplicates == 0
            && totals.missing == 0
            && unconsumed == 0
            && totals.produce_errors == 0,
    };
    Report {
        format_version: REPORT_FORMAT_VERSION,
        bench_version: env!("CARGO_PKG_VERSION").to_owned(),
        run_id: run_id.to_owned(),
        started_at_unix_seconds,
        workload: workload.clone(),
        broker: plan.broker.clone(),
        machine,
        bench_cores: options.cores.clone(),
        topics: plan.topics.clone(),
        produce: ThroughputSummary::new(
            stats.measured_acked_messages,
            stats.measured_acked_bytes,
            measured_seconds,
        ),
        consume: ThroughputSummary::new(
            stats.measured_consumed_messages,
            stats.measured_consumed_bytes,
            consume_seconds,
        ),
        produce_latency: stats.produce_latency.summary(),
        end_to_end_latency: stats.end_to_end_latency.summary(),
        totals,
        delivery,
        errors: stats.error_kinds,
        series: merged.series,
        limits: None,
        interrupted: false,
    }
}
