//! Per-partition work on the partitions' owning shards, for handlers that answer per topic and
//! partition (ListOffsets, DeleteRecords, OffsetForLeaderEpoch): one mesh call per shard
//! carrying all of that shard's partitions, answers scattered back to their request positions.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use crate::partitions::{Partition, PartitionKey};
use crate::runtime::executors::ShardId;
use crate::shard::{owner_shard, Shard};

/// The work for one partition on its owning shard.
pub type PartitionWork<T, A> = fn(Rc<Partition>, T) -> Pin<Box<dyn Future<Output = A>>>;

/// One partition to visit: its answer's position, its key and the work's input.
type Visit<T> = ((usize, usize), PartitionKey, T);

/// Partitions to visit, grouped by owning shard, each with its answer's position
/// (topic position, partition position) and its input.
pub struct PartitionCalls<T> {
    by_shard: BTreeMap<ShardId, Vec<Visit<T>>>,
    /// Partitions asked for per topic, in request order: the shape of the answers.
    shape: Vec<usize>,
}

impl<T: Send + 'static> PartitionCalls<T> {
    /// Resolves each `(topic name, [(partition index, input)])` against this shard's metadata;
    /// unknown topics and partitions are left out (their answers keep the caller's default).
    pub fn locate<'a>(
        shard: &Shard,
        topics: impl IntoIterator<Item = (&'a str, Vec<(i32, T)>)>,
    ) -> Self {
        let image = shard.metadata.borrow();
        let mut by_shard: BTreeMap<ShardId, Vec<Visit<T>>> = BTreeMap::new();
        let mut shape = Vec::new();
        for (topic_position, (name, partitions)) in topics.into_iter().enumerate() {
            shape.push(partitions.len());
            let Some(info) = image.topic(name) else {
                continue;
            };
            for (partition_position, (index, input)) in partitions.into_iter().enumerate() {
                let Some(placement) = usize::try_from(index)
                    .ok()
                    .and_then(|position| info.partitions.get(position))
                else {
                    continue;
                };
                by_shard
                    .entry(owner_shard(placement, shard.shard_count()))
                    .or_default()
                    .push((
                        (topic_position, partition_position),
                        PartitionKey {
                            topic: info.id,
                            index,
                        },
                        input,
                    ));
            }
        }
        PartitionCalls { by_shard, shape }
    }

    /// Runs `work` on every located partition's owner and returns the answers as
    /// `answers[topic][partition]` in request order: `unknown` for topics and partitions the
    /// metadata does not have, `unavailable` for a partition its shard does not hold or a
    /// shard that is gone.
    pub async fn run<A: Clone + Send + 'static>(
        self,
        shard: &Rc<Shard>,
        work: PartitionWork<T, A>,
        unknown: A,
        unavailable: A,
    ) -> Vec<Vec<A>> {
        let mut answers: Vec<Vec<A>> = self
            .shape
            .iter()
            .map(|count| vec![unknown.clone(); *count])
            .collect();
        let mut calls = Vec::new();
        for (target, visits) in self.by_shard {
            let slots: Vec<(usize, usize)> = visits.iter().map(|(slot, _, _)| *slot).collect();
            let missing = unavailable.clone();
            let call = shard
                .mesh
                .start_call(target, shard, move |owner: Rc<Shard>| async move {
                    let mut found = Vec::with_capacity(visits.len());
                    for (slot, key, input) in visits {
                        let answer = match owner.partitions.get(key) {
                            Some(partition) => work(partition, input).await,
                            None => missing.clone(),
                        };
                        found.push((slot, answer));
                    }
                    found
                })
                .await;
            calls.push((slots, call));
        }
        for (slots, call) in calls {
            let result = match call {
                Ok(call) => call.result().await.ok(),
                Err(_) => None,
            };
            match result {
                Some(found) => {
                    for ((topic, partition), answer) in found {
                        answers[topic][partition] = answer;
                    }
                }
                None => {
                    for (topic, partition) in slots {
                        answers[topic][partition] = unavailable.clone();
                    }
                }
            }
        }
        answers
    }
}
