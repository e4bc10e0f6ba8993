//! The bench producer: open-loop message generation, batching per partition, pipelined
//! Produce requests, and send-to-acknowledgement latency.
//!
//! Open loop: with a target rate, message n of a producer is *intended* at
//! `phase + n / rate` on the run clock, whatever happened before. The producer wakes up,
//! appends every message whose time has come (each stamped with its intended time), sends the
//! batches that are full or have lingered long enough, and sleeps until the next message is
//! due. When the broker is slow the producer falls behind and catches up in a burst; the
//! latency of each message still counts from its intended time, so stalls are not hidden
//! (see [`crate::latency`]). Unthrottled, a message is intended when it is generated and the
//! producer generates as fast as its in-flight window lets it.
//!
//! Bounds: at most `in_flight_requests_max` requests wait for an answer per connection (then
//! the producer waits: backpressure); one open batch per partition, sent at `batch_bytes`;
//! generation ends at the run's end, and the answers of the last requests are awaited for at
//! most the request timeout plus five seconds.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::sync::Semaphore;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use wire::codec::KStr;
use wire::error_code::ErrorCode;
use wire::messages::produce_request::{PartitionProduceData, ProduceRequest, TopicProduceData};
use wire::messages::produce_response::ProduceResponse;
use wire::messages::{ApiKey, RequestBody};
use wire::records::{BatchBuilder, BatchOptions, NewRecord};

use crate::admin::PartitionTarget;
use crate::connection::{self, RequestWriter, ResponseReader};
use crate::payload::{ValueHeader, VALUE_HEADER_BYTES};
use crate::stats::{within, CoreStats, Counters, Phases, RunClock, Shared};
use crate::workload::{KeyMode, Workload};

/// Shortest sleep between generation rounds: below this, timers cost more than they help.
const SLEEP_NS_MIN: u64 = 20_000;

/// Everything one producer needs.
#[derive(Clone)]
pub struct ProducerSetup {
    pub index: u32,
    pub workload: Arc<Workload>,
    pub partitions: Arc<Vec<PartitionTarget>>,
    pub produce_version: i16,
    /// Messages per second for this producer; `None` when unthrottled.
    pub rate_per_second: Option<f64>,
    pub clock: RunClock,
    pub phases: Phases,
    pub shared: Arc<Shared>,
}

/// A batch sent and waiting for its acknowledgement.
struct SentBatch {
    topic: Rc<str>,
    partition: i32,
    /// Intended send time of each record, in order.
    intended_ns: Vec<u64>,
    value_bytes: u64,
}

/// A produce request waiting for its answer.
struct InFlight {
    correlation_id: i32,
    batches: Vec<SentBatch>,
}

/// One connection: the writer, and the queue the reader task drains.
struct ProducerConnection {
    writer: RequestWriter,
    /// `None` with acks=0 (no answers).
    in_flight: Option<LocalSender<InFlight>>,
    permits: Rc<Semaphore>,
    /// Set when the connection broke; batches for it then fail without being sent.
    broken: Rc<Cell<bool>>,
    reader: Option<glommio::task::JoinHandle<()>>,
}

/// The open batch of one partition.
struct OpenBatch {
    builder: BatchBuilder,
    intended_ns: Vec<u64>,
    value_bytes: u64,
}

struct PartitionState {
    topic: Rc<str>,
    partition: i32,
    connection: usize,
    next_sequence: u64,
    open: Option<OpenBatch>,
}

/// Runs one producer to the end of the run. Errors are counted in `stats`, never returned:
/// a failing broker is a result to report, not a reason to stop measuring.
pub async fn run_producer(setup: ProducerSetup, stats: Rc<RefCell<CoreStats>>) {
    let mut producer = match Producer::connect(&setup, stats.clone()).await {
        Ok(producer) => producer,
        Err(error) => {
            stats.borrow_mut().count_error(error, 1);
            setup.shared.producer_finished(&setup.clock);
            return;
        }
    };
    producer.generate().await;
    producer.finish().await;
    setup.shared.producer_finished(&setup.clock);
}

struct Producer {
    setup: ProducerSetup,
    stats: Rc<RefCell<CoreStats>>,
    connections: Vec<ProducerConnection>,
    partitions: Vec<PartitionState>,
    sticky: usize,
    rng: StdRng,
    /// The value being built: filler after the header, written once.
    value: Vec<u8>,
    key: Vec<u8>,
    messages_generated: u64,
}

impl Producer {
    async fn connect(
        setup: &ProducerSetup,
        stats: Rc<RefCell<CoreStats>>,
    ) -> Result<Producer, String> {
        let workload = &setup.workload;
        let connections_per_leader = workload.producer.connections as usize;
        let mut slots: HashMap<(SocketAddr, usize), usize> = HashMap::new();
        let mut connections = Vec::new();
        let mut partitions = Vec::new();
        let mut topic_names: HashMap<String, Rc<str>> = HashMap::new();
        for (index, target) in setup.partitions.iter().enumerate() {
            let slot_key = (target.leader, index % connections_per_leader);
            let slot = match slots.get(&slot_key) {
                Some(slot) => *slot,
                None => {
                    let connection = open_connection(setup, target.leader, stats.clone())
                        .await
                        .map_err(|error| format!("producer cannot connect: {error}"))?;
                    connections.push(connection);
                    slots.insert(slot_key, connections.len() - 1);
                    connections.len() - 1
                }
            };
            let topic = topic_names
                .entry(target.topic.clone())
                .or_insert_with(|| Rc::from(target.topic.as_str()))
                .clone();
            partitions.push(PartitionState {
                topic,
                partition: target.partition,
                connection: slot,
                next_sequence: 0,
                open: None,
            });
        }
        let (_, size_max) = workload.message.size.bounds();
        let mut rng = StdRng::seed_from_u64(0x6265_6e63_6800_0000 ^ u64::from(setup.index));
        // Random filler, so compression has realistic (that is: little) to gain.
        let mut value = vec![0u8; size_max as usize];
        rng.fill_bytes(&mut value);
        let sticky = setup.index as usize % partitions.len().max(1);
        Ok(Producer {
            setup: setup.clone(),
            stats,
            connections,
            partitions,
            sticky,
            rng,
            value,
            key: Vec::with_capacity(32),
            messages_generated: 0,
        })
    }

    /// The intended time of message `n` of this producer.
    fn intended_ns(&self, n: u64, rate: f64) -> u64 {
        let interval_ns = 1e9 / rate;
        let phase_ns = interval_ns * f64::from(self.setup.index)
            / f64::from(self.setup.workload.producer.count);
        (phase_ns + n as f64 * interval_ns) as u64
    }

    async fn generate(&mut self) {
        let linger_ns = (self.setup.workload.producer.linger_ms * 1e6) as u64;
        let end_ns = self.setup.phases.end_ns;
        let clock = self.setup.clock;
        loop {
            if self.setup.shared.aborted() {
                return;
            }
            let now = clock.now_ns();
            if now >= end_ns {
                return;
            }
            match self.setup.rate_per_second {
                Some(rate) => {
                    let mut next = self.intended_ns(self.messages_generated, rate);
                    while next <= now && next < end_ns {
                        self.append(next).await;
                        next = self.intended_ns(self.messages_generated, rate);
                    }
                    self.send_ready(now, linger_ns, false).await;
                    let earliest_linger = self.earliest_linger_deadline(linger_ns);
                    let wake = next.min(earliest_linger).min(end_ns);
                    let now = clock.now_ns();
                    if wake > now {
                        let sleep_ns = (wake - now).max(SLEEP_NS_MIN);
                        glommio::timer::sleep(Duration::from_nanos(sleep_ns)).await;
                    }
                }
                None => {
                    // As fast as the in-flight window allows: fill the current batch, send.
                    let batch_bytes = u64::from(self.setup.workload.producer.batch_bytes);
                    let mut appended_bytes = 0u64;
                    // One clock read per batch: the messages of a burst are generated together.
                    let now = clock.now_ns();
                    while appended_bytes < batch_bytes {
                        appended_bytes += self.append(now).await;
                    }
                    self.send_ready(clock.now_ns(), linger_ns, false).await;
                    // Yield so the readers on this core can run between bursts.
                    glommio::yield_if_needed().await;
                }
            }
        }
    }

    fn earliest_linger_deadline(&self, linger_ns: u64) -> u64 {
        self.partitions
            .iter()
            .filter_map(|p| p.open.as_ref())
            .filter_map(|open| open.intended_ns.first())
            .map(|first| first + linger_ns)
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Appends one message intended at `intended_ns`; returns its value size. Sends the
    /// partition's batch when it is full.
    async fn append(&mut self, intended_ns: u64) -> u64 {
        let workload = self.setup.workload.clone();
        let n = self.messages_generated;
        self.messages_generated += 1;
        let partition_count = self.partitions.len();
        self.key.clear();
        let index = match workload.message.keys {
            KeyMode::None => self.sticky,
            KeyMode::Random => {
                let key = self.rng.gen_range(0..workload.message.key_count);
                self.key.extend_from_slice(format!("key-{key}").as_bytes());
                (fnv1a(&self.key) % partition_count as u64) as usize
            }
            KeyMode::RoundRobin => {
                let key = n % u64::from(workload.message.key_count);
                self.key.extend_from_slice(format!("key-{key}").as_bytes());
                (n % partition_count as u64) as usize
            }
        };
        let size = workload.message.size.sample(&mut self.rng) as usize;
        let state = &mut self.partitions[index];
        let header = ValueHeader {
            producer: self.setup.index,
            sequence: state.next_sequence,
            intended_send_ns: intended_ns,
        };
        state.next_sequence += 1;
        // Only the header changes from message to message: the rest of `value` is filler.
        header.write(&mut self.value[..size]);
        let batch_bytes = workload.producer.batch_bytes as usize;
        let open = state.open.get_or_insert_with(|| OpenBatch {
            builder: BatchBuilder::with_capacity(
                BatchOptions {
                    compression: workload.producer.compression.codec(),
                    ..BatchOptions::default()
                },
                batch_bytes + size + 128,
            ),
            intended_ns: Vec::new(),
            value_bytes: 0,
        });
        // CreateTime is the intended send time, on the wall clock.
        let timestamp_ms = self.setup.clock.unix_ms_at(intended_ns);
        let appended = open.builder.append(&NewRecord {
            timestamp_ms,
            key: (!self.key.is_empty()).then_some(self.key.as_slice()),
            value: Some(&self.value[..size]),
            headers: &[],
        });
        debug_assert!(size >= VALUE_HEADER_BYTES);
        if let Err(error) = appended {
            // Sizes are validated against the format's limits; this cannot happen with a
            // valid workload, but is counted rather than trusted.
            self.stats
                .borrow_mut()
                .count_error(format!("cannot build a record: {error}"), 1);
            return size as u64;
        }
        open.intended_ns.push(intended_ns);
        open.value_bytes += size as u64;
        if open.builder.uncompressed_len() >= batch_bytes {
            self.send_partitions(&[index]).await;
        }
        size as u64
    }

    /// Sends every batch that is full or has lingered `linger_ns` (all open ones if `all`).
    async fn send_ready(&mut self, now_ns: u64, linger_ns: u64, all: bool) {
        let batch_bytes = self.setup.workload.producer.batch_bytes as usize;
        let ready: Vec<usize> = self
            .partitions
            .iter()
            .enumerate()
            .filter(|(_, state)| match &state.open {
                None => false,
                Some(open) => {
                    all || open.builder.uncompressed_len() >= batch_bytes
                        || open
                            .intended_ns
                            .first()
                            .is_some_and(|first| first + linger_ns <= now_ns)
                }
            })
            .map(|(index, _)| index)
            .collect();
        if !ready.is_empty() {
            self.send_partitions(&ready).await;
        }
    }

    /// Sends the open batches of `indexes`, one request per connection.
    async fn send_partitions(&mut self, indexes: &[usize]) {
        if self.setup.workload.message.keys == KeyMode::None && indexes.contains(&self.sticky) {
            self.sticky = (self.sticky + 1) % self.partitions.len();
        }
        let mut by_connection: Vec<(usize, Vec<usize>)> = Vec::new();
        for &index in indexes {
            let connection = self.partitions[index].connection;
            match by_connection.iter_mut().find(|(c, _)| *c == connection) {
                Some((_, list)) => list.push(index),
                None => by_connection.push((connection, vec![index])),
            }
        }
        for (connection, indexes) in by_connection {
            let mut topic_data: Vec<TopicProduceData> = Vec::new();
            let mut batches = Vec::new();
            for index in indexes {
                let state = &mut self.partitions[index];
                let Some(open) = state.open.take() else {
                    continue;
                };
                let records: Bytes = match open.builder.finish() {
                    Ok(bytes) => bytes.freeze(),
                    Err(error) => {
                        let mut stats = self.stats.borrow_mut();
                        stats.count_error(
                            format!("cannot build a batch: {error}"),
                            open.intended_ns.len() as u64,
                        );
                        stats.add_counters(Counters {
                            produce_errors: open.intended_ns.len() as u64,
                            ..Default::default()
                        });
                        continue;
                    }
                };
                let data = PartitionProduceData {
                    index: state.partition,
                    records: Some(records),
                    ..Default::default()
                };
                match topic_data.iter_mut().find(|t| *t.name == *state.topic) {
                    Some(topic) => topic.partition_data.push(data),
                    None => topic_data.push(TopicProduceData {
                        name: KStr::from(state.topic.to_string()),
                        partition_data: vec![data],
                        ..Default::default()
                    }),
                }
                batches.push(SentBatch {
                    topic: state.topic.clone(),
                    partition: state.partition,
                    intended_ns: open.intended_ns,
                    value_bytes: open.value_bytes,
                });
            }
            if batches.is_empty() {
                continue;
            }
            let request = ProduceRequest {
                transactional_id: None,
                acks: self.setup.workload.producer.acks,
                timeout_ms: self.setup.workload.producer.request_timeout_ms as i32,
                topic_data,
                ..Default::default()
            };
            self.send_request(connection, request, batches).await;
        }
    }

    async fn send_request(
        &mut self,
        connection: usize,
        request: ProduceRequest,
        batches: Vec<SentBatch>,
    ) {
        let messages: u64 = batches.iter().map(|b| b.intended_ns.len() as u64).sum();
        let bytes: u64 = batches.iter().map(|b| b.value_bytes).sum();
        let version = self.setup.produce_version;
        let conn = &mut self.connections[connection];
        if conn.broken.get() {
            fail(&self.stats, "connection broken: batch not sent", messages);
            return;
        }
        if conn.in_flight.is_some() && conn.permits.acquire(1).await.is_err() {
            fail(&self.stats, "connection broken: batch not sent", messages);
            return;
        }
        let body: RequestBody = request.into();
        // A broker that stops reading must not hold the producer past the request timeout.
        let write_limit =
            Duration::from_millis(u64::from(self.setup.workload.producer.request_timeout_ms));
        let sent = within(write_limit, conn.writer.send(version, &body))
            .await
            .unwrap_or_else(|| {
                Err(connection::ConnectionError::Io {
                    peer: conn.writer.peer(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "write not finished within the request timeout",
                    ),
                })
            });
        match sent {
            Ok(correlation_id) => {
                self.stats.borrow_mut().add_counters(Counters {
                    sent_messages: messages,
                    ..Default::default()
                });
                match &conn.in_flight {
                    Some(queue) => {
                        if queue
                            .send(InFlight {
                                correlation_id,
                                batches,
                            })
                            .await
                            .is_err()
                        {
                            fail(&self.stats, "response reader stopped", messages);
                        }
                    }
                    None => {
                        // acks=0: written is all the confirmation there is.
                        let mut stats = self.stats.borrow_mut();
                        stats.add_counters(Counters {
                            acked_messages: messages,
                            acked_bytes: bytes,
                            ..Default::default()
                        });
                        let now = self.setup.clock.now_ns();
                        if self.setup.phases.is_measured(now) {
                            stats.measured_acked_messages += messages;
                            stats.measured_acked_bytes += bytes;
                        }
                        drop(stats);
                        self.setup
                            .shared
                            .acked_messages
                            .fetch_add(messages, Ordering::Relaxed);
                    }
                }
            }
            Err(error) => {
                conn.broken.set(true);
                conn.permits.close();
                fail(
                    &self.stats,
                    format!("produce send failed: {error}"),
                    messages,
                );
            }
        }
    }

    /// Sends what is left, then waits (bounded) for every answer.
    async fn finish(&mut self) {
        let now = self.setup.clock.now_ns();
        self.send_ready(now, 0, true).await;
        let wait =
            Duration::from_millis(u64::from(self.setup.workload.producer.request_timeout_ms))
                + Duration::from_secs(5);
        for connection in &mut self.connections {
            // Closing the queue lets the reader end after the last answer.
            connection.in_flight = None;
            if let Some(reader) = connection.reader.take() {
                if within(wait, reader).await.is_none() {
                    self.stats
                        .borrow_mut()
                        .count_error("no answer to the last produce requests in time", 1);
                }
            }
            connection.writer.close().await;
        }
    }
}

fn fail(stats: &Rc<RefCell<CoreStats>>, kind: impl Into<String>, messages: u64) {
    let mut stats = stats.borrow_mut();
    stats.count_error(kind, messages);
    stats.add_counters(Counters {
        produce_errors: messages,
        ..Default::default()
    });
}

async fn open_connection(
    setup: &ProducerSetup,
    leader: SocketAddr,
    stats: Rc<RefCell<CoreStats>>,
) -> Result<ProducerConnection, connection::ConnectionError> {
    let (writer, reader) =
        connection::connect(leader, &format!("ferrite-bench-producer-{}", setup.index)).await?;
    let permits = Rc::new(Semaphore::new(u64::from(
        setup.workload.producer.in_flight_requests_max,
    )));
    let broken = Rc::new(Cell::new(false));
    if setup.workload.producer.acks == 0 {
        return Ok(ProducerConnection {
            writer,
            in_flight: None,
            permits,
            broken,
            reader: None,
        });
    }
    // Unbounded in type, bounded in practice by the permits: at most
    // in_flight_requests_max entries wait.
    let (sender, receiver) = local_channel::new_unbounded();
    let task = glommio::spawn_local(read_answers(
        reader,
        receiver,
        permits.clone(),
        broken.clone(),
        setup.clone(),
        stats,
    ))
    .detach();
    Ok(ProducerConnection {
        writer,
        in_flight: Some(sender),
        permits,
        broken,
        reader: Some(task),
    })
}

/// Reads the answers of one connection in order and records their latency.
async fn read_answers(
    mut reader: ResponseReader,
    queue: LocalReceiver<InFlight>,
    permits: Rc<Semaphore>,
    broken: Rc<Cell<bool>>,
    setup: ProducerSetup,
    stats: Rc<RefCell<CoreStats>>,
) {
    let version = setup.produce_version;
    while let Some(in_flight) = queue.recv().await {
        let messages: u64 = in_flight
            .batches
            .iter()
            .map(|b| b.intended_ns.len() as u64)
            .sum();
        if broken.get() {
            fail(&stats, "connection broken: no answer", messages);
            permits.signal(1);
            continue;
        }
        let answer = reader
            .read_response(ApiKey::Produce, version, in_flight.correlation_id)
            .await;
        let now = setup.clock.now_ns();
        match answer.map(ProduceResponse::try_from) {
            Ok(Ok(response)) => record_answer(&setup, &stats, in_flight.batches, &response, now),
            Ok(Err(_)) => {
                broken.set(true);
                fail(
                    &stats,
                    "a Produce request got another API's answer",
                    messages,
                );
            }
            Err(error) => {
                broken.set(true);
                fail(&stats, format!("produce answer failed: {error}"), messages);
            }
        }
        permits.signal(1);
    }
}

fn record_answer(
    setup: &ProducerSetup,
    stats: &Rc<RefCell<CoreStats>>,
    batches: Vec<SentBatch>,
    response: &ProduceResponse,
    now_ns: u64,
) {
    let mut stats = stats.borrow_mut();
    let stats = &mut *stats;
    let mut delta = Counters::default();
    for batch in batches {
        let messages = batch.intended_ns.len() as u64;
        let error_code = response
            .responses
            .iter()
            .filter(|topic| *topic.name == *batch.topic)
            .flat_map(|topic| topic.partition_responses.iter())
            .find(|partition| partition.index == batch.partition)
            .map(|partition| partition.error_code);
        match error_code {
            Some(0) => {
                delta.acked_messages += messages;
                delta.acked_bytes += batch.value_bytes;
                if setup.phases.is_measured(now_ns) {
                    stats.measured_acked_messages += messages;
                    stats.measured_acked_bytes += batch.value_bytes;
                }
                for intended in batch.intended_ns {
                    stats.interval_produce_latency.record_span(intended, now_ns);
                    if setup.phases.is_measured(intended) {
                        stats.produce_latency.record_span(intended, now_ns);
                    }
                }
            }
            Some(code) => {
                delta.produce_errors += messages;
                let name = ErrorCode::from_code(code)
                    .map_or_else(|| format!("error code {code}"), |c| c.name().to_owned());
                stats.count_error(format!("produce: {name}"), messages);
            }
            None => {
                delta.produce_errors += messages;
                stats.count_error("produce: partition missing from the answer", messages);
            }
        }
    }
    stats.add_counters(delta);
    setup
        .shared
        .acked_messages
        .fetch_add(delta.acked_messages, Ordering::Relaxed);
}

/// FNV-1a: the key-to-partition hash (the bench's own; it need not match Kafka's murmur2).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}
