//! One segment of a partition log: a data file of record batches plus its two indexes.
//!
//! ## Data file (`<base offset, 20 digits>.log`)
//! Record batches (v2) exactly as producers sent them, except for the fields the broker owns
//! (base offset, partition leader epoch, and for `LogAppendTime` the max timestamp and
//! attributes), back to back from position 0, with no header and no padding between them. The
//! active segment may be followed by zeros (preallocated space, or the padding of the last
//! direct-I/O page); a closed segment is truncated to exactly its batches. The file is named by
//! the base offset of its first batch (or the offset its first batch will get).

use std::rc::Rc;

use wire::records::BatchHeader;

use crate::{
    index::{OffsetIndex, TimeIndex},
    offset::Offset,
};

pub(crate) const DATA_SUFFIX: &str = ".log";
pub(crate) const OFFSET_INDEX_SUFFIX: &str = ".index";
pub(crate) const TIME_INDEX_SUFFIX: &str = ".timeindex";
pub(crate) const TEMPORARY_SUFFIX: &str = ".tmp";

/// The file name of a segment's file: the base offset in 20 digits, then `suffix`.
pub(crate) fn segment_file_name(base_offset: Offset, suffix: &str) -> String {
    format!("{:020}{suffix}", base_offset.0)
}

/// The base offset named by a data file name, if it is one.
pub(crate) fn parse_data_file_name(name: &str) -> Option<Offset> {
    let digits = name.strip_suffix(DATA_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i64>().ok().map(Offset)
}

/// The in-memory indexes of one segment.
#[derive(Debug, Clone, Default)]
pub(crate) struct SegmentIndexes {
    pub offset: OffsetIndex,
    pub time: TimeIndex,
}

impl SegmentIndexes {
    /// Indexes a batch (already stamped with its offsets) that starts at `position`.
    pub(crate) fn on_batch(
        &mut self,
        segment_base: Offset,
        header: &BatchHeader,
        position: u64,
        interval_bytes: u32,
    ) {
        let added = self.offset.on_batch(
            segment_base,
            Offset(header.base_offset),
            position,
            header.total_len() as u64,
            interval_bytes,
        );
        self.time.on_batch(
            segment_base,
            header.max_timestamp,
            Offset(header.last_offset()),
            added,
        );
    }
}

/// A segment as the log tracks it. Closed segments open their file and load their indexes
/// lazily, on the first read or lookup that needs them.
pub(crate) struct Segment<W> {
    pub base_offset: Offset,
    /// Bytes of batches in the data file.
    pub size_bytes: u64,
    pub file: Option<Rc<W>>,
    pub indexes: Option<SegmentIndexes>,
    /// The segment's largest batch timestamp and the offset it belongs to, once known.
    pub max_timestamp: Option<(i64, Offset)>,
    /// When the first batch was appended to it in this process (`segment.ms` rolls).
    pub first_append_ms: Option<i64>,
}

impl<W> Segment<W> {
    pub(crate) fn new(base_offset: Offset, size_bytes: u64) -> Self {
        Self {
            base_offset,
            size_bytes,
            file: None,
            indexes: None,
            max_timestamp: None,
            first_append_ms: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip_and_reject_strangers() {
        let name = segment_file_name(Offset(42), DATA_SUFFIX);
        assert_eq!(name, "00000000000000000042.log");
        assert_eq!(parse_data_file_name(&name), Some(Offset(42)));
        assert_eq!(parse_data_file_name("00000000000000000042.index"), None);
        assert_eq!(parse_data_file_name("42.log"), None);
        assert_eq!(parse_data_file_name("0000000000000000004x.log"), None);
    }
}
