//! The partitions one shard owns: their logs, opened from and kept in step with the metadata.
//!
//! Owned by one shard (`!Send`); other shards reach a partition only by a call to its owner
//! (`runtime::mesh`). Each partition's log lives in `<data_dir>/topics/<topic>-<partition>/`,
//! the layout Kafka uses, so an operator recognises it and `ferritectl log dump` can read it.
//!
//! Visibility: a partition's *high watermark* (what fetches may return) is the flushed offset
//! when the topic flushes on every append (records are visible once durable, so a consumer
//! never sees a record that a crash could take back), and the log end offset otherwise.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use storage::{BatchCache, FlushPolicy, GlommioFileSystem, Offset, PartitionLog, StorageError};

use crate::checkpoint::{self, CheckpointKind};
use crate::metadata::{TopicId, TopicInfo};
use crate::producer_state::{ProducerBatch, ProducerSnapshot, ProducerState};
use crate::runtime::event::Event;
use crate::topic_config;

/// Names a partition across the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartitionKey {
    pub topic: TopicId,
    pub index: i32,
}

/// One partition on its owning shard.
pub struct Partition {
    pub key: PartitionKey,
    pub topic_name: String,
    pub log: PartitionLog,
    /// Notified whenever the high watermark may have moved (appends completed, flushes,
    /// truncation, deletion): fetch long polls wait on it.
    pub data_changed: Event,
    /// Idempotent producers' last batches, rebuilt from the log on open.
    pub producers: RefCell<ProducerState>,
    pub producer_id_expiration_ms: i64,
}

impl Partition {
    /// The offset below which records may be fetched. See the module docs.
    pub fn high_watermark(&self) -> Offset {
        match self.log.config().flush {
            FlushPolicy::OnAppend => self.log.flushed_offset(),
            FlushPolicy::Interval { .. } => self.log.log_end_offset(),
        }
    }
}

/// Bytes read per step while rebuilding producer state from a log.
const RECOVERY_READ_BYTES: usize = 1 << 20;

/// Rebuilds the producer state of `log` by replaying the headers of its batches (no record is
/// decoded). A recovered producer counts as active at recovery time: batch timestamps are the
/// clients' clocks, too unreliable to expire by. Reads whole batches `RECOVERY_READ_BYTES` at a time; the loop ends at the log end
/// because every read advances by at least one batch.
async fn recover_producer_state(log: &PartitionLog) -> Result<ProducerState, StorageError> {
    let recovered_at_ms = crate::handlers::now_ms();
    let end = log.log_end_offset();
    let (mut state, mut next) = match read_producer_snapshot(log.directory()) {
        Some(snapshot) if snapshot.end_offset <= end.0 => (
            ProducerState::from_snapshot(&snapshot),
            Offset(snapshot.end_offset).max(log.log_start_offset()),
        ),
        _ => (ProducerState::new(), log.log_start_offset()),
    };
    while next < end {
        let read = log.read(next, RECOVERY_READ_BYTES, end).await?;
        if read.next_offset <= next {
            break;
        }
        for header in read.headers() {
            if let Some(batch) = ProducerBatch::of(&header) {
                state.replay(batch, header.base_offset, recovered_at_ms);
            }
        }
        next = read.next_offset;
    }
    Ok(state)
}

/// The producer state snapshot file of a partition (in its directory) and its format.
pub const PRODUCER_SNAPSHOT: CheckpointKind = CheckpointKind {
    magic: *b"FPSS",
    name: "producer state snapshot",
    version: 1,
};
pub const PRODUCER_SNAPSHOT_FILE: &str = "producer.snapshot";

/// The producer snapshot in a partition directory, if there is a readable one (an unreadable
/// one is logged and ignored: the log is replayed instead).
fn read_producer_snapshot(directory: &Path) -> Option<ProducerSnapshot> {
    let path = directory.join(PRODUCER_SNAPSHOT_FILE);
    let payload = match checkpoint::read(PRODUCER_SNAPSHOT, &path) {
        Ok(payload) => payload?,
        Err(error) => {
            tracing::warn!(%error, "ignoring the producer snapshot; replaying the log");
            return None;
        }
    };
    let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(payload.len());
    aligned.extend_from_slice(&payload);
    match rkyv::from_bytes::<ProducerSnapshot, rkyv::rancor::Error>(&aligned) {
        Ok(snapshot) => Some(snapshot),
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "ignoring an undecodable producer snapshot; replaying the log");
            None
        }
    }
}

/// Writes the producer state of `partition` next to its log, covering the log up to its end:
/// call it once the log is closed, or when [`ProducerState::snapshot_due`] (blocking file I/O:
/// a small file, written rarely).
pub fn write_producer_snapshot(partition: &Partition) {
    let snapshot = partition
        .producers
        .borrow()
        .to_snapshot(partition.log.log_end_offset().0);
    if snapshot.producers.is_empty() {
        return;
    }
    let payload = rkyv::to_bytes::<rkyv::rancor::Error>(&snapshot)
        .expect("serializing producer state into memory cannot fail");
    let path = partition.log.directory().join(PRODUCER_SNAPSHOT_FILE);
    match checkpoint::write(PRODUCER_SNAPSHOT, &path, &payload) {
        Ok(()) => partition.producers.borrow_mut().snapshot_written(),
        Err(error) => {
            tracing::warn!(%error, "cannot write the producer snapshot; the log is replayed on start")
        }
    }
}

/// The directory of a partition's log under the data directory.
pub fn partition_directory(data_dir: &Path, topic_name: &str, index: i32) -> PathBuf {
    data_dir
        .join("topics")
        .join(format!("{topic_name}-{index}"))
}

/// Every partition of one shard.
pub struct Partitions {
    data_dir: PathBuf,
    cache: Rc<BatchCache>,
    by_key: RefCell<HashMap<PartitionKey, Rc<Partition>>>,
    producer_id_expiration_ms: i64,
}

impl Partitions {
    pub fn new(data_dir: PathBuf, cache_bytes: u64, producer_id_expiration_ms: i64) -> Self {
        Self {
            data_dir,
            cache: Rc::new(BatchCache::new(cache_bytes)),
            by_key: RefCell::new(HashMap::new()),
            producer_id_expiration_ms,
        }
    }

    pub fn get(&self, key: PartitionKey) -> Option<Rc<Partition>> {
        self.by_key.borrow().get(&key).cloned()
    }

    pub fn count(&self) -> usize {
        self.by_key.borrow().len()
    }

    /// Every partition, in no particular order.
    pub fn all(&self) -> Vec<Rc<Partition>> {
        self.by_key.borrow().values().cloned().collect()
    }

    /// Opens (creating when new, recovering otherwise) partition `index` of `topic`.
    pub async fn open(&self, topic: &TopicInfo, index: i32) -> Result<(), StorageError> {
        let key = PartitionKey {
            topic: topic.id,
            index,
        };
        if self.by_key.borrow().contains_key(&key) {
            return Ok(());
        }
        let directory = partition_directory(&self.data_dir, &topic.name, index);
        let log = PartitionLog::open(
            GlommioFileSystem,
            directory.clone(),
            topic_config::log_config(&topic.configs),
            self.cache.clone(),
        )
        .await?;
        let report = log.recovery_report();
        if report.bytes_truncated > 0 || report.segments_deleted > 0 {
            tracing::warn!(
                partition = %format!("{}-{}", topic.name, index),
                bytes_truncated = report.bytes_truncated,
                segments_deleted = report.segments_deleted,
                "recovery cut a torn tail"
            );
        }
        tracing::debug!(
            partition = %format!("{}-{}", topic.name, index),
            log_start_offset = log.log_start_offset().0,
            log_end_offset = log.log_end_offset().0,
            segments = report.segments,
            bytes_scanned = report.bytes_scanned,
            "partition opened"
        );
        let producers = recover_producer_state(&log).await?;
        if producers.producer_count() > 0 {
            tracing::debug!(
                partition = %format!("{}-{}", topic.name, index),
                producers = producers.producer_count(),
                "producer state recovered"
            );
        }
        let partition = Rc::new(Partition {
            key,
            topic_name: topic.name.clone(),
            log,
            data_changed: Event::new(),
            producers: RefCell::new(producers),
            producer_id_expiration_ms: self.producer_id_expiration_ms,
        });
        self.by_key.borrow_mut().insert(key, partition);
        Ok(())
    }

    /// Closes and deletes every partition of `topic` this shard owns.
    pub async fn delete_topic(&self, topic: TopicId) {
        let removed: Vec<Rc<Partition>> = {
            let mut by_key = self.by_key.borrow_mut();
            let keys: Vec<PartitionKey> = by_key
                .keys()
                .filter(|key| key.topic == topic)
                .copied()
                .collect();
            keys.iter().filter_map(|key| by_key.remove(key)).collect()
        };
        for partition in removed {
            if let Err(error) = partition.log.close().await {
                tracing::warn!(%error, "closing a deleted partition's log failed");
            }
            partition.data_changed.notify();
            let directory = partition.log.directory().to_path_buf();
            if let Err(error) = std::fs::remove_dir_all(&directory) {
                tracing::warn!(%error, directory = %directory.display(), "removing a deleted partition failed");
            }
        }
    }

    /// Applies changed topic configs to this shard's partitions of `topic`.
    pub fn reconfigure(&self, topic: &TopicInfo) {
        let config = topic_config::log_config(&topic.configs);
        for partition in self.all() {
            if partition.key.topic == topic.id {
                if let Err(error) = partition.log.set_config(config.clone()) {
                    tracing::warn!(%error, topic = %topic.name, "a config change was refused by storage");
                }
                partition.data_changed.notify();
            }
        }
    }

    /// Removes partition directories under `topics/` that no partition of this broker owns
    /// (left by a topic deleted just before a crash). Only called before serving.
    pub fn remove_strays(data_dir: &Path, known: &std::collections::HashSet<String>) {
        let Ok(entries) = std::fs::read_dir(data_dir.join("topics")) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !known.contains(&name) {
                tracing::info!(directory = %entry.path().display(), "removing the log of a deleted partition");
                if let Err(error) = std::fs::remove_dir_all(entry.path()) {
                    tracing::warn!(%error, "removing a stray partition directory failed");
                }
            }
        }
    }

    /// Closes every log (flushing what was written) and snapshots its producer state.
    pub async fn close_all(&self) {
        for partition in self.all() {
            if let Err(error) = partition.log.close().await {
                tracing::warn!(
                    %error,
                    partition = %format!("{}-{}", partition.topic_name, partition.key.index),
                    "closing a partition log failed"
                );
                continue;
            }
            write_producer_snapshot(&partition);
        }
    }
}
