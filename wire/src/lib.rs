//! # wire: the Kafka protocol, and nothing else
//!
//! `wire` turns bytes into Kafka messages and back. It does no I/O and has no async code:
//! callers hand it complete frames and take encoded bytes away. That keeps it usable from the
//! broker's per-core executors, from the bench harness, from offline tools and from fuzzers alike.
//!
//! - [`records`]: the record batch v2 format (the unit the broker stores as received), its
//!   CRC32C, in-place rewrites of the fields a broker owns, record iteration and compression.
//!
//! Architecture invariant: `wire` depends on no other crate of this workspace, and never
//! allocates a buffer sized by a length read from the wire before checking that length against
//! the bytes that remain.

#![forbid(unsafe_code)]

pub mod codec;
pub mod messages;
pub mod records;
