//! The discarding sink, and the reports made from a real (short) run against it.

use bench::html::{format_latency_us, render_comparison, render_report};
use bench::limits::{DiskLimits, Limits, LoopbackLimits, SinkLimits};
use bench::report::{Comparison, LabeledReport, Report};
use bench::runner::{default_cores, run, RunOptions};
use bench::sink::{self, SinkOptions};
use bench::workload::{Rate, SizeSpec, Workload};

fn sink_options() -> SinkOptions {
    SinkOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        core: default_cores()[0],
        io_memory_bytes: 64 * 1024,
    }
}

fn produce_only_run(bootstrap: String) -> Report {
    let workload = Workload {
        name: "sink-test".into(),
        ..Workload::default()
    };
    let mut workload = workload;
    workload.topics.partitions = 4;
    workload.message.size = SizeSpec::Fixed(1024);
    workload.producer.rate = Rate::MessagesPerSecond(5000.0);
    workload.producer.batch_bytes = 16 * 1024;
    workload.consumer.count = 0;
    workload.run.warmup_seconds = 0.1;
    workload.run.duration_seconds = 0.6;
    run(
        &workload,
        &RunOptions {
            bootstrap,
            cores: default_cores(),
            io_memory_bytes: 64 * 1024,
            progress: false,
        },
    )
    .expect("a run against the sink completes")
}

#[test]
fn the_sink_acknowledges_every_produce() {
    let mut sink = sink::start(sink_options()).unwrap();
    let report = produce_only_run(sink.addr().to_string());
    sink.stop();
    assert_eq!(report.totals.produce_errors, 0, "{:?}", report.errors);
    assert_eq!(report.error_count(), 0, "{}", report.summary_table());
    // 5000 msg/s for 0.7 s.
    let acked = report.delivery.acknowledged;
    assert!((3300..=3600).contains(&acked), "acknowledged {acked}");
    assert!(
        !report.delivery.checked,
        "no consumers: delivery is not checked"
    );
    assert_eq!(
        report.broker.cluster_id.as_deref(),
        Some("ferrite-bench-sink")
    );
}

#[test]
fn a_sink_refuses_a_port_in_use() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut options = sink_options();
    options.listen = holder.local_addr().unwrap();
    let error = sink::start(options).err().expect("the port is taken");
    assert!(format!("{error:#}").contains("cannot listen"), "{error:#}");
}

#[test]
fn reports_round_trip_and_render_plots_and_figures() {
    let mut sink = sink::start(sink_options()).unwrap();
    let mut report = produce_only_run(sink.addr().to_string());
    sink.stop();

    // JSON round-trips exactly.
    let json = report.to_json();
    assert_eq!(Report::from_json(&json).unwrap(), report);

    // HTML without limits: plots, figures, nothing external.
    let html = render_report(&report);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 3, "three plots");
    for title in [
        "Latency percentile spectrum",
        "Throughput per second",
        "p99 latency per second",
    ] {
        assert!(html.contains(title), "{title}");
    }
    assert!(html.contains(&format_latency_us(report.produce_latency.p99_us)));
    assert!(html.contains(&format!("{:.0}", report.produce.messages_per_second)));
    assert!(html.contains(&report.broker.bootstrap));
    assert!(html.contains("<polyline"));
    assert!(!html.contains("<script"));
    assert!(!html.contains("http://") || html.matches("http://").count() == 3); // SVG namespaces only
    assert!(!html.contains("Against the machine's limits"));

    // With limits: the fractions appear.
    report.limits = Some(Limits {
        measured_at_unix_seconds: 1,
        disk: Some(DiskLimits {
            sequential_write_megabytes_per_second: report.produce.megabytes_per_second * 4.0,
            fdatasync_p99_us: 1000.0,
            ..Default::default()
        }),
        loopback: Some(LoopbackLimits {
            megabytes_per_second: 5000.0,
            seconds: 1.0,
            ..Default::default()
        }),
        sink: Some(SinkLimits {
            messages_per_second: report.produce.messages_per_second * 10.0,
            megabytes_per_second: 1.0,
            message_bytes: 1024,
        }),
    });
    let html = render_report(&report);
    assert!(html.contains("Against the machine's limits"));
    assert!(
        html.contains("25.0%"),
        "produce is a quarter of the disk limit"
    );
    assert!(html.contains("10.0%"), "a tenth of the sink ceiling");
    assert_eq!(Report::from_json(&report.to_json()).unwrap(), report);

    // A comparison shows both runs.
    let comparison = Comparison {
        runs: vec![
            LabeledReport {
                label: "ferrite".into(),
                report: report.clone(),
            },
            LabeledReport {
                label: "other <broker>".into(),
                report: report.clone(),
            },
        ],
    };
    assert_eq!(
        Comparison::from_json(&comparison.to_json()).unwrap(),
        comparison
    );
    let pairs: Vec<(String, Report)> = comparison
        .runs
        .iter()
        .map(|r| (r.label.clone(), r.report.clone()))
        .collect();
    let html = render_comparison(&pairs);
    assert!(html.contains("ferrite: produce"));
    assert!(
        html.contains("other &lt;broker&gt;: produce"),
        "labels are escaped"
    );
    assert_eq!(html.matches("<svg").count(), 3);
}

/// The command line end to end: `compare` against two sinks writes a side-by-side JSON and
/// HTML report, and `report` re-renders it.
#[test]
fn compare_writes_a_side_by_side_report() {
    let mut first = sink::start(sink_options()).unwrap();
    let mut second = sink::start(sink_options()).unwrap();
    let directory = std::env::temp_dir().join(format!(
        "ferrite-bench-compare-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ferrite-bench"))
        .args(["compare", "--a"])
        .arg(first.addr().to_string())
        .arg("--b")
        .arg(second.addr().to_string())
        .args([
            "--label-a",
            "left",
            "--label-b",
            "right",
            "--name",
            "cli-compare",
        ])
        .args([
            "--consumers",
            "0",
            "--rate",
            "2000",
            "--warmup",
            "0",
            "--duration",
            "0.5",
        ])
        .args(["--io-memory-bytes", "65536", "--quiet", "--report-dir"])
        .arg(&directory)
        .output()
        .unwrap();
    first.stop();
    second.stop();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let files: Vec<_> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    let find = |extension: &str| {
        files
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == extension))
            .cloned()
            .unwrap_or_else(|| panic!("no .{extension} in {files:?}"))
    };
    let json = find("json");
    let comparison =
        Comparison::from_json(&std::fs::read_to_string(&json).unwrap()).expect("valid JSON");
    let labels: Vec<&str> = comparison.runs.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["left", "right"]);
    assert!(comparison.runs.iter().all(|r| r.report.error_count() == 0));
    let html = std::fs::read_to_string(find("html")).unwrap();
    assert!(html.contains("left: produce") && html.contains("right: produce"));

    // `report` re-renders the comparison from its JSON.
    let rendered = directory.join("again.html");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_ferrite-bench"))
        .arg("report")
        .arg(&json)
        .arg("-o")
        .arg(&rendered)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(std::fs::read_to_string(&rendered)
        .unwrap()
        .contains("ferrite-bench comparison"));
    std::fs::remove_dir_all(&directory).unwrap();
}
