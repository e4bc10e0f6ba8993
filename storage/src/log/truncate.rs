//! Truncation to an offset (replication's log reconciliation).

use super::*;

impl<F: FileSystem> PartitionLog<F> {
    /// Removes every batch at or after `offset` (replication's truncation). When `offset` falls
    /// inside a batch, that whole batch goes too. Returns the new log end offset.
    pub async fn truncate_to(&self, offset: Offset) -> Result<Offset, StorageError> {
        self.acquire_exclusive().await?;
        let result = self.truncate_inner(offset).await;
        self.fail_on_io_error("truncate", &result);
        self.release_exclusive();
        result
    }

    pub(super) async fn truncate_inner(&self, offset: Offset) -> Result<Offset, StorageError> {
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
            self.config().batch_bytes_max,
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
        let interval = self.config().index_interval_bytes;
        scan_segment(
            &*file,
            rescan_position,
            cut_position,
            rescan_offset,
            self.config().batch_bytes_max,
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
                self.config().write_chunk_bytes,
                self.config().writes_in_flight_max,
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
}
