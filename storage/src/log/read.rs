//! Reads by offset (cache first, then DMA reads of whole batches), index loading, and lookups
//! by timestamp.

use super::*;

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

impl<F: FileSystem> PartitionLog<F> {
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

    pub(super) async fn read_from_disk(
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
    pub(super) async fn read_segment(
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
            .saturating_add(self.config().index_interval_bytes as usize)
            .min(self.config().segment_bytes_max as usize);
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
                    .check(self.config().batch_bytes_max)
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
                BatchHeader::validate(rest, self.config().batch_bytes_max)
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
    pub(super) async fn segment_file(&self, base: Offset) -> Result<Rc<F::File>, StorageError> {
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
    pub(super) async fn ensure_indexes(&self, base: Offset) -> Result<(), StorageError> {
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
                let interval = self.config().index_interval_bytes;
                let path = self.data_path(base);
                scan_segment(
                    &*file,
                    0,
                    size,
                    base,
                    self.config().batch_bytes_max,
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

    pub(super) fn unload_extra_indexes(&self) {
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
}
