//! Idempotent producer state of one partition: the last batches each producer wrote, so that
//! a retried batch is answered with its original offset instead of being written twice.
//!
//! Owned by the partition's shard (inside [`crate::partitions::Partition`], `!Send`); the
//! produce path checks a batch here before appending it ([`ProducerState::check`]) and
//! completes the check once the append is done ([`ProducerState::complete`]). Checks run in
//! the order appends are queued (produce is ordered per connection and appends are queued
//! synchronously after the check), so a producer's pipelined batches are checked in sequence
//! order even while earlier ones are still being written.
//!
//! The rules are Kafka's (2.5 and later, KIP-360):
//! - a batch from an older epoch than the producer's current one: INVALID_PRODUCER_EPOCH;
//! - a newer epoch must start at sequence 0 (else OUT_OF_ORDER_SEQUENCE_NUMBER) and resets
//!   the producer's batches;
//! - a batch equal (first and last sequence) to one of the producer's last
//!   [`BATCHES_REMEMBERED`] batches is a duplicate: success with the original offset, no append;
//! - otherwise its first sequence must follow the last one (wrapping from `i32::MAX` to 0),
//!   else OUT_OF_ORDER_SEQUENCE_NUMBER;
//! - a producer this partition does not know (new, or expired, or its records deleted by
//!   retention) is accepted at any sequence: Kafka 2.5+ no longer answers UNKNOWN_PRODUCER_ID
//!   here, because losing state to retention must not fail a healthy producer.
//!
//! Recovery: on clean shutdown each partition writes its state to `producer.snapshot` in its
//! directory (a [`crate::checkpoint`] file: rkyv of [`ProducerSnapshot`], with the log end
//! offset it covers), and every few minutes while it serves, whenever the state changed and no
//! batch is in flight. On open the snapshot is loaded, if present and not ahead of the log, and
//! the batch headers after it are replayed ([`ProducerState::replay`]; no record is decoded);
//! without one, or with one ahead of the log (a crash cut the log's tail), the whole log is
//! replayed. Producers are forgotten
//! `producer_id_expiration_ms` after their last batch (Kafka's `producer.id.expiration.ms`,
//! default one day).

use std::collections::{HashMap, VecDeque};

use wire::error_code::ErrorCode;
use wire::records::BatchHeader;

/// Batches remembered per producer: a producer has at most 5 requests in flight per
/// partition (`max.in.flight.requests.per.connection` ≤ 5 with idempotence).
pub const BATCHES_REMEMBERED: usize = 5;

/// Kafka's `producer.id.expiration.ms` default: one day.
pub const PRODUCER_ID_EXPIRATION_MS_DEFAULT: i64 = 86_400_000;

/// Most producers one partition tracks; past it the least recently active is forgotten
/// (it then counts as unknown, which Kafka 2.5+ accepts at any sequence).
pub const PRODUCERS_PER_PARTITION_MAX: usize = 100_000;

/// The producer fields of a batch header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub epoch: i16,
    pub first_sequence: i32,
    pub last_sequence: i32,
}

impl ProducerBatch {
    /// The producer fields of `header`, or `None` for a batch without a producer id.
    pub fn of(header: &BatchHeader) -> Option<Self> {
        if header.producer_id < 0 {
            return None;
        }
        Some(Self {
            producer_id: header.producer_id,
            epoch: header.producer_epoch,
            first_sequence: header.base_sequence,
            last_sequence: sequence_plus(header.base_sequence, header.last_offset_delta),
        })
    }
}

/// `sequence + delta`, wrapping from `i32::MAX` to 0 as Kafka's sequences do.
pub fn sequence_plus(sequence: i32, delta: i32) -> i32 {
    let sum = i64::from(sequence) + i64::from(delta);
    (sum % (i64::from(i32::MAX) + 1)) as i32
}

/// Whether `next` is the sequence right after `last`.
fn follows(last: i32, next: i32) -> bool {
    sequence_plus(last, 1) == next
}

/// One remembered batch; `base_offset` is `None` while its append is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchEntry {
    first_sequence: i32,
    last_sequence: i32,
    base_offset: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchEntry>,
    last_active_ms: i64,
}

/// What to do with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Append it, then call [`ProducerState::complete`].
    Append,
    /// Already written at this offset: answer success, do not append.
    Duplicate { base_offset: i64 },
    /// Refuse it with this error.
    Refuse(ErrorCode),
}

/// The file format of the producer state (see the module docs): only completed batches.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct ProducerSnapshot {
    /// The log end offset the state covers: replay continues from here.
    pub end_offset: i64,
    pub producers: Vec<SnapshotProducer>,
}

#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct SnapshotProducer {
    pub producer_id: i64,
    pub epoch: i16,
    pub last_active_ms: i64,
    /// (first sequence, last sequence, base offset), oldest first.
    pub batches: Vec<(i32, i32, i64)>,
}

/// The producer state of one partition.
#[derive(Debug, Default)]
pub struct ProducerState {
    producers: HashMap<i64, ProducerEntry>,
    last_expiry_ms: i64,
    /// Whether a batch completed since the last snapshot.
    changed_since_snapshot: bool,
}

impl ProducerState {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many producers are tracked.
    pub fn producer_count(&self) -> usize {
        self.producers.len()
    }

    /// Checks `batch` against the producer's state; on [`Verdict::Append`] the batch is
    /// remembered as in flight.
    pub fn check(&mut self, batch: ProducerBatch, now_ms: i64) -> Verdict {
        let entry = match self.producers.get_mut(&batch.producer_id) {
            None => {
                self.insert(batch, None, now_ms);
                return Verdict::Append;
            }
            Some(entry) => entry,
        };
        if batch.epoch < entry.epoch {
            return Verdict::Refuse(ErrorCode::InvalidProducerEpoch);
        }
        if batch.epoch > entry.epoch {
            if batch.first_sequence != 0 {
                return Verdict::Refuse(ErrorCode::OutOfOrderSequenceNumber);
            }
            entry.epoch = batch.epoch;
            entry.batches.clear();
        } else if let Some(previous) = entry.batches.iter().find(|previous| {
            previous.first_sequence == batch.first_sequence
                && previous.last_sequence == batch.last_sequence
        }) {
            return match previous.base_offset {
                Some(base_offset) => Verdict::Duplicate { base_offset },
                // The original is still being written: the client retries once it is done.
                None => Verdict::Refuse(ErrorCode::RequestTimedOut),
            };
        } else if let Some(last) = entry.batches.back() {
            if !follows(last.last_sequence, batch.first_sequence) {
                return Verdict::Refuse(ErrorCode::OutOfOrderSequenceNumber);
            }
        }
        push_batch(entry, batch, None, now_ms);
        Verdict::Append
    }

    /// Completes the append of a batch that [`ProducerState::check`] let through: `Some`
    /// records its base offset, `None` (the append failed) forgets it.
    pub fn complete(&mut self, batch: ProducerBatch, base_offset: Option<i64>) {
        let Some(entry) = self.producers.get_mut(&batch.producer_id) else {
            return;
        };
        if entry.epoch != batch.epoch {
            return;
        }
        let position = entry.batches.iter().position(|previous| {
            previous.base_offset.is_none()
                && previous.first_sequence == batch.first_sequence
                && previous.last_sequence == batch.last_sequence
        });
        if let Some(position) = position {
            match base_offset {
                Some(offset) => {
                    entry.batches[position].base_offset = Some(offset);
                    self.changed_since_snapshot = true;
                }
                None => {
                    entry.batches.remove(position);
                }
            }
        }
    }

    /// Applies a batch found in the log (recovery): no checks, the log is the truth.
    pub fn replay(&mut self, batch: ProducerBatch, base_offset: i64, now_ms: i64) {
        match self.producers.get_mut(&batch.producer_id) {
            Some(entry) if batch.epoch >= entry.epoch => {
                if batch.epoch > entry.epoch {
                    entry.epoch = batch.epoch;
                    entry.batches.clear();
                }
                push_batch(entry, batch, Some(base_offset), now_ms);
            }
            Some(_) => {}
            None => self.insert(batch, Some(base_offset), now_ms),
        }
    }

    /// Whether a periodic snapshot is worth writing now: something completed since the last
    /// one, and no batch is in flight (so every batch below the log end is in the state).
    pub fn snapshot_due(&self) -> bool {
        self.changed_since_snapshot
            && self.producers.values().all(|entry| {
                entry
                    .batches
                    .iter()
                    .all(|batch| batch.base_offset.is_some())
            })
    }

    /// Records that a snapshot of the current state was written.
    pub fn snapshot_written(&mut self) {
        self.changed_since_snapshot = false;
    }

    /// The state as a snapshot covering the log up to `end_offset` (batches still in flight
    /// are left out: take it when none is, see [`ProducerState::snapshot_due`]).
    pub fn to_snapshot(&self, end_offset: i64) -> ProducerSnapshot {
        let producers = self
            .producers
            .iter()
            .map(|(&producer_id, entry)| SnapshotProducer {
                producer_id,
                epoch: entry.epoch,
                last_active_ms: entry.last_active_ms,
                batches: entry
                    .batches
                    .iter()
                    .filter_map(|batch| {
                        let offset = batch.base_offset?;
                        Some((batch.first_sequence, batch.last_sequence, offset))
                    })
                    .collect(),
            })
            .collect();
        ProducerSnapshot {
            end_offset,
            producers,
        }
    }

    /// The state a snapshot holds. Bounded: at most [`PRODUCERS_PER_PARTITION_MAX`] producers
    /// and [`BATCHES_REMEMBERED`] batches each are taken from a file.
    pub fn from_snapshot(snapshot: &ProducerSnapshot) -> Self {
        let producers = snapshot
            .producers
            .iter()
            .take(PRODUCERS_PER_PARTITION_MAX)
            .map(|producer| {
                let skip = producer.batches.len().saturating_sub(BATCHES_REMEMBERED);
                let batches = producer.batches[skip..]
                    .iter()
                    .map(|&(first_sequence, last_sequence, offset)| BatchEntry {
                        first_sequence,
                        last_sequence,
                        base_offset: Some(offset),
                    })
                    .collect();
                (
                    producer.producer_id,
                    ProducerEntry {
                        epoch: producer.epoch,
                        batches,
                        last_active_ms: producer.last_active_ms,
                    },
                )
            })
            .collect();
        Self {
            producers,
            last_expiry_ms: 0,
            changed_since_snapshot: false,
        }
    }

    /// Forgets producers inactive for longer than `expiration_ms`. Cheap to call often: it
    /// scans at most once per second.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) {
        if now_ms.saturating_sub(self.last_expiry_ms) < 1_000 {
            return;
        }
        self.last_expiry_ms = now_ms;
        self.producers.retain(|_, entry| {
            now_ms.saturating_sub(entry.last_active_ms) < expiration_ms
                || entry
                    .batches
                    .iter()
                    .any(|batch| batch.base_offset.is_none())
        });
    }

    fn insert(&mut self, batch: ProducerBatch, base_offset: Option<i64>, now_ms: i64) {
        if self.producers.len() >= PRODUCERS_PER_PARTITION_MAX {
            let oldest = self
                .producers
                .iter()
                .min_by_key(|(_, entry)| entry.last_active_ms)
                .map(|(id, _)| *id);
            if let Some(oldest) = oldest {
                self.producers.remove(&oldest);
            }
        }
        let mut entry = ProducerEntry {
            epoch: batch.epoch,
            batches: VecDeque::with_capacity(BATCHES_REMEMBERED),
            last_active_ms: now_ms,
        };
        push_batch(&mut entry, batch, base_offset, now_ms);
        self.producers.insert(batch.producer_id, entry);
    }
}

fn push_batch(
    entry: &mut ProducerEntry,
    batch: ProducerBatch,
    base_offset: Option<i64>,
    now_ms: i64,
) {
    if entry.batches.len() == BATCHES_REMEMBERED {
        entry.batches.pop_front();
    }
    entry.batches.push_back(BatchEntry {
        first_sequence: batch.first_sequence,
        last_sequence: batch.last_sequence,
        base_offset,
    });
    entry.last_active_ms = entry.last_active_ms.max(now_ms);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(epoch: i16, first_sequence: i32, records: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id: 7,
            epoch,
            first_sequence,
            last_sequence: sequence_plus(first_sequence, records - 1),
        }
    }

    /// Checks and completes `batch` at `offset`, expecting it to be appended.
    fn append(state: &mut ProducerState, batch: ProducerBatch, offset: i64) {
        assert_eq!(state.check(batch, 0), Verdict::Append);
        state.complete(batch, Some(offset));
    }

    #[test]
    fn duplicates_of_the_last_five_batches_get_their_offsets() {
        let mut state = ProducerState::new();
        for index in 0..6 {
            append(&mut state, batch(0, index * 2, 2), i64::from(index) * 10);
        }
        for index in 1..6 {
            assert_eq!(
                state.check(batch(0, index * 2, 2), 0),
                Verdict::Duplicate {
                    base_offset: i64::from(index) * 10
                }
            );
        }
        // The first batch is no longer remembered: it is out of order now.
        assert_eq!(
            state.check(batch(0, 0, 2), 0),
            Verdict::Refuse(ErrorCode::OutOfOrderSequenceNumber)
        );
    }

    #[test]
    fn gaps_and_overlaps_are_out_of_order() {
        let mut state = ProducerState::new();
        append(&mut state, batch(0, 0, 3), 0);
        for wrong in [batch(0, 4, 1), batch(0, 2, 2), batch(0, 1, 2)] {
            assert_eq!(
                state.check(wrong, 0),
                Verdict::Refuse(ErrorCode::OutOfOrderSequenceNumber)
            );
        }
        append(&mut state, batch(0, 3, 1), 3);
    }

    #[test]
    fn epochs_fence_older_ones_and_restart_sequences() {
        let mut state = ProducerState::new();
        append(&mut state, batch(0, 0, 5), 0);
        assert_eq!(
            state.check(batch(1, 5, 1), 0),
            Verdict::Refuse(ErrorCode::OutOfOrderSequenceNumber)
        );
        append(&mut state, batch(1, 0, 1), 5);
        assert_eq!(
            state.check(batch(0, 5, 1), 0),
            Verdict::Refuse(ErrorCode::InvalidProducerEpoch)
        );
    }

    #[test]
    fn unknown_producers_are_accepted_at_any_sequence() {
        let mut state = ProducerState::new();
        append(&mut state, batch(3, 42, 2), 0);
        append(&mut state, batch(3, 44, 1), 2);
    }

    #[test]
    fn sequences_wrap_after_i32_max() {
        assert_eq!(sequence_plus(i32::MAX, 1), 0);
        assert_eq!(sequence_plus(i32::MAX - 1, 3), 1);
        let mut state = ProducerState::new();
        append(&mut state, batch(0, i32::MAX - 1, 2), 0);
        append(&mut state, batch(0, 0, 1), 2);
        let wrapping = batch(0, 1, 1);
        append(&mut state, wrapping, 3);
        let across = batch(0, i32::MAX, 3);
        assert_eq!(across.last_sequence, 1);
    }

    #[test]
    fn in_flight_batches_keep_order_and_a_failed_one_is_forgotten() {
        let mut state = ProducerState::new();
        let first = batch(0, 0, 2);
        let second = batch(0, 2, 2);
        assert_eq!(state.check(first, 0), Verdict::Append);
        assert_eq!(state.check(second, 0), Verdict::Append);
        assert_eq!(
            state.check(first, 0),
            Verdict::Refuse(ErrorCode::RequestTimedOut)
        );
        state.complete(first, Some(0));
        state.complete(second, None);
        assert_eq!(state.check(first, 0), Verdict::Duplicate { base_offset: 0 });
        // The failed batch may be sent again.
        append(&mut state, second, 2);
    }

    #[test]
    fn replay_rebuilds_what_checks_built() {
        let mut checked = ProducerState::new();
        let mut replayed = ProducerState::new();
        let batches = [
            batch(0, 0, 2),
            batch(0, 2, 1),
            batch(1, 0, 4),
            batch(1, 4, 1),
        ];
        for (offset, batch) in batches.into_iter().enumerate() {
            append(&mut checked, batch, offset as i64 * 10);
            replayed.replay(batch, offset as i64 * 10, 0);
        }
        assert_eq!(checked.producers, replayed.producers);
    }

    #[test]
    fn a_snapshot_round_trips_completed_batches_only() {
        let mut state = ProducerState::new();
        append(&mut state, batch(0, 0, 2), 0);
        append(&mut state, batch(0, 2, 2), 2);
        assert!(state.snapshot_due());
        assert_eq!(state.check(batch(0, 4, 1), 0), Verdict::Append);
        assert!(!state.snapshot_due(), "not while a batch is in flight");
        let snapshot = state.to_snapshot(4);
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&snapshot).unwrap();
        let decoded = rkyv::from_bytes::<ProducerSnapshot, rkyv::rancor::Error>(&bytes).unwrap();
        assert_eq!(decoded, snapshot);
        let mut loaded = ProducerState::from_snapshot(&decoded);
        assert_eq!(
            loaded.check(batch(0, 2, 2), 0),
            Verdict::Duplicate { base_offset: 2 }
        );
        // The in-flight batch was not in the snapshot: it comes next.
        assert_eq!(loaded.check(batch(0, 4, 1), 0), Verdict::Append);
    }

    #[test]
    fn idle_producers_expire() {
        let mut state = ProducerState::new();
        append(&mut state, batch(0, 0, 1), 0);
        state.expire(5_000, 10_000);
        assert_eq!(state.producer_count(), 1);
        state.expire(10_000, 10_000);
        assert_eq!(state.producer_count(), 0);
    }
}
