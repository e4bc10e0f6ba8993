//! The command line: every command, its arguments and its help text.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "ferritectl",
    version,
    about = "Operate a Ferrite (or any Kafka) broker: topics, data, consumer groups, cluster; inspect log files offline.",
    long_about = None
)]
pub struct Cli {
    /// Brokers to bootstrap from, as host:port[,host:port...]
    #[arg(
        long,
        global = true,
        env = "FERRITE_BROKERS",
        default_value = "127.0.0.1:9092"
    )]
    pub brokers: String,

    /// Output for people (text) or for scripts (json)
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, list, describe, alter and delete topics
    #[command(subcommand)]
    Topic(TopicCommand),
    /// Write records read from stdin, one per line
    Produce(ProduceArgs),
    /// Read records and print them with a template, by partition or as a member of a group
    Consume(ConsumeArgs),
    /// Consumer groups: list, describe (members, assignments, offsets, lag), delete, seek
    #[command(subcommand)]
    Group(GroupCommand),
    /// The cluster: brokers, controller, topics
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Read a data directory's log files without a broker
    #[command(subcommand)]
    Log(LogCommand),
    /// Print a shell completion script (for example: ferritectl completions bash > /etc/bash_completion.d/ferritectl)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Create a topic
    Create {
        name: String,
        /// Number of partitions (-1: the broker's default)
        #[arg(short, long, default_value_t = -1)]
        partitions: i32,
        /// Replication factor (-1: the broker's default)
        #[arg(short, long, default_value_t = -1)]
        replication_factor: i16,
        /// Topic config as key=value (repeatable), for example -c retention.ms=60000
        #[arg(short = 'c', long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
    },
    /// List topics
    List {
        /// Include internal topics (such as __consumer_offsets)
        #[arg(long)]
        internal: bool,
    },
    /// Show a topic's partitions, leaders, offsets and configs
    Describe { name: String },
    /// Delete topics
    Delete {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Set (key=value) or remove (key=) topic configs
    AlterConfig {
        name: String,
        #[arg(
            short = 'c',
            long = "config",
            value_name = "KEY=VALUE",
            required = true
        )]
        configs: Vec<String>,
    },
    /// Raise a topic's partition count
    AddPartitions {
        name: String,
        /// The new total number of partitions
        #[arg(long)]
        total: i32,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List the groups known to every broker: group id, state and protocol type
    List {
        /// Only groups in this state (repeatable): Empty, Stable, PreparingRebalance,
        /// CompletingRebalance, Dead (any letter case)
        #[arg(long = "state", value_name = "STATE")]
        states: Vec<String>,
    },
    /// Show a group: state, protocol, members (client id, host, assigned partitions), and per
    /// partition the committed offset, the log end offset and the lag between them
    Describe { group: String },
    /// Delete groups that have no members, with their committed offsets; one error line per
    /// group that could not be deleted, and exit 1 if any could not
    Delete {
        #[arg(required = true)]
        groups: Vec<String>,
    },
    /// Move a group's committed offsets for a topic. The group must have no active members:
    /// stop its consumers first (a running consumer would overwrite the new offsets)
    Seek(SeekArgs),
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("target")
        .required(true)
        .args(["to_earliest", "to_latest", "to_offset", "to_timestamp"])
))]
pub struct SeekArgs {
    pub group: String,
    /// The topic whose offsets move
    #[arg(long)]
    pub topic: String,
    /// Only this partition (default: every partition of the topic)
    #[arg(short, long)]
    pub partition: Option<i32>,
    /// To the first offset still in the log
    #[arg(long)]
    pub to_earliest: bool,
    /// To the end of the log (the group skips everything written so far)
    #[arg(long)]
    pub to_latest: bool,
    /// To this offset (kept within the log's earliest and latest offsets)
    #[arg(long, value_name = "OFFSET")]
    pub to_offset: Option<i64>,
    /// To the first record with a timestamp at or after this many milliseconds since the
    /// epoch (the end of the log if there is none)
    #[arg(long, value_name = "MS")]
    pub to_timestamp: Option<i64>,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Brokers, controller, cluster id, topic count and broker version
    Info,
    /// Whether every broker answers and every partition has a leader (exit 1 if not)
    Health,
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Print the segments and batches of a partition directory (or of every partition of a data directory)
    Dump {
        path: PathBuf,
        /// Also print every record
        #[arg(long)]
        records: bool,
    },
    /// Check every CRC, offset order and index entry; exit 1 naming the first problem
    Verify { path: PathBuf },
}

#[derive(Debug, Args)]
pub struct ProduceArgs {
    pub topic: String,
    /// Partition to write to
    #[arg(short, long, default_value_t = 0)]
    pub partition: i32,
    /// Split each line into key and value at the first occurrence of this separator
    #[arg(short = 'K', long)]
    pub key_separator: Option<String>,
    /// Per-record headers: text before the first occurrence of this separator is a
    /// comma-separated list of key=value headers for that line's record (for example with
    /// `--header-separator '|'`: `trace=abc,tenant=7|key:value`)
    #[arg(long)]
    pub header_separator: Option<String>,
    /// Header as key=value, added to every record (repeatable)
    #[arg(short = 'H', long = "header", value_name = "KEY=VALUE")]
    pub headers: Vec<String>,
    /// Compression codec
    #[arg(short = 'z', long, value_enum, default_value_t = Codec::None)]
    pub compression: Codec,
    /// Acknowledgements: 0, 1 or -1 (all)
    #[arg(short, long, default_value_t = -1, allow_negative_numbers = true)]
    pub acks: i16,
    /// Records per produce request
    #[arg(long, default_value_t = 1000)]
    pub batch_records: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Codec {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    pub topic: String,
    /// Partition to read (default: every partition)
    #[arg(short, long, conflicts_with = "group")]
    pub partition: Option<i32>,
    /// Read as a member of this consumer group: the group assigns the partitions (range
    /// assignment, shared with the group's other members), reading starts at the group's
    /// committed offsets, and the offset after each printed record is committed
    #[arg(short, long)]
    pub group: Option<String>,
    /// Where to start: earliest, latest, an offset, or @TIMESTAMP_MS (with --group: only for
    /// partitions the group has no committed offset for)
    #[arg(short, long, default_value = "earliest")]
    pub offset: String,
    /// Stop after this many records
    #[arg(short = 'n', long)]
    pub count: Option<u64>,
    /// Stop once no record arrived for this long (milliseconds)
    #[arg(long, default_value_t = 2000)]
    pub idle_ms: u64,
    /// Output template: %t topic, %p partition, %o offset, %T timestamp, %k key, %h headers, %v value, \n newline
    #[arg(short, long, default_value = "%v\\n")]
    pub template: String,
}
