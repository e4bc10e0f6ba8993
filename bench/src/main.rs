//! `ferrite-bench`: the command line. See the crate documentation (`bench/src/lib.rs`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use bench::runner::{default_cores, run, RunOptions};
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
    /// Run a workload against a broker and write its report.
    Run(RunArgs),
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
    /// Consumers read the tail (tail) or the backlog after producing (catch-up).
    #[arg(long, value_parser = parse_mode)]
    consumer_mode: Option<ConsumerMode>,
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
        if let Some(v) = self.consumer_mode {
            w.consumer.mode = v;
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
    let options = run_options(&args.bootstrap, &args.execution);
    let report = run(&workload, &options)?;
    print!("{}", report.summary_table());
    let stem = format!("{}-{}", workload.name, report.run_id);
    let json = write_file(
        &args.execution.report_dir,
        &format!("{stem}.json"),
        &report.to_json(),
    )?;
    println!("report: {}", json.display());
    Ok(if report.error_count() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run(args) => command_run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ferrite-bench: {error:#}");
            ExitCode::from(2)
        }
    }
}
