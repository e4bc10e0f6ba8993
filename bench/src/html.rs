//! The HTML report: one self-contained file (inline CSS and SVG drawn here, no scripts, no
//! external resources) that opens from disk.
//!
//! Plots: the latency percentile spectrum (x: percentile on a "number of nines" log scale,
//! y: latency on a log scale), throughput per second, and p99 latency per second. Tables: the
//! figures of the summary, delivery and errors, the limits of the machine beside the result
//! when a limits file was given, the broker, the machine and the workload. A comparison puts
//! two runs of the same workload side by side in the same plots.

use std::fmt::Write as _;

use crate::latency::LatencySummary;
use crate::limits::Limits;
use crate::report::{Report, SecondPoint};

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 320.0;
const MARGIN_LEFT: f64 = 78.0;
const MARGIN_RIGHT: f64 = 24.0;
const MARGIN_TOP: f64 = 34.0;
const MARGIN_BOTTOM: f64 = 48.0;
/// Colors of the lines, in order.
const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];
/// The spectrum's x axis ends at 99.9999%.
const SPECTRUM_NINES_MAX: f64 = 6.0;

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// A line of a plot.
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
}

/// How an axis maps values.
#[derive(Clone, Copy)]
enum Scale {
    Linear {
        min: f64,
        max: f64,
    },
    /// log10, between powers of ten.
    Log {
        min_decade: i32,
        max_decade: i32,
    },
}

impl Scale {
    fn fraction(self, value: f64) -> f64 {
        match self {
            Scale::Linear { min, max } => (value - min) / (max - min).max(f64::MIN_POSITIVE),
            Scale::Log {
                min_decade,
                max_decade,
            } => {
                let v = value.max(10f64.powi(min_decade)).log10();
                (v - f64::from(min_decade)) / f64::from((max_decade - min_decade).max(1))
            }
        }
    }

    /// A log scale covering `values` (positive ones), at least one decade.
    fn log_for(values: impl Iterator<Item = f64>) -> Scale {
        let (mut low, mut high) = (f64::MAX, f64::MIN);
        for value in values.filter(|v| *v > 0.0 && v.is_finite()) {
            low = low.min(value);
            high = high.max(value);
        }
        if low > high {
            return Scale::Log {
                min_decade: 0,
                max_decade: 1,
            };
        }
        let min_decade = low.log10().floor() as i32;
        let max_decade = (high.log10().ceil() as i32).max(min_decade + 1);
        Scale::Log {
            min_decade,
            max_decade,
        }
    }

    fn linear_for(values: impl Iterator<Item = f64>) -> Scale {
        let high = values.filter(|v| v.is_finite()).fold(0.0f64, f64::max);
        Scale::Linear {
            min: 0.0,
            max: nice_ceiling(high),
        }
    }

    /// Tick values and labels.
    fn ticks(self, format: &dyn Fn(f64) -> String) -> Vec<(f64, String)> {
        match self {
            Scale::Linear { min, max } => (0..=5)
                .map(|i| {
                    let value = min + (max - min) * f64::from(i) / 5.0;
                    (value, format(value))
                })
                .collect(),
            Scale::Log {
                min_decade,
                max_decade,
            } => (min_decade..=max_decade)
                .map(|decade| {
                    let value = 10f64.powi(decade);
                    (value, format(value))
                })
                .collect(),
        }
    }
}

/// The smallest of 1, 2, 5 × 10^k at or above `value`.
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    for step in [1.0, 2.0, 5.0, 10.0] {
        if step * magnitude >= value {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

/// Latency in µs as a short label (three decimals in ms and s, one in µs).
pub fn format_latency_us(us: f64) -> String {
    latency_label(us, Some((3, 1)))
}

/// An axis tick's latency label: the round value as it is.
fn format_tick_latency(us: f64) -> String {
    latency_label(us, None)
}

/// `us` in s, ms or µs, with the given decimals (for ms and s, for µs) or as many as needed.
fn latency_label(us: f64, decimals: Option<(usize, usize)>) -> String {
    let (value, unit, scaled_decimals) = if us >= 1_000_000.0 {
        (us / 1e6, "s", true)
    } else if us >= 1000.0 {
        (us / 1000.0, "ms", true)
    } else {
        (us, "µs", false)
    };
    match decimals {
        Some((scaled, unscaled)) => {
            let places = if scaled_decimals { scaled } else { unscaled };
            format!("{value:.places$} {unit}")
        }
        None => format!("{value} {unit}"),
    }
}

fn format_number(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.1}k", value / 1e3)
    } else {
        format!("{value:.0}")
    }
}

struct Plot<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    x: Scale,
    y: Scale,
    x_ticks: Vec<(f64, String)>,
    y_ticks: Vec<(f64, String)>,
    /// Shade the x range from the axis start to here (the warm-up).
    shade_until: Option<f64>,
}

fn svg_plot(plot: &Plot, lines: &[Line]) -> String {
    let inner_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
    let inner_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM;
    let px = |x: f64| MARGIN_LEFT + plot.x.fraction(x).clamp(0.0, 1.0) * inner_width;
    let py = |y: f64| MARGIN_TOP + (1.0 - plot.y.fraction(y).clamp(0.0, 1.0)) * inner_height;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{title}">"#,
        title = escape(plot.title)
    );
    let _ = write!(
        svg,
        r#"<text x="{x}" y="20" class="title">{}</text>"#,
        escape(plot.title),
        x = MARGIN_LEFT
    );
    if let Some(until) = plot.shade_until.filter(|until| *until > 0.0) {
        let _ = write!(
            svg,
            r##"<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{w:.1}" height="{inner_height}" fill="#f0f0f0"/><text x="{tx:.1}" y="{ty:.1}" class="tick" text-anchor="middle">warm-up</text>"##,
            w = px(until) - MARGIN_LEFT,
            tx = (MARGIN_LEFT + px(until)) / 2.0,
            ty = HEIGHT - MARGIN_BOTTOM - 6.0
        );
    }
    // Grid and ticks.
    for (value, label) in &plot.y_ticks {
        let y = py(*value);
        let _ = write!(
            svg,
            r#"<line x1="{MARGIN_LEFT}" y1="{y:.1}" x2="{x2:.1}" y2="{y:.1}" class="grid"/><text x="{tx:.1}" y="{ty:.1}" class="tick" text-anchor="end">{}</text>"#,
            escape(label),
            x2 = WIDTH - MARGIN_RIGHT,
            tx = MARGIN_LEFT - 6.0,
            ty = y + 4.0
        );
    }
    for (value, label) in &plot.x_ticks {
        let x = px(*value);
        let _ = write!(
            svg,
            r#"<line x1="{x:.1}" y1="{MARGIN_TOP}" x2="{x:.1}" y2="{y2:.1}" class="grid"/><text x="{x:.1}" y="{ty:.1}" class="tick" text-anchor="middle">{}</text>"#,
            escape(label),
            y2 = HEIGHT - MARGIN_BOTTOM,
            ty = HEIGHT - MARGIN_BOTTOM + 16.0
        );
    }
    let _ = write!(
        svg,
        r#"<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{inner_width}" height="{inner_height}" class="frame"/>"#
    );
    let _ = write!(
        svg,
        r#"<text x="{x:.1}" y="{y:.1}" class="axis" text-anchor="middle">{}</text>"#,
        escape(plot.x_label),
        x = MARGIN_LEFT + inner_width / 2.0,
        y = HEIGHT - 8.0
    );
    let _ = write!(
        svg,
        r#"<text x="14" y="{y:.1}" class="axis" text-anchor="middle" transform="rotate(-90 14 {y:.1})">{}</text>"#,
        escape(plot.y_label),
        y = MARGIN_TOP + inner_height / 2.0
    );
    for (index, line) in lines.iter().enumerate() {
        let color = COLORS[index % COLORS.len()];
        if line.points.is_empty() {
            continue;
        }
        let points: Vec<String> = line
            .points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{}/>"#,
            points.join(" "),
            if line.dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            }
        );
        // Legend.
        let legend_y = MARGIN_TOP + 14.0 + 16.0 * index as f64;
        let legend_x = MARGIN_LEFT + 10.0;
        let _ = write!(
            svg,
            r#"<line x1="{legend_x}" y1="{ly:.1}" x2="{lx2}" y2="{ly:.1}" stroke="{color}" stroke-width="3"/><text x="{tx}" y="{ty:.1}" class="legend">{}</text>"#,
            escape(&line.label),
            ly = legend_y - 4.0,
            lx2 = legend_x + 18.0,
            tx = legend_x + 24.0,
            ty = legend_y
        );
    }
    svg.push_str("</svg>");
    svg
}

/// x position of a percentile on the spectrum axis: its "number of nines".
fn nines(percentile: f64) -> f64 {
    let remaining = (1.0 - percentile / 100.0).max(10f64.powf(-SPECTRUM_NINES_MAX));
    -remaining.log10()
}

/// The latency percentile spectrum of several distributions.
pub fn spectrum_plot(title: &str, series: &[(String, &LatencySummary)]) -> String {
    let lines: Vec<Line> = series
        .iter()
        .map(|(label, summary)| Line {
            label: label.clone(),
            points: summary
                .spectrum
                .iter()
                .filter(|(percentile, _)| *percentile < 100.0)
                .map(|(percentile, us)| (nines(*percentile), *us))
                .collect(),
            dashed: false,
        })
        .collect();
    let y = Scale::log_for(lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)));
    let x = Scale::Linear {
        min: 0.0,
        max: SPECTRUM_NINES_MAX,
    };
    let x_ticks = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"]
        .iter()
        .enumerate()
        .map(|(i, label)| (i as f64, (*label).to_owned()))
        .collect();
    svg_plot(
        &Plot {
            title,
            x_label: "percentile (log scale of 1/(1-p))",
            y_label: "latency",
            x,
            y,
            x_ticks,
            y_ticks: y.ticks(&format_tick_latency),
            shade_until: None,
        },
        &lines,
    )
}

/// A per-second plot with a linear y axis (throughput) or a log one (latency).
pub fn time_plot(
    title: &str,
    y_label: &str,
    lines: &[Line],
    log_latency: bool,
    warmup_seconds: f64,
) -> String {
    let last_second = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .fold(1.0f64, f64::max);
    let x = Scale::Linear {
        min: 0.0,
        max: last_second.ceil(),
    };
    let values = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1));
    let (y, y_ticks) = if log_latency {
        let y = Scale::log_for(values);
        (y, y.ticks(&format_tick_latency))
    } else {
        let y = Scale::linear_for(values);
        (y, y.ticks(&|v| format_number(v)))
    };
    let x_ticks = x.ticks(&|v| format!("{v:.0}"));
    svg_plot(
        &Plot {
            title,
            x_label: "seconds since start",
            y_label,
            x,
            y,
            x_ticks,
            y_ticks,
            shade_until: Some(warmup_seconds),
        },
        lines,
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1600px}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}\
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 9px;text-align:right}\
th{background:#f2f2f2}td.l,th.l{text-align:left}.bad{color:#b00;font-weight:bold}.good{color:#070}\
pre{background:#f7f7f7;padding:8px;border:1px solid #ddd;overflow:auto}\
.plots{display:flex;flex-wrap:wrap;gap:12px}\
svg.plot{background:#fff;border:1px solid #ddd}svg .grid{stroke:#e5e5e5}svg .frame{fill:none;stroke:#999}\
svg .tick{font-size:11px;fill:#555}svg .axis{font-size:12px;fill:#333}svg .title{font-size:14px;font-weight:bold}\
svg .legend{font-size:12px;fill:#222}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n",
        escape(title)
    )
}

fn latency_rows(out: &mut String, label: &str, summary: &LatencySummary) {
    let _ = write!(
        out,
        "<tr><td class=\"l\">{}</td><td>{}</td>",
        escape(label),
        summary.count
    );
    for value in [
        summary.p50_us,
        summary.p90_us,
        summary.p99_us,
        summary.p999_us,
        summary.p9999_us,
        summary.max_us,
        summary.mean_us,
    ] {
        let _ = write!(out, "<td>{}</td>", format_latency_us(value));
    }
    out.push_str("</tr>");
}

const LATENCY_HEADER: &str = "<tr><th class=\"l\">latency</th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>p99.99</th><th>max</th><th>mean</th></tr>";

fn fraction(value: f64, limit: f64) -> String {
    if limit > 0.0 {
        format!("{:.1}%", 100.0 * value / limit)
    } else {
        "n/a".to_owned()
    }
}

fn limits_table(out: &mut String, report: &Report, limits: &Limits) {
    out.push_str("<h2>Against the machine's limits</h2><table><tr><th class=\"l\">figure</th><th>result</th><th class=\"l\">limit</th><th>limit value</th><th>fraction</th></tr>");
    let mut row = |figure: &str, result: String, limit: &str, value: String, frac: String| {
        let _ = write!(
            out,
            "<tr><td class=\"l\">{}</td><td>{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td></tr>",
            escape(figure),
            escape(&result),
            escape(limit),
            escape(&value),
            escape(&frac)
        );
    };
    if let Some(disk) = &limits.disk {
        row(
            "produce throughput (message values)",
            format!("{:.1} MB/s", report.produce.megabytes_per_second),
            "disk O_DIRECT sequential write (fio)",
            format!("{:.1} MB/s", disk.sequential_write_megabytes_per_second),
            fraction(
                report.produce.megabytes_per_second,
                disk.sequential_write_megabytes_per_second,
            ),
        );
        row(
            "produce p99 latency",
            format_latency_us(report.produce_latency.p99_us),
            "fdatasync write p99 (fio)",
            format_latency_us(disk.fdatasync_p99_us),
            if disk.fdatasync_p99_us > 0.0 {
                format!(
                    "{:.1}x",
                    report.produce_latency.p99_us / disk.fdatasync_p99_us
                )
            } else {
                "n/a".into()
            },
        );
    }
    if let Some(loopback) = &limits.loopback {
        row(
            "produce throughput (message values)",
            format!("{:.1} MB/s", report.produce.megabytes_per_second),
            "loopback TCP bandwidth",
            format!("{:.1} MB/s", loopback.megabytes_per_second),
            fraction(
                report.produce.megabytes_per_second,
                loopback.megabytes_per_second,
            ),
        );
        if report.consume.messages > 0 {
            row(
                "consume throughput (message values)",
                format!("{:.1} MB/s", report.consume.megabytes_per_second),
                "loopback TCP bandwidth",
                format!("{:.1} MB/s", loopback.megabytes_per_second),
                fraction(
                    report.consume.megabytes_per_second,
                    loopback.megabytes_per_second,
                ),
            );
        }
    }
    if let Some(sink) = &limits.sink {
        row(
            "produce throughput (messages)",
            format!("{:.0} msg/s", report.produce.messages_per_second),
            "bench ceiling against its discarding sink",
            format!(
                "{:.0} msg/s ({} B)",
                sink.messages_per_second, sink.message_bytes
            ),
            fraction(report.produce.messages_per_second, sink.messages_per_second),
        );
    }
    out.push_str("</table>");
}

fn info_tables(out: &mut String, report: &Report) {
    let m = &report.machine;
    let b = &report.broker;
    let _ = write!(
        out,
        "<h2>Broker and machine</h2><table>\
<tr><th class=\"l\">broker</th><td class=\"l\">{}</td></tr>\
<tr><th class=\"l\">cluster id</th><td class=\"l\">{}</td></tr>\
<tr><th class=\"l\">APIs</th><td class=\"l\">{}</td></tr>\
<tr><th class=\"l\">machine</th><td class=\"l\">{} — {}, {} cores, {:.1} GiB, kernel {}, load average {:.2} at the start</td></tr>\
<tr><th class=\"l\">bench cores</th><td class=\"l\">{:?}</td></tr>\
<tr><th class=\"l\">topics</th><td class=\"l\">{}</td></tr>\
<tr><th class=\"l\">run id</th><td class=\"l\">{} (started at unix {})</td></tr></table>",
        escape(&b.bootstrap),
        escape(b.cluster_id.as_deref().unwrap_or("-")),
        escape(&b.api_versions.join(", ")),
        escape(&m.hostname),
        escape(&m.cpu_model),
        m.cores,
        m.memory_bytes as f64 / (1u64 << 30) as f64,
        escape(&m.kernel),
        m.load_average_1m,
        report.bench_cores,
        escape(&report.topics.join(", ")),
        escape(&report.run_id),
        report.started_at_unix_seconds
    );
}

fn summary_tables(out: &mut String, reports: &[(String, &Report)]) {
    out.push_str("<h2>Throughput (measured part)</h2><table><tr><th class=\"l\">run</th><th class=\"l\">direction</th><th>msg/s</th><th>MB/s</th><th>messages</th><th>seconds</th></tr>");
    for (label, report) in reports {
        for (direction, figures) in [
            ("produce (acknowledged)", &report.produce),
            ("consume", &report.consume),
        ] {
            let _ = write!(
                out,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{direction}</td><td>{:.0}</td><td>{:.2}</td><td>{}</td><td>{:.2}</td></tr>",
                escape(label),
                figures.messages_per_second,
                figures.megabytes_per_second,
                figures.messages,
                figures.seconds
            );
        }
    }
    out.push_str("</table><h2>Latency (from the intended send time)</h2><table>");
    out.push_str(LATENCY_HEADER);
    for (label, report) in reports {
        latency_rows(
            out,
            &format!("{label}: produce send→ack"),
            &report.produce_latency,
        );
        latency_rows(
            out,
            &format!("{label}: end-to-end"),
            &report.end_to_end_latency,
        );
    }
    out.push_str("</table><h2>Delivery and errors</h2><table><tr><th class=\"l\">run</th><th>acknowledged</th><th>consumed</th><th>duplicates</th><th>missing</th><th>unconsumed</th><th>produce errors</th><th>consume errors</th><th class=\"l\">verdict</th></tr>");
    for (label, report) in reports {
        let d = &report.delivery;
        let verdict = if !d.checked {
            "<td class=\"l\">not checked (no consumers)</td>".to_owned()
        } else if d.exactly_once {
            "<td class=\"l good\">exactly once</td>".to_owned()
        } else {
            "<td class=\"l bad\">NOT exactly once</td>".to_owned()
        };
        let _ = write!(
            out,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{verdict}</tr>",
            escape(label),
            d.acknowledged,
            d.consumed,
            d.duplicates,
            d.missing,
            d.unconsumed,
            report.totals.produce_errors,
            report.totals.consume_errors
        );
    }
    out.push_str("</table>");
    for (label, report) in reports {
        if report.errors.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "<p class=\"bad\">{}: errors by kind</p><table><tr><th>count</th><th class=\"l\">kind</th></tr>",
            escape(label)
        );
        for (kind, count) in &report.errors {
            let _ = write!(
                out,
                "<tr><td>{count}</td><td class=\"l\">{}</td></tr>",
                escape(kind)
            );
        }
        out.push_str("</table>");
    }
}

fn plots(out: &mut String, reports: &[(String, &Report)]) {
    let single = reports.len() == 1;
    let name = |label: &str, what: &str| {
        if single {
            what.to_owned()
        } else {
            format!("{label}: {what}")
        }
    };
    let mut spectrum = Vec::new();
    for (label, report) in reports {
        spectrum.push((name(label, "produce"), &report.produce_latency));
        if report.end_to_end_latency.count > 0 {
            spectrum.push((name(label, "end-to-end"), &report.end_to_end_latency));
        }
    }
    let mut throughput = Vec::new();
    let mut p99 = Vec::new();
    for (label, report) in reports {
        let run_end = (report.workload.run.warmup_seconds + report.workload.run.duration_seconds)
            .ceil() as u64;
        let in_run: Vec<&SecondPoint> = report
            .series
            .iter()
            .filter(|p| p.second <= run_end)
            .collect();
        throughput.push(Line {
            label: name(label, "produce acknowledged MB/s"),
            points: in_run
                .iter()
                .map(|p| (p.second as f64, p.acked_bytes as f64 / 1e6))
                .collect(),
            dashed: false,
        });
        if report.delivery.checked {
            throughput.push(Line {
                label: name(label, "consumed MB/s"),
                points: in_run
                    .iter()
                    .map(|p| (p.second as f64, p.consumed_bytes as f64 / 1e6))
                    .collect(),
                dashed: true,
            });
        }
        p99.push(Line {
            label: name(label, "produce p99"),
            points: in_run
                .iter()
                .filter(|p| p.produce_p99_us > 0.0)
                .map(|p| (p.second as f64, p.produce_p99_us))
                .collect(),
            dashed: false,
        });
        if report.delivery.checked {
            p99.push(Line {
                label: name(label, "end-to-end p99"),
                points: in_run
                    .iter()
                    .filter(|p| p.end_to_end_p99_us > 0.0)
                    .map(|p| (p.second as f64, p.end_to_end_p99_us))
                    .collect(),
                dashed: true,
            });
        }
    }
    out.push_str(
        "<p>Per-second plots cover the run (warm-up shaded); the seconds after it, while the \
         last answers and records arrive, are in the JSON series.</p><div class=\"plots\">",
    );
    out.push_str(&spectrum_plot("Latency percentile spectrum", &spectrum));
    let warmup = reports
        .first()
        .map_or(0.0, |(_, r)| r.workload.run.warmup_seconds);
    out.push_str(&time_plot(
        "Throughput per second",
        "MB/s",
        &throughput,
        false,
        warmup,
    ));
    out.push_str(&time_plot(
        "p99 latency per second",
        "latency",
        &p99,
        true,
        warmup,
    ));
    out.push_str("</div>");
}

/// The HTML report of one run.
pub fn render_report(report: &Report) -> String {
    let limits = report.limits.as_ref();
    let mut out = String::new();
    let w = &report.workload;
    let _ = write!(
        out,
        "<h1>ferrite-bench: {} against {}</h1><p>{} topic(s) × {} partition(s), {:.0}-byte messages, acks={}, {} producer(s), {} consumer(s) ({:?}), rate {}, warm-up {} s, measured {} s. Latency counts from each message's intended send time (open loop, no coordinated omission).</p>",
        escape(&w.name),
        escape(&report.broker.bootstrap),
        w.topics.count,
        w.topics.partitions,
        w.message.size.mean(),
        w.producer.acks,
        w.producer.count,
        w.consumer.count,
        w.consumer.mode,
        escape(&w.producer.rate.to_string()),
        w.run.warmup_seconds,
        w.run.duration_seconds
    );
    if report.interrupted {
        let _ = write!(
            out,
            "<p class=\"bad\">Interrupted: the figures cover the {:.1} s that were measured.</p>",
            report.produce.seconds
        );
    }
    let reports = [(String::from("run"), report)];
    plots(&mut out, &reports);
    summary_tables(&mut out, &reports);
    if let Some(limits) = limits {
        limits_table(&mut out, report, limits);
    }
    info_tables(&mut out, report);
    let _ = write!(
        out,
        "<h2>Workload</h2><pre>{}</pre>",
        escape(&report.workload.to_toml())
    );
    page(&format!("ferrite-bench {}", w.name), &out)
}

/// Two runs of one workload side by side.
pub fn render_comparison(runs: &[(String, Report)]) -> String {
    let mut out = String::new();
    let name = runs
        .first()
        .map_or("comparison".to_owned(), |(_, r)| r.workload.name.clone());
    let _ = write!(
        out,
        "<h1>ferrite-bench comparison: {}</h1><p>The same workload against {}, one after the other.</p>",
        escape(&name),
        escape(
            &runs
                .iter()
                .map(|(label, report)| format!("{label} ({})", report.broker.bootstrap))
                .collect::<Vec<_>>()
                .join(" and ")
        )
    );
    let reports: Vec<(String, &Report)> = runs.iter().map(|(l, r)| (l.clone(), r)).collect();
    plots(&mut out, &reports);
    summary_tables(&mut out, &reports);
    for (label, report) in &reports {
        if let Some(limits) = &report.limits {
            let _ = write!(out, "<h2>{}</h2>", escape(label));
            limits_table(&mut out, report, limits);
        }
        let _ = write!(out, "<h2>{}: broker and machine</h2>", escape(label));
        info_tables(&mut out, report);
    }
    if let Some((_, report)) = runs.first() {
        let _ = write!(
            out,
            "<h2>Workload</h2><pre>{}</pre>",
            escape(&report.workload.to_toml())
        );
    }
    page(&format!("ferrite-bench comparison {name}"), &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_labels_pick_the_unit_and_precision() {
        assert_eq!(format_latency_us(12.34), "12.3 µs");
        assert_eq!(format_latency_us(1_500.0), "1.500 ms");
        assert_eq!(format_latency_us(2_500_000.0), "2.500 s");
        assert_eq!(format_tick_latency(2_000.0), "2 ms");
        assert_eq!(format_tick_latency(500.0), "500 µs");
        assert_eq!(format_tick_latency(1_000_000.0), "1 s");
    }
}
