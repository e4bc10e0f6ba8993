//! One shard's state: everything a core owns, and the metadata changes that reach it.
//!
//! A [`Shard`] is created on its executor and never leaves it (`!Send`, shared within the core
//! as `Rc<Shard>`). Other shards reach it only through calls over the mesh
//! ([`crate::runtime::mesh`]), which run closures on the target shard's `Rc<Shard>`.
//!
//! ## Metadata changes
//! Shard 0 owns the metadata log. A change requested on any shard is sent to shard 0
//! ([`Shard::change_metadata`]), which, one change at a time: lets the caller's closure turn
//! the current image into records, appends each record to the log (fdatasync before it counts),
//! applies it to its own image, and sends it to every other shard, which applies it to its copy
//! and opens, reconfigures or deletes the partitions it owns. The caller's reply waits for all
//! shards, so once a client hears "topic created" every shard knows the topic.
//!
//! The metadata log is written with blocking file I/O on shard 0's thread: metadata changes
//! are rare and small, and an fdatasync of a few hundred bytes costs less than a round of
//! cross-thread hand-offs would.

use std::cell::RefCell;
use std::rc::Rc;

use crate::config::BrokerConfig;
use crate::connection::ShardActivity;
use crate::fetch_session::FetchSessions;
use crate::metadata::log::MetadataLog;
use crate::metadata::{MetadataImage, MetadataRecord, PartitionInfo};
use crate::partitions::Partitions;
use crate::runtime::event::Event;
use crate::runtime::executors::ShardId;
use crate::runtime::mesh::{ShardGone, ShardMesh};
use crate::runtime::tasks::Serializer;

/// The shard that owns the metadata log.
pub const METADATA_SHARD: ShardId = ShardId(0);

/// The shard that serves a partition placed on `info.shard`. A partition recorded on a shard
/// that no longer exists (the broker restarted with fewer cores) is served by
/// `shard % shard_count`.
pub fn owner_shard(info: &PartitionInfo, shard_count: usize) -> ShardId {
    ShardId(info.shard as usize % shard_count.max(1))
}

/// Everything one core owns.
pub struct Shard {
    pub id: ShardId,
    pub config: BrokerConfig,
    /// Kafka's cluster id, the same on every shard.
    pub cluster_id: String,
    pub mesh: ShardMesh<Shard>,
    /// This shard's copy of the metadata image.
    pub metadata: RefCell<MetadataImage>,
    pub partitions: Partitions,
    pub activity: Rc<ShardActivity>,
    /// Notified once when the shard starts stopping: long polls end early.
    pub stopping: Rc<Event>,
    pub fetch_sessions: FetchSessions,
    /// The consumer groups whose `__consumer_offsets` partitions this shard owns.
    pub groups: crate::group::Coordinator,
    /// The metadata log: `Some` on [`METADATA_SHARD`] only.
    metadata_log: RefCell<Option<MetadataLog>>,
    /// One metadata change at a time (used on [`METADATA_SHARD`]).
    metadata_changes: Serializer,
    /// Producer ids reserved for this shard and not yet handed out (InitProducerId).
    producer_ids: RefCell<std::ops::Range<i64>>,
}

/// Producer ids one reservation takes: one durable metadata change per this many
/// InitProducerId requests on a shard. Ids left in a block at shutdown are never used.
pub const PRODUCER_IDS_PER_BLOCK: u32 = 1000;

/// The outcome of one metadata record: `Err` carries why it was refused or failed.
pub type RecordOutcome = Result<(), String>;

impl Shard {
    pub fn new(
        id: ShardId,
        config: BrokerConfig,
        cluster_id: String,
        mesh: ShardMesh<Shard>,
        image: MetadataImage,
        metadata_log: Option<MetadataLog>,
    ) -> Self {
        let partitions = Partitions::new(
            config.data_dir.clone(),
            config.read_cache_bytes_per_core as u64,
            config.producer_id_expiration_ms,
        );
        Self {
            id,
            cluster_id,
            mesh,
            metadata: RefCell::new(image),
            partitions,
            activity: Rc::new(ShardActivity::default()),
            stopping: Rc::new(Event::new()),
            fetch_sessions: FetchSessions::new(id, config.fetch_sessions_per_core_max),
            groups: crate::group::Coordinator::default(),
            metadata_log: RefCell::new(metadata_log),
            metadata_changes: Serializer::new(),
            producer_ids: RefCell::new(0..0),
            config,
        }
    }

    pub fn shard_count(&self) -> usize {
        self.mesh.shard_count()
    }

    /// Opens every partition this shard owns (start-up).
    pub async fn open_owned_partitions(&self) -> Result<(), storage::StorageError> {
        let topics: Vec<_> = self.metadata.borrow().topics().cloned().collect();
        for topic in &topics {
            for (index, info) in topic.partitions.iter().enumerate() {
                if owner_shard(info, self.shard_count()) == self.id {
                    self.partitions.open(topic, index as i32).await?;
                    self.load_groups(&topic.name, topic.id, index as i32)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Reads back the groups of a `__consumer_offsets` partition this shard just opened.
    async fn load_groups(
        &self,
        topic_name: &str,
        topic: crate::metadata::TopicId,
        index: i32,
    ) -> Result<(), storage::StorageError> {
        if topic_name != crate::group::OFFSETS_TOPIC {
            return Ok(());
        }
        match self
            .partitions
            .get(crate::partitions::PartitionKey { topic, index })
        {
            Some(partition) => self.groups.load(&partition).await,
            None => Ok(()),
        }
    }

    /// A producer id never handed out before, on any shard or in any earlier run: taken from
    /// this shard's block, which is refilled by a durable reservation on the metadata shard
    /// when empty (so most calls cross no core). `None` if the reservation failed.
    pub async fn allocate_producer_id(self: &Rc<Self>) -> Option<i64> {
        // Bounded: each round either takes an id or reserves a fresh block; another task of
        // this shard may empty a new block first only under heavy concurrent use.
        for _ in 0..8 {
            if let Some(id) = self.producer_ids.borrow_mut().next() {
                return Some(id);
            }
            let (outcomes, first) = self
                .change_metadata(|image, _| {
                    let first = image.next_producer_id();
                    let record = MetadataRecord::ReserveProducerIds {
                        first,
                        count: PRODUCER_IDS_PER_BLOCK,
                    };
                    (vec![record], first)
                })
                .await
                .ok()?;
            if let Some(Err(error)) = outcomes.first() {
                tracing::error!(%error, "reserving producer ids failed");
                return None;
            }
            *self.producer_ids.borrow_mut() = first..first + i64::from(PRODUCER_IDS_PER_BLOCK);
        }
        None
    }

    /// Makes a metadata change: on the metadata shard, `decide` turns the current image (and
    /// the shard count) into records plus a value for the caller; each record is then made
    /// durable and applied on every shard. Returns one outcome per record, in order, and the
    /// value.
    pub async fn change_metadata<T, F>(
        self: &Rc<Self>,
        decide: F,
    ) -> Result<(Vec<RecordOutcome>, T), ShardGone>
    where
        T: Send + 'static,
        F: FnOnce(&MetadataImage, usize) -> (Vec<MetadataRecord>, T) + Send + 'static,
    {
        self.mesh
            .call(METADATA_SHARD, self, move |shard: Rc<Shard>| async move {
                shard.commit_metadata(decide).await
            })
            .await
    }

    async fn commit_metadata<T, F>(self: &Rc<Self>, decide: F) -> (Vec<RecordOutcome>, T)
    where
        F: FnOnce(&MetadataImage, usize) -> (Vec<MetadataRecord>, T),
    {
        let _turn = self.metadata_changes.turn().await;
        let (records, value) = decide(&self.metadata.borrow(), self.shard_count());
        let mut outcomes = Vec::with_capacity(records.len());
        for record in records {
            let appended = {
                let mut log = self.metadata_log.borrow_mut();
                let log = log
                    .as_mut()
                    .expect("metadata changes run on the metadata shard");
                log.append(&mut self.metadata.borrow_mut(), &record)
            };
            let offset = match appended {
                Ok(offset) => offset,
                Err(error) => {
                    outcomes.push(Err(error.to_string()));
                    continue;
                }
            };
            tracing::info!(offset, record = %describe_record(&record), "metadata changed");
            self.apply_partition_effects(&record).await;
            let mut pending = Vec::new();
            for target in 0..self.shard_count() {
                let target = ShardId(target);
                if target == self.id {
                    continue;
                }
                let record = record.clone();
                match self
                    .mesh
                    .start_call(target, self, move |shard: Rc<Shard>| async move {
                        shard.apply_metadata(offset, &record).await
                    })
                    .await
                {
                    Ok(call) => pending.push(call),
                    Err(error) => tracing::error!(%error, "a shard missed a metadata record"),
                }
            }
            for call in pending {
                if let Err(error) = call.result().await {
                    tracing::error!(%error, "a shard missed a metadata record");
                }
            }
            outcomes.push(Ok(()));
        }
        (outcomes, value)
    }

    /// Applies a record made on the metadata shard to this shard's image and partitions.
    async fn apply_metadata(&self, offset: i64, record: &MetadataRecord) {
        let applied = self.metadata.borrow_mut().apply(offset, record);
        if let Err(error) = applied {
            // The metadata shard checked this record against an identical image: a mismatch
            // means the images diverged, which must never happen.
            panic!(
                "shard {} cannot apply metadata record {offset}: {error}",
                self.id.0
            );
        }
        self.apply_partition_effects(record).await;
    }

    /// Opens, reconfigures or deletes the partitions of this shard that `record` (already
    /// applied to the image) touches.
    async fn apply_partition_effects(&self, record: &MetadataRecord) {
        let topic_id = match record {
            MetadataRecord::CreateTopic { id, .. }
            | MetadataRecord::CreatePartitions { id, .. }
            | MetadataRecord::AlterTopicConfigs { id, .. }
            | MetadataRecord::DeleteTopic { id } => *id,
            MetadataRecord::ReserveProducerIds { .. } => return,
        };
        if let MetadataRecord::DeleteTopic { .. } = record {
            self.partitions.delete_topic(topic_id).await;
            return;
        }
        let Some(topic) = self.metadata.borrow().topic_by_id(topic_id).cloned() else {
            return;
        };
        if let MetadataRecord::AlterTopicConfigs { .. } = record {
            self.partitions.reconfigure(&topic);
            return;
        }
        for (index, info) in topic.partitions.iter().enumerate() {
            if owner_shard(info, self.shard_count()) == self.id {
                let opened = match self.partitions.open(&topic, index as i32).await {
                    Ok(()) => self.load_groups(&topic.name, topic.id, index as i32).await,
                    Err(error) => Err(error),
                };
                if let Err(error) = opened {
                    tracing::error!(%error, topic = %topic.name, partition = index, "cannot open a new partition");
                }
            }
        }
    }
}

/// One line naming what a record does, for the log.
fn describe_record(record: &MetadataRecord) -> String {
    match record {
        MetadataRecord::CreateTopic {
            name,
            partition_shards,
            ..
        } => format!(
            "create topic {name} with {} partitions",
            partition_shards.len()
        ),
        MetadataRecord::CreatePartitions {
            id,
            new_partition_shards,
        } => format!(
            "add {} partitions to topic {id:?}",
            new_partition_shards.len()
        ),
        MetadataRecord::DeleteTopic { id } => format!("delete topic {id:?}"),
        MetadataRecord::AlterTopicConfigs { id, set, remove } => {
            format!("alter configs of topic {id:?}: set {set:?}, remove {remove:?}")
        }
        MetadataRecord::ReserveProducerIds { first, count } => {
            format!(
                "reserve producer ids {first}..{}",
                first + i64::from(*count)
            )
        }
    }
}
