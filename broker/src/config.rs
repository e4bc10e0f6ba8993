//! Broker settings: defaults, a TOML file, environment variables and command-line flags.
//!
//! Every setting can come from four places; the first one that has it wins:
//! 1. a command-line flag (`--listen 0.0.0.0:9092`),
//! 2. an environment variable (`FERRITE_LISTEN=0.0.0.0:9092`),
//! 3. the TOML config file given by `--config` / `FERRITE_CONFIG` (`listen = "0.0.0.0:9092"`),
//! 4. the built-in default, chosen to serve a single node on this machine.
//!
//! [`Settings`] is the one list of settings: the same struct is parsed by clap (flags and
//! environment) and by serde (the file), so a setting is declared once and exists in all three
//! forms. [`Settings::resolve`] merges and validates them into a [`BrokerConfig`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;

/// Errors while reading or checking the configuration. Each names the setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("setting `{setting}`: {reason}")]
    Invalid {
        setting: &'static str,
        reason: String,
    },
}

/// The command line of `ferrite`.
#[derive(Debug, Parser)]
#[command(
    name = "ferrite",
    version,
    about = "Ferrite: a Kafka-compatible, thread-per-core streaming broker",
    long_about = "Ferrite: a Kafka-compatible, thread-per-core streaming broker.\n\n\
        Every setting below can also be given as an environment variable (shown in brackets) \
        or as a key of the same name in the TOML file passed with --config. Flags win over \
        environment variables, which win over the file, which wins over the defaults."
)]
pub struct CommandLine {
    /// TOML config file; keys are the setting names below with `_` (for example
    /// `data_dir = "/var/lib/ferrite"`).
    #[arg(long, env = "FERRITE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub settings: Settings,
}

/// One optional value per setting. `None` means "not given here".
#[derive(Debug, Default, Clone, clap::Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address the Kafka listener binds to [default: 127.0.0.1:9092].
    #[arg(long, env = "FERRITE_LISTEN", value_name = "HOST:PORT")]
    pub listen: Option<SocketAddr>,

    /// Address given to clients in metadata responses [default: the listen address].
    #[arg(long, env = "FERRITE_ADVERTISED_LISTENER", value_name = "HOST:PORT")]
    pub advertised_listener: Option<String>,

    /// This broker's node id in the cluster [default: 0].
    #[arg(long, env = "FERRITE_NODE_ID")]
    pub node_id: Option<i32>,

    /// Directory holding partition logs and metadata; locked while the broker runs
    /// [default: ./data].
    #[arg(long, env = "FERRITE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// CPU cores to run one executor on each, as a list like `0,2-3` [default: every core
    /// this process may run on].
    #[arg(long, env = "FERRITE_CORES", value_name = "LIST")]
    pub cores: Option<String>,

    /// Bytes of io_uring buffer memory registered per core. Registration needs locked memory
    /// (ulimit -l); the default stays small so it works under common limits [default: 1 MiB].
    #[arg(long, env = "FERRITE_IO_MEMORY_BYTES", value_name = "BYTES")]
    pub io_memory_bytes: Option<usize>,

    /// Largest request frame accepted, as Kafka's socket.request.max.bytes [default: 104857600].
    #[arg(long, env = "FERRITE_REQUEST_BYTES_MAX", value_name = "BYTES")]
    pub request_bytes_max: Option<usize>,

    /// Most client connections open at once across all cores [default: 4096].
    #[arg(long, env = "FERRITE_CONNECTIONS_MAX")]
    pub connections_max: Option<usize>,

    /// Requests of one connection being processed at once; further requests wait in the
    /// socket (backpressure) [default: 16].
    #[arg(long, env = "FERRITE_IN_FLIGHT_REQUESTS_PER_CONNECTION_MAX")]
    pub in_flight_requests_per_connection_max: Option<usize>,

    /// Close connections idle for this long, as Kafka's connections.max.idle.ms
    /// [default: 600000].
    #[arg(long, env = "FERRITE_CONNECTION_IDLE_TIMEOUT_MS", value_name = "MS")]
    pub connection_idle_timeout_ms: Option<u64>,

    /// Create a topic when a client asks for metadata of an unknown one, as Kafka's
    /// auto.create.topics.enable [default: true].
    #[arg(long, env = "FERRITE_AUTO_CREATE_TOPICS", value_name = "BOOL")]
    pub auto_create_topics: Option<bool>,

    /// Partitions of an auto-created topic, as Kafka's num.partitions [default: 1].
    #[arg(long, env = "FERRITE_DEFAULT_PARTITIONS")]
    pub default_partitions: Option<i32>,

    /// Bytes of recent batches cached per core for tailing consumers [default: 67108864].
    #[arg(long, env = "FERRITE_READ_CACHE_BYTES_PER_CORE", value_name = "BYTES")]
    pub read_cache_bytes_per_core: Option<usize>,

    /// Incremental fetch sessions (KIP-227) kept per core, as Kafka's
    /// max.incremental.fetch.session.cache.slots; the least recently used is evicted
    /// [default: 1000].
    #[arg(long, env = "FERRITE_FETCH_SESSIONS_PER_CORE_MAX")]
    pub fetch_sessions_per_core_max: Option<usize>,

    /// How long a partition remembers an idempotent producer after its last batch; Kafka's
    /// producer.id.expiration.ms [default: 86400000, one day].
    #[arg(long, env = "FERRITE_PRODUCER_ID_EXPIRATION_MS")]
    pub producer_id_expiration_ms: Option<i64>,

    /// Partitions of the internal `__consumer_offsets` topic, fixed when a group first uses
    /// it; Kafka's offsets.topic.num.partitions [default: 50].
    #[arg(long, env = "FERRITE_OFFSETS_TOPIC_PARTITIONS")]
    pub offsets_topic_partitions: Option<i32>,

    /// How long committed offsets of a group without members are kept, counted from when it
    /// became empty (from each commit for groups that never had members); Kafka's
    /// offsets.retention.minutes [default: 10080, seven days].
    #[arg(long, env = "FERRITE_OFFSETS_RETENTION_MINUTES")]
    pub offsets_retention_minutes: Option<i64>,

    /// Largest metadata string a client may commit with an offset; Kafka's
    /// offset.metadata.max.bytes [default: 4096].
    #[arg(long, env = "FERRITE_OFFSET_METADATA_BYTES_MAX", value_name = "BYTES")]
    pub offset_metadata_bytes_max: Option<usize>,

    /// How long the first rebalance of an empty group waits for more members to join;
    /// Kafka's group.initial.rebalance.delay.ms [default: 3000].
    #[arg(
        long,
        env = "FERRITE_GROUP_INITIAL_REBALANCE_DELAY_MS",
        value_name = "MS"
    )]
    pub group_initial_rebalance_delay_ms: Option<i64>,

    /// Shortest session timeout a group member may ask for; Kafka's
    /// group.min.session.timeout.ms [default: 6000].
    #[arg(long, env = "FERRITE_GROUP_MIN_SESSION_TIMEOUT_MS", value_name = "MS")]
    pub group_min_session_timeout_ms: Option<i32>,

    /// Longest session timeout a group member may ask for; Kafka's
    /// group.max.session.timeout.ms [default: 1800000].
    #[arg(long, env = "FERRITE_GROUP_MAX_SESSION_TIMEOUT_MS", value_name = "MS")]
    pub group_max_session_timeout_ms: Option<i32>,

    /// Most members one group may have; Kafka's group.max.size [default: 2147483647].
    #[arg(long, env = "FERRITE_GROUP_MAX_SIZE")]
    pub group_max_size: Option<usize>,

    /// Log output format: `text` for people, `json` for log collectors [default: text].
    #[arg(long, env = "FERRITE_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Log filter in tracing's syntax, for example `info` or `info,broker=debug`
    /// [default: info].
    #[arg(long, env = "FERRITE_LOG", value_name = "FILTER")]
    pub log: Option<String>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The resolved configuration: every setting has a checked value.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    pub listen: SocketAddr,
    pub advertised_listener: AdvertisedListener,
    pub node_id: i32,
    pub data_dir: PathBuf,
    pub cores: Vec<usize>,
    pub io_memory_bytes: usize,
    pub request_bytes_max: usize,
    pub connections_max: usize,
    pub in_flight_requests_per_connection_max: usize,
    pub connection_idle_timeout_ms: u64,
    pub auto_create_topics: bool,
    pub default_partitions: i32,
    pub read_cache_bytes_per_core: usize,
    pub fetch_sessions_per_core_max: usize,
    pub producer_id_expiration_ms: i64,
    pub groups: crate::group::GroupConfig,
    pub log_format: LogFormat,
    pub log: String,
}

/// The host and port clients are told to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertisedListener {
    pub host: String,
    pub port: u16,
}

/// Kafka's socket.request.max.bytes default.
pub const REQUEST_BYTES_MAX_DEFAULT: usize = 100 * 1024 * 1024;
/// The smallest request limit we accept: a request header and a small body must fit.
const REQUEST_BYTES_MAX_MIN: usize = 1024;
/// io_uring buffer memory registered per core unless configured.
const IO_MEMORY_BYTES_DEFAULT: usize = 1024 * 1024;

impl CommandLine {
    /// Reads the config file (if any) and merges it under the flags and environment.
    pub fn resolve(self) -> Result<BrokerConfig, ConfigError> {
        let from_file = match &self.config {
            Some(path) => Settings::from_file(path)?,
            None => Settings::default(),
        };
        self.settings.or(from_file).resolve()
    }
}

impl Settings {
    /// Parses a TOML config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|error| ConfigError::ParseFile {
            path: path.to_owned(),
            message: error.to_string(),
        })
    }

    /// Each setting from `self` where given, otherwise from `lower`.
    pub fn or(self, lower: Settings) -> Settings {
        Settings {
            listen: self.listen.or(lower.listen),
            advertised_listener: self.advertised_listener.or(lower.advertised_listener),
            node_id: self.node_id.or(lower.node_id),
            data_dir: self.data_dir.or(lower.data_dir),
            cores: self.cores.or(lower.cores),
            io_memory_bytes: self.io_memory_bytes.or(lower.io_memory_bytes),
            request_bytes_max: self.request_bytes_max.or(lower.request_bytes_max),
            connections_max: self.connections_max.or(lower.connections_max),
            in_flight_requests_per_connection_max: self
                .in_flight_requests_per_connection_max
                .or(lower.in_flight_requests_per_connection_max),
            connection_idle_timeout_ms: self
                .connection_idle_timeout_ms
                .or(lower.connection_idle_timeout_ms),
            auto_create_topics: self.auto_create_topics.or(lower.auto_create_topics),
            default_partitions: self.default_partitions.or(lower.default_partitions),
            read_cache_bytes_per_core: self
                .read_cache_bytes_per_core
                .or(lower.read_cache_bytes_per_core),
            fetch_sessions_per_core_max: self
                .fetch_sessions_per_core_max
                .or(lower.fetch_sessions_per_core_max),
            producer_id_expiration_ms: self
                .producer_id_expiration_ms
                .or(lower.producer_id_expiration_ms),
            offsets_topic_partitions: self
                .offsets_topic_partitions
                .or(lower.offsets_topic_partitions),
            offsets_retention_minutes: self
                .offsets_retention_minutes
                .or(lower.offsets_retention_minutes),
            offset_metadata_bytes_max: self
                .offset_metadata_bytes_max
                .or(lower.offset_metadata_bytes_max),
            group_initial_rebalance_delay_ms: self
                .group_initial_rebalance_delay_ms
                .or(lower.group_initial_rebalance_delay_ms),
            group_min_session_timeout_ms: self
                .group_min_session_timeout_ms
                .or(lower.group_min_session_timeout_ms),
            group_max_session_timeout_ms: self
                .group_max_session_timeout_ms
                .or(lower.group_max_session_timeout_ms),
            group_max_size: self.group_max_size.or(lower.group_max_size),
            log_format: self.log_format.or(lower.log_format),
            log: self.log.or(lower.log),
        }
    }

    /// Fills in defaults and checks every value.
    pub fn resolve(self) -> Result<BrokerConfig, ConfigError> {
        let listen = self
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9092)));
        let advertised_listener = match self.advertised_listener {
            Some(text) => parse_advertised_listener(&text)?,
            None => {
                if listen.ip().is_unspecified() {
                    return Err(ConfigError::Invalid {
                        setting: "advertised_listener",
                        reason: format!(
                            "listen address {listen} is a wildcard; say which address clients \
                             should connect to"
                        ),
                    });
                }
                AdvertisedListener {
                    host: listen.ip().to_string(),
                    port: listen.port(),
                }
            }
        };
        let cores = match self.cores {
            Some(text) => parse_core_list(&text)?,
            None => available_cores(),
        };
        let request_bytes_max = self.request_bytes_max.unwrap_or(REQUEST_BYTES_MAX_DEFAULT);
        if !(REQUEST_BYTES_MAX_MIN..=i32::MAX as usize).contains(&request_bytes_max) {
            return Err(ConfigError::Invalid {
                setting: "request_bytes_max",
                reason: format!(
                    "{request_bytes_max} is outside [{REQUEST_BYTES_MAX_MIN}, {}]",
                    i32::MAX
                ),
            });
        }
        let config = BrokerConfig {
            listen,
            advertised_listener,
            node_id: self.node_id.unwrap_or(0),
            data_dir: self.data_dir.unwrap_or_else(|| PathBuf::from("./data")),
            cores,
            io_memory_bytes: self.io_memory_bytes.unwrap_or(IO_MEMORY_BYTES_DEFAULT),
            request_bytes_max,
            connections_max: self.connections_max.unwrap_or(4096),
            in_flight_requests_per_connection_max: self
                .in_flight_requests_per_connection_max
                .unwrap_or(16),
            connection_idle_timeout_ms: self.connection_idle_timeout_ms.unwrap_or(600_000),
            auto_create_topics: self.auto_create_topics.unwrap_or(true),
            default_partitions: self.default_partitions.unwrap_or(1),
            read_cache_bytes_per_core: self.read_cache_bytes_per_core.unwrap_or(64 << 20),
            fetch_sessions_per_core_max: self.fetch_sessions_per_core_max.unwrap_or(1000),
            producer_id_expiration_ms: self
                .producer_id_expiration_ms
                .unwrap_or(crate::producer_state::PRODUCER_ID_EXPIRATION_MS_DEFAULT),
            groups: crate::group::GroupConfig {
                offsets_topic_partitions: self.offsets_topic_partitions.unwrap_or(50),
                offsets_retention_ms: self
                    .offsets_retention_minutes
                    .unwrap_or(10_080)
                    .saturating_mul(60_000),
                offset_metadata_bytes_max: self.offset_metadata_bytes_max.unwrap_or(4096),
                initial_rebalance_delay_ms: self.group_initial_rebalance_delay_ms.unwrap_or(3000),
                min_session_timeout_ms: self.group_min_session_timeout_ms.unwrap_or(6000),
                max_session_timeout_ms: self.group_max_session_timeout_ms.unwrap_or(1_800_000),
                max_size: self.group_max_size.unwrap_or(i32::MAX as usize),
            },
            log_format: self.log_format.unwrap_or(LogFormat::Text),
            log: self.log.unwrap_or_else(|| "info".to_owned()),
        };
        config.check()?;
        Ok(config)
    }
}

impl BrokerConfig {
    /// A configuration for tests and embedding: listen on a free loopback port, data in
    /// `data_dir`, one core (the first this process may use), small memory.
    pub fn for_tests(data_dir: &Path) -> BrokerConfig {
        let settings = Settings {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            data_dir: Some(data_dir.to_path_buf()),
            cores: Some(available_cores().first().copied().unwrap_or(0).to_string()),
            io_memory_bytes: Some(512 * 1024),
            read_cache_bytes_per_core: Some(16 << 20),
            // Groups in tests form at once and may use short sessions.
            group_initial_rebalance_delay_ms: Some(0),
            group_min_session_timeout_ms: Some(100),
            ..Settings::default()
        };
        settings.resolve().expect("the test configuration is valid")
    }

    fn check(&self) -> Result<(), ConfigError> {
        let positive = [
            ("connections_max", self.connections_max as u64),
            (
                "in_flight_requests_per_connection_max",
                self.in_flight_requests_per_connection_max as u64,
            ),
            (
                "connection_idle_timeout_ms",
                self.connection_idle_timeout_ms,
            ),
            ("io_memory_bytes", self.io_memory_bytes as u64),
        ];
        for (setting, value) in positive {
            if value == 0 {
                return Err(ConfigError::Invalid {
                    setting,
                    reason: "must be greater than 0".to_owned(),
                });
            }
        }
        if self.producer_id_expiration_ms < 1 {
            return Err(ConfigError::Invalid {
                setting: "producer_id_expiration_ms",
                reason: format!("{} is below 1", self.producer_id_expiration_ms),
            });
        }
        if self.default_partitions < 1 {
            return Err(ConfigError::Invalid {
                setting: "default_partitions",
                reason: format!("{} is below 1", self.default_partitions),
            });
        }
        self.groups.check()?;
        if self.node_id < 0 {
            return Err(ConfigError::Invalid {
                setting: "node_id",
                reason: format!("{} is negative", self.node_id),
            });
        }
        Ok(())
    }
}

fn parse_advertised_listener(text: &str) -> Result<AdvertisedListener, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        setting: "advertised_listener",
        reason,
    };
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| invalid(format!("`{text}` is not HOST:PORT")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(invalid(format!("`{text}` has an empty host")));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| invalid(format!("`{port}` is not a port number")))?;
    Ok(AdvertisedListener {
        host: host.to_owned(),
        port,
    })
}

/// Parses a core list such as `0,2-3` into sorted, distinct core ids.
pub fn parse_core_list(text: &str) -> Result<Vec<usize>, ConfigError> {
    const CORE_ID_MAX: usize = 4095;
    let invalid = |reason: String| ConfigError::Invalid {
        setting: "cores",
        reason,
    };
    let mut cores = Vec::new();
    for part in text
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        let parse = |number: &str| {
            number
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|core| *core <= CORE_ID_MAX)
                .ok_or_else(|| invalid(format!("`{number}` is not a core id (0..={CORE_ID_MAX})")))
        };
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (parse(first)?, parse(last)?);
                if first > last {
                    return Err(invalid(format!("range `{part}` runs backwards")));
                }
                cores.extend(first..=last);
            }
            None => cores.push(parse(part)?),
        }
    }
    cores.sort_unstable();
    cores.dedup();
    if cores.is_empty() {
        return Err(invalid(format!("`{text}` names no core")));
    }
    Ok(cores)
}

/// The cores this process may run on (its CPU affinity mask).
pub fn available_cores() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most size_of::<cpu_set_t>().
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let result =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if result != 0 {
        let count = std::thread::available_parallelism().map_or(1, usize::from);
        return (0..count).collect();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: the index is below CPU_SETSIZE.
        .filter(|core| unsafe { libc::CPU_ISSET(*core, &set) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_serve_a_single_local_node() {
        let config = Settings::default().resolve().unwrap();
        assert_eq!(
            config.listen,
            "127.0.0.1:9092".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            config.advertised_listener,
            AdvertisedListener {
                host: "127.0.0.1".into(),
                port: 9092
            }
        );
        assert_eq!(config.data_dir, PathBuf::from("./data"));
        assert_eq!(config.request_bytes_max, REQUEST_BYTES_MAX_DEFAULT);
        assert_eq!(config.cores, available_cores());
        assert!(!config.cores.is_empty());
    }

    #[test]
    fn flags_beat_file_beats_default() {
        let file: Settings =
            toml::from_str("listen = \"127.0.0.1:19092\"\nnode_id = 3\ncores = \"0\"").unwrap();
        let flags = Settings {
            node_id: Some(7),
            ..Settings::default()
        };
        let config = flags.or(file).resolve().unwrap();
        assert_eq!(config.node_id, 7);
        assert_eq!(config.listen.port(), 19092);
        assert_eq!(config.cores, vec![0]);
        assert_eq!(config.connections_max, 4096);
    }

    #[test]
    fn environment_is_read_by_the_command_line() {
        // clap reads the variable while parsing; use a name no other test touches.
        std::env::set_var("FERRITE_CONNECTION_IDLE_TIMEOUT_MS", "1234");
        let parsed = CommandLine::try_parse_from(["ferrite"]).unwrap();
        std::env::remove_var("FERRITE_CONNECTION_IDLE_TIMEOUT_MS");
        assert_eq!(parsed.settings.connection_idle_timeout_ms, Some(1234));
    }

    #[test]
    fn unknown_file_keys_and_bad_values_are_rejected() {
        assert!(toml::from_str::<Settings>("lisen = \"x\"").is_err());
        let zero = Settings {
            connections_max: Some(0),
            ..Settings::default()
        };
        assert!(matches!(
            zero.resolve(),
            Err(ConfigError::Invalid {
                setting: "connections_max",
                ..
            })
        ));
        let tiny = Settings {
            request_bytes_max: Some(10),
            ..Settings::default()
        };
        assert!(tiny.resolve().is_err());
        let wildcard = Settings {
            listen: Some("0.0.0.0:9092".parse().unwrap()),
            ..Settings::default()
        };
        assert!(wildcard.resolve().is_err());
    }

    #[test]
    fn core_lists_parse_ranges_and_reject_nonsense() {
        assert_eq!(parse_core_list("0,2-4,3").unwrap(), vec![0, 2, 3, 4]);
        assert!(parse_core_list("3-1").is_err());
        assert!(parse_core_list("").is_err());
        assert!(parse_core_list("a").is_err());
        assert!(parse_core_list("99999").is_err());
    }

    #[test]
    fn advertised_listener_parses_host_and_port() {
        let parsed = parse_advertised_listener("broker-1.example:9093").unwrap();
        assert_eq!(parsed.host, "broker-1.example");
        assert_eq!(parsed.port, 9093);
        assert!(parse_advertised_listener("nohost").is_err());
        assert!(parse_advertised_listener(":9092").is_err());
        assert!(parse_advertised_listener("h:99999").is_err());
    }
}
