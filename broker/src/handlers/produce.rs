//! Produce: append record batches to partitions, answer per partition.
//!
//! The request's partitions are grouped by owning shard and sent as one call per shard, in
//! arrival order, before the connection reads its next request: two produce requests of one
//! connection for the same partition are therefore appended in the order they were sent.
//! The owning shard validates each batch (header, CRC32C, size against `max.message.bytes`),
//! assigns offsets and appends without decoding records (storage does this on the bytes as
//! received). With the default `flush.messages = 1` an append completes, and is acknowledged,
//! once it is durable; acks=1 and acks=-1 both wait for that on a single node. acks=0 gets no
//! response at all, as Kafka specifies; its appends still run to completion.
//!
//! A batch with a producer id is first checked against the partition's producer state
//! ([`crate::producer_state`]) on the owning shard, in queue order: a retried batch is answered
//! with its original offset and not appended, a gap or a stale epoch is refused.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use storage::AppendContext;
use wire::codec::KStr;
use wire::error_code::ErrorCode;
use wire::messages::produce_request::ProduceRequest;
use wire::messages::produce_response::{
    PartitionProduceResponse, ProduceResponse, TopicProduceResponse,
};
use wire::messages::ResponseBody;
use wire::records::BatchHeader;

use super::{now_ms, storage_error_code, Request, ResponseFuture};
use crate::partitions::{Partition, PartitionKey};
use crate::producer_state::{ProducerBatch, Verdict};
use crate::runtime::executors::ShardId;
use crate::runtime::mesh::PendingCall;
use crate::runtime::tasks::spawn;
use crate::shard::{owner_shard, Shard};

pub const VERSIONS: RangeInclusive<i16> = 0..=11;

/// Where a partition's answer goes in the response: (topic position, partition position).
type Slot = (usize, usize);

/// One partition's records, sent to its owning shard.
struct Append {
    slot: Slot,
    key: PartitionKey,
    records: Bytes,
}

/// The owning shard's answer for one partition.
#[derive(Debug, Clone)]
struct Appended {
    error: ErrorCode,
    message: Option<String>,
    base_offset: i64,
    log_append_time_ms: i64,
    log_start_offset: i64,
}

impl Appended {
    fn failed(error: ErrorCode, message: Option<String>) -> Self {
        Self {
            error,
            message,
            base_offset: -1,
            log_append_time_ms: -1,
            log_start_offset: -1,
        }
    }
}

pub async fn start(shard: Rc<Shard>, request: Request, body: ProduceRequest) -> ResponseFuture {
    let acks = body.acks;
    let mut results: Vec<Vec<Option<Appended>>> = body
        .topic_data
        .iter()
        .map(|topic| vec![None; topic.partition_data.len()])
        .collect();
    let mut by_shard: BTreeMap<ShardId, Vec<Append>> = BTreeMap::new();
    {
        let image = shard.metadata.borrow();
        for (topic_position, topic) in body.topic_data.iter().enumerate() {
            let info = image.topic(topic.name.as_str());
            for (partition_position, partition) in topic.partition_data.iter().enumerate() {
                let slot = (topic_position, partition_position);
                let refuse = |error: ErrorCode, message: &str| {
                    Some(Appended::failed(error, Some(message.to_owned())))
                };
                if !matches!(acks, -1..=1) {
                    results[slot.0][slot.1] =
                        refuse(ErrorCode::InvalidRequiredAcks, "acks must be -1, 0 or 1");
                    continue;
                }
                let Some(info) = info else {
                    results[slot.0][slot.1] =
                        refuse(ErrorCode::UnknownTopicOrPartition, "unknown topic");
                    continue;
                };
                let Some(placement) = usize::try_from(partition.index)
                    .ok()
                    .and_then(|index| info.partitions.get(index))
                else {
                    results[slot.0][slot.1] =
                        refuse(ErrorCode::UnknownTopicOrPartition, "unknown partition");
                    continue;
                };
                let Some(records) = partition.records.clone().filter(|r| !r.is_empty()) else {
                    results[slot.0][slot.1] =
                        refuse(ErrorCode::CorruptMessage, "no records in the request");
                    continue;
                };
                by_shard
                    .entry(owner_shard(placement, shard.shard_count()))
                    .or_default()
                    .push(Append {
                        slot,
                        key: PartitionKey {
                            topic: info.id,
                            index: partition.index,
                        },
                        records,
                    });
            }
        }
    }

    let now_ms = now_ms();
    let mut calls: Vec<PendingCall<Vec<(Slot, Appended)>>> = Vec::new();
    for (target, appends) in by_shard {
        let slots: Vec<Slot> = appends.iter().map(|append| append.slot).collect();
        match shard
            .mesh
            .start_call(target, &shard, move |owner: Rc<Shard>| {
                append_on_owner(owner, appends, now_ms)
            })
            .await
        {
            Ok(call) => calls.push(call),
            Err(error) => {
                for slot in slots {
                    results[slot.0][slot.1] = Some(Appended::failed(
                        ErrorCode::NotLeaderOrFollower,
                        Some(error.to_string()),
                    ));
                }
            }
        }
    }

    let peer = request.peer;
    Box::pin(async move {
        for call in calls {
            match call.result().await {
                Ok(appended) => {
                    for (slot, outcome) in appended {
                        results[slot.0][slot.1] = Some(outcome);
                    }
                }
                Err(error) => tracing::error!(%error, "a produce call was dropped"),
            }
        }
        if acks == 0 {
            for outcome in results.iter().flatten().flatten() {
                if outcome.error != ErrorCode::None {
                    tracing::info!(%peer, error = %outcome.error, "an acks=0 produce failed");
                }
            }
            return None;
        }
        let responses = body
            .topic_data
            .iter()
            .zip(results)
            .map(|(topic, outcomes)| TopicProduceResponse {
                name: topic.name.clone(),
                partition_responses: topic
                    .partition_data
                    .iter()
                    .zip(outcomes)
                    .map(|(partition, outcome)| {
                        let outcome = outcome.unwrap_or_else(|| {
                            Appended::failed(ErrorCode::UnknownServerError, None)
                        });
                        PartitionProduceResponse {
                            index: partition.index,
                            error_code: outcome.error.code(),
                            base_offset: outcome.base_offset,
                            log_append_time_ms: outcome.log_append_time_ms,
                            log_start_offset: outcome.log_start_offset,
                            error_message: outcome.message.map(KStr::from),
                            ..PartitionProduceResponse::default()
                        }
                    })
                    .collect(),
                ..TopicProduceResponse::default()
            })
            .collect();
        Some(ResponseBody::from(ProduceResponse {
            responses,
            ..ProduceResponse::default()
        }))
    })
}

/// Runs on the owning shard: appends each partition's records, each append as its own task
/// started in order (so admission follows arrival, and every append runs to completion even if
/// the client goes away).
async fn append_on_owner(
    owner: Rc<Shard>,
    appends: Vec<Append>,
    now_ms: i64,
) -> Vec<(Slot, Appended)> {
    let mut tasks = Vec::with_capacity(appends.len());
    for append in appends {
        let Some(partition) = owner.partitions.get(append.key) else {
            tasks.push((append.slot, None));
            continue;
        };
        let producer_batch = match check_producer(&partition, &append.records, now_ms) {
            ProducerCheck::Answered(outcome) => {
                tasks.push((append.slot, Some(Err(outcome))));
                continue;
            }
            ProducerCheck::Append(batch) => batch,
        };
        let task = spawn(async move {
            let records = BytesMut::from(&append.records[..]);
            let context = AppendContext {
                now_ms,
                leader_epoch: 0,
            };
            let result = partition.log.append(records, context).await;
            partition.data_changed.notify();
            if let Some(batch) = producer_batch {
                let base_offset = result.as_ref().ok().map(|info| info.base_offset.0);
                partition
                    .producers
                    .borrow_mut()
                    .complete(batch, base_offset);
            }
            match result {
                Ok(info) => Appended {
                    error: ErrorCode::None,
                    message: None,
                    base_offset: info.base_offset.0,
                    log_append_time_ms: info.log_append_time_ms.unwrap_or(-1),
                    log_start_offset: partition.log.log_start_offset().0,
                },
                Err(error) => {
                    let code = storage_error_code(&error);
                    if code == ErrorCode::KafkaStorageError {
                        tracing::error!(%error, partition = %format!("{}-{}", partition.topic_name, partition.key.index), "append failed");
                    }
                    Appended::failed(code, Some(error.to_string()))
                }
            }
        });
        tasks.push((append.slot, Some(Ok(task))));
    }
    let mut outcomes = Vec::with_capacity(tasks.len());
    for (slot, task) in tasks {
        let outcome = match task {
            Some(Ok(task)) => task.join().await,
            Some(Err(answered)) => answered,
            None => Appended::failed(
                ErrorCode::NotLeaderOrFollower,
                Some("the partition is not open on its shard".to_owned()),
            ),
        };
        outcomes.push((slot, outcome));
    }
    outcomes
}

/// What the producer state says about a partition's records.
enum ProducerCheck {
    /// Append them; `Some` when they carry a producer id (complete the check afterwards).
    Append(Option<ProducerBatch>),
    /// Answered without appending: a duplicate (success) or a refusal.
    Answered(Appended),
}

/// Checks records with a producer id against the partition's producer state, in queue order
/// (see [`crate::producer_state`]). Records without one, or too short to have a header, go
/// to storage unchecked (it refuses what is malformed).
fn check_producer(partition: &Partition, records: &Bytes, now_ms: i64) -> ProducerCheck {
    let Ok(header) = BatchHeader::parse(records) else {
        return ProducerCheck::Append(None);
    };
    let Some(batch) = ProducerBatch::of(&header) else {
        return ProducerCheck::Append(None);
    };
    if header.total_len() != records.len() {
        return ProducerCheck::Answered(Appended::failed(
            ErrorCode::InvalidRecord,
            Some("records with a producer id must be exactly one batch".to_owned()),
        ));
    }
    let mut producers = partition.producers.borrow_mut();
    producers.expire(now_ms, partition.producer_id_expiration_ms);
    match producers.check(batch, now_ms) {
        Verdict::Append => ProducerCheck::Append(Some(batch)),
        Verdict::Duplicate { base_offset } => ProducerCheck::Answered(Appended {
            error: ErrorCode::None,
            message: None,
            base_offset,
            log_append_time_ms: -1,
            log_start_offset: partition.log.log_start_offset().0,
        }),
        Verdict::Refuse(error) => ProducerCheck::Answered(Appended::failed(error, None)),
    }
}
