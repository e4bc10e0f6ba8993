//! The bench consumer: fetches its assigned partitions (no consumer group: within each
//! subscription, partition p of the run belongs to that subscription's consumer p mod
//! consumers), checks every record's sequence, and records end-to-end latency from the
//! record's intended send time to its receipt. Several subscriptions read the same data
//! independently (fan-out), as several consumer groups would.
//!
//! Delivery check: each message carries its producer and a sequence number per producer and
//! partition ([`crate::payload`]). A sequence below the next expected one is a duplicate, one
//! above it means messages were skipped (missing). Together with the producers' acknowledged
//! count this shows that every acknowledged message was consumed exactly once.
//!
//! When it stops: in tail mode, once the producers are done and every acknowledged message has
//! been consumed, or `drain_seconds_max` after the producers finished, whichever is first. In
//! catch-up mode it starts only when the producers are done, then stops the same way.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use wire::codec::KStr;
use wire::error_code::ErrorCode;
use wire::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use wire::messages::fetch_response::FetchResponse;
use wire::messages::{ApiKey, RequestBody};
use wire::records::Batch;

use crate::admin::PartitionTarget;
use crate::connection;
use crate::payload::ValueHeader;
use crate::stats::{within, CoreStats, Counters, Phases, RunClock, Shared};
use crate::workload::{ConsumerMode, Workload};

/// Largest decompressed batch a consumer reads.
const DECOMPRESSED_BATCH_BYTES_MAX: usize = 256 << 20;
/// Pause after a failed fetch before the next one.
const ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// Everything one consumer needs.
#[derive(Clone)]
pub struct ConsumerSetup {
    pub index: u32,
    pub workload: Arc<Workload>,
    /// The partitions assigned to this consumer.
    pub partitions: Vec<PartitionTarget>,
    pub fetch_version: i16,
    pub clock: RunClock,
    pub phases: Phases,
    pub shared: Arc<Shared>,
}

/// Runs one consumer until the run's messages are read (see the module doc).
pub async fn run_consumer(setup: ConsumerSetup, stats: Rc<RefCell<CoreStats>>) {
    let mut by_leader: Vec<(SocketAddr, Vec<PartitionTarget>)> = Vec::new();
    for target in &setup.partitions {
        match by_leader
            .iter_mut()
            .find(|(leader, _)| *leader == target.leader)
        {
            Some((_, list)) => list.push(target.clone()),
            None => by_leader.push((target.leader, vec![target.clone()])),
        }
    }
    let loops: Vec<_> = by_leader
        .into_iter()
        .map(|(leader, partitions)| {
            glommio::spawn_local(fetch_loop(setup.clone(), leader, partitions, stats.clone()))
                .detach()
        })
        .collect();
    for task in loops {
        task.await;
    }
}

struct Position {
    topic_index: u32,
    topic: String,
    partition: i32,
    next_offset: i64,
}

fn should_stop(setup: &ConsumerSetup) -> bool {
    if setup.shared.aborted() {
        return true;
    }
    let Some(done_at) = setup.shared.producers_done_at() else {
        return false;
    };
    let acked = setup.shared.acked_messages.load(Ordering::Relaxed)
        * u64::from(setup.workload.consumer.subscriptions);
    let consumed = setup.shared.consumed_messages.load(Ordering::Relaxed);
    if consumed >= acked {
        return true;
    }
    let drain_ns = (setup.workload.consumer.drain_seconds_max * 1e9) as u64;
    setup.clock.now_ns() > done_at + drain_ns
}

async fn fetch_loop(
    setup: ConsumerSetup,
    leader: SocketAddr,
    partitions: Vec<PartitionTarget>,
    stats: Rc<RefCell<CoreStats>>,
) {
    let workload = setup.workload.clone();
    if workload.consumer.mode == ConsumerMode::CatchUp {
        while setup.shared.producers_done_at().is_none() && !setup.shared.aborted() {
            glommio::timer::sleep(Duration::from_millis(10)).await;
        }
    }
    let (mut writer, mut reader) =
        match connection::connect(leader, &format!("ferrite-bench-consumer-{}", setup.index)).await
        {
            Ok(halves) => halves,
            Err(error) => {
                let mut stats = stats.borrow_mut();
                stats.count_error(format!("consumer cannot connect: {error}"), 1);
                stats.add_counters(Counters {
                    consume_errors: 1,
                    ..Default::default()
                });
                return;
            }
        };
    {
        let now = setup.clock.now_ns();
        let mut stats = stats.borrow_mut();
        let started = stats.consume_started_ns.get_or_insert(now);
        *started = (*started).min(now);
    }
    let mut positions: Vec<Position> = partitions
        .iter()
        .map(|target| Position {
            topic_index: target.topic_index,
            topic: target.topic.clone(),
            partition: target.partition,
            next_offset: target.start_offset,
        })
        .collect();
    // Next expected sequence per (producer, topic, partition).
    let mut expected: HashMap<(u32, u32, i32), u64> = HashMap::new();
    let answer_wait = Duration::from_millis(u64::from(workload.consumer.fetch_wait_ms_max))
        + Duration::from_secs(30);
    while !should_stop(&setup) {
        let request = fetch_request(&workload, &positions);
        let body: RequestBody = request.into();
        let version = setup.fetch_version;
        let result = async {
            let correlation_id = writer.send(version, &body).await?;
            reader
                .read_response(ApiKey::Fetch, version, correlation_id)
                .await
        };
        let answer = match within(answer_wait, result).await {
            Some(Ok(body)) => match FetchResponse::try_from(body) {
                Ok(response) => response,
                Err(_) => {
                    consume_error(&stats, "a Fetch request got another API's answer".into());
                    break;
                }
            },
            Some(Err(error)) => {
                consume_error(&stats, format!("fetch failed: {error}"));
                break;
            }
            None => {
                consume_error(&stats, "no answer to a fetch in time".into());
                break;
            }
        };
        let now = setup.clock.now_ns();
        if answer.error_code != 0 {
            consume_error(&stats, format!("fetch: {}", error_name(answer.error_code)));
            glommio::timer::sleep(ERROR_BACKOFF).await;
            continue;
        }
        let mut delta = Counters::default();
        let mut failed = false;
        {
            let mut stats = stats.borrow_mut();
            let stats = &mut *stats;
            for topic in &answer.responses {
                for partition in &topic.partitions {
                    let Some(position) = positions.iter_mut().find(|p| {
                        *topic.topic == *p.topic && p.partition == partition.partition_index
                    }) else {
                        continue;
                    };
                    if partition.error_code != 0 {
                        delta.consume_errors += 1;
                        stats.count_error(
                            format!("fetch partition: {}", error_name(partition.error_code)),
                            1,
                        );
                        failed = true;
                        continue;
                    }
                    let records = partition.records.clone().unwrap_or_default();
                    read_records(
                        &setup,
                        stats,
                        &mut delta,
                        position,
                        records,
                        &mut expected,
                        now,
                    );
                }
            }
            stats.add_counters(delta);
        }
        setup
            .shared
            .consumed_messages
            .fetch_add(delta.consumed_messages, Ordering::Relaxed);
        if failed {
            glommio::timer::sleep(ERROR_BACKOFF).await;
        }
    }
    writer.close().await;
}

fn read_records(
    setup: &ConsumerSetup,
    stats: &mut CoreStats,
    delta: &mut Counters,
    position: &mut Position,
    records: bytes::Bytes,
    expected: &mut HashMap<(u32, u32, i32), u64>,
    now_ns: u64,
) {
    let measured = match setup.workload.consumer.mode {
        ConsumerMode::Tail => setup.phases.is_measured(now_ns),
        ConsumerMode::CatchUp => true,
    };
    let mut any = false;
    for batch in Batch::split(records, DECOMPRESSED_BATCH_BYTES_MAX) {
        // A batch cut short by the size limit ends the response; the next fetch gets it.
        let Ok(batch) = batch else { break };
        let header = batch.header();
        if header.attributes.is_control() {
            position.next_offset = position
                .next_offset
                .max(header.base_offset + i64::from(header.last_offset_delta) + 1);
            continue;
        }
        let records = match batch.records(DECOMPRESSED_BATCH_BYTES_MAX) {
            Ok(records) => records,
            Err(error) => {
                delta.consume_errors += 1;
                stats.count_error(format!("unreadable batch: {error}"), 1);
                return;
            }
        };
        for record in records {
            let record = match record {
                Ok(record) => record,
                Err(error) => {
                    delta.consume_errors += 1;
                    stats.count_error(format!("unreadable record: {error}"), 1);
                    return;
                }
            };
            if record.offset() < position.next_offset {
                continue;
            }
            position.next_offset = record.offset() + 1;
            let value = record.value().map(|v| v.as_ref()).unwrap_or_default();
            let Some(message) = ValueHeader::read(value) else {
                delta.foreign_records += 1;
                continue;
            };
            any = true;
            delta.consumed_messages += 1;
            delta.consumed_bytes += value.len() as u64;
            if measured {
                stats.measured_consumed_messages += 1;
                stats.measured_consumed_bytes += value.len() as u64;
            }
            let key = (message.producer, position.topic_index, position.partition);
            let next = expected.entry(key).or_insert(0);
            if message.sequence == *next {
                *next += 1;
            } else if message.sequence < *next {
                delta.duplicates += 1;
            } else {
                delta.missing += message.sequence - *next;
                *next = message.sequence + 1;
            }
            stats
                .interval_end_to_end_latency
                .record_span(message.intended_send_ns, now_ns);
            if setup.phases.is_measured(message.intended_send_ns) {
                stats
                    .end_to_end_latency
                    .record_span(message.intended_send_ns, now_ns);
            }
        }
    }
    if any {
        stats.first_consumed_ns.get_or_insert(now_ns);
        stats.last_consumed_ns = Some(now_ns);
    }
}

fn fetch_request(workload: &Workload, positions: &[Position]) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for position in positions {
        let partition = FetchPartition {
            partition: position.partition,
            current_leader_epoch: -1,
            fetch_offset: position.next_offset,
            log_start_offset: -1,
            partition_max_bytes: workload.consumer.fetch_bytes_max as i32,
            ..Default::default()
        };
        match topics.iter_mut().find(|t| *t.topic == *position.topic) {
            Some(topic) => topic.partitions.push(partition),
            None => topics.push(FetchTopic {
                topic: KStr::from(position.topic.clone()),
                partitions: vec![partition],
                ..Default::default()
            }),
        }
    }
    FetchRequest {
        replica_id: -1,
        max_wait_ms: workload.consumer.fetch_wait_ms_max as i32,
        min_bytes: 1,
        max_bytes: workload.consumer.fetch_bytes_max as i32,
        isolation_level: 0,
        session_id: 0,
        session_epoch: -1,
        topics,
        ..Default::default()
    }
}

fn consume_error(stats: &Rc<RefCell<CoreStats>>, kind: String) {
    let mut stats = stats.borrow_mut();
    stats.count_error(kind, 1);
    stats.add_counters(Counters {
        consume_errors: 1,
        ..Default::default()
    });
}

fn error_name(code: i16) -> String {
    ErrorCode::from_code(code).map_or_else(|| format!("error code {code}"), |c| c.name().into())
}
