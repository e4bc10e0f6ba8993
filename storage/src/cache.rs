//! The per-core cache of recent batches, shared by every log of one core.
//!
//! Direct I/O bypasses the kernel's page cache, so tailing consumers would otherwise read back
//! from the device what was written a moment ago. Every appended batch enters this cache (the
//! append's own buffer, frozen: no copy) and reads of recent offsets are served from it as
//! [`Bytes`] handles that can go to the network without a copy.
//!
//! Bound: `capacity_bytes` of batch bytes for the whole core. Eviction is FIFO by order of
//! append across all logs of the core, so each log's cached batches are always a contiguous
//! suffix of that log. Batches not yet written to the file are pinned (a read could not get them
//! from disk yet); they are bounded separately by each log's `unwritten_bytes_max`, so the cache
//! may exceed its budget by at most that much per log while writes are in flight.
//!
//! Owned by one core: `Rc<BatchCache>`, not `Send`.

use std::{
    cell::RefCell,
    collections::{BTreeMap, HashMap, VecDeque},
};

use bytes::Bytes;

use crate::offset::Offset;

/// Identifies a log within its core's cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheLogId(u64);

#[derive(Debug)]
struct CachedBatch {
    bytes: Bytes,
    last_offset: Offset,
    /// Insertion number: tells this batch from an older one at the same offset (before a
    /// truncation) whose entry may still sit in the eviction order.
    sequence: u64,
}

#[derive(Debug, Default)]
struct LogEntries {
    batches: BTreeMap<Offset, CachedBatch>,
    /// Batches whose last offset is below this are written and may be evicted.
    evictable_below: Offset,
}

#[derive(Debug, Default)]
struct Inner {
    used_bytes: u64,
    next_log_id: u64,
    logs: HashMap<CacheLogId, LogEntries>,
    /// Append order (log, base offset, insertion number); entries whose batch is gone are
    /// skipped when they reach the front.
    order: VecDeque<(CacheLogId, Offset, u64)>,
    live_batches: usize,
    next_sequence: u64,
}

/// The per-core batch cache. See the module docs.
#[derive(Debug)]
pub struct BatchCache {
    capacity_bytes: u64,
    inner: RefCell<Inner>,
}

/// Counters for tests and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheUsage {
    pub used_bytes: u64,
    pub batches: usize,
}

impl BatchCache {
    pub fn new(capacity_bytes: u64) -> Self {
        Self {
            capacity_bytes,
            inner: RefCell::new(Inner::default()),
        }
    }

    pub fn usage(&self) -> CacheUsage {
        let inner = self.inner.borrow();
        CacheUsage {
            used_bytes: inner.used_bytes,
            batches: inner.live_batches,
        }
    }

    pub(crate) fn register(&self) -> CacheLogId {
        let mut inner = self.inner.borrow_mut();
        let id = CacheLogId(inner.next_log_id);
        inner.next_log_id += 1;
        inner.logs.insert(id, LogEntries::default());
        id
    }

    pub(crate) fn unregister(&self, log: CacheLogId) {
        let mut inner = self.inner.borrow_mut();
        if let Some(entries) = inner.logs.remove(&log) {
            let bytes: u64 = entries
                .batches
                .values()
                .map(|batch| batch.bytes.len() as u64)
                .sum();
            inner.used_bytes -= bytes;
            inner.live_batches -= entries.batches.len();
        }
    }

    /// Adds a batch (pinned until [`BatchCache::set_written`] passes it) and evicts.
    pub(crate) fn insert(
        &self,
        log: CacheLogId,
        base_offset: Offset,
        last_offset: Offset,
        bytes: Bytes,
    ) {
        let mut inner = self.inner.borrow_mut();
        let length = bytes.len() as u64;
        let sequence = inner.next_sequence;
        inner.next_sequence += 1;
        let Some(entries) = inner.logs.get_mut(&log) else {
            return;
        };
        if let Some((_, last)) = entries.batches.last_key_value() {
            assert!(
                base_offset == last.last_offset.next(),
                "cache insert not contiguous: {base_offset} after {}",
                last.last_offset
            );
        }
        entries.batches.insert(
            base_offset,
            CachedBatch {
                bytes,
                last_offset,
                sequence,
            },
        );
        inner.used_bytes += length;
        inner.live_batches += 1;
        inner.order.push_back((log, base_offset, sequence));
        Self::evict(&mut inner, self.capacity_bytes);
    }

    /// Batches of `log` below `written_end` are on disk and may be evicted.
    pub(crate) fn set_written(&self, log: CacheLogId, written_end: Offset) {
        let mut inner = self.inner.borrow_mut();
        if let Some(entries) = inner.logs.get_mut(&log) {
            entries.evictable_below = written_end;
        }
        Self::evict(&mut inner, self.capacity_bytes);
    }

    fn evict(inner: &mut Inner, capacity_bytes: u64) {
        while inner.used_bytes > capacity_bytes {
            let Some(&(log, base_offset, sequence)) = inner.order.front() else {
                break;
            };
            let Some(entries) = inner.logs.get_mut(&log) else {
                inner.order.pop_front();
                continue;
            };
            let Some(batch) = entries
                .batches
                .get(&base_offset)
                .filter(|batch| batch.sequence == sequence)
            else {
                inner.order.pop_front();
                continue;
            };
            if batch.last_offset >= entries.evictable_below {
                // Oldest batch of the core is not written yet: stay over budget for now.
                break;
            }
            let length = batch.bytes.len() as u64;
            entries.batches.remove(&base_offset);
            inner.order.pop_front();
            inner.used_bytes -= length;
            inner.live_batches -= 1;
        }
        // Stale order entries (from truncation) are bounded by the live ones.
        if inner.order.len() > 2 * inner.live_batches + 1024 {
            let logs = &inner.logs;
            inner.order.retain(|(log, base_offset, sequence)| {
                logs.get(log).is_some_and(|entries| {
                    entries
                        .batches
                        .get(base_offset)
                        .is_some_and(|batch| batch.sequence == *sequence)
                })
            });
        }
    }

    /// Whole cached batches of `log` starting with the one that holds `start`, each with a last
    /// offset below `end_exclusive`, up to `bytes_max` (the first batch is returned even if
    /// larger). `None` when the cache does not hold `start`.
    pub(crate) fn read(
        &self,
        log: CacheLogId,
        start: Offset,
        end_exclusive: Offset,
        bytes_max: usize,
    ) -> Option<Vec<(Offset, Offset, Bytes)>> {
        let inner = self.inner.borrow();
        let entries = inner.logs.get(&log)?;
        let (&first_base, first) = entries.batches.range(..=start).next_back()?;
        if first.last_offset < start {
            return None;
        }
        let mut batches = Vec::new();
        let mut total_bytes = 0usize;
        let mut expected_base = first_base;
        for (&base_offset, batch) in entries.batches.range(first_base..) {
            assert_eq!(
                base_offset, expected_base,
                "cached batches of a log are contiguous"
            );
            expected_base = batch.last_offset.next();
            if batch.last_offset >= end_exclusive {
                break;
            }
            if !batches.is_empty() && total_bytes + batch.bytes.len() > bytes_max {
                break;
            }
            total_bytes += batch.bytes.len();
            batches.push((base_offset, batch.last_offset, batch.bytes.clone()));
        }
        Some(batches)
    }

    /// Drops batches of `log` that end at or after `offset` (truncation).
    pub(crate) fn remove_from(&self, log: CacheLogId, offset: Offset) {
        self.remove_where(log, |base, last| base >= offset || last >= offset);
    }

    /// Drops batches of `log` entirely below `offset` (retention, log start).
    pub(crate) fn remove_below(&self, log: CacheLogId, offset: Offset) {
        self.remove_where(log, |_, last| last < offset);
    }

    fn remove_where(&self, log: CacheLogId, doomed: impl Fn(Offset, Offset) -> bool) {
        let mut inner = self.inner.borrow_mut();
        let Some(entries) = inner.logs.get_mut(&log) else {
            return;
        };
        let mut removed_bytes = 0u64;
        let mut removed_batches = 0usize;
        entries.batches.retain(|&base, batch| {
            let remove = doomed(base, batch.last_offset);
            if remove {
                removed_bytes += batch.bytes.len() as u64;
                removed_batches += 1;
            }
            !remove
        });
        inner.used_bytes -= removed_bytes;
        inner.live_batches -= removed_batches;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(length: usize) -> Bytes {
        Bytes::from(vec![7u8; length])
    }

    #[test]
    fn evicts_oldest_written_batches_first_across_logs() {
        let cache = BatchCache::new(300);
        let a = cache.register();
        let b = cache.register();
        cache.insert(a, Offset(0), Offset(0), batch(100));
        cache.insert(b, Offset(0), Offset(0), batch(100));
        cache.insert(a, Offset(1), Offset(1), batch(100));
        // Nothing written yet: over budget is allowed, nothing is evicted.
        cache.insert(b, Offset(1), Offset(1), batch(100));
        assert_eq!(cache.usage().batches, 4);
        cache.set_written(a, Offset(2));
        // a@0 was the oldest: evicted; then b@0 is pinned, so eviction stops.
        assert_eq!(cache.usage().used_bytes, 300);
        assert!(cache.read(a, Offset(0), Offset(10), 1000).is_none());
        assert_eq!(cache.read(a, Offset(1), Offset(10), 1000).unwrap().len(), 1);
        cache.set_written(b, Offset(2));
        assert_eq!(cache.usage().used_bytes, 300);
    }

    #[test]
    fn a_stale_eviction_entry_never_evicts_a_newer_batch_at_the_same_offset() {
        let cache = BatchCache::new(250);
        let log = cache.register();
        cache.insert(log, Offset(0), Offset(0), batch(100));
        cache.insert(log, Offset(1), Offset(1), batch(100));
        cache.remove_from(log, Offset(1));
        cache.insert(log, Offset(1), Offset(1), batch(100));
        cache.insert(log, Offset(2), Offset(2), batch(100));
        cache.set_written(log, Offset(3));
        // Over budget by one batch: offset 0 goes; the stale entry for the first offset-1 batch
        // must not take the new offset-1 batch with it.
        let read = cache.read(log, Offset(1), Offset(3), 1000).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(cache.usage().used_bytes, 200);
    }

    #[test]
    fn read_respects_bounds_and_returns_first_batch_whole() {
        let cache = BatchCache::new(10_000);
        let log = cache.register();
        cache.insert(log, Offset(10), Offset(14), batch(500));
        cache.insert(log, Offset(15), Offset(19), batch(500));
        cache.insert(log, Offset(20), Offset(24), batch(500));
        let read = cache.read(log, Offset(12), Offset(100), 10).unwrap();
        assert_eq!(
            read.len(),
            1,
            "first batch returned whole even above the limit"
        );
        assert_eq!(read[0].0, Offset(10));
        let read = cache.read(log, Offset(16), Offset(20), 10_000).unwrap();
        assert_eq!(read.len(), 1, "stops before a batch reaching the end bound");
        let read = cache.read(log, Offset(16), Offset(25), 1_000).unwrap();
        assert_eq!(read.len(), 2);
        assert!(cache.read(log, Offset(9), Offset(25), 1_000).is_none());
        cache.remove_from(log, Offset(17));
        assert_eq!(cache.usage().batches, 1);
        cache.remove_below(log, Offset(15));
        assert_eq!(cache.usage().batches, 0);
        cache.unregister(log);
        assert_eq!(cache.usage().used_bytes, 0);
    }
}
