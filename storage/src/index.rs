//! Sparse offset index and time index of one segment.
//!
//! Both live in memory as sorted vectors and are written to disk when their segment closes (and
//! at each recovery checkpoint for the active segment). They are hints: recovery and lookups
//! validate them and rebuild them from the data file when missing or inconsistent.
//!
//! ## Offset index file (`<base offset, 20 digits>.index`)
//! A sequence of 8-byte entries, no header, all integers big-endian:
//!
//! | bytes | field           | meaning                                                  |
//! |------:|-----------------|----------------------------------------------------------|
//! | 0..4  | relative offset | base offset of a batch minus the segment's base offset   |
//! | 4..8  | position        | byte position of that batch in the data file             |
//!
//! One entry is written for the first batch and then for the first batch after every
//! `index.interval.bytes` of data. Entries are strictly increasing in both fields.
//!
//! ## Time index file (`<base offset, 20 digits>.timeindex`)
//! A sequence of 12-byte entries, no header, big-endian:
//!
//! | bytes | field           | meaning                                                        |
//! |------:|-----------------|----------------------------------------------------------------|
//! | 0..8  | timestamp       | largest batch max timestamp seen so far in the segment (ms)    |
//! | 8..12 | relative offset | last offset of the batch that carried that timestamp, relative |
//!
//! An entry is added beside each offset index entry when the maximum timestamp grew, and once
//! more when the segment closes, so the last entry always holds the segment's maximum
//! timestamp and the offset it belongs to. Timestamps and offsets are strictly increasing.
//!
//! Memory: 8 bytes per `index.interval.bytes` of data plus 12 bytes per time entry; an empty or
//! idle segment holds none (nothing is preallocated). Only the active segment's indexes and
//! those of a bounded number of recently read closed segments are kept in memory.

use crate::offset::Offset;

pub(crate) const OFFSET_ENTRY_BYTES: usize = 8;
pub(crate) const TIME_ENTRY_BYTES: usize = 12;

/// Why an index file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("index length {0} is not a multiple of the entry size")]
    RaggedLength(usize),
    #[error("index entry {0} is not after the one before it")]
    NotIncreasing(usize),
    #[error("index entry {0} points past the data (position {1}, data size {2})")]
    PastData(usize, u64, u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetIndexEntry {
    pub relative_offset: u32,
    pub position: u32,
}

/// The sparse offset index of one segment. Owned by the segment (one core).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OffsetIndex {
    entries: Vec<OffsetIndexEntry>,
    /// Data bytes appended since the last entry; the next batch gets an entry once this reaches
    /// the interval. Starts "due" so that the first batch always gets one.
    bytes_since_entry: u64,
    has_started: bool,
}

impl OffsetIndex {
    /// Records a batch at `position`; adds an entry when one is due. Returns whether it did.
    pub(crate) fn on_batch(
        &mut self,
        segment_base: Offset,
        batch_base: Offset,
        position: u64,
        batch_bytes: u64,
        interval_bytes: u32,
    ) -> bool {
        let due = !self.has_started || self.bytes_since_entry >= u64::from(interval_bytes);
        if due {
            let entry = OffsetIndexEntry {
                relative_offset: relative(segment_base, batch_base),
                position: u32::try_from(position).expect("segment positions fit u32 (config)"),
            };
            if let Some(last) = self.entries.last() {
                assert!(
                    entry.relative_offset > last.relative_offset && entry.position > last.position,
                    "offset index must grow: {last:?} then {entry:?}"
                );
            }
            self.entries.push(entry);
            self.bytes_since_entry = 0;
            self.has_started = true;
        }
        self.bytes_since_entry += batch_bytes;
        due
    }

    /// The entry with the greatest offset `<= offset`, as (batch base offset, position);
    /// the segment start when there is none.
    pub(crate) fn floor(&self, segment_base: Offset, offset: Offset) -> (Offset, u64) {
        let index = self
            .entries
            .partition_point(|entry| segment_base.plus(i64::from(entry.relative_offset)) <= offset);
        match index {
            0 => (segment_base, 0),
            _ => {
                let entry = self.entries[index - 1];
                (
                    segment_base.plus(i64::from(entry.relative_offset)),
                    u64::from(entry.position),
                )
            }
        }
    }

    /// Drops entries at or past `position`; the next batch after it gets an entry.
    pub(crate) fn truncate_to_position(&mut self, position: u64) {
        self.entries
            .retain(|entry| u64::from(entry.position) < position);
        self.has_started = false;
        self.bytes_since_entry = 0;
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.entries.len() * OFFSET_ENTRY_BYTES);
        for entry in &self.entries {
            bytes.extend_from_slice(&entry.relative_offset.to_be_bytes());
            bytes.extend_from_slice(&entry.position.to_be_bytes());
        }
        bytes
    }

    /// The entries, oldest first.
    pub(crate) fn entries(&self) -> &[OffsetIndexEntry] {
        &self.entries
    }

    /// Parses an index file and checks it against the data size. The loaded index continues
    /// with an entry for the next batch appended.
    pub(crate) fn decode(bytes: &[u8], data_size_bytes: u64) -> Result<Self, IndexError> {
        if !bytes.len().is_multiple_of(OFFSET_ENTRY_BYTES) {
            return Err(IndexError::RaggedLength(bytes.len()));
        }
        let mut entries: Vec<OffsetIndexEntry> =
            Vec::with_capacity(bytes.len() / OFFSET_ENTRY_BYTES);
        for (number, raw) in bytes.chunks_exact(OFFSET_ENTRY_BYTES).enumerate() {
            let entry = OffsetIndexEntry {
                relative_offset: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
                position: u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]),
            };
            if let Some(last) = entries.last() {
                if entry.relative_offset <= last.relative_offset || entry.position <= last.position
                {
                    return Err(IndexError::NotIncreasing(number));
                }
            }
            if u64::from(entry.position) >= data_size_bytes {
                return Err(IndexError::PastData(
                    number,
                    u64::from(entry.position),
                    data_size_bytes,
                ));
            }
            entries.push(entry);
        }
        Ok(Self {
            has_started: !entries.is_empty(),
            // Unknown: make the next batch get an entry so the index stays dense enough.
            bytes_since_entry: u64::MAX / 2,
            entries,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeIndexEntry {
    pub timestamp_ms: i64,
    pub relative_offset: u32,
}

/// The time index of one segment, plus the segment's running maximum timestamp.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TimeIndex {
    entries: Vec<TimeIndexEntry>,
    /// Largest max timestamp of any batch, and the last offset of the batch carrying it.
    max: Option<(i64, Offset)>,
}

impl TimeIndex {
    /// Records a batch's max timestamp; `index_entry_added` says whether the offset index
    /// just took an entry (the time index follows it).
    pub(crate) fn on_batch(
        &mut self,
        segment_base: Offset,
        max_timestamp_ms: i64,
        last_offset: Offset,
        index_entry_added: bool,
    ) {
        if self
            .max
            .is_none_or(|(timestamp, _)| max_timestamp_ms > timestamp)
        {
            self.max = Some((max_timestamp_ms, last_offset));
        }
        if index_entry_added {
            self.append_max_entry(segment_base);
        }
    }

    /// Adds an entry for the running maximum if it is newer than the last entry.
    pub(crate) fn append_max_entry(&mut self, segment_base: Offset) {
        let Some((timestamp_ms, offset)) = self.max else {
            return;
        };
        let relative_offset = relative(segment_base, offset);
        let grows = self.entries.last().is_none_or(|last| {
            timestamp_ms > last.timestamp_ms && relative_offset > last.relative_offset
        });
        if grows {
            self.entries.push(TimeIndexEntry {
                timestamp_ms,
                relative_offset,
            });
        }
    }

    pub(crate) fn entries(&self) -> &[TimeIndexEntry] {
        &self.entries
    }

    /// The segment's maximum timestamp and the last offset of its batch.
    pub(crate) fn max(&self) -> Option<(i64, Offset)> {
        self.max
    }

    /// The offset of the last entry whose timestamp is below `timestamp_ms`: every batch up to
    /// and including the one at that offset has a smaller max timestamp.
    pub(crate) fn last_offset_below(
        &self,
        segment_base: Offset,
        timestamp_ms: i64,
    ) -> Option<Offset> {
        let index = self
            .entries
            .partition_point(|entry| entry.timestamp_ms < timestamp_ms);
        index
            .checked_sub(1)
            .map(|index| segment_base.plus(i64::from(self.entries[index].relative_offset)))
    }

    /// Drops entries for offsets at or after `offset`; the maximum is forgotten (the caller
    /// rebuilds it from the surviving batches).
    pub(crate) fn truncate_to_offset(&mut self, segment_base: Offset, offset: Offset) {
        self.entries
            .retain(|entry| segment_base.plus(i64::from(entry.relative_offset)) < offset);
        self.max = self.entries.last().map(|entry| {
            (
                entry.timestamp_ms,
                segment_base.plus(i64::from(entry.relative_offset)),
            )
        });
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.entries.len() * TIME_ENTRY_BYTES);
        for entry in &self.entries {
            bytes.extend_from_slice(&entry.timestamp_ms.to_be_bytes());
            bytes.extend_from_slice(&entry.relative_offset.to_be_bytes());
        }
        bytes
    }

    /// Parses a time index file; `segment_end` is the segment's next offset (entries must lie
    /// below it).
    pub(crate) fn decode(
        bytes: &[u8],
        segment_base: Offset,
        segment_end: Offset,
    ) -> Result<Self, IndexError> {
        if !bytes.len().is_multiple_of(TIME_ENTRY_BYTES) {
            return Err(IndexError::RaggedLength(bytes.len()));
        }
        let mut entries: Vec<TimeIndexEntry> = Vec::with_capacity(bytes.len() / TIME_ENTRY_BYTES);
        for (number, raw) in bytes.chunks_exact(TIME_ENTRY_BYTES).enumerate() {
            let mut timestamp = [0u8; 8];
            timestamp.copy_from_slice(&raw[..8]);
            let entry = TimeIndexEntry {
                timestamp_ms: i64::from_be_bytes(timestamp),
                relative_offset: u32::from_be_bytes([raw[8], raw[9], raw[10], raw[11]]),
            };
            if let Some(last) = entries.last() {
                if entry.timestamp_ms <= last.timestamp_ms
                    || entry.relative_offset <= last.relative_offset
                {
                    return Err(IndexError::NotIncreasing(number));
                }
            }
            let offset = segment_base.plus(i64::from(entry.relative_offset));
            if offset >= segment_end {
                return Err(IndexError::PastData(
                    number,
                    offset.0 as u64,
                    segment_end.0 as u64,
                ));
            }
            entries.push(entry);
        }
        let mut index = Self { entries, max: None };
        index.max = index.entries.last().map(|entry| {
            (
                entry.timestamp_ms,
                segment_base.plus(i64::from(entry.relative_offset)),
            )
        });
        Ok(index)
    }
}

fn relative(segment_base: Offset, offset: Offset) -> u32 {
    let delta = offset.0 - segment_base.0;
    u32::try_from(delta).expect("offsets within a segment fit u32 (roll bounds them)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_is_sparse_and_floor_finds_entries() {
        let base = Offset(100);
        let mut index = OffsetIndex::default();
        // 10 batches of 1000 bytes, interval 4096: entries at batches 0, 5 (after 5000 bytes).
        for batch in 0..10u64 {
            index.on_batch(base, base.plus(batch as i64 * 3), batch * 1000, 1000, 4096);
        }
        assert_eq!(index.len(), 2);
        assert_eq!(index.floor(base, Offset(100)), (Offset(100), 0));
        assert_eq!(index.floor(base, Offset(114)), (Offset(100), 0));
        assert_eq!(index.floor(base, Offset(115)), (Offset(115), 5000));
        assert_eq!(index.floor(base, Offset(1000)), (Offset(115), 5000));
        let decoded = OffsetIndex::decode(&index.encode(), 10_000).unwrap();
        assert_eq!(decoded.floor(base, Offset(120)), (Offset(115), 5000));
    }

    #[test]
    fn offset_index_decode_rejects_bad_files() {
        let mut index = OffsetIndex::default();
        index.on_batch(Offset(0), Offset(0), 0, 5000, 4096);
        index.on_batch(Offset(0), Offset(1), 5000, 5000, 4096);
        let bytes = index.encode();
        assert_eq!(
            OffsetIndex::decode(&bytes[..7], 100_000),
            Err(IndexError::RaggedLength(7))
        );
        assert!(matches!(
            OffsetIndex::decode(&bytes, 4000),
            Err(IndexError::PastData(1, 5000, 4000))
        ));
        let mut swapped = bytes[8..].to_vec();
        swapped.extend_from_slice(&bytes[..8]);
        assert_eq!(
            OffsetIndex::decode(&swapped, 100_000),
            Err(IndexError::NotIncreasing(1))
        );
    }

    #[test]
    fn truncated_offset_index_indexes_the_next_batch() {
        let mut index = OffsetIndex::default();
        index.on_batch(Offset(0), Offset(0), 0, 5000, 4096);
        index.on_batch(Offset(0), Offset(1), 5000, 5000, 4096);
        index.truncate_to_position(5000);
        assert_eq!(index.len(), 1);
        assert!(index.on_batch(Offset(0), Offset(1), 5000, 10, 4096));
    }

    #[test]
    fn time_index_tracks_maximum_and_finds_lower_entries() {
        let base = Offset(0);
        let mut index = TimeIndex::default();
        index.on_batch(base, 1_000, Offset(4), true);
        index.on_batch(base, 900, Offset(9), true);
        index.on_batch(base, 2_000, Offset(14), true);
        index.on_batch(base, 3_000, Offset(19), false);
        assert_eq!(index.max(), Some((3_000, Offset(19))));
        index.append_max_entry(base);
        assert_eq!(index.last_offset_below(base, 500), None);
        assert_eq!(index.last_offset_below(base, 1_500), Some(Offset(4)));
        assert_eq!(index.last_offset_below(base, 2_500), Some(Offset(14)));
        let decoded = TimeIndex::decode(&index.encode(), base, Offset(20)).unwrap();
        assert_eq!(decoded, index);
        assert!(TimeIndex::decode(&index.encode(), base, Offset(19)).is_err());
        index.truncate_to_offset(base, Offset(14));
        assert_eq!(index.max(), Some((1_000, Offset(4))));
    }
}
