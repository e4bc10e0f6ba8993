//! Opening a log: listing, checkpoint, validation of the tail, truncation of a torn tail.

use super::*;

impl<F: FileSystem> PartitionLog<F> {
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
            config: RefCell::new(Rc::new(config)),
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

    /// The settings in force (a snapshot: [`PartitionLog::set_config`] may replace them).
    pub fn config(&self) -> Rc<LogConfig> {
        self.config.borrow().clone()
    }

    /// Replaces the settings a topic may change while the log is open (segment size and age,
    /// retention, flush policy, timestamp type, largest batch, index interval); they apply from
    /// the next append, roll or retention pass. The write-buffer sizing chosen at open stays.
    pub fn set_config(&self, config: LogConfig) -> Result<(), StorageError> {
        config.validate()?;
        let current = self.config();
        let config = LogConfig {
            write_chunk_bytes: current.write_chunk_bytes,
            writes_in_flight_max: current.writes_in_flight_max,
            unwritten_bytes_max: current.unwritten_bytes_max,
            ..config
        };
        *self.config.borrow_mut() = Rc::new(config);
        self.signal.notify();
        Ok(())
    }
}
