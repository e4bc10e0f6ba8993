//! # ferrite-bench: a Kafka-protocol load generator and report writer
//!
//! The bench speaks the Kafka protocol through `wire`, so it measures Ferrite and any other
//! Kafka broker with the same load. Its producers and consumers are its own: asynchronous, on
//! glommio executors pinned to the cores it is given (by default the last core, leaving the
//! others to the broker), so the bench does not steal the cores of what it measures.
//!
//! Measurement is open-loop: producers send at a target rate on a fixed schedule and every
//! latency counts from the *intended* send time, so a stall shows in every message it delayed
//! (no coordinated omission). Latencies go into HdrHistograms; throughput is kept per second.
//!
//! Code map:
//! - [`workload`]: what a run does (TOML file and flags), validated before anything runs.
//! - [`admin`]: set-up and tear-down over the synchronous `client` crate (topics, leaders).
//! - [`connection`]: the asynchronous Kafka connection, split into a writer and a reader.
//! - [`producer`], [`consumer`]: the load; [`payload`]: the header each message carries.
//! - [`latency`], [`stats`]: histograms and per-core counters; [`runner`]: one run end to end.
//! - [`report`]: the JSON report and the summary table; [`html`]: the HTML report with its
//!   SVG plots; [`limits`]: disk, loopback and sink limits beside the results;
//!   [`machine`]: what we ran on.
//! - [`sink`]: a Kafka-protocol server that acknowledges and discards (the bench's ceiling).
//!
//! Architecture invariant: the bench depends on `wire` and `client` only, never on the
//! broker (the broker is a dev-dependency, for the end-to-end test): it measures a broker from
//! the outside, exactly as any Kafka client would.

pub mod admin;
pub mod connection;
pub mod consumer;
pub mod html;
pub mod latency;
pub mod limits;
pub mod machine;
pub mod payload;
pub mod producer;
pub mod report;
pub mod runner;
pub mod sink;
pub mod stats;
pub mod workload;
