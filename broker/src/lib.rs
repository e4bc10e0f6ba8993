//! # broker: the `ferrite` server
//!
//! A Kafka-compatible broker, thread-per-core: one pinned glommio executor (a *shard*) per
//! configured core, sharing nothing. The pieces so far:
//!
//! - [`config`]: every setting, from flags, environment, a TOML file and defaults.
//! - [`data_dir`]: the data directory and the lock that gives one broker sole use of it.
//! - [`runtime`]: the only code that names glommio: executors, the shared listener, signals.
//!
//! Architecture invariant: handlers and coordinators never name the async runtime; they use
//! the types in [`runtime`].

pub mod checkpoint;
pub mod config;
pub mod connection;
pub mod data_dir;
pub mod frame;
pub mod metadata;
pub mod runtime;
pub mod topic_config;
