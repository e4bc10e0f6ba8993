//! Read-only inspection of a partition directory, without a running broker: for operators'
//! offline tools (`ferritectl log dump` and `log verify`).
//!
//! Everything here uses blocking `std::fs` reads, so it runs in any thread and never opens a
//! file for writing: it is safe beside a running broker, though it then sees a moving tail.
//! Data files are read in bounded windows ([`READ_WINDOW_BYTES`], plus one batch of at most
//! `batch_bytes_max`), never whole.
//!
//! What a scan accepts matches recovery: batches back to back from position 0, each with a
//! valid header and CRC32C and offsets above the previous batch's, ending at the end of the
//! file or at zero fill (preallocated space never written).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use wire::records::{Batch, BatchHeader, BATCH_HEADER_LEN, BATCH_OVERHEAD_LEN};

use crate::index::{OffsetIndex, TimeIndex};
use crate::offset::Offset;
use crate::segment::{parse_data_file_name, OFFSET_INDEX_SUFFIX, TIME_INDEX_SUFFIX};

/// Bytes read from a data file per step.
pub const READ_WINDOW_BYTES: usize = 1 << 20;

/// The files of one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFiles {
    pub base_offset: Offset,
    pub data: PathBuf,
    /// The offset index, if the file exists (the active segment's may not).
    pub offset_index: Option<PathBuf>,
    /// The time index, if the file exists.
    pub time_index: Option<PathBuf>,
}

/// A problem found while reading, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {location}: {reason}")]
pub struct Problem {
    pub file: String,
    /// "position N" or "entry N".
    pub location: String,
    pub reason: String,
}

/// The segments of the partition in `directory`, by base offset.
pub fn list_segments(directory: &Path) -> std::io::Result<Vec<SegmentFiles>> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(directory)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(base_offset) = parse_data_file_name(&name) else {
            continue;
        };
        let sibling = |suffix: &str| {
            let path = directory.join(crate::segment::segment_file_name(base_offset, suffix));
            path.exists().then_some(path)
        };
        segments.push(SegmentFiles {
            base_offset,
            data: entry.path(),
            offset_index: sibling(OFFSET_INDEX_SUFFIX),
            time_index: sibling(TIME_INDEX_SUFFIX),
        });
    }
    segments.sort_by_key(|segment| segment.base_offset);
    Ok(segments)
}

/// One batch found in a data file.
#[derive(Debug, Clone)]
pub struct FoundBatch {
    /// Byte position in the data file.
    pub position: u64,
    pub batch: Batch,
}

impl FoundBatch {
    pub fn header(&self) -> &BatchHeader {
        self.batch.header()
    }
}

/// How a data file ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataEnd {
    /// The file ended right after a batch.
    EndOfFile,
    /// Zero fill from this position on.
    ZeroFill { position: u64 },
}

/// Reads the batches of one data file in order, calling `on_batch` for each; stops at the first
/// invalid batch with a [`Problem`] naming its position.
pub fn scan_data_file(
    path: &Path,
    batch_bytes_max: usize,
    mut on_batch: impl FnMut(&FoundBatch),
) -> Result<DataEnd, Problem> {
    let file_name = path.display().to_string();
    let problem = |position: u64, reason: String| Problem {
        file: file_name.clone(),
        location: format!("position {position}"),
        reason,
    };
    let mut file = File::open(path).map_err(|error| problem(0, error.to_string()))?;
    let size = file
        .metadata()
        .map_err(|error| problem(0, error.to_string()))?
        .len();
    let mut position = 0u64;
    let mut previous_last_offset: Option<i64> = None;
    while position < size {
        let header_bytes = read_at(
            &mut file,
            position,
            BATCH_HEADER_LEN.min((size - position) as usize),
        )
        .map_err(|error| problem(position, error.to_string()))?;
        if header_bytes.iter().all(|byte| *byte == 0) {
            return Ok(DataEnd::ZeroFill { position });
        }
        if header_bytes.len() < BATCH_HEADER_LEN {
            return Err(problem(
                position,
                format!(
                    "{} bytes of a batch header at the end of the file",
                    header_bytes.len()
                ),
            ));
        }
        let batch_length = i32::from_be_bytes([
            header_bytes[8],
            header_bytes[9],
            header_bytes[10],
            header_bytes[11],
        ]);
        let total = i64::from(batch_length) + BATCH_OVERHEAD_LEN as i64;
        if batch_length < 0
            || total as u64 > batch_bytes_max as u64
            || total < BATCH_HEADER_LEN as i64
        {
            return Err(problem(
                position,
                format!("batch length {batch_length} is out of bounds (max {batch_bytes_max})"),
            ));
        }
        if position + total as u64 > size {
            return Err(problem(
                position,
                format!("a {total}-byte batch runs past the end of the file ({size} bytes)"),
            ));
        }
        let bytes = Bytes::from(
            read_at(&mut file, position, total as usize)
                .map_err(|error| problem(position, error.to_string()))?,
        );
        let batch = Batch::parse(&bytes, batch_bytes_max)
            .map_err(|error| problem(position, error.to_string()))?;
        let header = batch.header();
        if let Some(previous) = previous_last_offset {
            if header.base_offset <= previous {
                return Err(problem(
                    position,
                    format!(
                        "base offset {} does not follow offset {previous}",
                        header.base_offset
                    ),
                ));
            }
        }
        previous_last_offset = Some(header.base_offset + i64::from(header.last_offset_delta));
        on_batch(&FoundBatch { position, batch });
        position += total as u64;
    }
    Ok(DataEnd::EndOfFile)
}

fn read_at(file: &mut File, position: u64, length: usize) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(position))?;
    let mut buffer = vec![0u8; length];
    file.read_exact(&mut buffer)?;
    Ok(buffer)
}

/// What a verification found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifySummary {
    pub segments: usize,
    pub batches: u64,
    pub records: u64,
    pub bytes: u64,
    /// The offset after the last batch (the first segment's base if there is none).
    pub next_offset: i64,
}

/// Checks a partition directory: every batch's header and CRC32C, offsets increasing within
/// and across segments, each segment's batches at or above its base offset, each offset
/// index entry pointing at the start of a batch with that offset, and each time index entry
/// naming the last offset of a batch whose max timestamp it carries and which no earlier batch
/// of the segment exceeds. Returns the first problem.
pub fn verify_partition(
    directory: &Path,
    batch_bytes_max: usize,
) -> Result<VerifySummary, Problem> {
    let segments = list_segments(directory).map_err(|error| Problem {
        file: directory.display().to_string(),
        location: "directory".to_owned(),
        reason: error.to_string(),
    })?;
    let mut summary = VerifySummary {
        next_offset: segments.first().map_or(0, |segment| segment.base_offset.0),
        ..VerifySummary::default()
    };
    for segment in &segments {
        let data_name = segment.data.display().to_string();
        if segment.base_offset.0 < summary.next_offset {
            return Err(Problem {
                file: data_name,
                location: "position 0".to_owned(),
                reason: format!(
                    "segment base {} is below the previous segment's end {}",
                    segment.base_offset.0, summary.next_offset
                ),
            });
        }
        let mut batch_starts: Vec<(u64, i64)> = Vec::new();
        // (last offset, max timestamp) of each batch, in order.
        let mut batch_times: Vec<(i64, i64)> = Vec::new();
        let mut below_base = None;
        let mut batches_before = summary.batches;
        scan_data_file(&segment.data, batch_bytes_max, |found| {
            let header = found.header();
            if header.base_offset < segment.base_offset.0 && below_base.is_none() {
                below_base = Some((found.position, header.base_offset));
            }
            batch_starts.push((found.position, header.base_offset));
            batch_times.push((header.last_offset(), header.max_timestamp));
            summary.records += header.record_count.max(0) as u64;
            summary.bytes += found.batch.as_bytes().len() as u64;
            summary.next_offset = header.base_offset + i64::from(header.last_offset_delta) + 1;
            batches_before += 1;
        })?;
        summary.batches = batches_before;
        if let Some((position, base_offset)) = below_base {
            return Err(Problem {
                file: data_name,
                location: format!("position {position}"),
                reason: format!(
                    "batch base offset {base_offset} is below the segment base {}",
                    segment.base_offset.0
                ),
            });
        }
        if let Some(index_path) = &segment.offset_index {
            verify_offset_index(index_path, segment.base_offset, &batch_starts)?;
        }
        if let Some(index_path) = &segment.time_index {
            verify_time_index(index_path, segment.base_offset, &batch_times)?;
        }
        summary.segments += 1;
    }
    Ok(summary)
}

fn verify_time_index(path: &Path, base: Offset, batch_times: &[(i64, i64)]) -> Result<(), Problem> {
    let file = path.display().to_string();
    let problem = |location: String, reason: String| Problem {
        file: file.clone(),
        location,
        reason,
    };
    let bytes =
        std::fs::read(path).map_err(|error| problem("file".to_owned(), error.to_string()))?;
    let segment_end = Offset(batch_times.last().map_or(base.0, |(last, _)| last + 1));
    let index = TimeIndex::decode(&bytes, base, segment_end)
        .map_err(|error| problem("file".to_owned(), error.to_string()))?;
    // The running maximum timestamp after each batch.
    let mut running = i64::MIN;
    let running_max: Vec<i64> = batch_times
        .iter()
        .map(|(_, timestamp)| {
            running = running.max(*timestamp);
            running
        })
        .collect();
    for (number, entry) in index.entries().iter().enumerate() {
        let offset = base.0 + i64::from(entry.relative_offset);
        let location = format!("entry {number}");
        let Ok(at) = batch_times.binary_search_by_key(&offset, |(last, _)| *last) else {
            return Err(problem(
                location,
                format!("offset {offset} is not the last offset of a batch"),
            ));
        };
        if batch_times[at].1 != entry.timestamp_ms || running_max[at] != entry.timestamp_ms {
            return Err(problem(
                location,
                format!(
                    "says timestamp {} for the batch ending at offset {offset}, whose max timestamp is {} (segment maximum so far {})",
                    entry.timestamp_ms, batch_times[at].1, running_max[at]
                ),
            ));
        }
    }
    Ok(())
}

fn verify_offset_index(
    path: &Path,
    base: Offset,
    batch_starts: &[(u64, i64)],
) -> Result<(), Problem> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|error| Problem {
        file: file.clone(),
        location: "file".to_owned(),
        reason: error.to_string(),
    })?;
    let data_end = batch_starts.last().map_or(0, |(position, _)| position + 1);
    let index = OffsetIndex::decode(&bytes, data_end).map_err(|error| Problem {
        file: file.clone(),
        location: "file".to_owned(),
        reason: error.to_string(),
    })?;
    for (number, entry) in index.entries().iter().enumerate() {
        let offset = base.0 + i64::from(entry.relative_offset);
        let position = u64::from(entry.position);
        let found = batch_starts.binary_search_by_key(&position, |(start, _)| *start);
        match found {
            Ok(at) if batch_starts[at].1 == offset => {}
            Ok(at) => {
                return Err(Problem {
                    file,
                    location: format!("entry {number}"),
                    reason: format!("says offset {offset} at position {position}, but the batch there starts at offset {}", batch_starts[at].1),
                })
            }
            Err(_) => {
                return Err(Problem {
                    file,
                    location: format!("entry {number}"),
                    reason: format!("position {position} is not the start of a batch"),
                })
            }
        }
    }
    Ok(())
}
