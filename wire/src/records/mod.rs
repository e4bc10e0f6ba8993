//! Kafka record batches, format v2 (magic 2).
//!
//! The broker stores batches exactly as producers sent them. It only ever looks at the fixed
//! 61-byte header ([`BatchHeader`]), checks the CRC32C, and rewrites the fields a broker owns
//! (base offset, partition leader epoch, and for `LogAppendTime` topics the timestamp type and
//! max timestamp). Individual records are decoded only by tools, compaction, the bench harness
//! and tests:
//!
//! - [`Batch`] holds one validated batch as [`bytes::Bytes`]; [`Batch::records`] iterates its
//!   [`Record`]s, decompressing into a bounded buffer first if needed ([`compression`]).
//! - [`BatchBuilder`] encodes records into a batch with any codec and seals it with its CRC.
//! - [`ControlRecord`] reads transaction markers; [`build_end_transaction_batch`] writes them.
//!
//! Module map: `batch` (header layout and rewrites), `varint` (zigzag varints), `record`
//! (record layout and decoding), `iteration` (the per-batch iterator), `view` ([`Batch`]),
//! `compression` (codecs), `builder`, `control`.
//!
//! ```
//! use wire::records::{Batch, BatchBuilder, BatchOptions, Compression, NewHeader, NewRecord};
//!
//! let options = BatchOptions { compression: Compression::Zstd, ..BatchOptions::default() };
//! let mut builder = BatchBuilder::new(options);
//! builder.append(&NewRecord {
//!     timestamp_ms: 1_700_000_000_000,
//!     key: Some(b"user-42"),
//!     value: Some(b"clicked"),
//!     headers: &[NewHeader { key: b"trace", value: Some(b"abc") }],
//! })?;
//! let bytes = builder.finish()?.freeze();
//!
//! // Validate (magic, length bound, CRC32C), then iterate with a decompression bound.
//! let batch = Batch::parse(&bytes, 1 << 20)?;
//! for record in batch.records(1 << 20)? {
//!     let record = record?;
//!     assert_eq!(record.offset(), 0);
//!     assert_eq!(record.key().map(|key| &key[..]), Some(&b"user-42"[..]));
//!     assert_eq!(record.headers().iter().next().unwrap().key_str(), Ok("trace"));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod batch;
mod builder;
pub mod compression;
mod control;
mod iteration;
mod record;
pub mod varint;
mod view;

pub use batch::{
    crc32c_of_batch, set_base_offset, set_log_append_time, set_partition_leader_epoch,
    split_batches, Attributes, BatchError, BatchHeader, Compression, TimestampType,
    BATCH_HEADER_LEN, BATCH_OVERHEAD_LEN, CRC_RANGE_START,
};
pub use builder::{BatchBuilder, BatchOptions, BuildError, NewHeader, NewRecord};
pub use compression::{CompressionError, CompressionOptions, SnappyFraming};
pub use control::{
    build_end_transaction_batch, ControlDefect, ControlRecord, ControlType, EndTransaction,
    EndTransactionMarker, TransactionResult, CONTROL_KEY_VERSION, END_TRANSACTION_MARKER_VERSION,
};
pub use iteration::{RecordError, Records};
pub use record::{Header, HeaderIter, Record, RecordDefect, RecordHeaders, RECORD_LEN_MIN};
pub use view::{Batch, Batches};
