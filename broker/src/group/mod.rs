//! The group coordinator: consumer groups (Kafka's classic protocol) and committed offsets.
//!
//! ## Where group state lives
//! Groups and their committed offsets are kept in the internal topic `__consumer_offsets`
//! ([`OFFSETS_TOPIC`]), written through the same storage as any topic and flushed on every
//! append (it is created with `flush.messages` 1), so an answered commit survives a crash.
//! A group belongs to partition `abs(java_string_hash(group id)) % partitions` of that topic
//! (Kafka's mapping), and its coordinator is the [`Coordinator`] of the shard that owns that partition: all of a
//! group's state sits on one core and needs no locks. A request arriving on another core is
//! forwarded to that core over the mesh ([`on_coordinator`]).
//!
//! The topic is created when a group first needs it (as Kafka does), with
//! `offsets_topic_partitions` partitions; its partition count never changes afterwards
//! (CreatePartitions and DeleteTopics refuse internal topics), because that would move groups.
//!
//! ## Recovery
//! When a shard opens a partition of `__consumer_offsets` (at start-up, before the broker
//! answers anyone, or when the topic is created), it replays the partition from its log start:
//! the last record for each key wins and tombstones delete ([`log`]). Groups come back with
//! their generation, leader, members and assignments, and the members' sessions start afresh,
//! so consumers that survived a broker restart carry on with heartbeats, and those that did
//! not are expired by their session timeout. Until a partition is loaded its groups answer
//! COORDINATOR_LOAD_IN_PROGRESS.
//!
//! ## Time
//! The state machine ([`state`]) takes the time as an argument; a per-shard task ticks every
//! [`TICK_INTERVAL`] to expire sessions, finish join phases at their deadline and expire
//! offsets of empty groups after `offsets_retention_minutes`.
//!
//! Not yet: the log of `__consumer_offsets` is not compacted (Ferrite has no compaction), so
//! it grows with every commit; it is kept forever (`retention.ms` -1) so that no committed
//! offset is lost. Transactional offset commits (TxnOffsetCommit) will be written here as
//! transactional batches; loading will then have to skip batches of aborted transactions,
//! which the record layout already allows.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use storage::AppendContext;
use wire::error_code::ErrorCode;

use crate::config::ConfigError;
use crate::handlers::now_ms;
use crate::partitions::{Partition, PartitionKey};
use crate::runtime::time::sleep;
use crate::shard::{owner_shard, Shard};
use crate::topics::{create_topics, NewTopic};

pub mod log;
pub mod state;

pub use state::{
    CommittedOffset, Deliveries, Group, GroupState, Identity, JoinOutcome, JoinRequest, Reply,
    SyncOutcome,
};

/// The internal topic holding groups and committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// How often each shard's coordinator looks at the time.
pub const TICK_INTERVAL: Duration = Duration::from_millis(100);

/// How often empty groups' offsets are checked for expiry.
const EXPIRY_INTERVAL_MS: i64 = 5_000;

/// Segment size of `__consumer_offsets` partitions (Kafka's offsets.topic.segment.bytes).
const OFFSETS_SEGMENT_BYTES: &str = "104857600";

/// Bytes read per step while loading a partition.
const LOAD_READ_BYTES: usize = 1 << 20;

/// Largest batch accepted while loading (records are decompressed within this too).
const LOAD_BATCH_BYTES_MAX: usize = 64 << 20;

/// Settings of the group coordinator (see `ferrite --help` for each).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupConfig {
    pub offsets_topic_partitions: i32,
    pub offsets_retention_ms: i64,
    pub offset_metadata_bytes_max: usize,
    pub initial_rebalance_delay_ms: i64,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub max_size: usize,
}

impl GroupConfig {
    pub fn check(&self) -> Result<(), ConfigError> {
        let invalid = |setting, reason: String| Err(ConfigError::Invalid { setting, reason });
        if !(1..=crate::metadata::image::PARTITIONS_PER_TOPIC_MAX as i32)
            .contains(&self.offsets_topic_partitions)
        {
            return invalid(
                "offsets_topic_partitions",
                format!("{} is outside [1, 10000]", self.offsets_topic_partitions),
            );
        }
        if self.offsets_retention_ms < 60_000 {
            return invalid("offsets_retention_minutes", "must be at least 1".to_owned());
        }
        if self.initial_rebalance_delay_ms < 0 {
            return invalid(
                "group_initial_rebalance_delay_ms",
                format!("{} is negative", self.initial_rebalance_delay_ms),
            );
        }
        if self.min_session_timeout_ms < 1
            || self.min_session_timeout_ms > self.max_session_timeout_ms
        {
            return invalid(
                "group_min_session_timeout_ms",
                format!(
                    "{} must be positive and at most group_max_session_timeout_ms ({})",
                    self.min_session_timeout_ms, self.max_session_timeout_ms
                ),
            );
        }
        if self.max_size < 1 {
            return invalid("group_max_size", "must be greater than 0".to_owned());
        }
        Ok(())
    }
}

/// Java's `String.hashCode` over the UTF-16 code units of `text`, as Kafka uses to place a
/// group (so a group lands on the same partition number as in Kafka).
pub fn java_string_hash(text: &str) -> i32 {
    text.encode_utf16().fold(0i32, |hash, unit| {
        hash.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// The `__consumer_offsets` partition of `group_id` among `partitions`.
pub fn partition_for(group_id: &str, partitions: usize) -> i32 {
    let positive = java_string_hash(group_id) & 0x7fff_ffff;
    (positive as usize % partitions.max(1)) as i32
}

/// The groups of the `__consumer_offsets` partitions one shard owns.
#[derive(Default)]
pub struct Coordinator {
    groups: RefCell<HashMap<String, Group>>,
    /// Partitions of `__consumer_offsets` whose groups have been read back.
    loaded: RefCell<HashSet<i32>>,
    last_expiry_ms: std::cell::Cell<i64>,
}

/// Where a group's coordinator runs: the shard and the partition it writes to.
fn locate(
    shard: &Shard,
    group_id: &str,
) -> Option<(crate::runtime::executors::ShardId, PartitionKey)> {
    let image = shard.metadata.borrow();
    let topic = image.topic(OFFSETS_TOPIC)?;
    let index = partition_for(group_id, topic.partitions.len());
    let info = topic.partitions.get(index as usize)?;
    Some((
        owner_shard(info, shard.shard_count()),
        PartitionKey {
            topic: topic.id,
            index,
        },
    ))
}

/// Creates `__consumer_offsets` if it does not exist yet.
pub async fn ensure_offsets_topic(shard: &Rc<Shard>) -> Result<(), ErrorCode> {
    if shard.metadata.borrow().topic(OFFSETS_TOPIC).is_some() {
        return Ok(());
    }
    let topic = NewTopic {
        name: OFFSETS_TOPIC.to_owned(),
        partition_count: shard.config.groups.offsets_topic_partitions,
        configs: vec![
            // Every commit is durable before it is answered, whatever the topic defaults.
            ("flush.messages".to_owned(), "1".to_owned()),
            ("retention.ms".to_owned(), "-1".to_owned()),
            ("segment.bytes".to_owned(), OFFSETS_SEGMENT_BYTES.to_owned()),
        ],
    };
    let outcomes = create_topics(shard, vec![topic], false)
        .await
        .map_err(|_| ErrorCode::CoordinatorNotAvailable)?;
    match outcomes.into_iter().next() {
        Some(Ok(())) => {
            tracing::info!(
                partitions = shard.config.groups.offsets_topic_partitions,
                "created {OFFSETS_TOPIC}"
            );
            Ok(())
        }
        // Another request created it first.
        Some(Err(error)) if error.code == ErrorCode::TopicAlreadyExists => Ok(()),
        Some(Err(error)) => {
            tracing::error!(message = %error.message, "cannot create {OFFSETS_TOPIC}");
            Err(ErrorCode::CoordinatorNotAvailable)
        }
        None => Err(ErrorCode::CoordinatorNotAvailable),
    }
}

/// Runs `work` on the coordinator of `group_id` (creating `__consumer_offsets` first if
/// needed) with the partition the group writes to. Errors are the Kafka codes a client
/// expects: INVALID_GROUP_ID for an empty id, COORDINATOR_NOT_AVAILABLE (retry),
/// COORDINATOR_LOAD_IN_PROGRESS (retry), NOT_COORDINATOR (look it up again).
pub async fn on_coordinator<R, F, Fut>(
    shard: &Rc<Shard>,
    group_id: &str,
    work: F,
) -> Result<R, ErrorCode>
where
    R: Send + 'static,
    F: FnOnce(Rc<Shard>, Rc<Partition>) -> Fut + Send + 'static,
    Fut: Future<Output = R> + 'static,
{
    if group_id.is_empty() {
        return Err(ErrorCode::InvalidGroupId);
    }
    ensure_offsets_topic(shard).await?;
    let (owner, key) = locate(shard, group_id).ok_or(ErrorCode::CoordinatorNotAvailable)?;
    shard
        .mesh
        .call(owner, shard, move |owner: Rc<Shard>| async move {
            if owner.activity.stopping() {
                return Err(ErrorCode::NotCoordinator);
            }
            // The partition opens (and its groups load) just after the topic appears in the
            // metadata: until then the coordinator is still loading.
            let partition = owner
                .partitions
                .get(key)
                .filter(|_| owner.groups.loaded.borrow().contains(&key.index))
                .ok_or(ErrorCode::CoordinatorLoadInProgress)?;
            Ok(work(owner, partition).await)
        })
        .await
        .map_err(|_| ErrorCode::CoordinatorNotAvailable)?
}

/// Appends `records` to `partition` (durable before it returns, as the topic flushes on
/// every append) and returns the offset of the first.
async fn write(
    partition: &Partition,
    records: &[(Bytes, Option<Bytes>)],
    now: i64,
) -> Result<i64, ErrorCode> {
    let batch: BytesMut = log::build_batch(records, now).map_err(|error| {
        tracing::error!(%error, "cannot build a {OFFSETS_TOPIC} batch");
        ErrorCode::UnknownServerError
    })?;
    let appended = partition
        .log
        .append(
            batch,
            AppendContext {
                now_ms: now,
                leader_epoch: 0,
            },
        )
        .await;
    partition.data_changed.notify();
    match appended {
        Ok(info) => Ok(info.base_offset.0),
        Err(error) => {
            tracing::error!(%error, partition = partition.key.index, "cannot write to {OFFSETS_TOPIC}");
            Err(ErrorCode::CoordinatorNotAvailable)
        }
    }
}

fn group_record(group: &Group) -> Result<(Bytes, Option<Bytes>), ErrorCode> {
    let key = log::RecordKey::Group {
        group: group.id.clone(),
    };
    let encode_failed = |error: wire::codec::EncodeError| {
        tracing::error!(%error, group = %group.id, "cannot encode a group record");
        ErrorCode::UnknownServerError
    };
    Ok((
        key.encode().map_err(encode_failed)?,
        Some(group.snapshot().encode().map_err(encode_failed)?),
    ))
}

fn tombstone(key: log::RecordKey) -> Option<(Bytes, Option<Bytes>)> {
    key.encode().ok().map(|key| (key, None))
}

fn offset_tombstones<'a>(
    group_id: &'a str,
    keys: impl IntoIterator<Item = &'a (String, i32)> + 'a,
) -> impl Iterator<Item = (Bytes, Option<Bytes>)> + 'a {
    keys.into_iter().filter_map(move |(topic, partition)| {
        tombstone(log::RecordKey::Offset {
            group: group_id.to_owned(),
            topic: topic.clone(),
            partition: *partition,
        })
    })
}

/// A record of `__consumer_offsets`: key, and value (`None` for a tombstone).
type Record = (Bytes, Option<Bytes>);

/// A partition's committed offsets to commit: topic, partition, value.
pub type Commit = (String, i32, log::OffsetValue);

/// What DescribeGroups says about a group.
#[derive(Debug, Clone)]
pub struct GroupDescription {
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

#[derive(Debug, Clone)]
pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// A group in ListGroups.
#[derive(Debug, Clone)]
pub struct ListedGroup {
    pub group_id: String,
    pub protocol_type: String,
    pub state: GroupState,
}

/// The committed offsets OffsetFetch asked for: per topic, per partition.
pub type FetchedOffsets = Vec<(String, Vec<(i32, Option<CommittedOffset>)>)>;

impl Coordinator {
    /// Runs `operation` on `group_id` (created empty if `create`), then makes the group
    /// durable if the operation asks for it, and delivers the answers it produced.
    async fn operate<T>(
        &self,
        partition: &Partition,
        group_id: &str,
        create: bool,
        operation: impl FnOnce(&mut Group, i64) -> (T, Deliveries),
    ) -> Option<T> {
        let now = now_ms();
        let (value, deliveries, record) = {
            let mut groups = self.groups.borrow_mut();
            if !groups.contains_key(group_id) {
                if !create {
                    return None;
                }
                groups.insert(group_id.to_owned(), Group::new(group_id.to_owned(), now));
            }
            let group = groups.get_mut(group_id).expect("present");
            let (value, deliveries) = operation(group, now);
            let record = deliveries.persist.then(|| group_record(group));
            // A group that never reached the log and holds nothing is not kept.
            if group.generation == 0 && group.is_forgettable() {
                groups.remove(group_id);
            }
            (value, deliveries, record)
        };
        let failed = match record {
            None => None,
            Some(Err(error)) => Some(error),
            Some(Ok(record)) => write(partition, &[record], now).await.err(),
        };
        deliveries.deliver(failed.map(|_| ErrorCode::CoordinatorNotAvailable));
        Some(value)
    }

    pub async fn join(
        &self,
        shard: &Shard,
        partition: &Partition,
        group_id: &str,
        request: JoinRequest,
        client_supports_skip: bool,
    ) -> JoinOutcome {
        let member_id = request.member_id.clone();
        let config = &shard.config.groups;
        let reply = self
            .operate(partition, group_id, true, |group, now| {
                group.join(request, config, client_supports_skip, now)
            })
            .await;
        match reply {
            Some(Reply::Now(outcome)) => outcome,
            Some(Reply::Wait(receiver)) => receiver
                .await
                .unwrap_or_else(|_| JoinOutcome::error(ErrorCode::NotCoordinator, &member_id)),
            None => JoinOutcome::error(ErrorCode::UnknownMemberId, &member_id),
        }
    }

    pub async fn sync(
        &self,
        partition: &Partition,
        group_id: &str,
        who: Identity,
        generation_id: i32,
        protocol: (Option<String>, Option<String>),
        assignments: Vec<(String, Bytes)>,
    ) -> SyncOutcome {
        let reply = self
            .operate(partition, group_id, false, |group, now| {
                group.sync(
                    &who,
                    generation_id,
                    protocol.0.as_deref(),
                    protocol.1.as_deref(),
                    assignments,
                    now,
                )
            })
            .await;
        match reply {
            Some(Reply::Now(outcome)) => outcome,
            Some(Reply::Wait(receiver)) => receiver
                .await
                .unwrap_or_else(|_| SyncOutcome::error(ErrorCode::NotCoordinator)),
            None => SyncOutcome::error(ErrorCode::UnknownMemberId),
        }
    }

    pub async fn heartbeat(
        &self,
        partition: &Partition,
        group_id: &str,
        who: Identity,
        generation_id: i32,
    ) -> ErrorCode {
        self.operate(partition, group_id, false, |group, now| {
            (
                group.heartbeat(&who, generation_id, now),
                Deliveries::default(),
            )
        })
        .await
        .unwrap_or(ErrorCode::UnknownMemberId)
    }

    /// LeaveGroup: one error per member, or a group-level error.
    pub async fn leave(
        &self,
        partition: &Partition,
        group_id: &str,
        leaving: Vec<Identity>,
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        self.operate(partition, group_id, false, |group, now| {
            group.leave(&leaving, now)
        })
        .await
        .ok_or(ErrorCode::UnknownMemberId)
    }

    /// OffsetCommit: checks the committer, writes the offsets, and answers once they are
    /// durable. One error per commit, in order; `Err` for a group-level refusal.
    pub async fn commit(
        &self,
        partition: &Partition,
        group_id: &str,
        who: Identity,
        generation_id: i32,
        commits: Vec<Commit>,
    ) -> Result<(), ErrorCode> {
        let now = now_ms();
        {
            let mut groups = self.groups.borrow_mut();
            let group = match groups.get_mut(group_id) {
                Some(group) => group,
                None if generation_id < 0 && who.member_id.is_empty() => groups
                    .entry(group_id.to_owned())
                    .or_insert_with(|| Group::new(group_id.to_owned(), now)),
                None if who.member_id.is_empty() => return Err(ErrorCode::IllegalGeneration),
                None => return Err(ErrorCode::UnknownMemberId),
            };
            match group.check_commit(&who, generation_id, now) {
                ErrorCode::None => {}
                error => return Err(error),
            }
            if commits.is_empty() {
                if group.generation == 0 && group.is_forgettable() {
                    groups.remove(group_id);
                }
                return Ok(());
            }
            group.commits_in_flight += 1;
        }
        let mut records = Vec::with_capacity(commits.len());
        for (topic, index, value) in &commits {
            let key = log::RecordKey::Offset {
                group: group_id.to_owned(),
                topic: topic.clone(),
                partition: *index,
            };
            match (key.encode(), value.encode()) {
                (Ok(key), Ok(value)) => records.push((key, Some(value))),
                _ => return Err(ErrorCode::UnknownServerError),
            }
        }
        let base = write(partition, &records, now).await;
        let mut groups = self.groups.borrow_mut();
        let Some(group) = groups.get_mut(group_id) else {
            // Deleted while the commit was written; the deletion's tombstones come later.
            return Ok(());
        };
        group.commits_in_flight = group.commits_in_flight.saturating_sub(1);
        match base {
            Ok(base) => {
                for (position, (topic, index, value)) in commits.into_iter().enumerate() {
                    group.apply_commit(
                        topic,
                        index,
                        CommittedOffset {
                            offset: value.offset,
                            leader_epoch: value.leader_epoch,
                            metadata: value.metadata,
                            commit_timestamp_ms: value.commit_timestamp_ms,
                            log_offset: base + position as i64,
                        },
                    );
                }
                Ok(())
            }
            Err(error) => {
                if group.generation == 0 && group.is_forgettable() {
                    groups.remove(group_id);
                }
                Err(error)
            }
        }
    }

    /// OffsetFetch of one group: the named partitions, or every committed one when `topics`
    /// is `None`.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> FetchedOffsets {
        let groups = self.groups.borrow();
        let offsets = groups.get(group_id).map(|group| &group.offsets);
        match topics {
            Some(topics) => topics
                .into_iter()
                .map(|(topic, partitions)| {
                    let found = partitions
                        .into_iter()
                        .map(|index| {
                            let committed = offsets
                                .and_then(|offsets| offsets.get(&(topic.clone(), index)))
                                .cloned();
                            (index, committed)
                        })
                        .collect();
                    (topic, found)
                })
                .collect(),
            None => {
                let mut by_topic: BTreeMap<String, Vec<(i32, Option<CommittedOffset>)>> =
                    BTreeMap::new();
                for ((topic, index), committed) in offsets.into_iter().flatten() {
                    by_topic
                        .entry(topic.clone())
                        .or_default()
                        .push((*index, Some(committed.clone())));
                }
                by_topic.into_iter().collect()
            }
        }
    }

    /// OffsetDelete: removes committed offsets of partitions the group does not consume.
    /// Per partition: NONE or GROUP_SUBSCRIBED_TO_TOPIC; `Err` for the group.
    pub async fn delete_offsets(
        &self,
        partition: &Partition,
        group_id: &str,
        topics: Vec<(String, Vec<i32>)>,
    ) -> Result<Vec<Vec<ErrorCode>>, ErrorCode> {
        let now = now_ms();
        let (answers, removed) = {
            let mut groups = self.groups.borrow_mut();
            let group = groups.get_mut(group_id).ok_or(ErrorCode::GroupIdNotFound)?;
            if group.state != GroupState::Empty
                && group.protocol_type.as_deref() != Some("consumer")
            {
                return Err(ErrorCode::NonEmptyGroup);
            }
            let subscribed = if group.state == GroupState::Empty {
                Vec::new()
            } else {
                group.subscribed_topics()
            };
            let mut removed = Vec::new();
            let answers = topics
                .into_iter()
                .map(|(topic, partitions)| {
                    partitions
                        .into_iter()
                        .map(|index| {
                            if subscribed.contains(&topic) {
                                return ErrorCode::GroupSubscribedToTopic;
                            }
                            let key = (topic.clone(), index);
                            if group.offsets.remove(&key).is_some() {
                                removed.push(key);
                            }
                            ErrorCode::None
                        })
                        .collect()
                })
                .collect();
            (answers, removed)
        };
        if !removed.is_empty() {
            let records: Vec<_> = offset_tombstones(group_id, &removed).collect();
            write(partition, &records, now).await?;
        }
        Ok(answers)
    }

    /// DescribeGroups of one group. As in Kafka, the protocol and the members' metadata and
    /// assignments are shown only while the group is stable (otherwise they are in flux).
    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let groups = self.groups.borrow();
        let group = groups.get(group_id)?;
        let stable = group.state == GroupState::Stable;
        let protocol = group
            .protocol
            .clone()
            .filter(|_| stable)
            .unwrap_or_default();
        Some(GroupDescription {
            state: group.state,
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            protocol: protocol.clone(),
            members: group
                .members
                .iter()
                .map(|member| MemberDescription {
                    member_id: member.id.clone(),
                    instance_id: member.instance_id.clone(),
                    client_id: member.client_id.clone(),
                    client_host: member.client_host.clone(),
                    metadata: if stable {
                        member.metadata(&protocol)
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable {
                        member.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        })
    }

    /// Every group this shard coordinates.
    pub fn list(&self) -> Vec<ListedGroup> {
        self.groups
            .borrow()
            .values()
            .map(|group| ListedGroup {
                group_id: group.id.clone(),
                protocol_type: group.protocol_type.clone().unwrap_or_default(),
                state: group.state,
            })
            .collect()
    }

    /// DeleteGroups for one group: only a group without members can go; its offsets and
    /// its record are deleted with tombstones.
    pub async fn delete_group(&self, partition: &Partition, group_id: &str) -> ErrorCode {
        let now = now_ms();
        let records: Vec<_> = {
            let mut groups = self.groups.borrow_mut();
            let Some(group) = groups.get(group_id) else {
                return ErrorCode::GroupIdNotFound;
            };
            if group.state != GroupState::Empty {
                return ErrorCode::NonEmptyGroup;
            }
            let group = groups.remove(group_id).expect("present");
            offset_tombstones(group_id, group.offsets.keys())
                .chain(tombstone(log::RecordKey::Group {
                    group: group_id.to_owned(),
                }))
                .collect()
        };
        match write(partition, &records, now).await {
            Ok(_) => ErrorCode::None,
            Err(error) => error,
        }
    }

    /// Reads back the groups of one `__consumer_offsets` partition (see the module docs).
    pub async fn load(&self, partition: &Partition) -> Result<(), storage::StorageError> {
        let started = std::time::Instant::now();
        let now = now_ms();
        let mut snapshots: HashMap<String, Option<log::GroupSnapshot>> = HashMap::new();
        let mut offsets: HashMap<String, BTreeMap<(String, i32), CommittedOffset>> = HashMap::new();
        let end = partition.log.log_end_offset();
        let mut next = partition.log.log_start_offset();
        let mut records_read = 0u64;
        while next < end {
            let read = partition.log.read(next, LOAD_READ_BYTES, end).await?;
            if read.next_offset <= next {
                break;
            }
            let bytes = Bytes::from(read.to_vec());
            for batch in wire::records::Batch::split(bytes, LOAD_BATCH_BYTES_MAX) {
                let records = match batch {
                    Ok(batch) => batch
                        .records(LOAD_BATCH_BYTES_MAX)
                        .map_err(|error| error.to_string()),
                    Err(error) => Err(error.to_string()),
                };
                let records = match records {
                    Ok(records) => records,
                    Err(error) => {
                        tracing::warn!(%error, partition = partition.key.index, "skipping an unreadable {OFFSETS_TOPIC} batch");
                        continue;
                    }
                };
                for record in records {
                    let Ok(record) = record else {
                        tracing::warn!(
                            partition = partition.key.index,
                            "skipping an unreadable {OFFSETS_TOPIC} record"
                        );
                        break;
                    };
                    if record.offset() < partition.log.log_start_offset().0 {
                        continue;
                    }
                    records_read += 1;
                    let Some(key) = record.key() else { continue };
                    match log::decode_entry(key, record.value()) {
                        Ok(Some(log::Entry::Offset {
                            group,
                            topic,
                            partition: index,
                            value,
                        })) => {
                            let group_offsets = offsets.entry(group).or_default();
                            match value {
                                Some(value) => {
                                    group_offsets.insert(
                                        (topic, index),
                                        CommittedOffset {
                                            offset: value.offset,
                                            leader_epoch: value.leader_epoch,
                                            metadata: value.metadata,
                                            commit_timestamp_ms: value.commit_timestamp_ms,
                                            log_offset: record.offset(),
                                        },
                                    );
                                }
                                None => {
                                    group_offsets.remove(&(topic, index));
                                }
                            }
                        }
                        Ok(Some(log::Entry::Group { group, value })) => {
                            if value.is_none() {
                                // A deleted group: its offsets were tombstoned before.
                                offsets.remove(&group);
                            }
                            snapshots.insert(group, value);
                        }
                        Ok(None) => {}
                        Err(error) => {
                            tracing::warn!(%error, offset = record.offset(), "skipping an undecodable {OFFSETS_TOPIC} record");
                        }
                    }
                }
            }
            next = read.next_offset;
        }
        let mut groups = self.groups.borrow_mut();
        let mut loaded_groups = 0usize;
        let ids: HashSet<String> = snapshots.keys().chain(offsets.keys()).cloned().collect();
        for id in ids {
            let snapshot = snapshots.remove(&id).flatten();
            let group_offsets = offsets.remove(&id).unwrap_or_default();
            if snapshot.is_none() && group_offsets.is_empty() {
                continue;
            }
            let mut group = match snapshot {
                Some(snapshot) => Group::restored(id.clone(), snapshot, now),
                None => Group::new(id.clone(), now),
            };
            group.offsets = group_offsets;
            groups.insert(id, group);
            loaded_groups += 1;
        }
        self.loaded.borrow_mut().insert(partition.key.index);
        if records_read > 0 {
            tracing::info!(
                partition = partition.key.index,
                groups = loaded_groups,
                records = records_read,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "loaded groups from {OFFSETS_TOPIC}"
            );
        }
        Ok(())
    }

    /// One tick of time for every group of this shard (see the module docs).
    async fn tick(&self, shard: &Shard) {
        let now = now_ms();
        let expiry_due = now - self.last_expiry_ms.get() >= EXPIRY_INTERVAL_MS;
        if expiry_due {
            self.last_expiry_ms.set(now);
        }
        let config = &shard.config.groups;
        let mut work: Vec<(String, Vec<Record>, Deliveries)> = Vec::new();
        {
            let mut groups = self.groups.borrow_mut();
            let mut forget = Vec::new();
            for (id, group) in groups.iter_mut() {
                let deliveries = group.tick(now);
                let mut records = Vec::new();
                if expiry_due {
                    let expired = group.expire_offsets(config.offsets_retention_ms, now);
                    if !expired.is_empty() {
                        tracing::info!(group = %id, partitions = expired.len(), "committed offsets expired");
                    }
                    records.extend(offset_tombstones(id, &expired));
                }
                if group.is_forgettable() {
                    forget.push(id.clone());
                    records.extend(tombstone(log::RecordKey::Group { group: id.clone() }));
                } else if deliveries.persist {
                    records.extend(group_record(group).ok());
                }
                if !records.is_empty()
                    || !deliveries.joins.is_empty()
                    || !deliveries.syncs.is_empty()
                {
                    work.push((id.clone(), records, deliveries));
                }
            }
            for id in forget {
                groups.remove(&id);
            }
        }
        for (id, records, deliveries) in work {
            let mut failed = None;
            if !records.is_empty() {
                let partition = locate(shard, &id).and_then(|(_, key)| shard.partitions.get(key));
                failed = match partition {
                    Some(partition) => write(&partition, &records, now).await.err(),
                    None => Some(ErrorCode::NotCoordinator),
                };
            }
            deliveries.deliver(failed.map(|_| ErrorCode::CoordinatorNotAvailable));
        }
    }

    /// Answers every waiting JoinGroup and SyncGroup with NOT_COORDINATOR (the broker stops):
    /// clients look the coordinator up again.
    pub fn stop(&self) {
        let mut groups = self.groups.borrow_mut();
        for group in groups.values_mut() {
            group.release_waiters(ErrorCode::NotCoordinator);
        }
    }
}

/// Ticks the shard's coordinator until the shard stops.
pub async fn run_ticks(shard: Rc<Shard>) {
    while !shard.activity.stopping() {
        sleep(TICK_INTERVAL).await;
        if !shard.groups.groups.borrow().is_empty() {
            shard.groups.tick(&shard).await;
        }
    }
}

/// Whether `name` is an internal topic that clients may not delete or grow.
pub fn is_internal_topic(name: &str) -> bool {
    name == OFFSETS_TOPIC || name == "__transaction_state"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_land_on_kafkas_partitions() {
        // Java: "".hashCode() == 0, "a".hashCode() == 97, "group".hashCode() == 98629247.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("group"), 98_629_247);
        assert_eq!(partition_for("group", 50), 98_629_247 % 50);
        // Overflowing hashes wrap as Java's int arithmetic does, and the sign bit is masked.
        let long = "a-long-consumer-group-name-that-overflows";
        assert!(partition_for(long, 50) >= 0 && partition_for(long, 50) < 50);
        // Characters outside the BMP count as two UTF-16 units.
        assert_eq!(java_string_hash("😀"), 0xd83d * 31 + 0xde00);
    }
}
