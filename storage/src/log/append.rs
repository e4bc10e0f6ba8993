//! The append path: admission in arrival order, offsets, and driving writes and group-commit
//! fdatasyncs from the waiting appends themselves.

use super::*;

impl<F: FileSystem> PartitionLog<F> {
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
        match self.config().flush {
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

    pub(super) fn validate_records(
        &self,
        records: &[u8],
    ) -> Result<Vec<PendingBatch>, StorageError> {
        if records.is_empty() || records.len() as u64 > self.config().segment_bytes_max {
            return Err(StorageError::InvalidAppend {
                length_bytes: records.len(),
                reason: "records must be non-empty and fit one segment",
            });
        }
        let mut batches = Vec::new();
        let mut start = 0usize;
        for result in split_batches(records, self.config().batch_bytes_max) {
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
    pub(super) async fn admit(
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
                            <= self.config().unwritten_bytes_max
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

    pub(super) fn needs_roll(
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
        let too_big = active.size_bytes + total_bytes > self.config().segment_bytes_max;
        let too_old = active
            .first_append_ms
            .is_some_and(|first| now_ms.saturating_sub(first) >= self.config().segment_ms as i64);
        let offsets_overflow =
            state.log_end_offset.0 + offsets_needed - active.base_offset.0 > i64::from(i32::MAX);
        too_big || too_old || offsets_overflow
    }

    /// Assigns offsets, stamps, indexes, caches and buffers the records. No await: appends are
    /// ordered by this call.
    pub(super) fn admit_now(
        &self,
        state: &mut State<F::File>,
        mut records: BytesMut,
        batches: &[PendingBatch],
        context: AppendContext,
    ) -> (AppendInfo, Offset) {
        let base_offset = state.log_end_offset;
        let segment_base = state.active_base();
        let start_position = state.writer.logical_size();
        let log_append_time = self.config().timestamp_type == TimestampType::LogAppendTime;
        let interval = self.config().index_interval_bytes;
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

    /// Starts and completes the next write if one may start now. Returns whether it did.
    pub(super) async fn drive_one_write(&self) -> Result<bool, StorageError> {
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
                (self.config().preallocate_bytes > 0 && end > state.preallocated_size).then(|| {
                    let target = (end + self.config().preallocate_bytes)
                        .min(page_align_up(self.config().segment_bytes_max))
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

    pub(super) async fn wait_written(&self, target: Offset) -> Result<(), StorageError> {
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
    pub(super) async fn wait_durable(&self, target: Offset) -> Result<(), StorageError> {
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
        if let FlushPolicy::Interval { interval_ms, .. } = self.config().flush {
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
                    >= state.checkpoint_position + self.config().recovery_checkpoint_bytes
        };
        if checkpoint_due {
            self.write_checkpoint().await?;
        }
        Ok(())
    }
}
