//! What one core measures while the load runs, and the clock it measures with.
//!
//! Each bench core owns one [`CoreStats`] (in an `Rc<RefCell<_>>`, never shared across
//! threads). Every second the core's ticker hands the main thread an [`IntervalReport`] (the
//! counters and latency histograms of that second) over a std channel; at the end the core
//! returns its run-long totals in a [`CoreResult`]. The main thread merges them: cores share
//! nothing while measuring. The only cross-core state is [`Shared`]: a few atomic counters the
//! consumers need to know when they have read everything.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::latency::LatencyHistogram;

/// Distinct error kinds kept per core; further kinds are counted under "other".
const ERROR_KINDS_MAX: usize = 32;

/// The run's clock: nanoseconds since one start instant, shared by every core.
#[derive(Debug, Clone, Copy)]
pub struct RunClock {
    pub start: Instant,
    /// Wall-clock time of `start`, in Unix milliseconds (for record timestamps).
    pub start_unix_ms: i64,
}

impl RunClock {
    /// A clock starting `delay` from now.
    pub fn starting_in(delay: Duration) -> RunClock {
        let now_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as i64);
        RunClock {
            start: Instant::now() + delay,
            start_unix_ms: now_unix_ms + delay.as_millis() as i64,
        }
    }

    /// The wall-clock time, in Unix milliseconds, of `ns` on this clock.
    pub fn unix_ms_at(&self, ns: u64) -> i64 {
        self.start_unix_ms + (ns / 1_000_000) as i64
    }

    pub fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// The instant `ns` after the start.
    pub fn instant_at(&self, ns: u64) -> Instant {
        self.start + Duration::from_nanos(ns)
    }
}

/// The run's phases on its clock.
#[derive(Debug, Clone, Copy)]
pub struct Phases {
    /// Messages intended before this are warm-up: sent, checked, not measured.
    pub warmup_end_ns: u64,
    /// No message is intended at or after this.
    pub end_ns: u64,
}

impl Phases {
    pub fn is_measured(&self, ns: u64) -> bool {
        ns >= self.warmup_end_ns && ns < self.end_ns
    }
}

/// Counters that only grow. Summed over cores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    /// Messages written to a socket.
    pub sent_messages: u64,
    /// Messages the broker acknowledged without error (with acks=0: written).
    pub acked_messages: u64,
    /// Value bytes of acknowledged messages.
    pub acked_bytes: u64,
    /// Messages whose produce failed (error code, broken connection, no answer).
    pub produce_errors: u64,
    /// Bench messages read by consumers (duplicates included).
    pub consumed_messages: u64,
    pub consumed_bytes: u64,
    /// Fetch requests or partitions that failed.
    pub consume_errors: u64,
    /// A message read again (sequence below the next expected).
    pub duplicates: u64,
    /// Messages skipped over (sequence above the next expected).
    pub missing: u64,
    /// Records whose value is not a bench message.
    pub foreign_records: u64,
}

impl Counters {
    pub fn add(&mut self, other: &Counters) {
        self.sent_messages += other.sent_messages;
        self.acked_messages += other.acked_messages;
        self.acked_bytes += other.acked_bytes;
        self.produce_errors += other.produce_errors;
        self.consumed_messages += other.consumed_messages;
        self.consumed_bytes += other.consumed_bytes;
        self.consume_errors += other.consume_errors;
        self.duplicates += other.duplicates;
        self.missing += other.missing;
        self.foreign_records += other.foreign_records;
    }

    pub fn errors(&self) -> u64 {
        self.produce_errors + self.consume_errors + self.duplicates + self.missing
    }
}

/// One core's measurements.
#[derive(Debug, Default)]
pub struct CoreStats {
    /// Whole run (warm-up included).
    pub totals: Counters,
    /// Since the last tick.
    pub interval: Counters,
    /// Measured part only (intended send time after warm-up).
    pub produce_latency: LatencyHistogram,
    pub end_to_end_latency: LatencyHistogram,
    /// Since the last tick, warm-up included.
    pub interval_produce_latency: LatencyHistogram,
    pub interval_end_to_end_latency: LatencyHistogram,
    /// Acknowledged during the measured window (by acknowledgement time).
    pub measured_acked_messages: u64,
    pub measured_acked_bytes: u64,
    /// Consumed during the measured window (tail) or at any time (catch-up).
    pub measured_consumed_messages: u64,
    pub measured_consumed_bytes: u64,
    /// When the first consumer started fetching, and the first and last time a consumer
    /// received bench records.
    pub consume_started_ns: Option<u64>,
    pub first_consumed_ns: Option<u64>,
    pub last_consumed_ns: Option<u64>,
    /// Error kind → count, at most [`ERROR_KINDS_MAX`] kinds.
    pub error_kinds: BTreeMap<String, u64>,
}

impl CoreStats {
    pub fn count_error(&mut self, kind: impl Into<String>, count: u64) {
        let kind = kind.into();
        if self.error_kinds.len() < ERROR_KINDS_MAX || self.error_kinds.contains_key(&kind) {
            *self.error_kinds.entry(kind).or_default() += count;
        } else {
            *self.error_kinds.entry("other".to_owned()).or_default() += count;
        }
    }

    pub fn add_counters(&mut self, delta: Counters) {
        self.totals.add(&delta);
        self.interval.add(&delta);
    }

    /// Takes the interval figures, leaving them empty.
    pub fn take_interval(&mut self) -> (Counters, LatencyHistogram, LatencyHistogram) {
        let counters = std::mem::take(&mut self.interval);
        let produce = self.interval_produce_latency.clone();
        let end_to_end = self.interval_end_to_end_latency.clone();
        self.interval_produce_latency.reset();
        self.interval_end_to_end_latency.reset();
        (counters, produce, end_to_end)
    }
}

/// One core's second (or the partial second at its end).
#[derive(Debug)]
pub struct IntervalReport {
    pub core: usize,
    /// 1 for the first second of the run.
    pub second: u64,
    pub counters: Counters,
    pub produce_latency: LatencyHistogram,
    pub end_to_end_latency: LatencyHistogram,
}

/// One core's run-long figures.
#[derive(Debug)]
pub struct CoreResult {
    pub core: usize,
    pub stats: CoreStats,
}

/// What cores send the main thread.
#[derive(Debug)]
pub enum CoreMessage {
    Interval(Box<IntervalReport>),
    Finished(Box<CoreResult>),
}

/// The little the cores share: how far producers and consumers have got.
#[derive(Debug, Default)]
pub struct Shared {
    pub acked_messages: AtomicU64,
    pub consumed_messages: AtomicU64,
    pub producers_running: AtomicU64,
    /// Set when the last producer finished: the run clock's time, plus one (0 = not yet).
    pub producers_done_at_ns: AtomicU64,
    /// Stop everything now (a core failed).
    pub abort: AtomicBool,
}

impl Shared {
    pub fn producer_finished(&self, clock: &RunClock) {
        if self.producers_running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.producers_done_at_ns
                .store(clock.now_ns() + 1, Ordering::Release);
        }
    }

    /// When the producers finished, if they have.
    pub fn producers_done_at(&self) -> Option<u64> {
        match self.producers_done_at_ns.load(Ordering::Acquire) {
            0 => None,
            plus_one => Some(plus_one - 1),
        }
    }

    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }
}

/// Runs `future` for at most `limit`; `None` when the time ran out first.
pub async fn within<T>(limit: Duration, future: impl std::future::Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(future.await) }, async {
        glommio::timer::sleep(limit).await;
        None
    })
    .await
}
