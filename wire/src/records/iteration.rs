//! Iterating the records of one batch, decompressing first when the batch is compressed.

use bytes::Bytes;

use super::batch::{BatchError, BatchHeader, Compression, TimestampType};
use super::compression::{self, CompressionError};
use super::control::ControlDefect;
use super::record::{
    decode_record, record_body_range, Record, RecordContext, RecordDefect, RECORD_LEN_MIN,
};

/// Why a batch's records cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The batch itself is invalid (header, length or CRC).
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// The records section does not decompress within the allowed size.
    #[error(transparent)]
    Compression(#[from] CompressionError),
    /// The batch claims more records than its records section could possibly hold.
    #[error("batch declares {declared} records, more than {section_bytes} bytes can hold")]
    RecordCountImpossible { declared: i32, section_bytes: usize },
    /// Record number `index` (from 0) is malformed.
    #[error("record {index}: {defect}")]
    Malformed { index: u32, defect: RecordDefect },
    /// The records section ended after fewer records than the header declares.
    #[error("batch declares {declared} records but holds {found}")]
    CountMismatch { declared: i32, found: u32 },
    /// Bytes remain after the last declared record.
    #[error("{bytes} bytes follow the {declared} declared records")]
    TrailingBytes { declared: i32, bytes: usize },
    /// A control batch whose record is not a valid control record.
    #[error("control batch: {0}")]
    Control(#[from] ControlDefect),
}

/// The records of one batch, in order. Yields `Err` at most once, then ends.
///
/// For an uncompressed batch every record borrows from the batch's own [`Bytes`]; for a
/// compressed one the records section is first decompressed into one owned buffer (bounded by
/// the caller's `decompressed_bytes_max`) and every record borrows from that.
///
/// Checks, per record: its length prefix fits in what is left, its fields use exactly that
/// length, offset deltas increase and stay within the batch's last offset delta. At the end:
/// exactly `record_count` records and no trailing bytes.
#[derive(Debug, Clone)]
pub struct Records {
    data: Bytes,
    position: usize,
    context: RecordContext,
    declared: i32,
    decoded: u32,
    previous_offset_delta: i64,
    finished: bool,
}

impl Records {
    /// Records of the batch described by `header` whose records section (everything after the
    /// 61-byte header, possibly compressed) is `section`. The header is trusted to have passed
    /// [`BatchHeader::check`]; the CRC is the caller's business ([`super::Batch`] checks it).
    pub fn new(
        header: &BatchHeader,
        section: Bytes,
        decompressed_bytes_max: usize,
    ) -> Result<Self, RecordError> {
        let compression = header.attributes.compression()?;
        let declared = header.record_count;
        let Ok(declared_count) = usize::try_from(declared) else {
            return Err(BatchError::Inconsistent("negative record count").into());
        };
        let impossible = |section_bytes: usize| RecordError::RecordCountImpossible {
            declared,
            section_bytes,
        };
        let data = match compression {
            Compression::None => section,
            compressed => {
                // Refuse before decompressing if even the bound could not hold the records.
                if declared_count.saturating_mul(RECORD_LEN_MIN) > decompressed_bytes_max {
                    return Err(impossible(decompressed_bytes_max));
                }
                Bytes::from(compression::decompress(
                    compressed,
                    &section,
                    decompressed_bytes_max,
                )?)
            }
        };
        if declared_count.saturating_mul(RECORD_LEN_MIN) > data.len() {
            return Err(impossible(data.len()));
        }
        let log_append_time = match header.attributes.timestamp_type() {
            TimestampType::LogAppendTime => Some(header.max_timestamp),
            TimestampType::CreateTime => None,
        };
        Ok(Self {
            data,
            position: 0,
            context: RecordContext {
                base_offset: header.base_offset,
                base_timestamp: header.base_timestamp,
                log_append_time,
                last_offset_delta: header.last_offset_delta,
            },
            declared,
            decoded: 0,
            previous_offset_delta: -1,
            finished: false,
        })
    }

    /// The (decompressed) records section being iterated.
    pub fn section(&self) -> &Bytes {
        &self.data
    }

    fn fail(&mut self, error: RecordError) -> Option<Result<Record, RecordError>> {
        self.finished = true;
        Some(Err(error))
    }
}

impl Iterator for Records {
    type Item = Result<Record, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let left = self.data.len() - self.position;
        if i64::from(self.decoded) == i64::from(self.declared) {
            self.finished = true;
            if left != 0 {
                return self.fail(RecordError::TrailingBytes {
                    declared: self.declared,
                    bytes: left,
                });
            }
            return None;
        }
        if left == 0 {
            return self.fail(RecordError::CountMismatch {
                declared: self.declared,
                found: self.decoded,
            });
        }
        let decoded = record_body_range(&self.data, self.position).and_then(|body| {
            let end = body.end;
            decode_record(&self.data, body, &self.context, self.previous_offset_delta)
                .map(|record| (record, end))
        });
        match decoded {
            Ok((record, end)) => {
                assert!(end > self.position && end <= self.data.len());
                self.position = end;
                self.decoded += 1;
                self.previous_offset_delta = i64::from(record.offset_delta());
                Some(Ok(record))
            }
            Err(defect) => {
                let index = self.decoded;
                self.fail(RecordError::Malformed { index, defect })
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.finished {
            return (0, Some(0));
        }
        // One more item than records left: a trailing error may follow.
        let left = (i64::from(self.declared) - i64::from(self.decoded)).max(0) as usize;
        (0, Some(left + 1))
    }
}
