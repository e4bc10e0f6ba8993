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

/// Bytes of one or more whole batches returned by a read.
#[derive(Debug, Clone)]
pub enum ReadPiece<B> {
    /// From the per-core cache.
    Cached(Bytes),
    /// A range of a buffer read from the data file.
    Disk { buffer: B, start: usize, end: usize },
}

impl<B: Deref<Target = [u8]>> Deref for ReadPiece<B> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            ReadPiece::Cached(bytes) => bytes,
            ReadPiece::Disk { buffer, start, end } => &buffer[*start..*end],
        }
    }
}

/// The result of [`PartitionLog::read`]: whole batches, in order, as shareable pieces.
#[derive(Debug, Clone)]
pub struct LogRead<B> {
    pub pieces: Vec<ReadPiece<B>>,
    /// The offset after the last returned batch (the requested offset when none was returned).
    pub next_offset: Offset,
    pub bytes: usize,
    /// Whether the batches came from the cache (no disk read).
    pub from_cache: bool,
}

impl<B: Deref<Target = [u8]>> LogRead<B> {
    /// The returned bytes, concatenated (a copy; for tests and tools).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.bytes);
        for piece in &self.pieces {
            bytes.extend_from_slice(piece);
        }
        bytes
    }

    /// Headers of the returned batches.
    pub fn headers(&self) -> Vec<BatchHeader> {
        let mut headers = Vec::new();
        for piece in &self.pieces {
            let mut rest: &[u8] = piece;
            while let Ok(header) = BatchHeader::parse(rest) {
                let total = header.total_len().min(rest.len());
                headers.push(header);
                rest = &rest[total..];
            }
        }
        headers
    }
}

/// Read results of a log on file system `F`.
pub type LogReadOf<F> = LogRead<<<F as FileSystem>::File as SegmentFile>::ReadBuffer>;

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
    config: LogConfig,
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
    // ----------------------------------------------------------------------------------------
    // Opening and recovery
    // ----------------------------------------------------------------------------------------

    /// Opens (creating if needed) the log in `directory`, recovering it as described in the
    /// module docs.
    pub async fn open(
        file_system: F,
        directory: impl Into<PathBuf>,
        config: LogConfig,
        cache: Rc<BatchCache>,
    ) -> Result<Self, StorageError> {
        config.validate()?;
        let directory = directory.into();
        file_system
            .create_dir_all(&directory)
            .await
            .map_err(io_error("create directory", &directory))?;
        let entries = file_system
            .list_dir(&directory)
            .await
            .map_err(io_error("list directory", &directory))?;
        let mut report = RecoveryReport::default();
        let mut data_files = BTreeMap::new();
        for entry in &entries {
            if entry.name.ends_with(TEMPORARY_SUFFIX) {
                let path = directory.join(&entry.name);
                tracing::info!(path = %path.display(), "removing leftover temporary file");
                file_system
                    .remove_file(&path)
                    .await
                    .map_err(io_error("remove", &path))?;
            } else if let Some(base_offset) = parse_data_file_name(&entry.name) {
                data_files.insert(base_offset, entry.size_bytes);
            }
        }
        let checkpoint_path = directory.join(CHECKPOINT_FILE_NAME);
        let checkpoint = match read_small_file(&file_system, &checkpoint_path).await? {
            None => None,
            Some(bytes) => match Checkpoint::decode(&bytes) {
                Ok(checkpoint) => Some(checkpoint),
                Err(error) => {
                    tracing::warn!(path = %checkpoint_path.display(), %error,
                        "ignoring unusable checkpoint: recovering every segment");
                    None
                }
            },
        };
        let mut log_start_offset = checkpoint.map_or(Offset::ZERO, |c| c.log_start_offset);
        if data_files.is_empty() {
            let base = checkpoint.map_or(log_start_offset, |c| c.recovery_next_offset);
            let path = directory.join(segment_file_name(base, DATA_SUFFIX));
            file_system
                .open_file(&path, true)
                .await
                .map_err(io_error("create", &path))?;
            file_system
                .sync_dir(&directory)
                .await
                .map_err(io_error("sync directory", &directory))?;
            data_files.insert(base, 0);
        }
        // Segments entirely below the log start offset were being deleted: finish the job.
        loop {
            let mut bases = data_files.keys();
            let (Some(&first), Some(&second)) = (bases.next(), bases.next()) else {
                break;
            };
            if second > log_start_offset {
                break;
            }
            data_files.remove(&first);
            remove_segment_files(&file_system, &directory, first).await?;
        }
        log_start_offset = log_start_offset.max(*data_files.keys().next().expect("non-empty"));

        // Where to start validating.
        let usable_checkpoint = checkpoint.filter(|checkpoint| {
            data_files
                .get(&checkpoint.recovery_segment)
                .is_some_and(|&size| size >= checkpoint.recovery_position_bytes)
        });
        if checkpoint.is_some() && usable_checkpoint.is_none() {
            tracing::warn!(directory = %directory.display(),
                "checkpoint names a missing or shorter segment: recovering every segment");
        }
        report.used_checkpoint = usable_checkpoint.is_some();
        let first_scanned = usable_checkpoint.map_or_else(
            || *data_files.keys().next().expect("non-empty"),
            |checkpoint| checkpoint.recovery_segment,
        );
        let mut segments: BTreeMap<Offset, Segment<F::File>> = BTreeMap::new();
        for (&base, &size) in data_files.range(..first_scanned) {
            segments.insert(base, Segment::new(base, size));
        }
        let scanned_bases: Vec<Offset> =
            data_files.range(first_scanned..).map(|(&b, _)| b).collect();
        let last_base = *scanned_bases.last().expect("non-empty");
        let mut log_end_offset = first_scanned;
        let mut cut_after: Option<Offset> = None;
        for &base in &scanned_bases {
            if cut_after.is_some() {
                tracing::warn!(directory = %directory.display(), segment = %base,
                    "deleting segment after a truncated tail");
                remove_segment_files(&file_system, &directory, base).await?;
                report.segments_deleted += 1;
                continue;
            }
            let path = directory.join(segment_file_name(base, DATA_SUFFIX));
            let file = Rc::new(
                file_system
                    .open_file(&path, false)
                    .await
                    .map_err(io_error("open", &path))?,
            );
            let file_size = file.size().await.map_err(io_error("stat", &path))?;
            let from_checkpoint = usable_checkpoint.filter(|c| c.recovery_segment == base);
            let mut indexes = SegmentIndexes::default();
            let (mut scan_position, mut scan_offset) = (0u64, base);
            if let Some(checkpoint) = from_checkpoint {
                if checkpoint.recovery_position_bytes > 0 {
                    match load_indexes(&file_system, &directory, base, file_size, None).await {
                        Ok(mut loaded) => {
                            loaded
                                .offset
                                .truncate_to_position(checkpoint.recovery_position_bytes);
                            let (entry_offset, entry_position) =
                                loaded.offset.floor(base, Offset(i64::MAX));
                            loaded.offset.truncate_to_position(entry_position);
                            loaded.time.truncate_to_offset(base, entry_offset);
                            indexes = loaded;
                            scan_position = entry_position;
                            scan_offset = entry_offset;
                        }
                        Err(detail) => {
                            tracing::warn!(segment = %base, directory = %directory.display(),
                                %detail, "rebuilding the active segment's indexes from its data");
                        }
                    }
                }
            }
            let interval = config.index_interval_bytes;
            let outcome = scan_segment(
                &*file,
                scan_position,
                file_size,
                scan_offset,
                config.batch_bytes_max,
                |header, position| indexes.on_batch(base, header, position, interval),
            )
            .await
            .map_err(io_error("read", &path))?;
            report.segments_scanned += 1;
            report.bytes_scanned += outcome.valid_end - scan_position;
            report.batches_scanned += outcome.batches;
            let is_last = base == last_base;
            let must_cut = match &outcome.stop {
                ScanStop::EndOfData => false,
                ScanStop::ZeroFill => !is_last,
                ScanStop::Invalid(_) => true,
            };
            if let ScanStop::Invalid(reason) = &outcome.stop {
                tracing::warn!(
                    segment = %base,
                    directory = %directory.display(),
                    position = outcome.valid_end,
                    bytes_cut = file_size - outcome.valid_end,
                    reason = %reason,
                    "recovery truncates a torn or garbage tail"
                );
            }
            if outcome.valid_end < file_size {
                if must_cut {
                    report.bytes_truncated += file_size - outcome.valid_end;
                    cut_after = Some(base);
                }
                file.truncate(outcome.valid_end)
                    .await
                    .map_err(io_error("truncate", &path))?;
            }
            file.fdatasync()
                .await
                .map_err(io_error("fdatasync", &path))?;
            log_end_offset = outcome.next_offset;
            let mut segment = Segment::new(base, outcome.valid_end);
            segment.max_timestamp = indexes.time.max();
            segment.indexes = Some(indexes);
            segment.file = Some(file);
            segments.insert(base, segment);
        }
        if let Some(base) = cut_after {
            // The cut segment becomes the active one.
            segments.retain(|&segment_base, _| segment_base <= base);
        }
        report.segments = segments.len();

        let active_base = *segments.keys().next_back().expect("non-empty");
        let active = segments.get_mut(&active_base).expect("active segment");
        let active_file = active.file.clone().expect("scanned segments are open");
        let active_size = active.size_bytes;
        let tail_start = page_align_down(active_size);
        let tail_page = if active_size > tail_start {
            let path = directory.join(segment_file_name(active_base, DATA_SUFFIX));
            active_file
                .read_at(tail_start, (active_size - tail_start) as usize)
                .await
                .map_err(io_error("read", &path))?
                .to_vec()
        } else {
            Vec::new()
        };
        if tail_page.len() as u64 != active_size - tail_start {
            return Err(StorageError::Corrupt {
                path: directory.join(segment_file_name(active_base, DATA_SUFFIX)),
                detail: "short read of the last page".to_string(),
            });
        }
        let writer = SegmentWriter::new(
            active_file,
            config.write_chunk_bytes,
            config.writes_in_flight_max,
            active_size,
            tail_page,
        );
        let log_start_offset = log_start_offset.min(log_end_offset);
        let cache_id = cache.register();
        cache.set_written(cache_id, log_end_offset);
        let mut loaded_closed_indexes = VecDeque::new();
        for (&base, segment) in &segments {
            if base != active_base && segment.indexes.is_some() {
                loaded_closed_indexes.push_back(base);
            }
        }
        let state = State {
            segments,
            writer,
            log_start_offset,
            log_end_offset,
            written_offset: log_end_offset,
            flushed_offset: log_end_offset,
            flushed_size: active_size,
            written_batches_size: active_size,
            preallocated_size: active_size,
            pending_written: VecDeque::new(),
            failure: None,
            closed: false,
            exclusive: false,
            sync_in_flight: false,
            checkpoint_busy: false,
            next_ticket: 0,
            serving_ticket: 0,
            abandoned_tickets: BTreeSet::new(),
            last_flush_ms: 0,
            checkpoint_position: 0,
            loaded_closed_indexes,
        };
        tracing::info!(
            directory = %directory.display(),
            log_start_offset = %log_start_offset,
            log_end_offset = %log_end_offset,
            segments = report.segments,
            segments_scanned = report.segments_scanned,
            bytes_scanned = report.bytes_scanned,
            bytes_truncated = report.bytes_truncated,
            "log opened"
        );
        let log = Self {
            file_system,
            directory,
            config,
            cache,
            cache_id,
            state: RefCell::new(state),
            signal: Signal::default(),
            recovery: report,
        };
        log.unload_extra_indexes();
        log.write_checkpoint().await?;
        Ok(log)
    }

    /// What recovery found when this log was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }

    pub fn directory(&self) -> &Path {
        &self.directory
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    // ----------------------------------------------------------------------------------------
    // Offsets and sizes
    // ----------------------------------------------------------------------------------------

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

    // ----------------------------------------------------------------------------------------
    // Append
    // ----------------------------------------------------------------------------------------

    /// Appends one or more whole v2 batches (as a produce request carries them). Validates
    /// them (header, CRC32C), assigns offsets, stamps the leader epoch (and the append time for
    /// `LogAppendTime`), and completes per the log's [`FlushPolicy`]: durable for `OnAppend`,
    /// written (readable, in the file) otherwise.
    pub async fn append(
        &self,
        records: BytesMut,
        context: AppendContext,
    ) -> Result<AppendInfo, StorageError> {
        let (info, end_offset) = self.admit(records, context).await?;
        match self.config.flush {
            FlushPolicy::OnAppend => self.wait_durable(end_offset).await?,
            FlushPolicy::Interval { interval_ms, bytes } => {
                self.wait_written(end_offset).await?;
                let due = {
                    let state = self.state.borrow();
                    let unflushed_bytes = state.writer.written_size() - state.flushed_size;
                    state.flushed_offset < state.written_offset
                        && (unflushed_bytes >= bytes
                            || context.now_ms.saturating_sub(state.last_flush_ms)
                                >= interval_ms as i64)
                };
                if due {
                    self.wait_durable(end_offset).await?;
                    self.state.borrow_mut().last_flush_ms = context.now_ms;
                }
            }
        }
        Ok(info)
    }

    fn validate_records(&self, records: &[u8]) -> Result<Vec<PendingBatch>, StorageError> {
        if records.is_empty() || records.len() as u64 > self.config.segment_bytes_max {
            return Err(StorageError::InvalidAppend {
                length_bytes: records.len(),
                reason: "records must be non-empty and fit one segment",
            });
        }
        let mut batches = Vec::new();
        let mut start = 0usize;
        for result in split_batches(records, self.config.batch_bytes_max) {
            let (header, batch) = result?;
            batches.push(PendingBatch {
                header,
                start,
                end: start + batch.len(),
            });
            start += batch.len();
        }
        Ok(batches)
    }

    /// Waits for this append's turn, rolls if needed, then assigns offsets and buffers the bytes.
    async fn admit(
        &self,
        records: BytesMut,
        context: AppendContext,
    ) -> Result<(AppendInfo, Offset), StorageError> {
        let batches = self.validate_records(&records)?;
        let offsets_needed: i64 = batches
            .iter()
            .map(|batch| i64::from(batch.header.last_offset_delta) + 1)
            .sum();
        let total_bytes = records.len() as u64;
        let mut admission = {
            let mut state = self.state.borrow_mut();
            let ticket = state.next_ticket;
            state.next_ticket += 1;
            Admission {
                log: self,
                ticket,
                admitted: false,
            }
        };
        let mut records = Some(records);
        loop {
            let epoch = self.signal.epoch();
            let mut roll = false;
            {
                let mut state = self.state.borrow_mut();
                self.check_usable(&state)?;
                if state.serving_ticket == admission.ticket && !state.exclusive {
                    if self.needs_roll(&state, total_bytes, offsets_needed, context.now_ms) {
                        state.exclusive = true;
                        roll = true;
                    } else if state.writer.unwritten_bytes() == 0
                        || state.writer.unwritten_bytes() + total_bytes
                            <= self.config.unwritten_bytes_max
                    {
                        let records = records.take().expect("admitted once");
                        let result = self.admit_now(&mut state, records, &batches, context);
                        admission.admitted = true;
                        state.advance_serving();
                        drop(state);
                        self.signal.notify();
                        return Ok(result);
                    }
                }
            }
            if roll {
                self.roll_exclusive(context.now_ms).await?;
                continue;
            }
            if !self.drive_one_write().await? {
                self.signal.changed(epoch).await;
            }
        }
    }

    fn needs_roll(
        &self,
        state: &State<F::File>,
        total_bytes: u64,
        offsets_needed: i64,
        now_ms: i64,
    ) -> bool {
        let active = state.active();
        if active.size_bytes == 0 {
            return false;
        }
        let too_big = active.size_bytes + total_bytes > self.config.segment_bytes_max;
        let too_old = active
            .first_append_ms
            .is_some_and(|first| now_ms.saturating_sub(first) >= self.config.segment_ms as i64);
        let offsets_overflow =
            state.log_end_offset.0 + offsets_needed - active.base_offset.0 > i64::from(i32::MAX);
        too_big || too_old || offsets_overflow
    }

    /// Assigns offsets, stamps, indexes, caches and buffers the records. No await: appends are
    /// ordered by this call.
    fn admit_now(
        &self,
        state: &mut State<F::File>,
        mut records: BytesMut,
        batches: &[PendingBatch],
        context: AppendContext,
    ) -> (AppendInfo, Offset) {
        let base_offset = state.log_end_offset;
        let segment_base = state.active_base();
        let start_position = state.writer.logical_size();
        let log_append_time = self.config.timestamp_type == TimestampType::LogAppendTime;
        let interval = self.config.index_interval_bytes;
        let mut next = base_offset;
        let mut max_timestamp_ms = i64::MIN;
        let mut stamped = Vec::with_capacity(batches.len());
        {
            let active = state.active_mut();
            let indexes = active.indexes.get_or_insert_with(SegmentIndexes::default);
            for batch in batches {
                let bytes = &mut records[batch.start..batch.end];
                set_base_offset(bytes, next.0);
                set_partition_leader_epoch(bytes, context.leader_epoch);
                if log_append_time {
                    set_log_append_time(bytes, context.now_ms);
                }
                let header = BatchHeader::parse(bytes).expect("validated batch parses");
                indexes.on_batch(
                    segment_base,
                    &header,
                    start_position + batch.start as u64,
                    interval,
                );
                max_timestamp_ms = max_timestamp_ms.max(header.max_timestamp);
                stamped.push((next, Offset(header.last_offset())));
                next = Offset(header.last_offset() + 1);
            }
            active.max_timestamp = indexes.time.max();
            active.first_append_ms.get_or_insert(context.now_ms);
        }
        let bytes = records.freeze();
        state.writer.append(&bytes);
        for (batch, (batch_base, batch_last)) in batches.iter().zip(&stamped) {
            self.cache.insert(
                self.cache_id,
                *batch_base,
                *batch_last,
                bytes.slice(batch.start..batch.end),
            );
        }
        let end_size = state.writer.logical_size();
        state.active_mut().size_bytes = end_size;
        state.pending_written.push_back((end_size, next));
        state.log_end_offset = next;
        state.check_offsets();
        let info = AppendInfo {
            base_offset,
            last_offset: next.plus(-1),
            log_append_time_ms: log_append_time.then_some(context.now_ms),
            max_timestamp_ms,
            position: SegmentPosition {
                segment_base_offset: segment_base,
                position_bytes: start_position,
            },
        };
        (info, next)
    }

    // ----------------------------------------------------------------------------------------
    // Driving writes and fdatasyncs
    // ----------------------------------------------------------------------------------------

    /// Starts and completes the next write if one may start now. Returns whether it did.
    async fn drive_one_write(&self) -> Result<bool, StorageError> {
        if self.state.borrow().writer.would_seal_partial_chunk() {
            // Let the other appends that are ready to run copy their bytes in first, so that
            // one write carries them all (costs one trip through the run queue).
            YieldOnce::new().await;
        }
        let (job, file, preallocate_to) = {
            let mut state = self.state.borrow_mut();
            if let Some(reason) = &state.failure {
                return Err(self.failed_error(reason));
            }
            let Some(job) = state.writer.take_job() else {
                return Ok(false);
            };
            let end = job.position + job.length_bytes as u64;
            let preallocate_to =
                (self.config.preallocate_bytes > 0 && end > state.preallocated_size).then(|| {
                    let target = (end + self.config.preallocate_bytes)
                        .min(page_align_up(self.config.segment_bytes_max))
                        .max(end);
                    state.preallocated_size = target;
                    target
                });
            (job, state.writer.file().clone(), preallocate_to)
        };
        let path = self.data_path(self.state.borrow().active_base());
        let guard = FailOnDrop {
            log: self,
            operation: "write",
            armed: true,
        };
        let result = async {
            if let Some(target) = preallocate_to {
                file.pre_allocate(target)
                    .await
                    .map_err(io_error("preallocate", &path))?;
            }
            file.write_at(job.buffer, job.length_bytes, job.position)
                .await
                .map_err(io_error("write", &path))
        }
        .await;
        guard.disarm();
        if let Err(error) = result {
            self.mark_failed("write", &error.to_string());
            return Err(error);
        }
        {
            let mut state = self.state.borrow_mut();
            let written_size = state.writer.complete(job.id);
            while let Some(&(end_size, next)) = state.pending_written.front() {
                if end_size > written_size {
                    break;
                }
                state.written_offset = next;
                state.written_batches_size = end_size;
                state.pending_written.pop_front();
            }
            state.check_offsets();
            self.cache.set_written(self.cache_id, state.written_offset);
        }
        self.signal.notify();
        Ok(true)
    }

    async fn wait_written(&self, target: Offset) -> Result<(), StorageError> {
        loop {
            let epoch = self.signal.epoch();
            {
                let state = self.state.borrow();
                if let Some(reason) = &state.failure {
                    return Err(self.failed_error(reason));
                }
                if state.written_offset >= target {
                    return Ok(());
                }
            }
            if !self.drive_one_write().await? {
                self.signal.changed(epoch).await;
            }
        }
    }

    /// Completes once every batch below `target` is durable, driving writes and leading an
    /// fdatasync when none is running (group commit).
    async fn wait_durable(&self, target: Offset) -> Result<(), StorageError> {
        enum Step<W> {
            Write,
            Wait,
            Sync(Rc<W>, u64, Offset),
        }
        loop {
            let epoch = self.signal.epoch();
            let step = {
                let mut state = self.state.borrow_mut();
                if let Some(reason) = &state.failure {
                    return Err(self.failed_error(reason));
                }
                if state.flushed_offset >= target {
                    return Ok(());
                }
                if state.written_offset < target {
                    Step::Write
                } else if state.sync_in_flight {
                    Step::Wait
                } else {
                    state.sync_in_flight = true;
                    Step::Sync(
                        state.writer.file().clone(),
                        state.written_batches_size,
                        state.written_offset,
                    )
                }
            };
            match step {
                Step::Write => {
                    if !self.drive_one_write().await? {
                        self.signal.changed(epoch).await;
                    }
                }
                Step::Wait => self.signal.changed(epoch).await,
                Step::Sync(file, size, offset) => {
                    let guard = FailOnDrop {
                        log: self,
                        operation: "fdatasync",
                        armed: true,
                    };
                    let result = file.fdatasync().await;
                    guard.disarm();
                    self.state.borrow_mut().sync_in_flight = false;
                    if let Err(error) = result {
                        self.mark_failed("fdatasync", &error.to_string());
                        return Err(StorageError::io(
                            "fdatasync",
                            self.data_path(self.state.borrow().active_base()),
                            error,
                        ));
                    }
                    {
                        let mut state = self.state.borrow_mut();
                        if offset > state.flushed_offset {
                            state.flushed_offset = offset;
                            state.flushed_size = size;
                        }
                        state.check_offsets();
                    }
                    self.signal.notify();
                }
            }
        }
    }

    /// Makes everything appended so far durable.
    pub async fn flush(&self) -> Result<(), StorageError> {
        let end = self.log_end_offset();
        self.wait_durable(end).await
    }

    /// Periodic work, for the owner's timer: flushes when the interval policy says so, and
    /// writes a new recovery checkpoint when `recovery_checkpoint_bytes` were made durable
    /// since the last one (this bounds the work of the next open).
    pub async fn tick(&self, now_ms: i64) -> Result<(), StorageError> {
        if let FlushPolicy::Interval { interval_ms, .. } = self.config.flush {
            let due = {
                let state = self.state.borrow();
                state.flushed_offset < state.log_end_offset
                    && now_ms.saturating_sub(state.last_flush_ms) >= interval_ms as i64
            };
            if due {
                self.flush().await?;
                self.state.borrow_mut().last_flush_ms = now_ms;
            }
        }
        let checkpoint_due = {
            let state = self.state.borrow();
            state.failure.is_none()
                && !state.closed
                && state.flushed_size
                    >= state.checkpoint_position + self.config.recovery_checkpoint_bytes
        };
        if checkpoint_due {
            self.write_checkpoint().await?;
        }
        Ok(())
    }

    // ----------------------------------------------------------------------------------------
    // Exclusive operations: roll, truncate, close
    // ----------------------------------------------------------------------------------------

    async fn acquire_exclusive(&self) -> Result<(), StorageError> {
        loop {
            let epoch = self.signal.epoch();
            {
                let mut state = self.state.borrow_mut();
                self.check_usable(&state)?;
                if !state.exclusive {
                    state.exclusive = true;
                    return Ok(());
                }
            }
            self.signal.changed(epoch).await;
        }
    }

    fn release_exclusive(&self) {
        self.state.borrow_mut().exclusive = false;
        self.signal.notify();
    }

    /// Closes the active segment and starts a new one at the log end offset, even if the
    /// active segment is small (size and age rolls happen on append by themselves).
    pub async fn roll(&self, now_ms: i64) -> Result<(), StorageError> {
        self.acquire_exclusive().await?;
        let empty = self.state.borrow().active().size_bytes == 0;
        if empty {
            self.release_exclusive();
            return Ok(());
        }
        self.roll_exclusive(now_ms).await
    }

    async fn roll_exclusive(&self, now_ms: i64) -> Result<(), StorageError> {
        let result = self.roll_inner(now_ms).await;
        self.fail_on_io_error("roll", &result);
        self.release_exclusive();
        result
    }

    /// A roll or truncation that failed half-way leaves segments the log cannot vouch for:
    /// like a failed write, it makes the log read-only until reopened (recovery sorts it out).
    fn fail_on_io_error<T>(&self, operation: &str, result: &Result<T, StorageError>) {
        if let Err(error @ StorageError::Io { .. }) = result {
            self.mark_failed(operation, &error.to_string());
        }
    }

    async fn roll_inner(&self, _now_ms: i64) -> Result<(), StorageError> {
        self.flush().await?;
        self.seal_active_segment().await?;
        let new_base = self.log_end_offset();
        let path = self.data_path(new_base);
        let file = self
            .file_system
            .open_file(&path, true)
            .await
            .map_err(io_error("create", &path))?;
        file.truncate(0)
            .await
            .map_err(io_error("truncate", &path))?;
        self.file_system
            .sync_dir(&self.directory)
            .await
            .map_err(io_error("sync directory", &self.directory))?;
        let file = Rc::new(file);
        {
            let mut state = self.state.borrow_mut();
            assert!(state.writer.is_idle() && !state.sync_in_flight);
            assert!(state.pending_written.is_empty());
            let old_base = state.active_base();
            state.loaded_closed_indexes.push_back(old_base);
            let mut segment = Segment::new(new_base, 0);
            segment.indexes = Some(SegmentIndexes::default());
            segment.file = Some(file.clone());
            state.segments.insert(new_base, segment);
            state.writer = SegmentWriter::new(
                file,
                self.config.write_chunk_bytes,
                self.config.writes_in_flight_max,
                0,
                Vec::new(),
            );
            state.flushed_size = 0;
            state.written_batches_size = 0;
            state.preallocated_size = 0;
            state.checkpoint_position = 0;
            state.check_offsets();
        }
        tracing::debug!(directory = %self.directory.display(), segment = %new_base, "rolled");
        self.unload_extra_indexes();
        self.write_checkpoint().await
    }

    /// Trims the (idle, durable) active segment's preallocated space and writes its indexes.
    async fn seal_active_segment(&self) -> Result<(), StorageError> {
        let (base, file, size) = {
            let mut state = self.state.borrow_mut();
            let base = state.active_base();
            let size = state.writer.logical_size();
            let active = state.active_mut();
            if let Some(indexes) = &mut active.indexes {
                indexes.time.append_max_entry(base);
            }
            (base, state.writer.file().clone(), size)
        };
        self.truncate_durably(&file, base, size).await?;
        self.state.borrow_mut().preallocated_size = size;
        self.write_index_files(base).await
    }

    /// Sets segment `base`'s data file size and makes it durable. Callers (roll, truncation)
    /// fail the log if this fails.
    async fn truncate_durably(
        &self,
        file: &F::File,
        base: Offset,
        size_bytes: u64,
    ) -> Result<(), StorageError> {
        let path = self.data_path(base);
        file.truncate(size_bytes)
            .await
            .map_err(io_error("truncate", &path))?;
        file.fdatasync().await.map_err(io_error("fdatasync", &path))
    }

    async fn write_index_files(&self, base: Offset) -> Result<(), StorageError> {
        let encoded = {
            let state = self.state.borrow();
            state
                .segments
                .get(&base)
                .and_then(|segment| segment.indexes.as_ref())
                .map(|indexes| (indexes.offset.encode(), indexes.time.encode()))
        };
        let Some((offset_index, time_index)) = encoded else {
            return Ok(());
        };
        let offset_path = self
            .directory
            .join(segment_file_name(base, OFFSET_INDEX_SUFFIX));
        let time_path = self
            .directory
            .join(segment_file_name(base, TIME_INDEX_SUFFIX));
        write_file_atomically(
            &self.file_system,
            &self.directory,
            &offset_path,
            &offset_index,
        )
        .await?;
        write_file_atomically(&self.file_system, &self.directory, &time_path, &time_index).await
    }

    /// Writes the checkpoint: the active segment's indexes first, then the recovery point (what
    /// is durable now) and the log start offset.
    async fn write_checkpoint(&self) -> Result<(), StorageError> {
        loop {
            let epoch = self.signal.epoch();
            {
                let mut state = self.state.borrow_mut();
                if !state.checkpoint_busy {
                    state.checkpoint_busy = true;
                    break;
                }
            }
            self.signal.changed(epoch).await;
        }
        let result = self.write_checkpoint_locked().await;
        self.state.borrow_mut().checkpoint_busy = false;
        self.signal.notify();
        result
    }

    async fn write_checkpoint_locked(&self) -> Result<(), StorageError> {
        let (checkpoint, active_base) = {
            let state = self.state.borrow();
            let active_base = state.active_base();
            (
                Checkpoint {
                    log_start_offset: state.log_start_offset,
                    recovery_segment: active_base,
                    recovery_position_bytes: state.flushed_size,
                    recovery_next_offset: state.flushed_offset,
                },
                active_base,
            )
        };
        if checkpoint.recovery_position_bytes > 0 {
            self.write_index_files(active_base).await?;
        }
        let path = self.directory.join(CHECKPOINT_FILE_NAME);
        write_file_atomically(
            &self.file_system,
            &self.directory,
            &path,
            &checkpoint.encode(),
        )
        .await?;
        let mut state = self.state.borrow_mut();
        if state.active_base() == active_base {
            state.checkpoint_position = checkpoint.recovery_position_bytes;
        }
        Ok(())
    }

    /// Removes every batch at or after `offset` (replication's truncation). When `offset` falls
    /// inside a batch, that whole batch goes too. Returns the new log end offset.
    pub async fn truncate_to(&self, offset: Offset) -> Result<Offset, StorageError> {
        self.acquire_exclusive().await?;
        let result = self.truncate_inner(offset).await;
        self.fail_on_io_error("truncate", &result);
        self.release_exclusive();
        result
    }

    async fn truncate_inner(&self, offset: Offset) -> Result<Offset, StorageError> {
        let (log_start, log_end) = {
            let state = self.state.borrow();
            (state.log_start_offset, state.log_end_offset)
        };
        if offset >= log_end {
            return Ok(log_end);
        }
        if offset < log_start {
            return Err(StorageError::OffsetOutOfRange {
                requested: offset,
                log_start_offset: log_start,
                log_end_offset: log_end,
            });
        }
        self.flush().await?;
        let target_base = {
            let state = self.state.borrow();
            *state
                .segments
                .range(..=offset)
                .next_back()
                .map(|(base, _)| base)
                .expect("offset >= log start >= first segment base")
        };
        // Delete newer segments, newest first.
        let doomed: Vec<Offset> = {
            let state = self.state.borrow();
            state
                .segments
                .range(target_base.next()..)
                .map(|(&base, _)| base)
                .rev()
                .collect()
        };
        for base in doomed {
            self.state.borrow_mut().segments.remove(&base);
            remove_segment_files(&self.file_system, &self.directory, base).await?;
        }
        let file = self.segment_file(target_base).await?;
        self.ensure_indexes(target_base).await?;
        // Find the batch holding `offset`: scan from the index entry at or below it.
        let (entry_offset, entry_position) = {
            let state = self.state.borrow();
            let segment = &state.segments[&target_base];
            segment
                .indexes
                .as_ref()
                .expect("indexes loaded")
                .offset
                .floor(target_base, offset)
        };
        let segment_size = self.state.borrow().segments[&target_base].size_bytes;
        let mut cut = (entry_position, entry_offset);
        let path = self.data_path(target_base);
        scan_segment(
            &*file,
            entry_position,
            segment_size,
            entry_offset,
            self.config.batch_bytes_max,
            |header, position| {
                if header.last_offset() < offset.0 {
                    cut = (
                        position + header.total_len() as u64,
                        Offset(header.last_offset() + 1),
                    );
                }
            },
        )
        .await
        .map_err(io_error("read", &path))?;
        let (cut_position, new_end) = cut;
        self.truncate_durably(&file, target_base, cut_position)
            .await?;
        self.file_system
            .sync_dir(&self.directory)
            .await
            .map_err(io_error("sync directory", &self.directory))?;
        // Rebuild the index tail from the last entry before the cut.
        let mut indexes = {
            let mut state = self.state.borrow_mut();
            let segment = state.segments.get_mut(&target_base).expect("segment");
            segment.indexes.take().expect("indexes loaded")
        };
        indexes.offset.truncate_to_position(cut_position);
        let (rescan_offset, rescan_position) = indexes.offset.floor(target_base, Offset(i64::MAX));
        indexes.offset.truncate_to_position(rescan_position);
        indexes.time.truncate_to_offset(target_base, rescan_offset);
        let interval = self.config.index_interval_bytes;
        scan_segment(
            &*file,
            rescan_position,
            cut_position,
            rescan_offset,
            self.config.batch_bytes_max,
            |header, position| indexes.on_batch(target_base, header, position, interval),
        )
        .await
        .map_err(io_error("read", &path))?;
        let tail_start = page_align_down(cut_position);
        let tail_page = file
            .read_at(tail_start, (cut_position - tail_start) as usize)
            .await
            .map_err(io_error("read", &path))?
            .to_vec();
        {
            let mut state = self.state.borrow_mut();
            state
                .loaded_closed_indexes
                .retain(|&base| base != target_base);
            let segment = state.segments.get_mut(&target_base).expect("segment");
            segment.size_bytes = cut_position;
            segment.max_timestamp = indexes.time.max();
            segment.indexes = Some(indexes);
            segment.first_append_ms = None;
            state.writer = SegmentWriter::new(
                file,
                self.config.write_chunk_bytes,
                self.config.writes_in_flight_max,
                cut_position,
                tail_page,
            );
            state.log_end_offset = new_end;
            state.written_offset = new_end;
            state.flushed_offset = new_end;
            state.flushed_size = cut_position;
            state.written_batches_size = cut_position;
            state.preallocated_size = cut_position;
            state.checkpoint_position = 0;
            state.log_start_offset = state.log_start_offset.min(new_end);
            state.pending_written.clear();
            state.check_offsets();
        }
        self.cache.remove_from(self.cache_id, new_end);
        self.cache.set_written(self.cache_id, new_end);
        tracing::info!(directory = %self.directory.display(), requested = %offset,
            log_end_offset = %new_end, "log truncated");
        self.write_checkpoint().await?;
        Ok(new_end)
    }

    /// Flushes, writes the indexes and the checkpoint, and refuses further use. A failed log
    /// closes without flushing.
    pub async fn close(&self) -> Result<(), StorageError> {
        let failed = self.state.borrow().failure.is_some();
        let result = if failed {
            Ok(())
        } else {
            match self.acquire_exclusive().await {
                Ok(()) => {
                    let result = async {
                        self.flush().await?;
                        self.write_checkpoint().await
                    }
                    .await;
                    self.state.borrow_mut().exclusive = false;
                    result
                }
                Err(error) => Err(error),
            }
        };
        self.state.borrow_mut().closed = true;
        self.cache.unregister(self.cache_id);
        self.signal.notify();
        result
    }

    // ----------------------------------------------------------------------------------------
    // Reads and lookups
    // ----------------------------------------------------------------------------------------

    /// Whole batches starting with the one that holds `start`, each ending below
    /// `end_exclusive` (pass the flushed offset, the written offset or a high watermark; it is
    /// clamped to the log end), up to `bytes_max` bytes — but the first batch is returned whole
    /// even when larger. Served from the cache when it holds `start`, else from the file.
    pub async fn read(
        &self,
        start: Offset,
        bytes_max: usize,
        end_exclusive: Offset,
    ) -> Result<LogReadOf<F>, StorageError> {
        let (log_start, log_end) = {
            let state = self.state.borrow();
            (state.log_start_offset, state.log_end_offset)
        };
        if start < log_start || start > log_end {
            return Err(StorageError::OffsetOutOfRange {
                requested: start,
                log_start_offset: log_start,
                log_end_offset: log_end,
            });
        }
        let end = end_exclusive.min(log_end);
        let empty = LogRead {
            pieces: Vec::new(),
            next_offset: start,
            bytes: 0,
            from_cache: true,
        };
        if start >= end {
            return Ok(empty);
        }
        if let Some(batches) = self.cache.read(self.cache_id, start, end, bytes_max) {
            let next_offset = batches.last().map_or(start, |(_, last, _)| last.next());
            let bytes = batches.iter().map(|(_, _, bytes)| bytes.len()).sum();
            return Ok(LogRead {
                pieces: batches
                    .into_iter()
                    .map(|(_, _, bytes)| ReadPiece::Cached(bytes))
                    .collect(),
                next_offset,
                bytes,
                from_cache: true,
            });
        }
        self.read_from_disk(start, bytes_max, end).await
    }

    async fn read_from_disk(
        &self,
        start: Offset,
        bytes_max: usize,
        end: Offset,
    ) -> Result<LogReadOf<F>, StorageError> {
        let bases: Vec<Offset> = {
            let state = self.state.borrow();
            let first = state
                .segments
                .range(..=start)
                .next_back()
                .map_or(Offset::ZERO, |(&base, _)| base);
            state
                .segments
                .range(first..)
                .map(|(&base, _)| base)
                .collect()
        };
        for base in bases {
            let file = self.segment_file(base).await?;
            self.ensure_indexes(base).await?;
            let (position, readable_end) = {
                let state = self.state.borrow();
                let Some(segment) = state.segments.get(&base) else {
                    continue;
                };
                let is_active = base == state.active_base();
                let readable_end = if is_active {
                    state.written_batches_size
                } else {
                    segment.size_bytes
                };
                let position = segment
                    .indexes
                    .as_ref()
                    .map_or(0, |indexes| indexes.offset.floor(base, start).1);
                (position, readable_end)
            };
            let read = self
                .read_segment(base, &file, position, readable_end, start, bytes_max, end)
                .await?;
            if read.bytes > 0 {
                return Ok(read);
            }
            // Nothing at or after `start` below `end` in this segment: try the next one.
        }
        Ok(LogRead {
            pieces: Vec::new(),
            next_offset: start,
            bytes: 0,
            from_cache: false,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn read_segment(
        &self,
        base: Offset,
        file: &F::File,
        mut position: u64,
        readable_end: u64,
        start: Offset,
        bytes_max: usize,
        end: Offset,
    ) -> Result<LogReadOf<F>, StorageError> {
        let mut window = bytes_max
            .max(DISK_READ_BYTES_MIN)
            .saturating_add(self.config.index_interval_bytes as usize)
            .min(self.config.segment_bytes_max as usize);
        let path = self.data_path(base);
        let corrupt = |detail: String| StorageError::Corrupt {
            path: path.clone(),
            detail,
        };
        // Each pass either returns or moves `position` forward by at least one batch, or grows
        // the window to a batch's length once (a batch is at most `batch_bytes_max`).
        loop {
            if position >= readable_end {
                return Ok(LogRead {
                    pieces: Vec::new(),
                    next_offset: start,
                    bytes: 0,
                    from_cache: false,
                });
            }
            let length = ((readable_end - position) as usize).min(window);
            let buffer = file
                .read_at(position, length)
                .await
                .map_err(io_error("read", &path))?;
            if buffer.len() < length {
                return Err(corrupt(format!(
                    "short read: {} of {length} bytes at {position}",
                    buffer.len()
                )));
            }
            let mut at = 0usize;
            let mut taken: Option<(usize, usize)> = None;
            let mut next_offset = start;
            let mut needed_window = None;
            let mut finished = false;
            while at < buffer.len() {
                let rest = &buffer[at..];
                let header = match BatchHeader::parse(rest) {
                    Ok(header) => header,
                    Err(_) => {
                        needed_window = Some(wire::records::BATCH_HEADER_LEN);
                        break;
                    }
                };
                header
                    .check(self.config.batch_bytes_max)
                    .map_err(|error| corrupt(format!("at {}: {error}", position + at as u64)))?;
                let total = header.total_len();
                if rest.len() < total {
                    needed_window = Some(total);
                    break;
                }
                if header.last_offset() < start.0 {
                    at += total;
                    continue;
                }
                if header.last_offset() >= end.0 {
                    finished = true;
                    break;
                }
                let taken_bytes = taken.map_or(0, |(first, last)| last - first);
                if taken_bytes > 0 && taken_bytes + total > bytes_max {
                    finished = true;
                    break;
                }
                BatchHeader::validate(rest, self.config.batch_bytes_max)
                    .map_err(|error| corrupt(format!("at {}: {error}", position + at as u64)))?;
                taken = Some((taken.map_or(at, |(first, _)| first), at + total));
                next_offset = Offset(header.last_offset() + 1);
                at += total;
            }
            if let Some((first, last)) = taken {
                return Ok(LogRead {
                    pieces: vec![ReadPiece::Disk {
                        buffer,
                        start: first,
                        end: last,
                    }],
                    next_offset,
                    bytes: last - first,
                    from_cache: false,
                });
            }
            if finished {
                return Ok(LogRead {
                    pieces: Vec::new(),
                    next_offset: start,
                    bytes: 0,
                    from_cache: false,
                });
            }
            match needed_window {
                Some(needed) if at == 0 => {
                    if needed <= window {
                        return Err(corrupt(format!(
                            "batch at {position} runs past the readable end {readable_end}"
                        )));
                    }
                    window = needed;
                }
                _ => position += at as u64,
            }
        }
    }

    /// The file of segment `base`, opening it if it is a closed segment not opened yet.
    async fn segment_file(&self, base: Offset) -> Result<Rc<F::File>, StorageError> {
        if let Some(file) = self
            .state
            .borrow()
            .segments
            .get(&base)
            .and_then(|segment| segment.file.clone())
        {
            return Ok(file);
        }
        let path = self.data_path(base);
        let file = Rc::new(
            self.file_system
                .open_file(&path, false)
                .await
                .map_err(io_error("open", &path))?,
        );
        if let Some(segment) = self.state.borrow_mut().segments.get_mut(&base) {
            segment.file.get_or_insert(file.clone());
        }
        Ok(file)
    }

    /// Loads segment `base`'s indexes from their files, or rebuilds them from the data file
    /// when the files are missing or inconsistent.
    async fn ensure_indexes(&self, base: Offset) -> Result<(), StorageError> {
        let (size, segment_end) = {
            let state = self.state.borrow();
            let Some(segment) = state.segments.get(&base) else {
                return Ok(());
            };
            if segment.indexes.is_some() {
                return Ok(());
            }
            let segment_end = state
                .segments
                .range(base.next()..)
                .next()
                .map_or(state.log_end_offset, |(&next, _)| next);
            (segment.size_bytes, segment_end)
        };
        let indexes = match load_indexes(
            &self.file_system,
            &self.directory,
            base,
            size,
            Some(segment_end),
        )
        .await
        {
            Ok(indexes) => indexes,
            Err(detail) => {
                tracing::warn!(directory = %self.directory.display(), segment = %base, %detail,
                    "rebuilding segment indexes from the data file");
                let file = self.segment_file(base).await?;
                let mut indexes = SegmentIndexes::default();
                let interval = self.config.index_interval_bytes;
                let path = self.data_path(base);
                scan_segment(
                    &*file,
                    0,
                    size,
                    base,
                    self.config.batch_bytes_max,
                    |header, position| indexes.on_batch(base, header, position, interval),
                )
                .await
                .map_err(io_error("read", &path))?;
                indexes.time.append_max_entry(base);
                indexes
            }
        };
        {
            let mut state = self.state.borrow_mut();
            let Some(segment) = state.segments.get_mut(&base) else {
                return Ok(());
            };
            if segment.indexes.is_some() {
                return Ok(());
            }
            segment.max_timestamp = indexes.time.max();
            segment.indexes = Some(indexes);
            state.loaded_closed_indexes.push_back(base);
        }
        self.unload_extra_indexes();
        Ok(())
    }

    fn unload_extra_indexes(&self) {
        let mut state = self.state.borrow_mut();
        let active_base = state.active_base();
        state
            .loaded_closed_indexes
            .retain(|&base| base != active_base);
        while state.loaded_closed_indexes.len() > LOADED_CLOSED_INDEXES_MAX {
            let Some(base) = state.loaded_closed_indexes.pop_front() else {
                break;
            };
            if let Some(segment) = state.segments.get_mut(&base) {
                segment.indexes = None;
            }
        }
    }

    /// The first batch whose max timestamp is at or after `timestamp_ms`: its base offset (or
    /// the log start offset if that is later) and that timestamp. Batch granularity: records are
    /// not decoded, so the offset may precede the first matching record within its batch.
    pub async fn offset_for_timestamp(
        &self,
        timestamp_ms: i64,
    ) -> Result<Option<(Offset, i64)>, StorageError> {
        let bases = self.segment_base_offsets();
        for base in bases {
            self.ensure_indexes(base).await?;
            let start = {
                let state = self.state.borrow();
                let Some(segment) = state.segments.get(&base) else {
                    continue;
                };
                if segment
                    .max_timestamp
                    .is_none_or(|(maximum, _)| maximum < timestamp_ms)
                {
                    continue;
                }
                let below = segment
                    .indexes
                    .as_ref()
                    .and_then(|indexes| indexes.time.last_offset_below(base, timestamp_ms));
                below.map_or(base, Offset::next).max(state.log_start_offset)
            };
            let mut next = start;
            // Bounded: each read advances by at least one batch, within one segment.
            loop {
                let read = self
                    .read(next, DISK_READ_BYTES_MIN, Offset(i64::MAX))
                    .await?;
                if read.bytes == 0 {
                    break;
                }
                for header in read.headers() {
                    if header.max_timestamp >= timestamp_ms {
                        let offset = Offset(header.base_offset).max(self.log_start_offset());
                        return Ok(Some((offset, header.max_timestamp)));
                    }
                }
                next = read.next_offset;
            }
        }
        Ok(None)
    }

    /// The largest batch max timestamp in the log and the last offset of its batch (for
    /// ListOffsets with the max-timestamp spec).
    pub async fn max_timestamp(&self) -> Result<Option<(i64, Offset)>, StorageError> {
        let bases = self.segment_base_offsets();
        let mut best: Option<(i64, Offset)> = None;
        for base in bases {
            let known = self.state.borrow().segments.get(&base).and_then(|segment| {
                segment
                    .max_timestamp
                    .or(segment.indexes.as_ref()?.time.max())
            });
            let candidate = match known {
                Some(known) => Some(known),
                None => {
                    self.ensure_indexes(base).await?;
                    self.state
                        .borrow()
                        .segments
                        .get(&base)
                        .and_then(|segment| segment.max_timestamp)
                }
            };
            if let Some(candidate) = candidate {
                if best.is_none_or(|(timestamp, _)| candidate.0 > timestamp) {
                    best = Some(candidate);
                }
            }
        }
        Ok(best)
    }

    // ----------------------------------------------------------------------------------------
    // Retention and the log start offset
    // ----------------------------------------------------------------------------------------

    /// Moves the log start offset forward to `offset` (DeleteRecords) and deletes the segments
    /// entirely below it. Returns the new log start offset.
    pub async fn advance_log_start(&self, offset: Offset) -> Result<Offset, StorageError> {
        {
            let mut state = self.state.borrow_mut();
            self.check_usable(&state)?;
            if offset > state.log_end_offset {
                return Err(StorageError::OffsetOutOfRange {
                    requested: offset,
                    log_start_offset: state.log_start_offset,
                    log_end_offset: state.log_end_offset,
                });
            }
            if offset <= state.log_start_offset {
                return Ok(state.log_start_offset);
            }
            state.log_start_offset = offset;
        }
        self.cache.remove_below(self.cache_id, offset);
        self.write_checkpoint().await?;
        self.delete_segments_below_start().await?;
        Ok(offset)
    }

    async fn delete_segments_below_start(&self) -> Result<(), StorageError> {
        let doomed: Vec<Offset> = {
            let state = self.state.borrow();
            let bases: Vec<Offset> = state.segments.keys().copied().collect();
            bases
                .windows(2)
                .filter(|pair| pair[1] <= state.log_start_offset)
                .map(|pair| pair[0])
                .collect()
        };
        for base in doomed {
            self.state.borrow_mut().segments.remove(&base);
            remove_segment_files(&self.file_system, &self.directory, base).await?;
        }
        Ok(())
    }

    /// Deletes closed segments, oldest first, while `retention.bytes` or `retention.ms` say so.
    /// The active segment is never deleted. Returns the base offsets of deleted segments.
    pub async fn apply_retention(&self, now_ms: i64) -> Result<Vec<Offset>, StorageError> {
        let mut deleted = Vec::new();
        // Bounded by the number of segments.
        loop {
            let (oldest, next_base, size, total) = {
                let state = self.state.borrow();
                self.check_usable(&state)?;
                let mut bases = state.segments.keys();
                let (Some(&oldest), Some(&next_base)) = (bases.next(), bases.next()) else {
                    break;
                };
                let total: u64 = state.segments.values().map(|s| s.size_bytes).sum();
                (oldest, next_base, state.segments[&oldest].size_bytes, total)
            };
            let over_bytes = self
                .config
                .retention_bytes
                .is_some_and(|limit| total - size >= limit);
            let over_age = match self.config.retention_ms {
                Some(limit) => {
                    self.ensure_indexes(oldest).await?;
                    let maximum = self
                        .state
                        .borrow()
                        .segments
                        .get(&oldest)
                        .and_then(|segment| segment.max_timestamp);
                    maximum.is_none_or(|(timestamp, _)| {
                        now_ms.saturating_sub(timestamp) > limit as i64
                    })
                }
                None => false,
            };
            if !(over_bytes || over_age) {
                break;
            }
            tracing::info!(directory = %self.directory.display(), segment = %oldest,
                over_bytes, over_age, "retention deletes a segment");
            {
                let mut state = self.state.borrow_mut();
                state.log_start_offset = state.log_start_offset.max(next_base);
            }
            self.cache.remove_below(self.cache_id, next_base);
            self.write_checkpoint().await?;
            self.state.borrow_mut().segments.remove(&oldest);
            remove_segment_files(&self.file_system, &self.directory, oldest).await?;
            deleted.push(oldest);
        }
        Ok(deleted)
    }
}

impl<F: FileSystem> Drop for PartitionLog<F> {
    fn drop(&mut self) {
        self.cache.unregister(self.cache_id);
    }
}

/// Reads a whole small file, or `None` if it does not exist.
async fn read_small_file<F: FileSystem>(
    file_system: &F,
    path: &Path,
) -> Result<Option<Vec<u8>>, StorageError> {
    let file = match file_system.open_file(path, false).await {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(StorageError::io("open", path, error)),
    };
    let size = file.size().await.map_err(io_error("stat", path))?;
    if size > 64 << 20 {
        return Err(StorageError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("{size} bytes is too large for an index or checkpoint"),
        });
    }
    let bytes = file
        .read_at(0, size as usize)
        .await
        .map_err(io_error("read", path))?;
    Ok(Some(bytes.to_vec()))
}

/// Replaces `path` atomically: temporary file, write, fdatasync, rename, directory fsync.
async fn write_file_atomically<F: FileSystem>(
    file_system: &F,
    directory: &Path,
    path: &Path,
    bytes: &[u8],
) -> Result<(), StorageError> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(TEMPORARY_SUFFIX);
    let temporary = PathBuf::from(temporary);
    let file = file_system
        .open_file(&temporary, true)
        .await
        .map_err(io_error("create", &temporary))?;
    file.truncate(0)
        .await
        .map_err(io_error("truncate", &temporary))?;
    if !bytes.is_empty() {
        let padded = page_align_up(bytes.len() as u64) as usize;
        let mut buffer = file.alloc_write_buffer(padded);
        buffer.as_mut()[..bytes.len()].copy_from_slice(bytes);
        buffer.as_mut()[bytes.len()..padded].fill(0);
        file.write_at(buffer, padded, 0)
            .await
            .map_err(io_error("write", &temporary))?;
        file.truncate(bytes.len() as u64)
            .await
            .map_err(io_error("truncate", &temporary))?;
    }
    file.fdatasync()
        .await
        .map_err(io_error("fdatasync", &temporary))?;
    drop(file);
    file_system
        .rename(&temporary, path)
        .await
        .map_err(io_error("rename", &temporary))?;
    file_system
        .sync_dir(directory)
        .await
        .map_err(io_error("sync directory", directory))
}

/// Loads and checks a segment's index files. `segment_end` (the segment's next offset) is
/// checked against the time index when known.
async fn load_indexes<F: FileSystem>(
    file_system: &F,
    directory: &Path,
    base: Offset,
    data_size_bytes: u64,
    segment_end: Option<Offset>,
) -> Result<SegmentIndexes, String> {
    let offset_path = directory.join(segment_file_name(base, OFFSET_INDEX_SUFFIX));
    let time_path = directory.join(segment_file_name(base, TIME_INDEX_SUFFIX));
    let offset_bytes = read_small_file(file_system, &offset_path)
        .await
        .map_err(|error| error.to_string())?
        .ok_or("offset index missing")?;
    let time_bytes = read_small_file(file_system, &time_path)
        .await
        .map_err(|error| error.to_string())?
        .ok_or("time index missing")?;
    let offset = OffsetIndex::decode(&offset_bytes, data_size_bytes.max(1))
        .map_err(|error| format!("offset index: {error}"))?;
    if data_size_bytes > 0 && offset.len() == 0 {
        return Err("offset index empty for a non-empty segment".to_string());
    }
    let time = TimeIndex::decode(&time_bytes, base, segment_end.unwrap_or(Offset(i64::MAX)))
        .map_err(|error| format!("time index: {error}"))?;
    Ok(SegmentIndexes { offset, time })
}

async fn remove_segment_files<F: FileSystem>(
    file_system: &F,
    directory: &Path,
    base: Offset,
) -> Result<(), StorageError> {
    for suffix in [TIME_INDEX_SUFFIX, OFFSET_INDEX_SUFFIX, DATA_SUFFIX] {
        let path = directory.join(segment_file_name(base, suffix));
        match file_system.remove_file(&path).await {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(StorageError::io("remove", path, error)),
        }
    }
    file_system
        .sync_dir(directory)
        .await
        .map_err(io_error("sync directory", directory))
}
