//! Latency histograms: HdrHistogram in nanoseconds, recorded from the *intended* send time.
//!
//! Coordinated omission: a load generator that waits for a slow reply before sending the next
//! request stops measuring exactly while the system is slow, and its percentiles hide the
//! stall. The bench is open-loop: every message has an intended send time fixed by the target
//! rate before the run starts, and its latency is `completion - intended send time`. A stall
//! therefore shows up in every message that should have been sent during it, including the
//! ones the producer could not send because it was waiting. [`LatencyHistogram::record_span`]
//! is that recording; [`LatencyHistogram::record_corrected`] is HdrHistogram's back-filling
//! correction, for the closed-loop (unthrottled) case where no schedule exists.
//!
//! Bounds: values from 1 ns to [`LATENCY_NS_MAX`] at 3 significant digits (about 200 KiB per
//! histogram); larger values are clamped to the maximum and counted in `clamped`.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Largest latency recorded as itself (one hour).
pub const LATENCY_NS_MAX: u64 = 3_600_000_000_000;

/// The percentiles every summary reports.
pub const SUMMARY_PERCENTILES: [f64; 5] = [50.0, 90.0, 99.0, 99.9, 99.99];

/// One latency distribution. Owned by one core; merged on the main thread at the end.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    histogram: Histogram<u64>,
    clamped: u64,
}

/// A distribution reduced to the figures a report shows, in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub min_us: f64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub p9999_us: f64,
    pub max_us: f64,
    /// Values above the histogram's range, recorded as its maximum.
    pub clamped: u64,
    /// (percentile, latency in µs) from 0 to 100, for the percentile-spectrum plot.
    pub spectrum: Vec<(f64, f64)>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    pub fn new() -> LatencyHistogram {
        LatencyHistogram {
            histogram: Histogram::new_with_bounds(1, LATENCY_NS_MAX, 3)
                .expect("constant histogram bounds are valid"),
            clamped: 0,
        }
    }

    /// Records one latency.
    pub fn record_ns(&mut self, latency_ns: u64) {
        self.record_n(latency_ns, 1);
    }

    /// Records `count` occurrences of one latency.
    pub fn record_n(&mut self, latency_ns: u64, count: u64) {
        if latency_ns > LATENCY_NS_MAX {
            self.clamped += count;
        }
        let value = latency_ns.clamp(1, LATENCY_NS_MAX);
        self.histogram
            .record_n(value, count)
            .expect("a clamped value is within the histogram's bounds");
    }

    /// Records the latency of an operation that was meant to start at `intended_ns` and
    /// completed at `completed_ns` (both on the run's clock): the open-loop measurement.
    pub fn record_span(&mut self, intended_ns: u64, completed_ns: u64) {
        self.record_ns(completed_ns.saturating_sub(intended_ns));
    }

    /// Records `latency_ns` of a closed-loop operation expected every `interval_ns`, adding
    /// the operations a stall kept from being issued (HdrHistogram's correction).
    pub fn record_corrected(&mut self, latency_ns: u64, interval_ns: u64) {
        if latency_ns > LATENCY_NS_MAX {
            self.clamped += 1;
        }
        let value = latency_ns.clamp(1, LATENCY_NS_MAX);
        self.histogram
            .record_correct(value, interval_ns)
            .expect("a clamped value is within the histogram's bounds");
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        self.histogram
            .add(&other.histogram)
            .expect("histograms with the same bounds merge");
        self.clamped += other.clamped;
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// The latency at `percentile` (0-100), in microseconds; 0 when empty.
    pub fn percentile_us(&self, percentile: f64) -> f64 {
        if self.is_empty() {
            return 0.0;
        }
        self.histogram.value_at_quantile(percentile / 100.0) as f64 / 1000.0
    }

    pub fn max_us(&self) -> f64 {
        if self.is_empty() {
            return 0.0;
        }
        self.histogram.max() as f64 / 1000.0
    }

    pub fn reset(&mut self) {
        self.histogram.reset();
        self.clamped = 0;
    }

    /// The figures reports show.
    pub fn summary(&self) -> LatencySummary {
        if self.is_empty() {
            return LatencySummary::default();
        }
        let [p50, p90, p99, p999, p9999] = SUMMARY_PERCENTILES.map(|p| self.percentile_us(p));
        LatencySummary {
            count: self.count(),
            min_us: self.histogram.min() as f64 / 1000.0,
            mean_us: self.histogram.mean() / 1000.0,
            p50_us: p50,
            p90_us: p90,
            p99_us: p99,
            p999_us: p999,
            p9999_us: p9999,
            max_us: self.max_us(),
            clamped: self.clamped,
            spectrum: self.spectrum(),
        }
    }

    /// Latency at percentiles spaced evenly on the "number of nines" axis (0, 50, 75, 87.5,
    /// ... up to 99.9999 and 100), the x axis of a percentile-spectrum plot.
    pub fn spectrum(&self) -> Vec<(f64, f64)> {
        let mut points = Vec::new();
        // Five points per halving of the remaining tail, down to one in a million.
        let steps_per_halving = 5;
        let mut step = 0;
        loop {
            let remaining = 0.5f64.powf(f64::from(step) / f64::from(steps_per_halving));
            let percentile = 100.0 * (1.0 - remaining);
            if remaining < 1e-6 {
                break;
            }
            points.push((percentile, self.percentile_us(percentile)));
            step += 1;
        }
        points.push((100.0, self.max_us()));
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_adds_counts_and_keeps_extremes() {
        let mut fast = LatencyHistogram::new();
        let mut slow = LatencyHistogram::new();
        for _ in 0..900 {
            fast.record_ns(100_000);
        }
        for _ in 0..100 {
            slow.record_ns(10_000_000);
        }
        slow.record_ns(LATENCY_NS_MAX * 2);
        fast.merge(&slow);
        assert_eq!(fast.count(), 1001);
        assert_eq!(fast.summary().clamped, 1);
        let p50 = fast.percentile_us(50.0);
        assert!((99.0..=101.0).contains(&p50), "p50 {p50}");
        let p95 = fast.percentile_us(95.0);
        assert!((9_990.0..=10_010.0).contains(&p95), "p95 {p95}");
        assert!(fast.max_us() >= LATENCY_NS_MAX as f64 / 1000.0 * 0.999);
    }

    /// A 100 ms stall in a 1 ms open-loop schedule: every message meant to go out during the
    /// stall waits for it, so about 10% of 1000 messages are slow, not 1 in 1000.
    #[test]
    fn recording_from_the_intended_time_sees_the_whole_stall() {
        let interval_ns = 1_000_000;
        let service_ns = 50_000;
        let stall_at = 500;
        let stall_ns = 100_000_000;
        let mut open_loop = LatencyHistogram::new();
        let mut naive = LatencyHistogram::new();
        let mut server_free_ns = 0u64;
        for index in 0..1000u64 {
            let intended = index * interval_ns;
            let start = intended.max(server_free_ns);
            let service = if index == stall_at {
                stall_ns
            } else {
                service_ns
            };
            let completed = start + service;
            server_free_ns = completed;
            open_loop.record_span(intended, completed);
            naive.record_ns(completed - start);
        }
        // The naive measurement sees one slow message: p99 is the service time.
        assert!(naive.percentile_us(99.0) < 100.0);
        // The open-loop one sees the messages queued behind the stall.
        assert!(open_loop.percentile_us(95.0) > 40_000.0);
        assert!(open_loop.percentile_us(85.0) < 100.0);
        assert!(open_loop.max_us() >= 99_000.0);

        // HdrHistogram's back-filling correction of the naive closed-loop figure agrees.
        let mut corrected = LatencyHistogram::new();
        corrected.record_corrected(stall_ns, interval_ns);
        for _ in 0..999 {
            corrected.record_corrected(service_ns, interval_ns);
        }
        assert!(
            corrected.count() >= 1090,
            "back-filled {}",
            corrected.count()
        );
        assert!(corrected.percentile_us(95.0) > 40_000.0);
    }

    #[test]
    fn summary_percentiles_are_ordered_and_spectrum_rises() {
        let mut histogram = LatencyHistogram::new();
        for value in 1..=100_000u64 {
            histogram.record_ns(value * 1000);
        }
        let summary = histogram.summary();
        let ordered = [
            summary.min_us,
            summary.p50_us,
            summary.p90_us,
            summary.p99_us,
            summary.p999_us,
            summary.p9999_us,
            summary.max_us,
        ];
        assert!(
            ordered.windows(2).all(|pair| pair[0] <= pair[1]),
            "{ordered:?}"
        );
        assert!((summary.p99_us - 99_000.0).abs() < 100.0);
        assert!(summary
            .spectrum
            .windows(2)
            .all(|pair| pair[0].0 < pair[1].0 && pair[0].1 <= pair[1].1));
        assert_eq!(summary.spectrum.last().unwrap().0, 100.0);
        assert_eq!(LatencyHistogram::new().summary(), LatencySummary::default());
    }
}
