//! # broker: the `ferrite` server
//!
//! A Kafka-compatible broker, thread-per-core: one pinned glommio executor (a *shard*) per
//! configured core, sharing nothing. Module map, from the socket inwards:
//!
//! - [`server`]: start-up (data directory lock, metadata recovery, listener, shards) and
//!   orderly shutdown.
//! - [`connection`]: one client connection: frames in, replies out in request order, limits.
//! - [`handlers`]: one file per Kafka API, registered in one table with their versions.
//! - [`shard`]: what one core owns, and how metadata changes reach every core.
//! - [`partitions`]: the partition logs of one shard (on the `storage` crate).
//! - [`producer_state`]: idempotent producers' last batches per partition (deduplication).
//! - [`fetch_session`]: incremental fetch sessions (KIP-227).
//! - [`group`]: the group coordinator: consumer groups and committed offsets, kept in
//!   `__consumer_offsets`.
//! - [`metadata`]: the metadata log, image, records and partition placement.
//! - [`topics`], [`topic_config`]: topic creation and the topic config table.
//! - [`config`]: every setting, from flags, environment, a TOML file and defaults.
//! - [`data_dir`], [`checkpoint`], [`frame`]: the data directory lock, checkpoint files, frame
//!   sizes.
//! - [`testing`]: an in-process broker for tests (here and in the crates above).
//! - [`runtime`]: the only code that names glommio: executors, listener, streams, cross-shard
//!   calls, tasks, timers, signals.
//!
//! Architecture invariant: handlers and coordinators never name the async runtime; they use
//! the types in [`runtime`].

pub mod checkpoint;
pub mod config;
pub mod connection;
pub mod data_dir;
pub mod fetch_session;
pub mod frame;
pub mod group;
pub mod handlers;
pub mod metadata;
pub mod partitions;
pub mod producer_state;
pub mod runtime;
pub mod server;
pub mod shard;
pub mod testing;
pub mod topic_config;
pub mod topics;
