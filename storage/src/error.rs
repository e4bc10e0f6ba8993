//! The storage layer's errors. Kafka error codes are the broker's business: it maps these.

use std::{io, path::PathBuf};

use wire::records::BatchError;

use crate::offset::Offset;

/// Why a log operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A file operation failed. When it was a write, an fdatasync, a truncation or a
    /// preallocation of the log's data, the log has also gone read-only ([`StorageError::LogFailed`]
    /// from then on).
    #[error("{operation} {path}: {source}")]
    Io {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// An earlier write or fdatasync failed; the log refuses appends and flushes (it never retries
    /// and pretends). Reads of data that was durable still work. Reopen the log to recover.
    #[error("log {directory} is read-only after a failed {reason}")]
    LogFailed { directory: PathBuf, reason: String },
    /// The records handed to append are not valid v2 batches.
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] BatchError),
    /// The records handed to append are empty or larger than a segment may hold.
    #[error("append of {length_bytes} bytes refused: {reason}")]
    InvalidAppend {
        length_bytes: usize,
        reason: &'static str,
    },
    /// The offset is below the log start offset or above the log end offset.
    #[error("offset {requested} out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        requested: Offset,
        log_start_offset: Offset,
        log_end_offset: Offset,
    },
    /// A file the log wrote itself is not what it should be, and could not be rebuilt.
    #[error("corrupt {path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    /// The configuration is not usable.
    #[error("invalid log configuration: {0}")]
    InvalidConfig(String),
    /// The log was closed.
    #[error("log {0} is closed")]
    Closed(PathBuf),
}

impl StorageError {
    pub(crate) fn io(operation: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            operation,
            path: path.into(),
            source,
        }
    }
}
