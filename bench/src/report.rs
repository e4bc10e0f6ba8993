//! The run's results: the JSON report (every figure) and the summary table printed at the end.
//!
//! [`Report`] is the one document every output is made from; it serializes to JSON and back
//! unchanged, so reports can be compared or re-rendered later.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::admin::BrokerInfo;
use crate::latency::LatencySummary;
use crate::limits::Limits;
use crate::machine::Machine;
use crate::stats::Counters;
use crate::workload::Workload;

/// Format version of the JSON report.
pub const REPORT_FORMAT_VERSION: u32 = 1;

/// Everything a run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub format_version: u32,
    pub bench_version: String,
    pub run_id: String,
    /// Unix seconds at the start.
    pub started_at_unix_seconds: u64,
    pub workload: Workload,
    pub broker: BrokerInfo,
    pub machine: Machine,
    /// Cores the bench ran on.
    pub bench_cores: Vec<usize>,
    pub topics: Vec<String>,
    pub produce: ThroughputSummary,
    pub consume: ThroughputSummary,
    /// Send (intended) to acknowledgement, measured part.
    pub produce_latency: LatencySummary,
    /// Intended send to consumer receipt, measured part.
    pub end_to_end_latency: LatencySummary,
    /// Whole-run counters, warm-up included.
    pub totals: Counters,
    pub delivery: Delivery,
    /// Error kind → count.
    pub errors: std::collections::BTreeMap<String, u64>,
    pub series: Vec<SecondPoint>,
    /// The machine's limits, when a limits file was given (see [`crate::limits`]).
    #[serde(default)]
    pub limits: Option<Limits>,
    /// The run was stopped early (Ctrl-C): figures cover the part that ran.
    #[serde(default)]
    pub interrupted: bool,
}

/// Throughput over the measured window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThroughputSummary {
    pub messages: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub messages_per_second: f64,
    pub megabytes_per_second: f64,
}

impl ThroughputSummary {
    pub fn new(messages: u64, bytes: u64, seconds: f64) -> ThroughputSummary {
        let seconds_positive = seconds.max(1e-9);
        ThroughputSummary {
            messages,
            bytes,
            seconds,
            messages_per_second: messages as f64 / seconds_positive,
            megabytes_per_second: bytes as f64 / 1e6 / seconds_positive,
        }
    }
}

/// Whether every acknowledged message was consumed exactly once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub acknowledged: u64,
    /// Each subscription reads every acknowledged message once.
    #[serde(default)]
    pub subscriptions: u64,
    pub consumed: u64,
    pub duplicates: u64,
    pub missing: u64,
    /// Acknowledged but never read, summed over subscriptions (consumers stopped first).
    pub unconsumed: u64,
    /// Consumers ran (with none, delivery is not checked).
    pub checked: bool,
    pub exactly_once: bool,
}

/// One second of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SecondPoint {
    /// Seconds since the start, 1 for the first.
    pub second: u64,
    pub warmup: bool,
    pub acked_messages: u64,
    pub acked_bytes: u64,
    pub consumed_messages: u64,
    pub consumed_bytes: u64,
    pub errors: u64,
    pub produce_p50_us: f64,
    pub produce_p99_us: f64,
    pub produce_max_us: f64,
    pub end_to_end_p99_us: f64,
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serializes")
    }

    pub fn from_json(text: &str) -> Result<Report, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Whether anything went wrong (errors, or an incomplete delivery).
    pub fn error_count(&self) -> u64 {
        self.totals.errors() + self.delivery.unconsumed
    }

    /// The summary table printed at the end of a run.
    pub fn summary_table(&self) -> String {
        let mut out = String::new();
        let w = &self.workload;
        let _ = writeln!(
            out,
            "\n== {} against {} ({} topic(s) x {} partition(s), {:.0} B messages, acks={}, rate {})",
            w.name,
            self.broker.bootstrap,
            w.topics.count,
            w.topics.partitions,
            w.message.size.mean(),
            w.producer.acks,
            w.producer.rate
        );
        let _ = writeln!(
            out,
            "{:<22}{:>12}{:>12}{:>14}",
            "throughput", "msg/s", "MB/s", "messages"
        );
        for (name, figures) in [
            ("produce (acked)", &self.produce),
            ("consume", &self.consume),
        ] {
            let _ = writeln!(
                out,
                "{:<22}{:>12.0}{:>12.2}{:>14}",
                name, figures.messages_per_second, figures.megabytes_per_second, figures.messages
            );
        }
        let _ = writeln!(
            out,
            "{:<22}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>12}",
            "latency (ms)", "p50", "p90", "p99", "p99.9", "p99.99", "max", "mean", "count"
        );
        for (name, latency) in [
            ("produce send->ack", &self.produce_latency),
            ("end-to-end", &self.end_to_end_latency),
        ] {
            let _ = writeln!(
                out,
                "{:<22}{:>10.3}{:>10.3}{:>10.3}{:>10.3}{:>10.3}{:>10.3}{:>10.3}{:>12}",
                name,
                latency.p50_us / 1000.0,
                latency.p90_us / 1000.0,
                latency.p99_us / 1000.0,
                latency.p999_us / 1000.0,
                latency.p9999_us / 1000.0,
                latency.max_us / 1000.0,
                latency.mean_us / 1000.0,
                latency.count
            );
        }
        let d = &self.delivery;
        let _ = writeln!(
            out,
            "delivery: {} acknowledged, {} consumed by {} subscription(s), {} duplicates, {} missing, {} unconsumed{}",
            d.acknowledged,
            d.consumed,
            d.subscriptions,
            d.duplicates,
            d.missing,
            d.unconsumed,
            if !d.checked {
                " (not checked: no consumers)"
            } else if d.exactly_once {
                " -> exactly once"
            } else {
                " -> NOT exactly once"
            }
        );
        let t = &self.totals;
        let _ = writeln!(
            out,
            "errors: {} (produce {}, consume {})",
            self.error_count(),
            t.produce_errors,
            t.consume_errors
        );
        for (kind, count) in &self.errors {
            let _ = writeln!(out, "  {count:>10}  {kind}");
        }
        if self.interrupted {
            let _ = writeln!(
                out,
                "interrupted: the figures cover the {:.1} s that were measured",
                self.produce.seconds
            );
        }
        out
    }
}

/// Runs of one workload against different brokers (`ferrite-bench compare`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub runs: Vec<LabeledReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabeledReport {
    pub label: String,
    pub report: Report,
}

impl Comparison {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a comparison serializes")
    }

    pub fn from_json(text: &str) -> Result<Comparison, serde_json::Error> {
        serde_json::from_str(text)
    }
}
