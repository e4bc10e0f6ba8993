//! A small synchronous Kafka client built on `wire`'s generated messages.
//!
//! Ferrite's operator CLI (`ferritectl`) and the tests of every crate talk to brokers through
//! it. It is deliberately plain: blocking `std::net` sockets, one request in flight per
//! [`Connection`], typed requests in and typed responses out ([`Connection::send`]). It is not
//! on any performance path; the bench harness has its own asynchronous client.
//!
//! Architecture invariant: this crate depends on `wire` only, never on the broker, so that it
//! measures and drives a broker from the outside exactly as any Kafka client would.

pub mod connection;

pub use connection::{ClientError, Connection, ConnectionOptions};
