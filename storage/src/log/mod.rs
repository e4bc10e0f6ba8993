//! The partition log: ordered segments in one directory, appends with group commit, reads,
//! recovery, retention and truncation.
//!
//! ## Offsets the log tracks
//! `log_start_offset <= flushed_offset <= written_offset <= log_end_offset` (the first may pass
//! the others only on an empty log moved forward by DeleteRecords):
//! - **log end offset**: the next offset to assign. Batches below it are readable (from the
//!   cache until written).
//! - **written offset**: batches below it are in the file (the device has them, maybe not
//!   durably).
//! - **flushed offset**: batches below it are durable (an fdatasync covering them completed).
//!
//! The invariant `flushed <= written <= end` is asserted (in release builds too) wherever one
//! of them changes.
//!
//! ## Concurrency
//! A log belongs to one core and is `!Send`; many tasks of that core may call it at once
//! (share it as `Rc<PartitionLog>`). Appends are admitted strictly in arrival order: offsets are
//! assigned and bytes copied into the write buffer without any await in between. After
//! admission an append drives the I/O itself (there is no background task): a waiting append
//! starts the next write when one may start, or the next fdatasync when none is running, and
//! otherwise sleeps until the log's state changes. With [`FlushPolicy::OnAppend`] an append
//! completes once an fdatasync that started after its write completed has finished: one
//! fdatasync covers every append that arrived while the previous one ran (group commit).
//!
//! Futures returned by this type must be driven to completion: dropping one while it performs
//! a write or an fdatasync marks the log failed (the outcome of that I/O is unknown).
//!
//! ## Failure
//! A failed write, fdatasync, preallocation or truncation makes the log read-only: every
//! waiting and later append or flush fails with [`StorageError::LogFailed`]. The log never
//! retries (after a failed fdatasync the page state is unknown). Reopening runs recovery.
//!
//! ## Recovery
//! The checkpoint (file `partition.checkpoint`, format at `checkpoint.rs`) names a recovery point: everything before it was
//! durable and valid when it was written. On open, segments before the recovery point are
//! trusted without being read (only listed); from the recovery point on, batches are validated
//! (length, magic, CRC32C, increasing offsets) and the first invalid byte ends the log: the
//! tail is truncated (logged with what was cut) and newer segments, if any, are deleted. Open
//! therefore costs time proportional to the data written since the last checkpoint, which
//! [`PartitionLog::tick`] bounds to `recovery_checkpoint_bytes`, plus one directory listing.
//!
//! ## Code map
//! This file holds the state and the offsets; the operations sit beside it, one file each:
//! `recovery.rs` (open), `append.rs` (admission, writes, group commit), `read.rs` (reads,
//! index loading, timestamp lookups), `roll.rs` (roll, checkpoint, close), `truncate.rs`,
//! `retention.rs` (retention and the log start offset), `files.rs` (whole-file helpers). The
//! write buffering itself is the state machine in `src/writer.rs`.

use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet, VecDeque},
    ops::Deref,
    path::{Path, PathBuf},
    rc::Rc,
};

use bytes::{Bytes, BytesMut};
use wire::records::{
    set_base_offset, set_log_append_time, set_partition_leader_epoch, split_batches, BatchHeader,
    TimestampType,
};

use crate::{
    cache::{BatchCache, CacheLogId},
    checkpoint::{Checkpoint, CHECKPOINT_FILE_NAME},
    config::{FlushPolicy, LogConfig},
    error::StorageError,
    index::{OffsetIndex, TimeIndex},
    io::{glommio_file::GlommioFileSystem, FileSystem, SegmentFile},
    offset::{page_align_down, page_align_up, Offset, SegmentPosition},
    scan::{scan_segment, ScanStop},
    segment::{
        parse_data_file_name, segment_file_name, Segment, SegmentIndexes, DATA_SUFFIX,
        OFFSET_INDEX_SUFFIX, TEMPORARY_SUFFIX, TIME_INDEX_SUFFIX,
    },
    signal::{Signal, YieldOnce},
    writer::SegmentWriter,
};

mod append;
mod files;
mod read;
mod recovery;
mod retention;
mod roll;
mod truncate;

use files::*;
pub use read::{LogRead, LogReadOf, ReadPiece};

/// Closed segments whose indexes stay loaded at once, per log (most recently loaded kept).
const LOADED_CLOSED_INDEXES_MAX: usize = 8;
/// Smallest read issued for a disk read, so that small fetches still read a useful amount.
const DISK_READ_BYTES_MIN: usize = 64 * 1024;

/// What the caller knows about an append.
#[derive(Debug, Clone, Copy)]
pub struct AppendContext {
    /// Wall-clock time of the append (ms since the epoch): `LogAppendTime` stamps and
    /// `segment.ms` rolls use it.
    pub now_ms: i64,
    /// Written into each batch's partition leader epoch field.
    pub leader_epoch: i32,
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: Offset,
    pub last_offset: Offset,
    /// Set when the topic uses `LogAppendTime`: the time stamped into the batches.
    pub log_append_time_ms: Option<i64>,
    /// Largest max timestamp among the appended batches (after stamping).
    pub max_timestamp_ms: i64,
    pub position: SegmentPosition,
}

/// The offsets of a log at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOffsets {
    pub log_start_offset: Offset,
    pub flushed_offset: Offset,
    pub written_offset: Offset,
    pub log_end_offset: Offset,
}

/// What [`PartitionLog::open`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segments: usize,
    /// Segments read and validated (those at or after the recovery point).
    pub segments_scanned: usize,
    pub bytes_scanned: u64,
    pub batches_scanned: u64,
    /// Bytes of torn or garbage tail cut off, and segments deleted after it.
    pub bytes_truncated: u64,
    pub segments_deleted: usize,
    pub used_checkpoint: bool,
}

struct State<W: SegmentFile> {
    segments: BTreeMap<Offset, Segment<W>>,
    writer: SegmentWriter<W>,
    log_start_offset: Offset,
    log_end_offset: Offset,
    written_offset: Offset,
    flushed_offset: Offset,
    /// Bytes of the active segment covered by the last completed fdatasync (a batch boundary).
    flushed_size: u64,
    /// Bytes of the active segment holding the batches below `written_offset`.
    written_batches_size: u64,
    /// File size reserved for the active segment.
    preallocated_size: u64,
    /// (segment size after a batch group, offset after it) for appends not yet written.
    pending_written: VecDeque<(u64, Offset)>,
    failure: Option<String>,
    closed: bool,
    /// A roll, truncation or close is in progress: no admissions meanwhile.
    exclusive: bool,
    sync_in_flight: bool,
    checkpoint_busy: bool,
    next_ticket: u64,
    serving_ticket: u64,
    abandoned_tickets: BTreeSet<u64>,
    last_flush_ms: i64,
    /// Active-segment bytes durable at the last checkpoint (recovery scans from there).
    checkpoint_position: u64,
    loaded_closed_indexes: VecDeque<Offset>,
}

impl<W: SegmentFile> State<W> {
    fn active_base(&self) -> Offset {
        *self
            .segments
            .keys()
            .next_back()
            .expect("a log always has an active segment")
    }

    fn active(&self) -> &Segment<W> {
        self.segments
            .values()
            .next_back()
            .expect("a log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut Segment<W> {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has an active segment")
    }

    fn check_offsets(&self) {
        assert!(
            self.flushed_offset <= self.written_offset
                && self.written_offset <= self.log_end_offset,
            "offset invariant broken: flushed {} written {} end {}",
            self.flushed_offset,
            self.written_offset,
            self.log_end_offset
        );
        assert!(
            self.flushed_size <= self.written_batches_size
                && self.written_batches_size <= self.writer.written_size()
        );
    }

    fn advance_serving(&mut self) {
        self.serving_ticket += 1;
        while self.abandoned_tickets.remove(&self.serving_ticket) {
            self.serving_ticket += 1;
        }
    }
}

/// A partition log. See the module docs. Owned by one core: `!Send`, shared within the core
/// through `Rc`.
pub struct PartitionLog<F: FileSystem = GlommioFileSystem> {
    file_system: F,
    directory: PathBuf,
    config: RefCell<Rc<LogConfig>>,
    cache: Rc<BatchCache>,
    cache_id: CacheLogId,
    state: RefCell<State<F::File>>,
    signal: Signal,
    recovery: RecoveryReport,
}

/// Marks the log failed if dropped while armed (an I/O whose outcome is unknown).
struct FailOnDrop<'a, F: FileSystem> {
    log: &'a PartitionLog<F>,
    operation: &'static str,
    armed: bool,
}

impl<F: FileSystem> FailOnDrop<'_, F> {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl<F: FileSystem> Drop for FailOnDrop<'_, F> {
    fn drop(&mut self) {
        if self.armed {
            self.log
                .mark_failed(self.operation, "the future driving it was dropped");
        }
    }
}

/// Gives up an append's place in the admission queue if it is dropped before admission.
struct Admission<'a, F: FileSystem> {
    log: &'a PartitionLog<F>,
    ticket: u64,
    admitted: bool,
}

impl<F: FileSystem> Drop for Admission<'_, F> {
    fn drop(&mut self) {
        if self.admitted {
            return;
        }
        let mut state = self.log.state.borrow_mut();
        if state.serving_ticket == self.ticket {
            state.advance_serving();
        } else {
            state.abandoned_tickets.insert(self.ticket);
        }
        drop(state);
        self.log.signal.notify();
    }
}

/// A validated batch within the records handed to append.
struct PendingBatch {
    header: BatchHeader,
    start: usize,
    end: usize,
}

fn io_error(operation: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StorageError {
    let path = path.to_path_buf();
    move |source| StorageError::io(operation, path, source)
}

impl<F: FileSystem> PartitionLog<F> {
    pub fn offsets(&self) -> LogOffsets {
        let state = self.state.borrow();
        LogOffsets {
            log_start_offset: state.log_start_offset,
            flushed_offset: state.flushed_offset,
            written_offset: state.written_offset,
            log_end_offset: state.log_end_offset,
        }
    }

    pub fn log_start_offset(&self) -> Offset {
        self.state.borrow().log_start_offset
    }

    /// The next offset to be assigned.
    pub fn log_end_offset(&self) -> Offset {
        self.state.borrow().log_end_offset
    }

    /// Batches below this offset are durable.
    pub fn flushed_offset(&self) -> Offset {
        self.state.borrow().flushed_offset
    }

    /// Batches below this offset are written to the file (maybe not durable).
    pub fn written_offset(&self) -> Offset {
        self.state.borrow().written_offset
    }

    /// Bytes of batches in all segments.
    pub fn size_bytes(&self) -> u64 {
        self.state
            .borrow()
            .segments
            .values()
            .map(|segment| segment.size_bytes)
            .sum()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<Offset> {
        self.state.borrow().segments.keys().copied().collect()
    }

    /// The reason the log went read-only, if it did.
    pub fn failure(&self) -> Option<String> {
        self.state.borrow().failure.clone()
    }

    fn failed_error(&self, reason: &str) -> StorageError {
        StorageError::LogFailed {
            directory: self.directory.clone(),
            reason: reason.to_string(),
        }
    }

    fn check_usable(&self, state: &State<F::File>) -> Result<(), StorageError> {
        if let Some(reason) = &state.failure {
            return Err(self.failed_error(reason));
        }
        if state.closed {
            return Err(StorageError::Closed(self.directory.clone()));
        }
        Ok(())
    }

    fn mark_failed(&self, operation: &str, detail: &str) {
        {
            let mut state = self.state.borrow_mut();
            if state.failure.is_none() {
                tracing::error!(directory = %self.directory.display(), operation, detail,
                    "log goes read-only after a failed operation");
                state.failure = Some(format!("{operation}: {detail}"));
            }
        }
        self.signal.notify();
    }

    fn data_path(&self, base: Offset) -> PathBuf {
        self.directory.join(segment_file_name(base, DATA_SUFFIX))
    }
}

impl<F: FileSystem> Drop for PartitionLog<F> {
    fn drop(&mut self) {
        self.cache.unregister(self.cache_id);
    }
}
