//! The durable metadata log: records appended to a file, fsynced before they take effect,
//! folded into a snapshot every so often.
//!
//! Files in `<data_dir>/metadata/`:
//! - `metadata.log`: entries after the snapshot, each laid out as (big-endian)
//!
//!   | offset | size | field                                                     |
//!   |-------:|-----:|-----------------------------------------------------------|
//!   |      0 |    8 | record offset (dense, from 0)                             |
//!   |      8 |    4 | epoch (the Raft term once metadata is replicated; 0 now)  |
//!   |     12 |    4 | payload length                                            |
//!   |     16 |    4 | CRC32C of bytes 0..16 and of the payload                  |
//!   |     20 |    … | payload: the rkyv archive of a [`MetadataRecord`]         |
//!
//! - `metadata.snapshot`: a [`crate::checkpoint`] file holding the rkyv archive of a
//!   [`MetadataImage`].
//!
//! On open, the snapshot is loaded and the log's entries after it are applied. A torn or
//! corrupt tail (an entry cut short by a crash, or failing its CRC) is cut off with a log line;
//! nothing after it can have been acknowledged, because an append returns only after its
//! fdatasync. An entry that passes its CRC but cannot be applied means the metadata is
//! inconsistent, and opening fails rather than guess.
//!
//! Appends use blocking file I/O: metadata changes are rare (topic creation, config changes),
//! and the fdatasync they wait for is the point.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::image::{MetadataError, MetadataImage, MetadataImageV1};
use super::record::MetadataRecord;
use crate::checkpoint::{self, CheckpointError, CheckpointKind};

const ENTRY_HEADER_LEN: usize = 20;
/// Largest record payload; far above any real record, and a bound for reading garbage.
const ENTRY_PAYLOAD_BYTES_MAX: usize = 16 << 20;
/// Entries after which the log is folded into a new snapshot.
const ENTRIES_PER_SNAPSHOT: u64 = 1024;

const SNAPSHOT: CheckpointKind = CheckpointKind {
    magic: *b"FMDS",
    name: "metadata snapshot",
    version: 2,
};

/// Version 1 snapshots (no producer id reservation) are still read; see [`MetadataImageV1`].
const SNAPSHOT_V1: CheckpointKind = CheckpointKind {
    version: 1,
    ..SNAPSHOT
};

/// Why the metadata log cannot be opened or appended to.
#[derive(Debug, thiserror::Error)]
pub enum MetadataLogError {
    #[error("metadata log {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Snapshot(#[from] CheckpointError),
    #[error("metadata snapshot {path} does not decode: {reason}")]
    SnapshotDecode { path: PathBuf, reason: String },
    #[error("metadata log {path}: entry at offset {offset} does not decode: {reason}")]
    RecordDecode {
        path: PathBuf,
        offset: i64,
        reason: String,
    },
    #[error("metadata log {path}: entry at offset {offset} is inconsistent with the state before it: {source}")]
    Inconsistent {
        path: PathBuf,
        offset: i64,
        source: MetadataError,
    },
    /// The record is refused: the image is unchanged and nothing was written.
    #[error(transparent)]
    Refused(MetadataError),
}

/// The metadata log of this node. Owned by the shard that makes metadata changes.
pub struct MetadataLog {
    path: PathBuf,
    snapshot_path: PathBuf,
    file: File,
    entries_since_snapshot: u64,
}

/// What opening found, for the start-up log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataRecovery {
    pub snapshot_offset: i64,
    pub records_replayed: u64,
    pub torn_tail_bytes: u64,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> MetadataLogError + '_ {
    move |source| MetadataLogError::Io {
        path: path.to_owned(),
        source,
    }
}

fn entry_crc(header: &[u8], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&header[0..16]), payload)
}

impl MetadataLog {
    /// Opens (or creates) the log in `directory` and rebuilds the image from it.
    pub fn open(
        directory: &Path,
    ) -> Result<(Self, MetadataImage, MetadataRecovery), MetadataLogError> {
        std::fs::create_dir_all(directory).map_err(io_error(directory))?;
        let path = directory.join("metadata.log");
        let snapshot_path = directory.join("metadata.snapshot");

        let mut image = match checkpoint::read(SNAPSHOT, &snapshot_path) {
            Ok(Some(payload)) => decode_snapshot::<MetadataImage>(&snapshot_path, &payload)?,
            Ok(None) => MetadataImage::new(),
            Err(CheckpointError::UnsupportedVersion { found: 1, .. }) => {
                match checkpoint::read(SNAPSHOT_V1, &snapshot_path)? {
                    Some(payload) => {
                        decode_snapshot::<MetadataImageV1>(&snapshot_path, &payload)?.into()
                    }
                    None => MetadataImage::new(),
                }
            }
            Err(error) => return Err(error.into()),
        };
        let snapshot_offset = image.applied_offset;

        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error(&path))?;
        let mut contents = Vec::new();
        file.read_to_end(&mut contents).map_err(io_error(&path))?;

        let mut position = 0usize;
        let mut records_replayed = 0u64;
        let mut entries = 0u64;
        while let Some((offset, payload)) = parse_entry(&contents[position..]) {
            let end = position + ENTRY_HEADER_LEN + payload.len();
            if offset > image.applied_offset {
                let record = decode_record(&path, offset, payload)?;
                image
                    .apply(offset, &record)
                    .map_err(|source| MetadataLogError::Inconsistent {
                        path: path.clone(),
                        offset,
                        source,
                    })?;
                records_replayed += 1;
            }
            entries += 1;
            position = end;
        }
        let torn_tail_bytes = (contents.len() - position) as u64;
        if torn_tail_bytes > 0 {
            tracing::warn!(
                path = %path.display(),
                valid_bytes = position,
                cut_bytes = torn_tail_bytes,
                "metadata log has a torn or corrupt tail; cutting it off"
            );
            file.set_len(position as u64).map_err(io_error(&path))?;
            file.sync_data().map_err(io_error(&path))?;
        }
        file.seek(SeekFrom::End(0)).map_err(io_error(&path))?;
        let log = Self {
            path,
            snapshot_path,
            file,
            entries_since_snapshot: entries,
        };
        Ok((
            log,
            image,
            MetadataRecovery {
                snapshot_offset,
                records_replayed,
                torn_tail_bytes,
            },
        ))
    }

    /// Checks `record` against `image`, makes it durable, then applies it. Returns its offset.
    /// A refused record changes nothing; a failed write leaves the image unchanged too.
    pub fn append(
        &mut self,
        image: &mut MetadataImage,
        record: &MetadataRecord,
    ) -> Result<i64, MetadataLogError> {
        image.check(record).map_err(MetadataLogError::Refused)?;
        let offset = image.applied_offset + 1;
        let payload = rkyv::to_bytes::<rkyv::rancor::Error>(record)
            .expect("serializing a metadata record into memory cannot fail");
        assert!(
            payload.len() <= ENTRY_PAYLOAD_BYTES_MAX,
            "metadata record too large"
        );
        let mut entry = Vec::with_capacity(ENTRY_HEADER_LEN + payload.len());
        entry.extend_from_slice(&offset.to_be_bytes());
        entry.extend_from_slice(&0i32.to_be_bytes());
        entry.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        entry.extend_from_slice(&[0u8; 4]);
        let crc = entry_crc(&entry, &payload);
        entry[16..20].copy_from_slice(&crc.to_be_bytes());
        entry.extend_from_slice(&payload);
        self.file.write_all(&entry).map_err(io_error(&self.path))?;
        self.file.sync_data().map_err(io_error(&self.path))?;
        image
            .apply(offset, record)
            .expect("a checked record applies");
        self.entries_since_snapshot += 1;
        if self.entries_since_snapshot >= ENTRIES_PER_SNAPSHOT {
            self.snapshot(image)?;
        }
        Ok(offset)
    }

    /// Writes `image` as the snapshot and empties the log (its entries are all in the image).
    pub fn snapshot(&mut self, image: &MetadataImage) -> Result<(), MetadataLogError> {
        let payload = rkyv::to_bytes::<rkyv::rancor::Error>(image)
            .expect("serializing the metadata image into memory cannot fail");
        checkpoint::write(SNAPSHOT, &self.snapshot_path, &payload)?;
        // The snapshot is durable; a crash before the truncation below only means the old
        // entries are skipped on the next open (their offsets are not above the snapshot's).
        self.file.set_len(0).map_err(io_error(&self.path))?;
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(io_error(&self.path))?;
        self.file.sync_data().map_err(io_error(&self.path))?;
        self.entries_since_snapshot = 0;
        Ok(())
    }
}

/// The entry at the start of `bytes`, or `None` if it is absent, cut short or corrupt.
fn parse_entry(bytes: &[u8]) -> Option<(i64, &[u8])> {
    let header = bytes.get(..ENTRY_HEADER_LEN)?;
    let offset = i64::from_be_bytes(header[0..8].try_into().ok()?);
    let length = u32::from_be_bytes(header[12..16].try_into().ok()?) as usize;
    let stored_crc = u32::from_be_bytes(header[16..20].try_into().ok()?);
    if length > ENTRY_PAYLOAD_BYTES_MAX {
        return None;
    }
    let payload = bytes.get(ENTRY_HEADER_LEN..ENTRY_HEADER_LEN + length)?;
    (entry_crc(header, payload) == stored_crc).then_some((offset, payload))
}

fn decode_record(
    path: &Path,
    offset: i64,
    payload: &[u8],
) -> Result<MetadataRecord, MetadataLogError> {
    let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(payload.len());
    aligned.extend_from_slice(payload);
    rkyv::from_bytes::<MetadataRecord, rkyv::rancor::Error>(&aligned).map_err(|error| {
        MetadataLogError::RecordDecode {
            path: path.to_owned(),
            offset,
            reason: error.to_string(),
        }
    })
}

fn decode_snapshot<Image>(path: &Path, payload: &[u8]) -> Result<Image, MetadataLogError>
where
    Image: rkyv::Archive,
    Image::Archived: for<'a> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'a, rkyv::rancor::Error>>
        + rkyv::Deserialize<Image, rkyv::api::high::HighDeserializer<rkyv::rancor::Error>>,
{
    let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(payload.len());
    aligned.extend_from_slice(payload);
    rkyv::from_bytes::<Image, rkyv::rancor::Error>(&aligned).map_err(|error| {
        MetadataLogError::SnapshotDecode {
            path: path.to_owned(),
            reason: error.to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::TopicId;

    fn create(name: &str) -> MetadataRecord {
        MetadataRecord::CreateTopic {
            name: name.to_owned(),
            id: TopicId::random(),
            partition_shards: vec![0, 1],
            configs: vec![("cleanup.policy".into(), "compact".into())],
        }
    }

    #[test]
    fn records_survive_reopen_and_refused_records_change_nothing() {
        let directory = tempfile::tempdir().unwrap();
        let (mut log, mut image, recovery) = MetadataLog::open(directory.path()).unwrap();
        assert_eq!(recovery.records_replayed, 0);
        assert_eq!(log.append(&mut image, &create("a")).unwrap(), 0);
        assert_eq!(log.append(&mut image, &create("b")).unwrap(), 1);
        assert!(matches!(
            log.append(&mut image, &create("a")),
            Err(MetadataLogError::Refused(_))
        ));
        drop(log);
        let (_, reopened, recovery) = MetadataLog::open(directory.path()).unwrap();
        assert_eq!(recovery.records_replayed, 2);
        assert_eq!(reopened, image);
    }

    #[test]
    fn a_torn_tail_is_cut_at_every_byte() {
        let directory = tempfile::tempdir().unwrap();
        let (mut log, mut image, _) = MetadataLog::open(directory.path()).unwrap();
        log.append(&mut image, &create("kept")).unwrap();
        let kept_length = std::fs::metadata(&log.path).unwrap().len() as usize;
        log.append(&mut image, &create("torn")).unwrap();
        drop(log);
        let path = directory.path().join("metadata.log");
        let full = std::fs::read(&path).unwrap();
        for cut in kept_length..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let (_, image, recovery) = MetadataLog::open(directory.path()).unwrap();
            assert!(image.topic("kept").is_some());
            assert!(
                image.topic("torn").is_none(),
                "cut at {cut} served a torn record"
            );
            assert_eq!(recovery.torn_tail_bytes as usize, cut - kept_length);
            assert_eq!(
                std::fs::metadata(&path).unwrap().len() as usize,
                kept_length
            );
        }
    }

    #[test]
    fn snapshots_fold_the_log_and_reopen_to_the_same_image() {
        let directory = tempfile::tempdir().unwrap();
        let (mut log, mut image, _) = MetadataLog::open(directory.path()).unwrap();
        for index in 0..5 {
            log.append(&mut image, &create(&format!("t{index}")))
                .unwrap();
        }
        log.snapshot(&image).unwrap();
        log.append(&mut image, &create("after")).unwrap();
        drop(log);
        let (_, reopened, recovery) = MetadataLog::open(directory.path()).unwrap();
        assert_eq!(recovery.snapshot_offset, 4);
        assert_eq!(recovery.records_replayed, 1);
        assert_eq!(reopened, image);
    }

    #[test]
    fn a_version_1_snapshot_is_read_and_producer_ids_start_at_zero() {
        let directory = tempfile::tempdir().unwrap();
        let mut old = MetadataImageV1::default();
        old.applied_offset = 4;
        let payload = rkyv::to_bytes::<rkyv::rancor::Error>(&old).unwrap();
        checkpoint::write(
            SNAPSHOT_V1,
            &directory.path().join("metadata.snapshot"),
            &payload,
        )
        .unwrap();
        let (mut log, mut image, _) = MetadataLog::open(directory.path()).unwrap();
        assert_eq!(image.applied_offset, 4);
        assert_eq!(image.next_producer_id(), 0);
        let reserve = MetadataRecord::ReserveProducerIds {
            first: 0,
            count: 10,
        };
        assert_eq!(log.append(&mut image, &reserve).unwrap(), 5);
        log.snapshot(&image).unwrap();
        let (_, reopened, _) = MetadataLog::open(directory.path()).unwrap();
        assert_eq!(reopened.next_producer_id(), 10);
        let overlapping = MetadataRecord::ReserveProducerIds {
            first: 5,
            count: 10,
        };
        assert!(reopened.check(&overlapping).is_err());
    }
}
