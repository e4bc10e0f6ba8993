//! `ferrite-bench`: the command line. See the crate documentation (`bench/src/lib.rs`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use bench::html;
use bench::limits::{self, Limits};
use bench::report::{Comparison, LabeledReport, Report};
use bench::runner::{default_cores, run, RunOptions};
use bench::sink::{self, SinkOptions};
use bench::workload::{CompressionName, ConsumerMode, KeyMode, Rate, SizeSpec, Workload};
use clap::{Args, Parser, Subcommand};

/// Kafka-protocol load generator: open-loop produce and consume load against any Kafka
/// broker, with latency percentiles (HdrHistogram, corrected for coordinated omission),
/// throughput per second, and JSON reports.
#[derive(Parser)]
#[command(name = "ferrite-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a workload against a broker and write its reports (JSON and HTML).
    Run(RunArgs),
    /// Run the same workload against two brokers, one after the other, and write a
    /// side-by-side report.
    Compare(CompareArgs),
    /// Serve a Kafka-protocol sink that acknowledges every produce and keeps nothing: run the
    /// bench against it (with --consumers 0) to measure the bench's own ceiling.
    Sink(SinkArgs),
    /// Measure loopback TCP bandwidth between two cores; prints JSON.
    Loopback(LoopbackArgs),
    /// Re-render the HTML report of a JSON report (or comparison).
    Report(ReportArgs),
}

#[derive(Args)]
struct CompareArgs {
    /// First broker, host:port.
    #[arg(long)]
    a: String,
    /// Second broker, host:port.
    #[arg(long)]
    b: String,
    /// Name of the first broker in the report.
    #[arg(long, default_value = "a")]
    label_a: String,
    /// Name of the second broker in the report.
    #[arg(long, default_value = "b")]
    label_b: String,
    /// Workload file (TOML); flags below override its fields.
    #[arg(long, short = 'w')]
    workload: Option<PathBuf>,
    #[command(flatten)]
    overrides: WorkloadFlags,
    #[command(flatten)]
    execution: ExecutionFlags,
}

#[derive(Args)]
struct SinkArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9092")]
    listen: std::net::SocketAddr,
    /// Core to run on.
    #[arg(long, default_value_t = 0)]
    core: usize,
    /// io_uring buffer memory, in bytes.
    #[arg(long, default_value_t = 512 * 1024)]
    io_memory_bytes: usize,
    /// Stop after this many seconds (default: run until killed).
    #[arg(long)]
    seconds: Option<f64>,
}

#[derive(Args)]
struct LoopbackArgs {
    /// Seconds to stream.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Core of the sending thread.
    #[arg(long)]
    sender_core: Option<usize>,
    /// Core of the receiving thread.
    #[arg(long)]
    receiver_core: Option<usize>,
}

#[derive(Args)]
struct ReportArgs {
    /// A JSON report or comparison written by run or compare.
    json: PathBuf,
    /// Limits file to show the figures against (replaces the one in the report).
    #[arg(long)]
    limits: Option<PathBuf>,
    /// Output file (default: the JSON file's name with .html).
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct RunArgs {
    /// Broker to bootstrap from, host:port.
    #[arg(
        long,
        short = 'b',
        default_value = "127.0.0.1:9092",
        env = "FERRITE_BENCH_BOOTSTRAP"
    )]
    bootstrap: String,
    /// Workload file (TOML); flags below override its fields.
    #[arg(long, short = 'w')]
    workload: Option<PathBuf>,
    #[command(flatten)]
    overrides: WorkloadFlags,
    #[command(flatten)]
    execution: ExecutionFlags,
}

#[derive(Args)]
struct ExecutionFlags {
    /// Cores the bench runs on, comma-separated (default: the last core).
    #[arg(long, value_delimiter = ',')]
    cores: Vec<usize>,
    /// io_uring buffer memory per bench core, in bytes (locked memory: keep it small).
    #[arg(long, default_value_t = 512 * 1024)]
    io_memory_bytes: usize,
    /// Directory for the reports (<name>-<run id>.json).
    #[arg(long, default_value = "target/bench")]
    report_dir: PathBuf,
    /// No progress line.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Limits file (scripts/bench-limits) to show results against; default:
    /// <report-dir>/limits.json when it exists.
    #[arg(long)]
    limits: Option<PathBuf>,
}

impl ExecutionFlags {
    fn limits(&self) -> Result<Option<Limits>> {
        match &self.limits {
            Some(path) => Limits::read(path).map(Some),
            None => {
                let default = self.report_dir.join("limits.json");
                if default.exists() {
                    Limits::read(&default).map(Some)
                } else {
                    Ok(None)
                }
            }
        }
    }
}

/// Workload fields settable from the command line.
#[derive(Args, Default)]
struct WorkloadFlags {
    /// Name of the run (reports and file names).
    #[arg(long)]
    name: Option<String>,
    /// Topic name prefix.
    #[arg(long)]
    topic_prefix: Option<String>,
    /// Number of topics.
    #[arg(long)]
    topics: Option<u32>,
    /// Partitions per topic.
    #[arg(long)]
    partitions: Option<u32>,
    /// Topic config for created topics, KEY=VALUE (repeatable), e.g. flush.messages=1.
    #[arg(long = "topic-config")]
    topic_configs: Vec<String>,
    /// Use existing topics named by the prefix instead of creating (and deleting) them.
    #[arg(long)]
    existing_topics: bool,
    /// Keep the created topics after the run.
    #[arg(long)]
    keep_topics: bool,
    /// Message value size in bytes (fixed).
    #[arg(long)]
    message_size: Option<u32>,
    /// Keys: none, random, round-robin.
    #[arg(long, value_parser = parse_keys)]
    keys: Option<KeyMode>,
    /// Number of producers.
    #[arg(long)]
    producers: Option<u32>,
    /// TCP connections per producer.
    #[arg(long)]
    producer_connections: Option<u32>,
    /// Batch size in bytes.
    #[arg(long)]
    batch_bytes: Option<u32>,
    /// Linger in milliseconds.
    #[arg(long)]
    linger_ms: Option<f64>,
    /// acks: 0, 1 or all (-1).
    #[arg(long, value_parser = parse_acks)]
    acks: Option<i16>,
    /// Compression: none, gzip, snappy, lz4, zstd.
    #[arg(long)]
    compression: Option<CompressionName>,
    /// Target rate: "N msg/s", "N MB/s" or "unthrottled".
    #[arg(long)]
    rate: Option<Rate>,
    /// Produce requests in flight per connection.
    #[arg(long)]
    in_flight: Option<u32>,
    /// Number of consumers (0: produce only).
    #[arg(long)]
    consumers: Option<u32>,
    /// Subscriptions: independent readers of every partition (fan-out).
    #[arg(long)]
    subscriptions: Option<u32>,
    /// Consumers read the tail (tail) or the backlog after producing (catch-up).
    #[arg(long, value_parser = parse_mode)]
    consumer_mode: Option<ConsumerMode>,
    /// Longest the consumers may take, after the producers stop, to read what was
    /// acknowledged (catch-up runs need time for the whole backlog).
    #[arg(long)]
    drain_seconds: Option<f64>,
    /// Warm-up in seconds (load offered, not measured).
    #[arg(long)]
    warmup: Option<f64>,
    /// Measured duration in seconds.
    #[arg(long, short = 'd')]
    duration: Option<f64>,
}

fn parse_keys(text: &str) -> Result<KeyMode, String> {
    match text {
        "none" => Ok(KeyMode::None),
        "random" => Ok(KeyMode::Random),
        "round-robin" => Ok(KeyMode::RoundRobin),
        other => Err(format!(
            "unknown key mode {other:?} (none, random, round-robin)"
        )),
    }
}

fn parse_mode(text: &str) -> Result<ConsumerMode, String> {
    match text {
        "tail" => Ok(ConsumerMode::Tail),
        "catch-up" => Ok(ConsumerMode::CatchUp),
        other => Err(format!("unknown consumer mode {other:?} (tail, catch-up)")),
    }
}

fn parse_acks(text: &str) -> Result<i16, String> {
    match text {
        "all" | "-1" => Ok(-1),
        "0" => Ok(0),
        "1" => Ok(1),
        other => Err(format!("acks {other:?} must be 0, 1 or all")),
    }
}

impl WorkloadFlags {
    fn apply(&self, workload: &mut Workload) -> Result<()> {
        let w = workload;
        if let Some(v) = &self.name {
            w.name = v.clone();
        }
        if let Some(v) = &self.topic_prefix {
            w.topics.prefix = v.clone();
        }
        if let Some(v) = self.topics {
            w.topics.count = v;
        }
        if let Some(v) = self.partitions {
            w.topics.partitions = v;
        }
        for text in &self.topic_configs {
            let (key, value) = text
                .split_once('=')
                .with_context(|| format!("--topic-config {text:?} is not KEY=VALUE"))?;
            w.topics.configs.insert(key.to_owned(), value.to_owned());
        }
        if self.existing_topics {
            w.topics.create = false;
            w.topics.delete = false;
        }
        if self.keep_topics {
            w.topics.delete = false;
        }
        if let Some(v) = self.message_size {
            w.message.size = SizeSpec::Fixed(v);
        }
        if let Some(v) = self.keys {
            w.message.keys = v;
        }
        if let Some(v) = self.producers {
            w.producer.count = v;
        }
        if let Some(v) = self.producer_connections {
            w.producer.connections = v;
        }
        if let Some(v) = self.batch_bytes {
            w.producer.batch_bytes = v;
        }
        if let Some(v) = self.linger_ms {
            w.producer.linger_ms = v;
        }
        if let Some(v) = self.acks {
            w.producer.acks = v;
        }
        if let Some(v) = self.compression {
            w.producer.compression = v;
        }
        if let Some(v) = self.rate {
            w.producer.rate = v;
        }
        if let Some(v) = self.in_flight {
            w.producer.in_flight_requests_max = v;
        }
        if let Some(v) = self.consumers {
            w.consumer.count = v;
        }
        if let Some(v) = self.subscriptions {
            w.consumer.subscriptions = v;
        }
        if let Some(v) = self.consumer_mode {
            w.consumer.mode = v;
        }
        if let Some(v) = self.drain_seconds {
            w.consumer.drain_seconds_max = v;
        }
        if let Some(v) = self.warmup {
            w.run.warmup_seconds = v;
        }
        if let Some(v) = self.duration {
            w.run.duration_seconds = v;
        }
        w.validate()?;
        Ok(())
    }
}

fn load_workload(path: Option<&Path>, flags: &WorkloadFlags) -> Result<Workload> {
    let mut workload = match path {
        Some(path) => Workload::from_file(path)?,
        None => Workload::default(),
    };
    flags.apply(&mut workload)?;
    Ok(workload)
}

fn run_options(bootstrap: &str, execution: &ExecutionFlags) -> RunOptions {
    RunOptions {
        bootstrap: bootstrap.to_owned(),
        cores: if execution.cores.is_empty() {
            default_cores()
        } else {
            execution.cores.clone()
        },
        io_memory_bytes: execution.io_memory_bytes,
        progress: !execution.quiet,
    }
}

fn write_file(dir: &Path, name: &str, contents: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create report directory {}", dir.display()))?;
    let path = dir.join(name);
    std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

fn command_run(args: &RunArgs) -> Result<ExitCode> {
    let workload = load_workload(args.workload.as_deref(), &args.overrides)?;
    let limits = args.execution.limits()?;
    let options = run_options(&args.bootstrap, &args.execution);
    let mut report = run(&workload, &options)?;
    report.limits = limits;
    print!("{}", report.summary_table());
    let stem = format!("{}-{}", workload.name, report.run_id);
    let dir = &args.execution.report_dir;
    let json = write_file(dir, &format!("{stem}.json"), &report.to_json())?;
    let html = write_file(dir, &format!("{stem}.html"), &html::render_report(&report))?;
    println!("report: {} and {}", json.display(), html.display());
    if report.interrupted {
        return Ok(ExitCode::from(130));
    }
    Ok(exit_code(report.error_count()))
}

fn exit_code(errors: u64) -> ExitCode {
    if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn command_compare(args: &CompareArgs) -> Result<ExitCode> {
    let workload = load_workload(args.workload.as_deref(), &args.overrides)?;
    let limits = args.execution.limits()?;
    let mut runs = Vec::new();
    for (label, bootstrap) in [(&args.label_a, &args.a), (&args.label_b, &args.b)] {
        if bench::runner::interrupted() {
            anyhow::bail!("interrupted before the run against {label}");
        }
        eprintln!("==> {label}: {bootstrap}");
        let options = run_options(bootstrap, &args.execution);
        let mut report =
            run(&workload, &options).with_context(|| format!("run against {label}"))?;
        report.limits = limits.clone();
        print!("{}", report.summary_table());
        runs.push(LabeledReport {
            label: label.clone(),
            report,
        });
    }
    let errors: u64 = runs.iter().map(|r| r.report.error_count()).sum();
    let comparison = Comparison { runs };
    let stem = format!(
        "{}-compare-{}",
        workload.name, comparison.runs[0].report.run_id
    );
    let dir = &args.execution.report_dir;
    let json = write_file(dir, &format!("{stem}.json"), &comparison.to_json())?;
    let pairs: Vec<(String, Report)> = comparison
        .runs
        .iter()
        .map(|r| (r.label.clone(), r.report.clone()))
        .collect();
    let html = write_file(
        dir,
        &format!("{stem}.html"),
        &html::render_comparison(&pairs),
    )?;
    println!("comparison: {} and {}", json.display(), html.display());
    Ok(exit_code(errors))
}

fn command_sink(args: &SinkArgs) -> Result<ExitCode> {
    let mut sink = sink::start(SinkOptions {
        listen: args.listen,
        core: args.core,
        io_memory_bytes: args.io_memory_bytes,
    })?;
    println!("ferrite-bench sink listening on {}", sink.addr());
    match args.seconds {
        Some(seconds) if seconds.is_finite() && seconds > 0.0 => {
            std::thread::sleep(std::time::Duration::from_secs_f64(seconds.min(86_400.0)));
            sink.stop();
        }
        Some(seconds) => anyhow::bail!("--seconds {seconds} must be positive"),
        None => {
            while !bench::runner::interrupted() {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            sink.stop();
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn command_loopback(args: &LoopbackArgs) -> Result<ExitCode> {
    let loopback = limits::measure_loopback(args.seconds, args.sender_core, args.receiver_core)?;
    eprintln!(
        "loopback TCP: {:.0} MB/s over {:.1} s",
        loopback.megabytes_per_second, loopback.seconds
    );
    println!("{}", serde_json::to_string_pretty(&loopback)?);
    Ok(ExitCode::SUCCESS)
}

fn command_report(args: &ReportArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.json)
        .with_context(|| format!("cannot read {}", args.json.display()))?;
    let limits = args.limits.as_deref().map(Limits::read).transpose()?;
    let html = if let Ok(mut report) = Report::from_json(&text) {
        if limits.is_some() {
            report.limits = limits;
        }
        html::render_report(&report)
    } else {
        let comparison = Comparison::from_json(&text).with_context(|| {
            format!(
                "{} is neither a ferrite-bench report nor a comparison",
                args.json.display()
            )
        })?;
        let pairs: Vec<(String, Report)> = comparison
            .runs
            .into_iter()
            .map(|mut r| {
                if limits.is_some() {
                    r.report.limits = limits.clone();
                }
                (r.label, r.report)
            })
            .collect();
        html::render_comparison(&pairs)
    };
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| args.json.with_extension("html"));
    std::fs::write(&output, html).with_context(|| format!("cannot write {}", output.display()))?;
    println!("{}", output.display());
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    bench::runner::install_interrupt_handler();
    let result = match &cli.command {
        Command::Run(args) => command_run(args),
        Command::Compare(args) => command_compare(args),
        Command::Sink(args) => command_sink(args),
        Command::Loopback(args) => command_loopback(args),
        Command::Report(args) => command_report(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ferrite-bench: {error:#}");
            ExitCode::from(2)
        }
    }
}
