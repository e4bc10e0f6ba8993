//! The partition checkpoint: log start offset and recovery point, in one small file.
//!
//! File `partition.checkpoint` in the log directory, 48 bytes, integers big-endian:
//!
//! | bytes  | field                   | meaning                                                 |
//! |-------:|-------------------------|---------------------------------------------------------|
//! | 0..4   | magic                   | `FRCP`                                                  |
//! | 4..6   | format version          | 1                                                       |
//! | 6..8   | reserved                | 0                                                       |
//! | 8..16  | log start offset        | first offset readers may see (DeleteRecords moves it)   |
//! | 16..24 | recovery segment        | base offset of the segment the recovery point is in     |
//! | 24..32 | recovery position       | bytes of that segment known durable and valid           |
//! | 32..40 | recovery next offset    | the offset after the last batch before that position    |
//! | 40..44 | reserved                | 0                                                       |
//! | 44..48 | CRC32C                  | of bytes 0..44                                          |
//!
//! Everything before the recovery point is trusted on open without being read; everything
//! after it is scanned and validated batch by batch. The file is replaced atomically: written
//! to `partition.checkpoint.tmp`, fdatasync'd, renamed over the old one, directory fsync'd.

use crate::offset::Offset;

pub(crate) const CHECKPOINT_FILE_NAME: &str = "partition.checkpoint";
const MAGIC: &[u8; 4] = b"FRCP";
const FORMAT_VERSION: u16 = 1;
pub(crate) const CHECKPOINT_BYTES: usize = 48;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub log_start_offset: Offset,
    pub recovery_segment: Offset,
    pub recovery_position_bytes: u64,
    pub recovery_next_offset: Offset,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CheckpointError {
    #[error("checkpoint is {0} bytes, expected 48")]
    WrongLength(usize),
    #[error("checkpoint magic is wrong")]
    BadMagic,
    #[error("checkpoint format version {0} is not supported")]
    UnsupportedVersion(u16),
    #[error("checkpoint CRC mismatch")]
    CrcMismatch,
    #[error("checkpoint fields are inconsistent")]
    Inconsistent,
}

impl Checkpoint {
    pub(crate) fn encode(&self) -> [u8; CHECKPOINT_BYTES] {
        let mut bytes = [0u8; CHECKPOINT_BYTES];
        bytes[0..4].copy_from_slice(MAGIC);
        bytes[4..6].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
        bytes[8..16].copy_from_slice(&self.log_start_offset.0.to_be_bytes());
        bytes[16..24].copy_from_slice(&self.recovery_segment.0.to_be_bytes());
        bytes[24..32].copy_from_slice(&self.recovery_position_bytes.to_be_bytes());
        bytes[32..40].copy_from_slice(&self.recovery_next_offset.0.to_be_bytes());
        let crc = crc32c::crc32c(&bytes[..44]);
        bytes[44..48].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, CheckpointError> {
        if bytes.len() != CHECKPOINT_BYTES {
            return Err(CheckpointError::WrongLength(bytes.len()));
        }
        if &bytes[0..4] != MAGIC {
            return Err(CheckpointError::BadMagic);
        }
        let version = u16::from_be_bytes([bytes[4], bytes[5]]);
        if version != FORMAT_VERSION {
            return Err(CheckpointError::UnsupportedVersion(version));
        }
        let stored = u32::from_be_bytes([bytes[44], bytes[45], bytes[46], bytes[47]]);
        if stored != crc32c::crc32c(&bytes[..44]) {
            return Err(CheckpointError::CrcMismatch);
        }
        let field = |at: usize| {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&bytes[at..at + 8]);
            raw
        };
        let checkpoint = Self {
            log_start_offset: Offset(i64::from_be_bytes(field(8))),
            recovery_segment: Offset(i64::from_be_bytes(field(16))),
            recovery_position_bytes: u64::from_be_bytes(field(24)),
            recovery_next_offset: Offset(i64::from_be_bytes(field(32))),
        };
        if checkpoint.log_start_offset.0 < 0
            || checkpoint.recovery_segment.0 < 0
            || checkpoint.recovery_next_offset < checkpoint.recovery_segment
            || checkpoint.recovery_position_bytes > u64::from(u32::MAX)
        {
            return Err(CheckpointError::Inconsistent);
        }
        Ok(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_corruption_is_detected() {
        let checkpoint = Checkpoint {
            log_start_offset: Offset(5),
            recovery_segment: Offset(100),
            recovery_position_bytes: 8192,
            recovery_next_offset: Offset(140),
        };
        let bytes = checkpoint.encode();
        assert_eq!(Checkpoint::decode(&bytes), Ok(checkpoint));
        for position in 0..CHECKPOINT_BYTES {
            let mut corrupted = bytes;
            corrupted[position] ^= 0x10;
            assert!(
                Checkpoint::decode(&corrupted).is_err(),
                "flip at {position}"
            );
        }
        assert_eq!(
            Checkpoint::decode(&bytes[..40]),
            Err(CheckpointError::WrongLength(40))
        );
    }
}
