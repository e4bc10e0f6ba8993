//! The topic configs Ferrite understands: names, defaults, validation.
//!
//! One table ([`TOPIC_CONFIGS`]) serves CreateTopics (validate the configs given), DescribeConfigs
//! (list every config with its value and whether it is a default), AlterConfigs and
//! IncrementalAlterConfigs (validate before recording), and the translation to storage settings.
//! Names and defaults are Kafka's, with one deliberate difference: `flush.messages` defaults to
//! 1, so a Ferrite topic makes every append durable before acks=all is answered (Kafka's default
//! relies on replication instead and never forces a flush).
//!
//! A name not in the table is refused with INVALID_CONFIG, as Kafka refuses unknown topic
//! configs.

use std::collections::BTreeMap;

/// What values a config takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigKind {
    /// A 64-bit integer in `[min, max]`.
    Long { min: i64, max: i64 },
    /// A 32-bit integer in `[min, max]`.
    Int { min: i32, max: i32 },
    /// `true` or `false`.
    Boolean,
    /// One of the listed words.
    OneOf(&'static [&'static str]),
    /// A comma-separated, non-empty list of the listed words.
    ListOf(&'static [&'static str]),
}

/// One topic config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicConfigSpec {
    pub name: &'static str,
    pub kind: ConfigKind,
    pub default: &'static str,
    /// One line for DescribeConfigs documentation and `ferritectl`.
    pub documentation: &'static str,
}

const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

/// Every topic config Ferrite accepts, in name order.
pub const TOPIC_CONFIGS: &[TopicConfigSpec] = &[
    TopicConfigSpec {
        name: "cleanup.policy",
        kind: ConfigKind::ListOf(&["delete", "compact"]),
        default: "delete",
        documentation: "delete old segments by retention, compact by key, or both",
    },
    TopicConfigSpec {
        name: "compression.type",
        kind: ConfigKind::OneOf(COMPRESSION_TYPES),
        default: "producer",
        documentation: "codec batches are stored with; `producer` keeps the producer's",
    },
    TopicConfigSpec {
        name: "flush.messages",
        kind: ConfigKind::Long {
            min: 1,
            max: i64::MAX,
        },
        default: "1",
        documentation: "fdatasync after this many appends; 1 makes each append durable before acks=all is answered",
    },
    TopicConfigSpec {
        name: "flush.ms",
        kind: ConfigKind::Long {
            min: 0,
            max: i64::MAX,
        },
        default: "9223372036854775807",
        documentation: "fdatasync at least this often (milliseconds) when flush.messages is above 1",
    },
    TopicConfigSpec {
        name: "index.interval.bytes",
        kind: ConfigKind::Int {
            min: 0,
            max: i32::MAX,
        },
        default: "4096",
        documentation: "bytes of log between two offset index entries",
    },
    TopicConfigSpec {
        name: "max.message.bytes",
        kind: ConfigKind::Int {
            min: 0,
            max: i32::MAX,
        },
        default: "1048588",
        documentation: "largest record batch accepted, in bytes",
    },
    TopicConfigSpec {
        name: "message.timestamp.type",
        kind: ConfigKind::OneOf(&["CreateTime", "LogAppendTime"]),
        default: "CreateTime",
        documentation: "keep the producer's timestamps, or stamp batches with the broker's clock",
    },
    TopicConfigSpec {
        name: "min.insync.replicas",
        kind: ConfigKind::Int {
            min: 1,
            max: i32::MAX,
        },
        default: "1",
        documentation: "replicas that must have an acks=all write",
    },
    TopicConfigSpec {
        name: "retention.bytes",
        kind: ConfigKind::Long {
            min: -1,
            max: i64::MAX,
        },
        default: "-1",
        documentation: "delete the oldest segments while a partition is larger; -1 for no limit",
    },
    TopicConfigSpec {
        name: "retention.ms",
        kind: ConfigKind::Long {
            min: -1,
            max: i64::MAX,
        },
        default: "604800000",
        documentation: "delete segments whose newest record is older; -1 for no limit",
    },
    TopicConfigSpec {
        name: "segment.bytes",
        kind: ConfigKind::Int {
            min: 4096,
            max: i32::MAX,
        },
        default: "1073741824",
        documentation: "size at which a new segment file is started",
    },
    TopicConfigSpec {
        name: "segment.ms",
        kind: ConfigKind::Long {
            min: 1,
            max: i64::MAX,
        },
        default: "604800000",
        documentation: "age at which a new segment file is started",
    },
];

/// The spec of the config called `name`, if Ferrite knows it.
pub fn spec(name: &str) -> Option<&'static TopicConfigSpec> {
    TOPIC_CONFIGS.iter().find(|spec| spec.name == name)
}

/// Checks one `name = value` pair; the error says what is wrong, for the client.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let spec = spec(name).ok_or_else(|| format!("unknown topic config `{name}`"))?;
    let out_of_range = |min: &dyn std::fmt::Display, max: &dyn std::fmt::Display| {
        format!("`{name}` = `{value}` is not a number in [{min}, {max}]")
    };
    match spec.kind {
        ConfigKind::Long { min, max } => match value.trim().parse::<i64>() {
            Ok(number) if (min..=max).contains(&number) => Ok(()),
            _ => Err(out_of_range(&min, &max)),
        },
        ConfigKind::Int { min, max } => match value.trim().parse::<i32>() {
            Ok(number) if (min..=max).contains(&number) => Ok(()),
            _ => Err(out_of_range(&min, &max)),
        },
        ConfigKind::Boolean => match value.trim() {
            "true" | "false" => Ok(()),
            _ => Err(format!("`{name}` = `{value}` is not true or false")),
        },
        ConfigKind::OneOf(words) => {
            if words.contains(&value.trim()) {
                Ok(())
            } else {
                Err(format!(
                    "`{name}` = `{value}` is not one of {}",
                    words.join(", ")
                ))
            }
        }
        ConfigKind::ListOf(words) => {
            let items: Vec<&str> = value.split(',').map(str::trim).collect();
            if !items.is_empty() && items.iter().all(|item| words.contains(item)) {
                Ok(())
            } else {
                Err(format!(
                    "`{name}` = `{value}` is not a list of {}",
                    words.join(", ")
                ))
            }
        }
    }
}

/// Checks every pair; the first problem is returned.
pub fn validate_all<'a>(
    configs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), String> {
    configs
        .into_iter()
        .try_for_each(|(name, value)| validate(name, value))
}

/// A config's value for a topic: its override, or the default. `None` for unknown names.
pub fn effective<'a>(overrides: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    let spec = spec(name)?;
    Some(overrides.get(name).map_or(spec.default, String::as_str))
}

/// A config's effective value as a number. Only for names in the table whose kind is a
/// number; their values were validated when recorded.
fn effective_number(overrides: &BTreeMap<String, String>, name: &str) -> i64 {
    let value = effective(overrides, name).expect("a config in the table");
    value
        .trim()
        .parse()
        .expect("configs are validated before they are recorded")
}

/// The storage settings of a partition log of a topic with these config overrides.
///
/// `flush.messages = 1` (the default) makes every append durable before it is acknowledged;
/// any other value flushes on `flush.ms` only (storage counts bytes, not messages, so the
/// message count itself is not enforced). A negative `retention.ms` or `retention.bytes` means
/// unlimited, as in Kafka.
pub fn log_config(overrides: &BTreeMap<String, String>) -> storage::LogConfig {
    let non_negative = |value: i64| u64::try_from(value).ok();
    let flush = if effective_number(overrides, "flush.messages") == 1 {
        storage::FlushPolicy::OnAppend
    } else {
        storage::FlushPolicy::Interval {
            interval_ms: non_negative(effective_number(overrides, "flush.ms")).unwrap_or(u64::MAX),
            bytes: u64::MAX,
        }
    };
    let timestamp_type = match effective(overrides, "message.timestamp.type") {
        Some("LogAppendTime") => storage::TimestampType::LogAppendTime,
        _ => storage::TimestampType::CreateTime,
    };
    storage::LogConfig {
        segment_bytes_max: non_negative(effective_number(overrides, "segment.bytes"))
            .expect("segment.bytes has a positive minimum"),
        segment_ms: non_negative(effective_number(overrides, "segment.ms")).unwrap_or(u64::MAX),
        index_interval_bytes: u32::try_from(effective_number(overrides, "index.interval.bytes"))
            .unwrap_or(u32::MAX),
        retention_ms: non_negative(effective_number(overrides, "retention.ms")),
        retention_bytes: non_negative(effective_number(overrides, "retention.bytes")),
        flush,
        timestamp_type,
        // Storage needs room for a batch header; smaller limits refuse every batch anyway.
        batch_bytes_max: usize::try_from(effective_number(overrides, "max.message.bytes"))
            .unwrap_or(usize::MAX)
            .max(wire::records::BATCH_HEADER_LEN),
        ..storage::LogConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_is_valid_and_the_table_is_sorted() {
        for spec in TOPIC_CONFIGS {
            assert_eq!(validate(spec.name, spec.default), Ok(()), "{}", spec.name);
        }
        let names: Vec<_> = TOPIC_CONFIGS.iter().map(|spec| spec.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
    }

    #[test]
    fn bad_values_and_unknown_names_are_refused_with_a_reason() {
        assert!(validate("retention.ms", "-2")
            .unwrap_err()
            .contains("retention.ms"));
        assert!(validate("retention.ms", "soon").is_err());
        assert!(validate("segment.bytes", "100").is_err());
        assert!(validate("segment.bytes", "99999999999").is_err());
        assert!(validate("cleanup.policy", "compact,delete").is_ok());
        assert!(validate("cleanup.policy", "compact,shred").is_err());
        assert!(validate("message.timestamp.type", "LogAppendTime").is_ok());
        assert!(validate("message.timestamp.type", "WallTime").is_err());
        assert!(validate("no.such.config", "1")
            .unwrap_err()
            .contains("unknown"));
        assert!(validate_all([("retention.ms", "1"), ("segment.ms", "0")]).is_err());
    }

    #[test]
    fn log_config_follows_the_topic_configs() {
        let defaults = log_config(&BTreeMap::new());
        defaults.validate().unwrap();
        assert_eq!(defaults.flush, storage::FlushPolicy::OnAppend);
        assert_eq!(defaults.retention_ms, Some(604_800_000));
        assert_eq!(defaults.retention_bytes, None);
        assert_eq!(defaults.batch_bytes_max, 1_048_588);
        let overrides = BTreeMap::from([
            ("flush.messages".to_owned(), "1000".to_owned()),
            ("flush.ms".to_owned(), "250".to_owned()),
            ("retention.ms".to_owned(), "-1".to_owned()),
            ("retention.bytes".to_owned(), "4096".to_owned()),
            ("segment.bytes".to_owned(), "8192".to_owned()),
            (
                "message.timestamp.type".to_owned(),
                "LogAppendTime".to_owned(),
            ),
        ]);
        let custom = log_config(&overrides);
        custom.validate().unwrap();
        assert_eq!(
            custom.flush,
            storage::FlushPolicy::Interval {
                interval_ms: 250,
                bytes: u64::MAX
            }
        );
        assert_eq!(custom.retention_ms, None);
        assert_eq!(custom.retention_bytes, Some(4096));
        assert_eq!(custom.segment_bytes_max, 8192);
        assert_eq!(custom.timestamp_type, storage::TimestampType::LogAppendTime);
    }

    #[test]
    fn effective_values_prefer_overrides() {
        let overrides = BTreeMap::from([("retention.ms".to_owned(), "5".to_owned())]);
        assert_eq!(effective(&overrides, "retention.ms"), Some("5"));
        assert_eq!(effective(&overrides, "segment.ms"), Some("604800000"));
        assert_eq!(effective(&overrides, "nope"), None);
    }
}
