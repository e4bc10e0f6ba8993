//! # storage: partition logs on disk
//!
//! A partition log is a directory of segments, each a data file of record batches stored as
//! producers sent them (v2 bytes, with the broker-owned header fields rewritten) beside a sparse
//! offset index and a time index. This crate knows nothing of sockets or Kafka requests: the
//! broker hands it validated batches and asks for byte ranges back.
//!
//! ## Why it looks like this
//! - **Direct I/O through io_uring** ([`io::glommio_file`]): the kernel page cache is bypassed so
//!   that write bandwidth and latency are the device's, not the writeback daemon's. The price is
//!   alignment: every write covers whole 4 KiB pages from an aligned buffer. The active
//!   segment's writer keeps the partial last page in memory and rewrites it with the next
//!   write, and coalesces small appends into large writes with a few in flight.
//! - **Group commit**: one fdatasync covers every append that arrived while the previous one
//!   ran, so durable appends cost one device flush per batch of concurrent appends, not one each.
//! - **Own read cache** ([`BatchCache`]): without the page cache, tailing consumers would read
//!   back from the device what was just written; a bounded per-core cache of recent batches
//!   serves them from memory with zero-copy [`bytes::Bytes`] handles.
//! - **Recovery proportional to the tail**: a checkpoint names the last known-durable point;
//!   only what follows it is read and validated on open (CRC32C per batch), and a torn tail is
//!   cut.
//! - **A fault-injection seam** ([`io`]): all file operations go through two small traits, with
//!   an in-memory simulation that can crash (dropping or tearing unsynced writes at any byte),
//!   fail writes and fdatasyncs, and corrupt bytes, deterministically from a seed.
//!
//! ## Threading
//! Thread-per-core: a [`PartitionLog`] and a [`BatchCache`] belong to one core's executor and are
//! `!Send`. Many tasks of that core may use a log concurrently through `Rc`.
//!
//! ## Bounds
//! Write buffers per log: `unwritten_bytes_max` plus one chunk. Read cache: its capacity per
//! core (plus not-yet-written batches). Index memory: only the active segment's and up to 8
//! recently used closed segments' indexes per log, 8 bytes per `index.interval.bytes` of data;
//! an idle, empty log holds no index memory and no write buffer (only its partial last page,
//! under 4 KiB).
//!
//! Architecture invariant: `storage` depends on `wire` (for the record batch header view) and
//! on no other crate of this workspace; only [`io::glommio_file`] calls glommio.

pub mod cache;
mod checkpoint;
pub mod config;
pub mod error;
mod index;
pub mod inspect;
pub mod io;
pub mod log;
pub mod offset;
mod scan;
mod segment;
mod signal;
pub mod testing;
mod writer;

pub use cache::{BatchCache, CacheUsage};
pub use config::{FlushPolicy, LogConfig};
pub use error::StorageError;
pub use io::glommio_file::{run_on_local_executor, GlommioFileSystem, STORAGE_IO_MEMORY_BYTES};
pub use io::simulated::{CrashMode, SeededRandom, SimulatedFileSystem};
pub use io::{DirectoryEntry, FileSystem, SegmentFile};
pub use log::{
    AppendContext, AppendInfo, LogOffsets, LogRead, LogReadOf, PartitionLog, ReadPiece,
    RecoveryReport,
};
pub use offset::{Offset, SegmentPosition, PAGE_BYTES};
pub use wire::records::TimestampType;
