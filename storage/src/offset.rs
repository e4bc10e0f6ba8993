//! Offsets and the small identifiers the log hands out.

use std::fmt;

/// A Kafka offset: the position of a record in a partition, counted from 0.
///
/// Offsets are `i64` on the wire; the log only ever produces values `>= 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Offset(pub i64);

impl Offset {
    pub const ZERO: Offset = Offset(0);

    /// The offset `delta` records after this one.
    pub fn plus(self, delta: i64) -> Offset {
        Offset(self.0 + delta)
    }

    /// The offset right after this one.
    pub fn next(self) -> Offset {
        self.plus(1)
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(formatter)
    }
}

/// Where a batch landed: which segment (named by its base offset) and the byte position in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentPosition {
    pub segment_base_offset: Offset,
    pub position_bytes: u64,
}

/// Bytes per page of direct I/O: every write starts and ends on this boundary.
pub const PAGE_BYTES: u64 = 4096;

/// `value` rounded down to a page boundary.
pub fn page_align_down(value: u64) -> u64 {
    value - value % PAGE_BYTES
}

/// `value` rounded up to a page boundary.
pub fn page_align_up(value: u64) -> u64 {
    page_align_down(value + PAGE_BYTES - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_alignment_rounds_both_ways() {
        assert_eq!(page_align_down(0), 0);
        assert_eq!(page_align_down(4095), 0);
        assert_eq!(page_align_down(4096), 4096);
        assert_eq!(page_align_up(1), 4096);
        assert_eq!(page_align_up(4096), 4096);
        assert_eq!(page_align_up(4097), 8192);
        assert_eq!(Offset(4).next(), Offset(5));
        assert_eq!(Offset(4).plus(3), Offset(7));
    }
}
