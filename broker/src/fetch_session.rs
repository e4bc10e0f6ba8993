//! Incremental fetch sessions (Kafka's KIP-227).
//!
//! A consumer fetching many partitions would otherwise resend every partition in every Fetch
//! and get every partition back, changed or not. With a session the broker remembers the
//! partitions and their fetch positions; the client then sends only partitions whose position
//! or limits changed (and the ones it forgets), and the broker answers only partitions with
//! something new: records, an error, or a moved high watermark or log start offset.
//!
//! The request's `(session_id, session_epoch)` selects the behaviour:
//! - epoch -1: a full fetch without a session (a non-zero id closes that session first);
//! - epoch 0: a full fetch that opens a new session (closing the given one, if any);
//! - epoch > 0: an incremental fetch in session `session_id`, whose epoch must be the one the
//!   broker expects (FETCH_SESSION_ID_NOT_FOUND / INVALID_FETCH_SESSION_EPOCH otherwise).
//!
//! Sessions belong to the shard whose connection opened them (a client keeps its session on
//! one connection). At most `fetch_sessions_per_core_max` exist per shard; opening one more
//! evicts the least recently used. Session ids carry the shard in their low bits, so ids of
//! different shards never collide.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use wire::error_code::ErrorCode;

use crate::metadata::TopicId;
use crate::runtime::executors::ShardId;

/// A partition in a session, with what the client asked and what it was last told.
#[derive(Debug, Clone)]
pub struct SessionPartition {
    pub topic_id: TopicId,
    pub topic_name: String,
    pub index: i32,
    pub fetch_offset: i64,
    pub partition_max_bytes: i32,
    /// The high watermark and log start offset last sent (-1: never sent).
    pub sent_high_watermark: i64,
    pub sent_log_start_offset: i64,
}

/// One session.
#[derive(Debug)]
struct Session {
    /// The epoch the next incremental request must carry.
    next_epoch: i32,
    partitions: Vec<SessionPartition>,
    last_used: u64,
}

/// What a Fetch request asks, in session terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRequest {
    pub session_id: i32,
    pub session_epoch: i32,
}

/// Epoch of a full fetch without a session.
pub const FINAL_EPOCH: i32 = -1;
/// Epoch of a full fetch that opens a session.
pub const INITIAL_EPOCH: i32 = 0;

/// The sessions of one shard.
pub struct FetchSessions {
    shard: ShardId,
    shard_count_bits: u32,
    capacity: usize,
    sessions: RefCell<HashMap<i32, Session>>,
    next_sequence: Cell<u32>,
    clock: Cell<u64>,
}

/// How a request maps onto a session, once resolved.
#[derive(Debug)]
pub enum Resolved {
    /// Full fetch; `open` says whether to open a session after answering.
    Full { open: bool },
    /// Incremental fetch in this session: these are the session's partitions after applying
    /// the request's changes.
    Incremental {
        session_id: i32,
        partitions: Vec<SessionPartition>,
    },
    /// The request names a session that cannot be used.
    Refused(ErrorCode),
}

impl FetchSessions {
    pub fn new(shard: ShardId, capacity: usize) -> Self {
        Self {
            shard,
            // Room for up to 256 shards in the low bits.
            shard_count_bits: 8,
            capacity,
            sessions: RefCell::new(HashMap::new()),
            next_sequence: Cell::new(1),
            clock: Cell::new(0),
        }
    }

    pub fn len(&self) -> usize {
        self.sessions.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn tick(&self) -> u64 {
        self.clock.set(self.clock.get() + 1);
        self.clock.get()
    }

    /// Resolves the session part of a request. `changes` are the partitions the request lists
    /// (added or updated), `forgotten` the ones it removes from the session.
    pub fn resolve(
        &self,
        request: SessionRequest,
        changes: Vec<SessionPartition>,
        forgotten: &[(TopicId, i32)],
    ) -> Resolved {
        let SessionRequest {
            session_id,
            session_epoch,
        } = request;
        if session_epoch == FINAL_EPOCH || session_epoch == INITIAL_EPOCH {
            if session_id != 0 {
                self.sessions.borrow_mut().remove(&session_id);
            }
            return Resolved::Full {
                open: session_epoch == INITIAL_EPOCH,
            };
        }
        if session_epoch < 0 {
            return Resolved::Refused(ErrorCode::InvalidFetchSessionEpoch);
        }
        let now = self.tick();
        let mut sessions = self.sessions.borrow_mut();
        let Some(session) = sessions.get_mut(&session_id) else {
            return Resolved::Refused(ErrorCode::FetchSessionIdNotFound);
        };
        if session.next_epoch != session_epoch {
            return Resolved::Refused(ErrorCode::InvalidFetchSessionEpoch);
        }
        session.next_epoch = session.next_epoch.checked_add(1).unwrap_or(1);
        session.last_used = now;
        session
            .partitions
            .retain(|p| !forgotten.contains(&(p.topic_id, p.index)));
        for change in changes {
            match session
                .partitions
                .iter_mut()
                .find(|p| p.topic_id == change.topic_id && p.index == change.index)
            {
                Some(existing) => {
                    existing.fetch_offset = change.fetch_offset;
                    existing.partition_max_bytes = change.partition_max_bytes;
                }
                None => session.partitions.push(change),
            }
        }
        Resolved::Incremental {
            session_id,
            partitions: session.partitions.clone(),
        }
    }

    /// Opens a session holding `partitions` (already answered in full); returns its id, or 0
    /// when sessions are disabled.
    pub fn open(&self, partitions: Vec<SessionPartition>) -> i32 {
        if self.capacity == 0 {
            return 0;
        }
        let now = self.tick();
        let mut sessions = self.sessions.borrow_mut();
        if sessions.len() >= self.capacity {
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, session)| session.last_used)
                .map(|(id, _)| *id)
            {
                sessions.remove(&oldest);
            }
        }
        let id = loop {
            let sequence = self.next_sequence.get();
            // Sequences wrap inside the 23 bits left above the shard bits, skipping 0.
            let next = if sequence >= (1 << 23) - 1 {
                1
            } else {
                sequence + 1
            };
            self.next_sequence.set(next);
            let id = ((sequence << self.shard_count_bits) | self.shard.0 as u32) as i32;
            if id > 0 && !sessions.contains_key(&id) {
                break id;
            }
        };
        sessions.insert(
            id,
            Session {
                next_epoch: 1,
                partitions,
                last_used: now,
            },
        );
        id
    }

    /// Records what was sent for a session's partitions (high watermark, log start offset).
    pub fn record_sent(&self, session_id: i32, sent: &[(TopicId, i32, i64, i64)]) {
        let mut sessions = self.sessions.borrow_mut();
        let Some(session) = sessions.get_mut(&session_id) else {
            return;
        };
        for &(topic_id, index, high_watermark, log_start_offset) in sent {
            if let Some(partition) = session
                .partitions
                .iter_mut()
                .find(|p| p.topic_id == topic_id && p.index == index)
            {
                partition.sent_high_watermark = high_watermark;
                partition.sent_log_start_offset = log_start_offset;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(index: i32, offset: i64) -> SessionPartition {
        SessionPartition {
            topic_id: TopicId([1; 16]),
            topic_name: "t".to_owned(),
            index,
            fetch_offset: offset,
            partition_max_bytes: 1024,
            sent_high_watermark: -1,
            sent_log_start_offset: -1,
        }
    }

    #[test]
    fn a_session_follows_epochs_and_partition_changes() {
        let sessions = FetchSessions::new(ShardId(1), 4);
        let id = sessions.open(vec![partition(0, 0), partition(1, 0)]);
        assert!(id > 0);
        assert_eq!(id & 0xff, 1, "the shard is in the low bits");
        let request = |epoch| SessionRequest {
            session_id: id,
            session_epoch: epoch,
        };
        match sessions.resolve(request(1), vec![partition(0, 7)], &[(TopicId([1; 16]), 1)]) {
            Resolved::Incremental { partitions, .. } => {
                assert_eq!(partitions.len(), 1);
                assert_eq!(partitions[0].fetch_offset, 7);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            sessions.resolve(request(1), vec![], &[]),
            Resolved::Refused(ErrorCode::InvalidFetchSessionEpoch)
        ));
        assert!(matches!(
            sessions.resolve(request(2), vec![], &[]),
            Resolved::Incremental { .. }
        ));
        assert!(matches!(
            sessions.resolve(request(FINAL_EPOCH), vec![], &[]),
            Resolved::Full { open: false }
        ));
        assert!(matches!(
            sessions.resolve(request(3), vec![], &[]),
            Resolved::Refused(ErrorCode::FetchSessionIdNotFound)
        ));
    }

    #[test]
    fn the_least_recently_used_session_is_evicted_and_zero_capacity_disables_sessions() {
        let sessions = FetchSessions::new(ShardId(0), 2);
        let first = sessions.open(vec![]);
        let second = sessions.open(vec![]);
        assert!(matches!(
            sessions.resolve(
                SessionRequest {
                    session_id: first,
                    session_epoch: 1
                },
                vec![],
                &[]
            ),
            Resolved::Incremental { .. }
        ));
        let third = sessions.open(vec![]);
        assert_eq!(sessions.len(), 2);
        assert!(matches!(
            sessions.resolve(
                SessionRequest {
                    session_id: second,
                    session_epoch: 1
                },
                vec![],
                &[]
            ),
            Resolved::Refused(ErrorCode::FetchSessionIdNotFound)
        ));
        assert_ne!(third, first);
        assert_eq!(FetchSessions::new(ShardId(0), 0).open(vec![]), 0);
    }
}
