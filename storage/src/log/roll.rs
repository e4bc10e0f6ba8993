//! Exclusive operations that close the active segment or the log: roll, checkpoint, close.

use super::*;

impl<F: FileSystem> PartitionLog<F> {
    pub(super) async fn acquire_exclusive(&self) -> Result<(), StorageError> {
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

    pub(super) fn release_exclusive(&self) {
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

    pub(super) async fn roll_exclusive(&self, now_ms: i64) -> Result<(), StorageError> {
        let result = self.roll_inner(now_ms).await;
        self.fail_on_io_error("roll", &result);
        self.release_exclusive();
        result
    }

    /// A roll or truncation that failed half-way leaves segments the log cannot vouch for:
    /// like a failed write, it makes the log read-only until reopened (recovery sorts it out).
    pub(super) fn fail_on_io_error<T>(&self, operation: &str, result: &Result<T, StorageError>) {
        if let Err(error @ StorageError::Io { .. }) = result {
            self.mark_failed(operation, &error.to_string());
        }
    }

    pub(super) async fn roll_inner(&self, _now_ms: i64) -> Result<(), StorageError> {
        let started = std::time::Instant::now();
        self.flush().await?;
        let flushed_us = started.elapsed().as_micros() as u64;
        self.seal_active_segment().await?;
        let sealed_us = started.elapsed().as_micros() as u64;
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
                self.config().write_chunk_bytes,
                self.config().writes_in_flight_max,
                0,
                Vec::new(),
            );
            state.flushed_size = 0;
            state.written_batches_size = 0;
            state.preallocated_size = 0;
            state.checkpoint_position = 0;
            state.check_offsets();
        }
        tracing::debug!(
            directory = %self.directory.display(),
            segment = %new_base,
            flushed_us,
            sealed_us,
            elapsed_us = started.elapsed().as_micros() as u64,
            "rolled"
        );
        self.unload_extra_indexes();
        self.write_checkpoint().await
    }

    /// Trims the (idle, durable) active segment's preallocated space and writes its indexes.
    pub(super) async fn seal_active_segment(&self) -> Result<(), StorageError> {
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
        self.acquire_file_writes().await;
        let result = self.write_index_files(base).await;
        self.release_file_writes();
        result
    }

    /// Sets segment `base`'s data file size and makes it durable. Callers (roll, truncation)
    /// fail the log if this fails.
    pub(super) async fn truncate_durably(
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

    pub(super) async fn write_index_files(&self, base: Offset) -> Result<(), StorageError> {
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
    pub(super) async fn write_checkpoint(&self) -> Result<(), StorageError> {
        self.acquire_file_writes().await;
        let result = self.write_checkpoint_locked().await;
        self.release_file_writes();
        result
    }

    /// Waits until no other task writes the checkpoint or index files, then claims that turn.
    /// Index and checkpoint files are replaced through one temporary file each, so two writers
    /// of the same file (a roll sealing the active segment while a tick checkpoints it) would
    /// rename each other's temporary file away.
    async fn acquire_file_writes(&self) {
        loop {
            let epoch = self.signal.epoch();
            {
                let mut state = self.state.borrow_mut();
                if !state.checkpoint_busy {
                    state.checkpoint_busy = true;
                    return;
                }
            }
            self.signal.changed(epoch).await;
        }
    }

    fn release_file_writes(&self) {
        self.state.borrow_mut().checkpoint_busy = false;
        self.signal.notify();
    }

    pub(super) async fn write_checkpoint_locked(&self) -> Result<(), StorageError> {
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
}
