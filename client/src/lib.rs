//! A small synchronous Kafka client built on `wire`'s generated messages.
//!
//! Ferrite's operator CLI (`ferritectl`) and the tests of every crate talk to brokers through
//! it. It is deliberately plain: blocking `std::net` sockets, one request in flight per
//! [`Connection`], typed requests in and typed responses out ([`Connection::send`]). It is not
//! on any performance path; the bench harness has its own asynchronous client.
//!
//! [`Cluster`] sits on top for commands that span brokers: it keeps one bootstrap connection,
//! learns broker addresses from Metadata, opens one connection per broker a request must reach
//! (a partition's leader) and finds and caches each group's coordinator (FindCoordinator).
//! It does no retries beyond waiting, boundedly, for a coordinator that is still loading;
//! what to do with a Kafka error code in a response is the caller's decision.
//!
//! Architecture invariant: this crate depends on `wire` only, never on the broker, so that it
//! measures and drives a broker from the outside exactly as any Kafka client would.

pub mod cluster;
pub mod connection;

pub use cluster::Cluster;
pub use connection::{error_name, ClientError, Connection, ConnectionOptions};
