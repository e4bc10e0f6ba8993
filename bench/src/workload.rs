//! What a run does: the workload, read from a TOML file and/or command-line flags.
//!
//! The shape follows the OpenMessaging Benchmark's workloads (topics, partitions, message
//! size, keys, producers and consumers, a target rate), plus the producer knobs Kafka clients
//! expose (batch size, linger, acks, compression). Every field has a default, so a file names
//! only what it changes; unknown fields are an error (a typo must not silently fall back to a
//! default). [`Workload::validate`] checks every bound before anything runs.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use wire::records::Compression;

use crate::payload::VALUE_HEADER_BYTES;

/// Largest message the bench generates (the broker's default request limit is far above).
pub const MESSAGE_BYTES_MAX: u32 = 8 << 20;
/// Upper bound on producers, consumers and connections per producer.
pub const CLIENTS_MAX: u32 = 1024;
/// Upper bound on partitions per topic and on topics.
pub const PARTITIONS_MAX: u32 = 10_000;
/// Longest run (warm-up plus measured part).
pub const RUN_SECONDS_MAX: f64 = 24.0 * 3600.0;
/// Largest produce batch.
pub const BATCH_BYTES_MAX: u32 = 64 << 20;

/// Why a workload cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("cannot read workload file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("workload file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid workload: {0}")]
    Invalid(String),
}

/// A complete workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Workload {
    /// Names the run in reports and file names.
    pub name: String,
    pub topics: TopicSpec,
    pub message: MessageSpec,
    pub producer: ProducerSpec,
    pub consumer: ConsumerSpec,
    pub run: RunSpec,
}

/// The topics a run writes to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicSpec {
    /// With `create`, topics are named `<prefix>-<run id>-<n>`; without, `<prefix>` (one topic)
    /// or `<prefix>-<n>` (several), and they must exist.
    pub prefix: String,
    pub count: u32,
    pub partitions: u32,
    pub replication_factor: u16,
    /// Create the topics before the run (with `configs`).
    pub create: bool,
    /// Delete the topics after the run (only topics this run created).
    pub delete: bool,
    /// Topic configs passed to CreateTopics, e.g. `"flush.messages" = "1"`.
    pub configs: std::collections::BTreeMap<String, String>,
}

/// The messages producers send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessageSpec {
    /// Value size in bytes: a number, or a distribution.
    pub size: SizeSpec,
    pub keys: KeyMode,
    /// Distinct keys for `random` and `round-robin` keys.
    pub key_count: u32,
}

/// Message value sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum SizeSpec {
    /// Every message has this size.
    Fixed(u32),
    /// Uniform between `min` and `max` inclusive.
    Uniform { min: u32, max: u32 },
    /// One of `sizes`, chosen with probability proportional to `weights`.
    Weighted { sizes: Vec<u32>, weights: Vec<u32> },
}

/// How records are keyed (and therefore partitioned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyMode {
    /// No key: sticky partitioning, one batch per partition in turn, as Kafka's producers do.
    None,
    /// A random key out of `key_count` per message; the partition is the key's hash.
    Random,
    /// Keys `0..key_count` in turn; message n goes to partition n mod partitions.
    RoundRobin,
}

/// The producers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProducerSpec {
    pub count: u32,
    /// TCP connections per producer; partition p uses connection p mod connections.
    pub connections: u32,
    /// A batch is sent when its records reach this many bytes (uncompressed)...
    pub batch_bytes: u32,
    /// ...or when its first record has waited this long.
    pub linger_ms: f64,
    /// 0, 1 or -1 (all).
    pub acks: i16,
    pub compression: CompressionName,
    /// Produce requests in flight per connection before the producer waits.
    pub in_flight_requests_max: u32,
    /// Target rate over all producers.
    pub rate: Rate,
    /// Broker-side produce timeout.
    pub request_timeout_ms: u32,
}

/// Compression codec, by Kafka's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompressionName {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl CompressionName {
    pub fn codec(self) -> Compression {
        match self {
            CompressionName::None => Compression::None,
            CompressionName::Gzip => Compression::Gzip,
            CompressionName::Snappy => Compression::Snappy,
            CompressionName::Lz4 => Compression::Lz4,
            CompressionName::Zstd => Compression::Zstd,
        }
    }
}

impl FromStr for CompressionName {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "none" => Ok(Self::None),
            "gzip" => Ok(Self::Gzip),
            "snappy" => Ok(Self::Snappy),
            "lz4" => Ok(Self::Lz4),
            "zstd" => Ok(Self::Zstd),
            other => Err(format!(
                "unknown compression {other:?} (none, gzip, snappy, lz4, zstd)"
            )),
        }
    }
}

/// The offered load: open loop at a target, or as fast as acknowledgements allow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    Unthrottled,
    MessagesPerSecond(f64),
    /// Megabytes (10^6 bytes) of message values per second.
    MegabytesPerSecond(f64),
}

impl Rate {
    /// Messages per second for values of `mean_value_bytes`, `None` when unthrottled.
    pub fn messages_per_second(self, mean_value_bytes: f64) -> Option<f64> {
        match self {
            Rate::Unthrottled => None,
            Rate::MessagesPerSecond(rate) => Some(rate),
            Rate::MegabytesPerSecond(rate) => Some(rate * 1e6 / mean_value_bytes.max(1.0)),
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rate::Unthrottled => write!(f, "unthrottled"),
            Rate::MessagesPerSecond(rate) => write!(f, "{rate} msg/s"),
            Rate::MegabytesPerSecond(rate) => write!(f, "{rate} MB/s"),
        }
    }
}

impl FromStr for Rate {
    type Err = String;
    /// `unthrottled`, `50000` or `50000 msg/s`, `40 MB/s`.
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("unthrottled") || text.eq_ignore_ascii_case("max") {
            return Ok(Rate::Unthrottled);
        }
        let lower = text.to_ascii_lowercase().replace(' ', "");
        let (number, unit) = match lower.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
            Some(index) => lower.split_at(index),
            None => (lower.as_str(), ""),
        };
        let value: f64 = number.parse().map_err(|_| {
            format!("rate {text:?}: expected \"unthrottled\", \"N msg/s\" or \"N MB/s\"")
        })?;
        if !(value.is_finite() && value > 0.0) {
            return Err(format!("rate {text:?} must be positive"));
        }
        match unit {
            "" | "msg/s" | "/s" | "messages/s" => Ok(Rate::MessagesPerSecond(value)),
            "mb/s" => Ok(Rate::MegabytesPerSecond(value)),
            other => Err(format!(
                "rate {text:?}: unknown unit {other:?} (msg/s or MB/s)"
            )),
        }
    }
}

impl Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(value) => format!("{value}").parse(),
            Raw::Text(text) => text.parse(),
        }
        .map_err(serde::de::Error::custom)
    }
}

/// The consumers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumerSpec {
    /// Consumers per subscription; partitions are assigned to them round-robin (no
    /// consumer group).
    pub count: u32,
    /// Independent readers of every partition (fan-out, as several consumer groups).
    pub subscriptions: u32,
    pub mode: ConsumerMode,
    /// Fetch response limit per request and per partition.
    pub fetch_bytes_max: u32,
    /// How long the broker may hold a fetch waiting for data.
    pub fetch_wait_ms_max: u32,
    /// After the producers stop, how long consumers may take to read what was acknowledged.
    pub drain_seconds_max: f64,
}

/// When consumers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsumerMode {
    /// Alongside the producers, reading the tail (end-to-end latency).
    Tail,
    /// After the producers finish, reading the whole backlog from the start of the run.
    CatchUp,
}

/// Timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSpec {
    /// Load is offered but not measured during the warm-up.
    pub warmup_seconds: f64,
    /// The measured part.
    pub duration_seconds: f64,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            name: "default".to_owned(),
            topics: TopicSpec::default(),
            message: MessageSpec::default(),
            producer: ProducerSpec::default(),
            consumer: ConsumerSpec::default(),
            run: RunSpec::default(),
        }
    }
}

impl Default for TopicSpec {
    fn default() -> Self {
        TopicSpec {
            prefix: "ferrite-bench".to_owned(),
            count: 1,
            partitions: 1,
            replication_factor: 1,
            create: true,
            delete: true,
            configs: Default::default(),
        }
    }
}

impl Default for MessageSpec {
    fn default() -> Self {
        MessageSpec {
            size: SizeSpec::Fixed(1024),
            keys: KeyMode::None,
            key_count: 1000,
        }
    }
}

impl Default for ProducerSpec {
    fn default() -> Self {
        ProducerSpec {
            count: 1,
            connections: 1,
            batch_bytes: 64 * 1024,
            linger_ms: 1.0,
            acks: 1,
            compression: CompressionName::None,
            in_flight_requests_max: 5,
            rate: Rate::MessagesPerSecond(10_000.0),
            request_timeout_ms: 30_000,
        }
    }
}

impl Default for ConsumerSpec {
    fn default() -> Self {
        ConsumerSpec {
            count: 1,
            subscriptions: 1,
            mode: ConsumerMode::Tail,
            fetch_bytes_max: 4 << 20,
            fetch_wait_ms_max: 100,
            drain_seconds_max: 10.0,
        }
    }
}

impl Default for RunSpec {
    fn default() -> Self {
        RunSpec {
            warmup_seconds: 1.0,
            duration_seconds: 10.0,
        }
    }
}

impl SizeSpec {
    /// The smallest and largest size this spec produces.
    pub fn bounds(&self) -> (u32, u32) {
        match self {
            SizeSpec::Fixed(size) => (*size, *size),
            SizeSpec::Uniform { min, max } => (*min, *max),
            SizeSpec::Weighted { sizes, .. } => (
                sizes.iter().copied().min().unwrap_or(0),
                sizes.iter().copied().max().unwrap_or(0),
            ),
        }
    }

    /// Expected value size.
    pub fn mean(&self) -> f64 {
        match self {
            SizeSpec::Fixed(size) => f64::from(*size),
            SizeSpec::Uniform { min, max } => (f64::from(*min) + f64::from(*max)) / 2.0,
            SizeSpec::Weighted { sizes, weights } => {
                let total: f64 = weights.iter().map(|w| f64::from(*w)).sum();
                sizes
                    .iter()
                    .zip(weights)
                    .map(|(size, weight)| f64::from(*size) * f64::from(*weight))
                    .sum::<f64>()
                    / total.max(1.0)
            }
        }
    }

    /// A size drawn from the distribution.
    pub fn sample(&self, rng: &mut impl rand::Rng) -> u32 {
        match self {
            SizeSpec::Fixed(size) => *size,
            SizeSpec::Uniform { min, max } => rng.gen_range(*min..=*max),
            SizeSpec::Weighted { sizes, weights } => {
                let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
                let mut pick = rng.gen_range(0..total.max(1));
                for (size, weight) in sizes.iter().zip(weights) {
                    if pick < u64::from(*weight) {
                        return *size;
                    }
                    pick -= u64::from(*weight);
                }
                sizes.last().copied().unwrap_or(VALUE_HEADER_BYTES as u32)
            }
        }
    }
}

impl Workload {
    /// Reads and validates a workload file.
    pub fn from_file(path: &Path) -> Result<Workload, WorkloadError> {
        let text = std::fs::read_to_string(path).map_err(|source| WorkloadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text).map_err(|error| match error {
            WorkloadError::Parse { message, .. } => WorkloadError::Parse {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates a workload from TOML text.
    pub fn from_toml(text: &str) -> Result<Workload, WorkloadError> {
        let workload: Workload = toml::from_str(text).map_err(|error| WorkloadError::Parse {
            path: "<text>".to_owned(),
            message: error.to_string(),
        })?;
        workload.validate()?;
        Ok(workload)
    }

    /// The workload as TOML (what the reports embed).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|error| format!("# cannot render: {error}"))
    }

    /// Checks every bound; the message says which field is wrong and why.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        let invalid = |message: String| Err(WorkloadError::Invalid(message));
        if self.name.is_empty() || self.name.len() > 100 {
            return invalid("name must have 1 to 100 characters".into());
        }
        if !self
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return invalid(format!(
                "name {:?} may hold only letters, digits, '-', '_' and '.' (it names files)",
                self.name
            ));
        }
        let topics = &self.topics;
        if topics.prefix.is_empty()
            || topics.prefix.len() > 180
            || !topics
                .prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return invalid(format!(
                "topics.prefix {:?} must be 1-180 characters of letters, digits, '-', '_', '.'",
                topics.prefix
            ));
        }
        if !(1..=PARTITIONS_MAX).contains(&topics.count) {
            return invalid(format!(
                "topics.count {} must be 1..={PARTITIONS_MAX}",
                topics.count
            ));
        }
        if !(1..=PARTITIONS_MAX).contains(&topics.partitions) {
            return invalid(format!(
                "topics.partitions {} must be 1..={PARTITIONS_MAX}",
                topics.partitions
            ));
        }
        if topics.replication_factor == 0 {
            return invalid("topics.replication_factor must be at least 1".into());
        }
        if topics.delete && !topics.create {
            return invalid(
                "topics.delete needs topics.create: the bench deletes only topics it created"
                    .into(),
            );
        }
        let (size_min, size_max) = self.message.size.bounds();
        if let SizeSpec::Uniform { min, max } = self.message.size {
            if min > max {
                return invalid(format!("message.size: min {min} is above max {max}"));
            }
        }
        if let SizeSpec::Weighted { sizes, weights } = &self.message.size {
            if sizes.is_empty() || sizes.len() != weights.len() {
                return invalid(
                    "message.size: sizes and weights must be non-empty and of equal length".into(),
                );
            }
            if weights.iter().all(|w| *w == 0) {
                return invalid("message.size: at least one weight must be positive".into());
            }
        }
        if (size_min as usize) < VALUE_HEADER_BYTES || size_max > MESSAGE_BYTES_MAX {
            return invalid(format!(
                "message.size must be {VALUE_HEADER_BYTES}..={MESSAGE_BYTES_MAX} bytes (each \
                 message carries a {VALUE_HEADER_BYTES}-byte header: producer, sequence, send \
                 time); got {size_min}..={size_max}"
            ));
        }
        if self.message.keys != KeyMode::None && self.message.key_count == 0 {
            return invalid("message.key_count must be at least 1 with keys".into());
        }
        let producer = &self.producer;
        if !(1..=CLIENTS_MAX).contains(&producer.count) {
            return invalid(format!(
                "producer.count {} must be 1..={CLIENTS_MAX}",
                producer.count
            ));
        }
        if !(1..=CLIENTS_MAX).contains(&producer.connections) {
            return invalid(format!(
                "producer.connections {} must be 1..={CLIENTS_MAX}",
                producer.connections
            ));
        }
        if !(1..=BATCH_BYTES_MAX).contains(&producer.batch_bytes) {
            return invalid(format!(
                "producer.batch_bytes {} must be 1..={BATCH_BYTES_MAX}",
                producer.batch_bytes
            ));
        }
        if !(producer.linger_ms.is_finite() && (0.0..=10_000.0).contains(&producer.linger_ms)) {
            return invalid(format!(
                "producer.linger_ms {} must be 0..=10000",
                producer.linger_ms
            ));
        }
        if ![0, 1, -1].contains(&producer.acks) {
            return invalid(format!(
                "producer.acks {} must be 0, 1 or -1 (all)",
                producer.acks
            ));
        }
        if !(1..=1024).contains(&producer.in_flight_requests_max) {
            return invalid(format!(
                "producer.in_flight_requests_max {} must be 1..=1024",
                producer.in_flight_requests_max
            ));
        }
        if !(1..=600_000).contains(&producer.request_timeout_ms) {
            return invalid("producer.request_timeout_ms must be 1..=600000".into());
        }
        if !(1..=64).contains(&self.consumer.subscriptions) {
            return invalid(format!(
                "consumer.subscriptions {} must be 1..=64",
                self.consumer.subscriptions
            ));
        }
        if u64::from(self.consumer.count) * u64::from(self.consumer.subscriptions)
            > u64::from(CLIENTS_MAX)
        {
            return invalid(format!(
                "consumer.count x consumer.subscriptions must be at most {CLIENTS_MAX}"
            ));
        }
        if self.consumer.count > CLIENTS_MAX {
            return invalid(format!(
                "consumer.count {} must be 0..={CLIENTS_MAX}",
                self.consumer.count
            ));
        }
        if !(1024..=(256 << 20)).contains(&self.consumer.fetch_bytes_max) {
            return invalid("consumer.fetch_bytes_max must be 1 KiB..=256 MiB".into());
        }
        if self.consumer.fetch_bytes_max < size_max + 1024 {
            return invalid(format!(
                "consumer.fetch_bytes_max {} must exceed the largest message ({size_max}) by 1 KiB",
                self.consumer.fetch_bytes_max
            ));
        }
        if self.consumer.fetch_wait_ms_max > 30_000 {
            return invalid("consumer.fetch_wait_ms_max must be 0..=30000".into());
        }
        if !(self.consumer.drain_seconds_max.is_finite()
            && (0.0..=3600.0).contains(&self.consumer.drain_seconds_max))
        {
            return invalid("consumer.drain_seconds_max must be 0..=3600".into());
        }
        let run = &self.run;
        if !(run.warmup_seconds.is_finite() && run.warmup_seconds >= 0.0) {
            return invalid("run.warmup_seconds must be 0 or more".into());
        }
        if !(run.duration_seconds.is_finite() && run.duration_seconds > 0.0) {
            return invalid("run.duration_seconds must be positive".into());
        }
        if run.warmup_seconds + run.duration_seconds > RUN_SECONDS_MAX {
            return invalid(format!(
                "warm-up plus duration must be at most {RUN_SECONDS_MAX} s"
            ));
        }
        if let Some(rate) = producer.rate.messages_per_second(self.message.size.mean()) {
            if rate > 100e6 {
                return invalid(format!(
                    "producer.rate {} is above 100 M msg/s; use \"unthrottled\"",
                    producer.rate
                ));
            }
        }
        Ok(())
    }

    /// Total partitions over all topics.
    pub fn partition_count(&self) -> u32 {
        self.topics.count * self.topics.partitions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_the_default_workload() {
        assert_eq!(Workload::from_toml("").unwrap(), Workload::default());
    }

    #[test]
    fn a_full_file_parses() {
        let workload = Workload::from_toml(
            r#"
            name = "mixed"
            [topics]
            prefix = "load"
            count = 2
            partitions = 8
            configs = { "flush.messages" = "1" }
            [message]
            size = { sizes = [100, 1000], weights = [9, 1] }
            keys = "round-robin"
            key_count = 16
            [producer]
            count = 2
            connections = 2
            batch_bytes = 16384
            linger_ms = 0.5
            acks = -1
            compression = "lz4"
            rate = "20 MB/s"
            [consumer]
            count = 3
            subscriptions = 2
            mode = "catch-up"
            [run]
            warmup_seconds = 0
            duration_seconds = 5
            "#,
        )
        .unwrap();
        assert_eq!(workload.partition_count(), 16);
        assert_eq!(workload.topics.configs["flush.messages"], "1");
        assert_eq!(workload.message.keys, KeyMode::RoundRobin);
        assert_eq!(workload.producer.rate, Rate::MegabytesPerSecond(20.0));
        assert_eq!(workload.producer.compression, CompressionName::Lz4);
        assert_eq!(workload.consumer.mode, ConsumerMode::CatchUp);
        assert_eq!(workload.consumer.subscriptions, 2);
        assert!((workload.message.size.mean() - 190.0).abs() < 1e-9);
        // The rendered workload parses back to itself.
        assert_eq!(Workload::from_toml(&workload.to_toml()).unwrap(), workload);
    }

    #[test]
    fn sizes_and_rates_have_several_spellings() {
        let uniform = Workload::from_toml("[message]\nsize = { min = 100, max = 200 }").unwrap();
        assert_eq!(
            uniform.message.size,
            SizeSpec::Uniform { min: 100, max: 200 }
        );
        for (text, rate) in [
            ("unthrottled", Rate::Unthrottled),
            ("5000", Rate::MessagesPerSecond(5000.0)),
            ("5000 msg/s", Rate::MessagesPerSecond(5000.0)),
            ("12.5 MB/s", Rate::MegabytesPerSecond(12.5)),
        ] {
            assert_eq!(text.parse::<Rate>().unwrap(), rate, "{text}");
        }
        let numeric = Workload::from_toml("[producer]\nrate = 250").unwrap();
        assert_eq!(numeric.producer.rate, Rate::MessagesPerSecond(250.0));
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let cases = [
            ("[producer]\nbatch_bites = 5", "unknown field"),
            ("[producer]\nacks = 2", "acks"),
            ("[producer]\nrate = \"fast\"", "rate"),
            ("[producer]\nrate = \"-5 msg/s\"", "rate"),
            ("[producer]\nrate = \"5 GB/h\"", "unit"),
            ("[message]\nsize = 4", "message.size"),
            ("[message]\nsize = { min = 300, max = 200 }", "min 300"),
            (
                "[message]\nsize = { sizes = [100], weights = [0] }",
                "weight",
            ),
            ("[topics]\npartitions = 0", "topics.partitions"),
            ("[topics]\ncreate = false", "topics.delete"),
            ("[run]\nduration_seconds = 0", "duration"),
            ("[consumer]\nmode = \"sideways\"", "mode"),
            ("[consumer]\nsubscriptions = 0", "subscriptions"),
            ("name = \"a/b\"", "name"),
            ("[producer", "expected"),
        ];
        for (text, expected) in cases {
            let error = Workload::from_toml(text).unwrap_err().to_string();
            assert!(
                error.contains(expected),
                "{text:?}: error {error:?} does not mention {expected:?}"
            );
        }
    }

    #[test]
    fn every_shipped_workload_file_is_valid() {
        let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads");
        let mut count = 0;
        for entry in std::fs::read_dir(&directory).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let workload = Workload::from_file(&path).unwrap();
                assert_eq!(
                    Some(workload.name.as_str()),
                    path.file_stem().and_then(|s| s.to_str()),
                    "a workload is named after its file"
                );
                count += 1;
            }
        }
        assert!(count >= 6, "{count} workload files");
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let error = Workload::from_file(Path::new("/nonexistent/workload.toml"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("/nonexistent/workload.toml"), "{error}");
    }

    #[test]
    fn sampled_sizes_stay_within_bounds() {
        let mut rng = rand::thread_rng();
        let weighted = SizeSpec::Weighted {
            sizes: vec![100, 5000],
            weights: vec![1, 3],
        };
        let uniform = SizeSpec::Uniform { min: 50, max: 60 };
        for _ in 0..1000 {
            assert!([100, 5000].contains(&weighted.sample(&mut rng)));
            assert!((50..=60).contains(&uniform.sample(&mut rng)));
        }
    }
}
