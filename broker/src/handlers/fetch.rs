//! Fetch: records from partitions, with long polls, byte limits and fetch sessions.
//!
//! ## Flow
//! 1. The request's partitions are resolved against the metadata (by name, or by topic id from
//!    v13) and against its fetch session ([`crate::fetch_session`]): a full fetch reads what
//!    the request lists, an incremental one everything in the session.
//! 2. The partitions are grouped by owning shard and each shard gets one call. The owner reads
//!    each partition from its fetch offset up to the high watermark, at most
//!    `partition_max_bytes` (the first batch whole even when larger, so a consumer always
//!    progresses). When its partitions hold fewer than `min_bytes` it waits, up to
//!    `max_wait_ms`, for an append to one of them, then reads again.
//! 3. As shards answer, the bytes add up; once they reach `min_bytes`, or any partition has an
//!    error, the other shards are told to stop waiting and answer with what they have.
//! 4. The response keeps partitions in request order and stops adding records once
//!    `max_bytes` is reached (again the first batch whole). An incremental response carries only
//!    partitions with records, an error, or a changed high watermark or log start offset.
//!
//! ## Copies
//! Records cached on the owning shard travel as the cache's own buffers (reference counted,
//! no copy) into the response's gather list. Records read from disk are copied once, on the
//! owning shard, into a buffer that can cross to the connection's shard (the DMA read buffer
//! belongs to its core). A partition whose read spans several cached buffers is joined into one
//! buffer (one copy), because a records field is one buffer in the generated codec.
//!
//! ## Waiting across shards
//! Each owner waits until *its* partitions hold `min_bytes`. When partitions sit on several
//! shards, each waiting owner also reports how many bytes it holds whenever that changes (a
//! bounded channel to the requesting shard); once the reports and the answers add up to
//! `min_bytes`, the requesting shard tells every owner to answer with what it has. A report
//! that finds the channel full is dropped; the next change, or `max_wait_ms`, still ends the
//! wait.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_channel::{mpsc, oneshot};
use futures_lite::StreamExt;
use storage::{Offset, ReadPiece, StorageError};
use wire::codec::{KStr, Uuid};
use wire::error_code::ErrorCode;
use wire::messages::fetch_request::FetchRequest;
use wire::messages::fetch_response::{FetchResponse, FetchableTopicResponse, PartitionData};

use super::{storage_error_code, Request};
use crate::fetch_session::{Resolved, SessionPartition, SessionRequest};
use crate::metadata::TopicId;
use crate::partitions::{Partition, PartitionKey};
use crate::runtime::event::{any_changed, Event, HasEvent};
use crate::runtime::executors::ShardId;
use crate::runtime::tasks::{bounded_queue, spawn_detached};
use crate::runtime::time::sleep;
use crate::shard::{owner_shard, Shard};

pub const VERSIONS: RangeInclusive<i16> = 4..=15;

/// Longest long poll honoured, whatever the client asks.
const MAX_WAIT_MS_MAX: i32 = 60_000;

/// A partition to fetch, as the response will name it.
#[derive(Debug, Clone)]
struct Wanted {
    topic_name: String,
    /// The topic id as the client sent it (v13+) or as resolved.
    topic_uuid: Uuid,
    /// `None` when the topic is unknown.
    topic_id: Option<TopicId>,
    index: i32,
    fetch_offset: i64,
    partition_max_bytes: i32,
    /// For incremental fetches: what the session last sent.
    sent: Option<(i64, i64)>,
}

/// One partition's answer.
#[derive(Debug, Clone)]
struct Fetched {
    error: ErrorCode,
    high_watermark: i64,
    log_start_offset: i64,
    records: Bytes,
}

impl Fetched {
    fn failed(error: ErrorCode) -> Self {
        Self {
            error,
            high_watermark: -1,
            log_start_offset: -1,
            records: Bytes::new(),
        }
    }
}

/// A partition read on its owner.
struct ReadItem {
    position: usize,
    key: PartitionKey,
    fetch_offset: i64,
    bytes_max: usize,
}

/// How long, and for how much, an owner waits.
struct Wait {
    deadline: Instant,
    min_bytes: usize,
    stop: oneshot::Receiver<()>,
    /// With several owners: where this owner reports the bytes it holds, as (its slot, bytes).
    progress: Option<(usize, mpsc::Sender<(usize, usize)>)>,
}

/// Progress reports queued from owners before later ones are dropped.
const PROGRESS_REPORTS_MAX: usize = 64;

impl HasEvent for Partition {
    fn event(&self) -> &Event {
        &self.data_changed
    }
}

pub async fn handle(shard: Rc<Shard>, request: Request, body: FetchRequest) -> FetchResponse {
    let by_id = request.version >= 13;
    let mut listed = Vec::new();
    let mut forgotten = Vec::new();
    {
        let image = shard.metadata.borrow();
        let resolve = |name: &KStr, id: Uuid| {
            let topic = if by_id {
                image.topic_by_id(TopicId(id.0))
            } else {
                image.topic(name.as_str())
            };
            match topic {
                Some(topic) => (topic.name.clone(), Uuid(topic.id.0), Some(topic.id)),
                None => (name.to_string(), id, None),
            }
        };
        for topic in &body.topics {
            let (topic_name, topic_uuid, topic_id) = resolve(&topic.topic, topic.topic_id);
            for partition in &topic.partitions {
                listed.push(Wanted {
                    topic_name: topic_name.clone(),
                    topic_uuid,
                    topic_id,
                    index: partition.partition,
                    fetch_offset: partition.fetch_offset,
                    partition_max_bytes: partition.partition_max_bytes,
                    sent: None,
                });
            }
        }
        for topic in &body.forgotten_topics_data {
            if let (_, _, Some(id)) = resolve(&topic.topic, topic.topic_id) {
                forgotten.extend(topic.partitions.iter().map(|&index| (id, index)));
            }
        }
    }

    let changes: Vec<SessionPartition> = listed
        .iter()
        .filter_map(|wanted| {
            Some(SessionPartition {
                topic_id: wanted.topic_id?,
                topic_name: wanted.topic_name.clone(),
                index: wanted.index,
                fetch_offset: wanted.fetch_offset,
                partition_max_bytes: wanted.partition_max_bytes,
                sent_high_watermark: -1,
                sent_log_start_offset: -1,
            })
        })
        .collect();
    let session_request = SessionRequest {
        session_id: body.session_id,
        session_epoch: body.session_epoch,
    };
    let resolution = shard
        .fetch_sessions
        .resolve(session_request, changes.clone(), &forgotten);
    let (wanted, incremental_session, open_session) = match resolution {
        Resolved::Refused(code) => {
            return FetchResponse {
                error_code: code.code(),
                session_id: 0,
                ..FetchResponse::default()
            }
        }
        Resolved::Full { open } => (listed, None, open),
        Resolved::Incremental {
            session_id,
            partitions,
        } => {
            let mut wanted: Vec<Wanted> = partitions
                .into_iter()
                .map(|partition| Wanted {
                    topic_name: partition.topic_name,
                    topic_uuid: Uuid(partition.topic_id.0),
                    topic_id: Some(partition.topic_id),
                    index: partition.index,
                    fetch_offset: partition.fetch_offset,
                    partition_max_bytes: partition.partition_max_bytes,
                    sent: Some((
                        partition.sent_high_watermark,
                        partition.sent_log_start_offset,
                    )),
                })
                .collect();
            // Unknown topics named in the request are answered with their error too.
            wanted.extend(listed.into_iter().filter(|w| w.topic_id.is_none()));
            (wanted, Some(session_id), false)
        }
    };

    let max_wait_ms = body.max_wait_ms.clamp(0, MAX_WAIT_MS_MAX);
    let min_bytes = usize::try_from(body.min_bytes).unwrap_or(0);
    let response_bytes_max = usize::try_from(body.max_bytes).unwrap_or(0);
    let mut fetched = read_partitions(
        &shard,
        &wanted,
        response_bytes_max,
        min_bytes,
        Duration::from_millis(max_wait_ms as u64),
        by_id,
    )
    .await;
    trim_to_response_limit(&mut fetched, response_bytes_max);

    let session_id = match (incremental_session, open_session) {
        (Some(id), _) => id,
        (None, true) => shard.fetch_sessions.open(
            changes
                .into_iter()
                .zip(wanted.iter().filter(|w| w.topic_id.is_some()))
                .map(|(mut partition, _)| {
                    if let Some((_, outcome)) = wanted.iter().zip(&fetched).find(|(w, _)| {
                        w.topic_id == Some(partition.topic_id) && w.index == partition.index
                    }) {
                        partition.sent_high_watermark = outcome.high_watermark;
                        partition.sent_log_start_offset = outcome.log_start_offset;
                    }
                    partition
                })
                .collect(),
        ),
        (None, false) => 0,
    };

    let mut sent = Vec::new();
    let mut responses: Vec<FetchableTopicResponse> = Vec::new();
    for (wanted, outcome) in wanted.iter().zip(fetched) {
        if let (Some(_), Some((sent_high_watermark, sent_log_start_offset))) =
            (incremental_session, wanted.sent)
        {
            let changed = !outcome.records.is_empty()
                || outcome.error != ErrorCode::None
                || outcome.high_watermark != sent_high_watermark
                || outcome.log_start_offset != sent_log_start_offset;
            if !changed {
                continue;
            }
        }
        if let Some(topic_id) = wanted.topic_id {
            sent.push((
                topic_id,
                wanted.index,
                outcome.high_watermark,
                outcome.log_start_offset,
            ));
        }
        let partition = PartitionData {
            partition_index: wanted.index,
            error_code: outcome.error.code(),
            high_watermark: outcome.high_watermark,
            last_stable_offset: outcome.high_watermark,
            log_start_offset: outcome.log_start_offset,
            aborted_transactions: None,
            records: Some(outcome.records),
            ..PartitionData::default()
        };
        let same_topic = responses.last().is_some_and(|last| {
            if by_id {
                last.topic_id == wanted.topic_uuid
            } else {
                last.topic.as_str() == wanted.topic_name
            }
        });
        if same_topic {
            responses
                .last_mut()
                .expect("checked above")
                .partitions
                .push(partition);
        } else {
            responses.push(FetchableTopicResponse {
                topic: KStr::from(wanted.topic_name.clone()),
                topic_id: wanted.topic_uuid,
                partitions: vec![partition],
                ..FetchableTopicResponse::default()
            });
        }
    }
    if let Some(id) = incremental_session {
        shard.fetch_sessions.record_sent(id, &sent);
    }
    FetchResponse {
        error_code: ErrorCode::None.code(),
        session_id,
        responses,
        ..FetchResponse::default()
    }
}

/// Keeps records in request order until `response_bytes_max` is reached; the first
/// partition with records keeps them whatever their size.
fn trim_to_response_limit(fetched: &mut [Fetched], response_bytes_max: usize) {
    let mut total = 0usize;
    for outcome in fetched.iter_mut() {
        if outcome.records.is_empty() {
            continue;
        }
        if total > 0 && total + outcome.records.len() > response_bytes_max {
            outcome.records = Bytes::new();
            continue;
        }
        total += outcome.records.len();
    }
}

/// Reads every wanted partition on its owner, waiting as the module docs describe. The result
/// is aligned with `wanted`.
async fn read_partitions(
    shard: &Rc<Shard>,
    wanted: &[Wanted],
    response_bytes_max: usize,
    min_bytes: usize,
    max_wait: Duration,
    by_id: bool,
) -> Vec<Fetched> {
    let unknown_topic = if by_id {
        ErrorCode::UnknownTopicId
    } else {
        ErrorCode::UnknownTopicOrPartition
    };
    let mut fetched = vec![Fetched::failed(unknown_topic); wanted.len()];
    let mut by_shard: BTreeMap<ShardId, Vec<ReadItem>> = BTreeMap::new();
    {
        let image = shard.metadata.borrow();
        for (position, wanted) in wanted.iter().enumerate() {
            let Some(topic) = wanted.topic_id.and_then(|id| image.topic_by_id(id)) else {
                continue;
            };
            let Some(placement) = usize::try_from(wanted.index)
                .ok()
                .and_then(|index| topic.partitions.get(index))
            else {
                fetched[position] = Fetched::failed(ErrorCode::UnknownTopicOrPartition);
                continue;
            };
            let bytes_max = usize::try_from(wanted.partition_max_bytes)
                .unwrap_or(0)
                .min(response_bytes_max);
            by_shard
                .entry(owner_shard(placement, shard.shard_count()))
                .or_default()
                .push(ReadItem {
                    position,
                    key: PartitionKey {
                        topic: topic.id,
                        index: wanted.index,
                    },
                    fetch_offset: wanted.fetch_offset,
                    bytes_max,
                });
        }
    }
    if by_shard.is_empty() {
        return fetched;
    }

    let deadline = Instant::now() + max_wait;
    let shard_count = by_shard.len();
    let (results, arrivals) = bounded_queue(shard_count);
    let results = Rc::new(results);
    let mut stops = Vec::with_capacity(shard_count);
    let waits = !max_wait.is_zero() && min_bytes > 0;
    // Progress reports matter only when owners on several shards wait.
    let (progress_sender, mut progress) = if waits && shard_count > 1 {
        let (sender, receiver) = mpsc::channel::<(usize, usize)>(PROGRESS_REPORTS_MAX);
        (Some(sender), Some(receiver))
    } else {
        (None, None)
    };
    for (slot, (target, items)) in by_shard.into_iter().enumerate() {
        let (stop_sender, stop) = oneshot::channel::<()>();
        stops.push(stop_sender);
        let wait = waits.then(|| Wait {
            deadline,
            min_bytes,
            stop,
            progress: progress_sender
                .as_ref()
                .map(|sender| (slot, sender.clone())),
        });
        let positions: Vec<usize> = items.iter().map(|item| item.position).collect();
        let call = shard
            .mesh
            .start_call(target, shard, move |owner: Rc<Shard>| {
                read_on_owner(owner, items, wait)
            })
            .await;
        let results = results.clone();
        spawn_detached(async move {
            let outcome = match call {
                Ok(call) => call.result().await.map_err(|_| positions.clone()),
                Err(_) => Err(positions),
            };
            let _ = results.send((slot, outcome)).await;
        });
    }
    drop(results);
    drop(progress_sender);

    /// What the requesting shard hears next: an owner's answer or a progress report.
    enum Heard<A> {
        Answer(Option<A>),
        Progress(Option<(usize, usize)>),
    }
    let mut total_bytes = 0usize;
    // Bytes each still-waiting owner last reported holding.
    let mut reported = vec![0usize; shard_count];
    let mut answered = 0;
    while answered < shard_count {
        let heard = match progress.as_mut() {
            Some(reports) => {
                futures_lite::future::or(async { Heard::Answer(arrivals.recv().await) }, async {
                    Heard::Progress(reports.next().await)
                })
                .await
            }
            None => Heard::Answer(arrivals.recv().await),
        };
        let outcome = match heard {
            Heard::Progress(Some((slot, bytes))) => {
                if let Some(last) = reported.get_mut(slot) {
                    *last = bytes;
                }
                if total_bytes.saturating_add(reported.iter().sum()) >= min_bytes {
                    stops.clear();
                }
                continue;
            }
            // Every owner has answered or stopped reporting: only answers remain.
            Heard::Progress(None) => {
                progress = None;
                continue;
            }
            Heard::Answer(Some(outcome)) => outcome,
            Heard::Answer(None) => break,
        };
        answered += 1;
        let (slot, outcome) = outcome;
        // The answer's bytes now count in the total instead of the owner's last report.
        reported[slot] = 0;
        match outcome {
            Ok(read) => {
                for (position, outcome) in read {
                    total_bytes += outcome.records.len();
                    if outcome.error != ErrorCode::None {
                        // Answer now: an error needs the client's attention.
                        total_bytes = usize::MAX;
                    }
                    fetched[position] = outcome;
                }
            }
            Err(positions) => {
                for position in positions {
                    fetched[position] = Fetched::failed(ErrorCode::NotLeaderOrFollower);
                }
            }
        }
        if total_bytes.saturating_add(reported.iter().sum()) >= min_bytes {
            // Dropping the senders tells waiting owners to answer with what they have.
            stops.clear();
        }
    }
    fetched
}

/// Runs on the owning shard: reads `items`, waiting for data as the module docs describe.
async fn read_on_owner(
    owner: Rc<Shard>,
    items: Vec<ReadItem>,
    wait: Option<Wait>,
) -> Vec<(usize, Fetched)> {
    let partitions: Vec<Option<Rc<Partition>>> = items
        .iter()
        .map(|item| owner.partitions.get(item.key))
        .collect();
    let Some(mut wait) = wait else {
        return read_once(&items, &partitions).await.0;
    };
    loop {
        let generations: Vec<(Rc<Partition>, u64)> = partitions
            .iter()
            .flatten()
            .map(|partition| (partition.clone(), partition.data_changed.generation()))
            .collect();
        let (read, bytes, failed) = read_once(&items, &partitions).await;
        let now = Instant::now();
        if failed || bytes >= wait.min_bytes || now >= wait.deadline || owner.activity.stopping() {
            return read;
        }
        if let Some((slot, progress)) = &mut wait.progress {
            if bytes > 0 {
                // Full: dropped (see the module docs).
                let _ = progress.try_send((*slot, bytes));
            }
        }
        let stopping = owner.stopping.generation();
        let cut_short = Cell::new(false);
        let data = any_changed(generations);
        let stop = async {
            let _ = (&mut wait.stop).await;
            cut_short.set(true);
        };
        let shard_stopping = async {
            any_changed(vec![(owner.stopping.clone(), stopping)]).await;
            cut_short.set(true);
        };
        futures_lite::future::or(
            futures_lite::future::or(data, sleep(wait.deadline - now)),
            futures_lite::future::or(stop, shard_stopping),
        )
        .await;
        if cut_short.get() {
            // Told to stop waiting: answer with what there is now.
            wait.deadline = Instant::now();
        }
    }
}

/// Reads each item once. Returns the answers, the record bytes read and whether any failed.
async fn read_once(
    items: &[ReadItem],
    partitions: &[Option<Rc<Partition>>],
) -> (Vec<(usize, Fetched)>, usize, bool) {
    let mut answers = Vec::with_capacity(items.len());
    let mut bytes = 0usize;
    let mut failed = false;
    for (item, partition) in items.iter().zip(partitions) {
        let outcome = match partition {
            Some(partition) => read_partition(partition, item).await,
            None => Fetched::failed(ErrorCode::NotLeaderOrFollower),
        };
        bytes += outcome.records.len();
        failed |= outcome.error != ErrorCode::None;
        answers.push((item.position, outcome));
    }
    (answers, bytes, failed)
}

async fn read_partition(partition: &Partition, item: &ReadItem) -> Fetched {
    let log = &partition.log;
    let high_watermark = partition.high_watermark();
    let log_start_offset = log.log_start_offset();
    let answer = |error: ErrorCode, records: Bytes| Fetched {
        error,
        high_watermark: high_watermark.0,
        log_start_offset: log_start_offset.0,
        records,
    };
    let offset = Offset(item.fetch_offset);
    if offset < log_start_offset || offset > log.log_end_offset() {
        return answer(ErrorCode::OffsetOutOfRange, Bytes::new());
    }
    if offset >= high_watermark || item.bytes_max == 0 {
        return answer(ErrorCode::None, Bytes::new());
    }
    match log.read(offset, item.bytes_max, high_watermark).await {
        Ok(read) => {
            let records = if let [ReadPiece::Cached(bytes)] = read.pieces.as_slice() {
                bytes.clone()
            } else {
                let mut joined = BytesMut::with_capacity(read.bytes);
                for piece in &read.pieces {
                    joined.extend_from_slice(piece);
                }
                joined.freeze()
            };
            answer(ErrorCode::None, records)
        }
        Err(StorageError::OffsetOutOfRange { .. }) => {
            answer(ErrorCode::OffsetOutOfRange, Bytes::new())
        }
        Err(error) => {
            tracing::warn!(%error, partition = %format!("{}-{}", partition.topic_name, partition.key.index), "fetch read failed");
            answer(storage_error_code(&error), Bytes::new())
        }
    }
}
