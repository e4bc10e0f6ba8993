//! Retention by time and size, and moving the log start offset (DeleteRecords).

use super::*;

impl<F: FileSystem> PartitionLog<F> {
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

    pub(super) async fn delete_segments_below_start(&self) -> Result<(), StorageError> {
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
                .config()
                .retention_bytes
                .is_some_and(|limit| total - size >= limit);
            let over_age = match self.config().retention_ms {
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
