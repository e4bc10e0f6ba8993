//! Walking a segment's data file batch by batch: recovery, index rebuilds, disk reads.

use wire::records::{BatchHeader, BATCH_HEADER_LEN, BATCH_OVERHEAD_LEN};

use crate::{io::SegmentFile, offset::Offset};

/// Bytes read per step while scanning.
const SCAN_READ_BYTES: usize = 1 << 20;

/// Why a scan stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanStop {
    /// The data ended exactly after a batch.
    EndOfData,
    /// Zeros where the next batch would start: never-written (preallocated or padding) space.
    ZeroFill,
    /// Bytes that are not a valid next batch: a torn write or garbage.
    Invalid(String),
}

#[derive(Debug, Clone)]
pub(crate) struct ScanOutcome {
    /// Position after the last valid batch.
    pub valid_end: u64,
    /// The offset after the last valid batch (the start offset if none).
    pub next_offset: Offset,
    pub batches: u64,
    pub stop: ScanStop,
}

/// Scans `file` from `position` (a batch boundary whose batch starts at or after
/// `next_offset`) up to `end_position`, validating each batch (header, length, CRC32C, offsets
/// increasing) and calling `on_batch` with each valid header and its position.
pub(crate) async fn scan_segment<W: SegmentFile>(
    file: &W,
    mut position: u64,
    end_position: u64,
    mut next_offset: Offset,
    batch_bytes_max: usize,
    mut on_batch: impl FnMut(&BatchHeader, u64),
) -> std::io::Result<ScanOutcome> {
    let mut batches = 0u64;
    let mut read_bytes = SCAN_READ_BYTES;
    loop {
        if position >= end_position {
            return Ok(ScanOutcome {
                valid_end: position,
                next_offset,
                batches,
                stop: ScanStop::EndOfData,
            });
        }
        let length = (end_position - position).min(read_bytes as u64) as usize;
        let buffer = file.read_at(position, length).await?;
        let mut at = 0usize;
        let stop = loop {
            let rest = &buffer[at..];
            if rest.len() < BATCH_HEADER_LEN {
                let at_file_end = position + buffer.len() as u64 >= end_position;
                if at_file_end && rest.is_empty() {
                    break None;
                }
                if at_file_end || buffer.len() < length {
                    break Some(classify(rest, "partial batch header at end of data"));
                }
                break None;
            }
            let header = match BatchHeader::parse(rest) {
                Ok(header) => header,
                Err(error) => break Some(classify(rest, &error.to_string())),
            };
            if let Err(error) = header.check(batch_bytes_max) {
                break Some(classify(rest, &error.to_string()));
            }
            let total = header.total_len();
            if rest.len() < total {
                let available_in_file = end_position - (position + at as u64);
                if (total as u64) > available_in_file {
                    break Some(ScanStop::Invalid(format!(
                        "batch of {total} bytes but only {available_in_file} remain"
                    )));
                }
                read_bytes = read_bytes.max(total);
                break None;
            }
            if let Err(error) = BatchHeader::validate(rest, batch_bytes_max) {
                break Some(ScanStop::Invalid(error.to_string()));
            }
            if header.base_offset < next_offset.0 {
                break Some(ScanStop::Invalid(format!(
                    "batch base offset {} below expected {}",
                    header.base_offset, next_offset
                )));
            }
            on_batch(&header, position + at as u64);
            batches += 1;
            next_offset = Offset(header.last_offset() + 1);
            at += total;
        };
        position += at as u64;
        if let Some(stop) = stop {
            return Ok(ScanOutcome {
                valid_end: position,
                next_offset,
                batches,
                stop,
            });
        }
        if at == 0 && buffer.len() >= length && length as u64 == end_position - position {
            // Nothing parsed although the whole remainder was read: cannot happen with the
            // checks above, but never loop without progress.
            return Ok(ScanOutcome {
                valid_end: position,
                next_offset,
                batches,
                stop: ScanStop::Invalid("no progress".to_string()),
            });
        }
    }
}

fn classify(rest: &[u8], reason: &str) -> ScanStop {
    let probe = &rest[..rest.len().min(BATCH_OVERHEAD_LEN)];
    if probe.iter().all(|&byte| byte == 0) {
        ScanStop::ZeroFill
    } else {
        ScanStop::Invalid(reason.to_string())
    }
}
