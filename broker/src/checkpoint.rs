//! Small state files written whole and replaced atomically: the metadata snapshot today, and
//! producer state and group offsets later (BRIEF: rkyv inside a magic, a version and a CRC).
//!
//! File layout (big-endian):
//!
//! | offset | size | field                                   |
//! |-------:|-----:|-----------------------------------------|
//! |      0 |    4 | magic, one per kind of file             |
//! |      4 |    2 | format version of the payload           |
//! |      6 |    4 | payload length in bytes                 |
//! |     10 |    4 | CRC32C of the payload                   |
//! |     14 |    … | payload (rkyv archive)                  |
//!
//! A file is replaced by writing `<name>.tmp`, fsyncing it, renaming it over `<name>` and
//! fsyncing the directory, so a crash leaves either the old or the new file, never a mix.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

const HEADER_LEN: usize = 14;

/// Why a checkpoint file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a {expected} file (magic {found:02x?})")]
    WrongMagic {
        path: PathBuf,
        expected: &'static str,
        found: [u8; 4],
    },
    #[error("{path}: format version {found} is not supported (this build reads {supported})")]
    UnsupportedVersion {
        path: PathBuf,
        found: u16,
        supported: u16,
    },
    #[error("{path}: corrupt ({reason})")]
    Corrupt { path: PathBuf, reason: String },
}

/// One kind of checkpoint file: its magic, name for messages, and current format version.
#[derive(Debug, Clone, Copy)]
pub struct CheckpointKind {
    pub magic: [u8; 4],
    pub name: &'static str,
    pub version: u16,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `payload` to `path` atomically and durably.
pub fn write(kind: CheckpointKind, path: &Path, payload: &[u8]) -> Result<(), CheckpointError> {
    let length = u32::try_from(payload.len()).map_err(|_| CheckpointError::Corrupt {
        path: path.to_owned(),
        reason: format!("payload of {} bytes is too large", payload.len()),
    })?;
    let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
    bytes.extend_from_slice(&kind.magic);
    bytes.extend_from_slice(&kind.version.to_be_bytes());
    bytes.extend_from_slice(&length.to_be_bytes());
    bytes.extend_from_slice(&crc32c::crc32c(payload).to_be_bytes());
    bytes.extend_from_slice(payload);

    let temporary = path.with_extension("tmp");
    let mut file = File::create(&temporary).map_err(io_error(&temporary))?;
    file.write_all(&bytes).map_err(io_error(&temporary))?;
    file.sync_all().map_err(io_error(&temporary))?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(io_error(path))?;
    sync_parent_directory(path)
}

/// Fsyncs the directory holding `path`, making a rename or create in it durable.
pub fn sync_parent_directory(path: &Path) -> Result<(), CheckpointError> {
    let parent = path.parent().unwrap_or_else(|| Path::new("."));
    File::open(parent)
        .and_then(|directory| directory.sync_all())
        .map_err(io_error(parent))
}

/// Reads and checks a checkpoint file. `Ok(None)` when it does not exist.
pub fn read(kind: CheckpointKind, path: &Path) -> Result<Option<Vec<u8>>, CheckpointError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error(path)(error)),
    };
    let corrupt = |reason: String| CheckpointError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    if bytes.len() < HEADER_LEN {
        return Err(corrupt(format!(
            "{} bytes is shorter than the header",
            bytes.len()
        )));
    }
    let magic: [u8; 4] = bytes[0..4].try_into().expect("slice of 4");
    if magic != kind.magic {
        return Err(CheckpointError::WrongMagic {
            path: path.to_owned(),
            expected: kind.name,
            found: magic,
        });
    }
    let version = u16::from_be_bytes([bytes[4], bytes[5]]);
    if version != kind.version {
        return Err(CheckpointError::UnsupportedVersion {
            path: path.to_owned(),
            found: version,
            supported: kind.version,
        });
    }
    let length = u32::from_be_bytes(bytes[6..10].try_into().expect("slice of 4")) as usize;
    let stored_crc = u32::from_be_bytes(bytes[10..14].try_into().expect("slice of 4"));
    let payload = &bytes[HEADER_LEN..];
    if payload.len() != length {
        return Err(corrupt(format!(
            "payload is {} bytes, header says {length}",
            payload.len()
        )));
    }
    let computed_crc = crc32c::crc32c(payload);
    if computed_crc != stored_crc {
        return Err(corrupt(format!(
            "CRC32C {computed_crc:#010x} does not match stored {stored_crc:#010x}"
        )));
    }
    Ok(Some(payload.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: CheckpointKind = CheckpointKind {
        magic: *b"FTST",
        name: "test checkpoint",
        version: 3,
    };

    #[test]
    fn round_trip_and_every_corruption_is_caught() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("state.checkpoint");
        assert!(read(KIND, &path).unwrap().is_none());
        write(KIND, &path, b"hello checkpoint").unwrap();
        assert_eq!(read(KIND, &path).unwrap().unwrap(), b"hello checkpoint");
        assert!(!path.with_extension("tmp").exists());

        let good = std::fs::read(&path).unwrap();
        for position in 0..good.len() {
            let mut bad = good.clone();
            bad[position] ^= 0x01;
            std::fs::write(&path, &bad).unwrap();
            assert!(read(KIND, &path).is_err(), "flip at {position} accepted");
        }
        for length in 0..good.len() {
            std::fs::write(&path, &good[..length]).unwrap();
            assert!(
                read(KIND, &path).is_err(),
                "truncation to {length} accepted"
            );
        }
    }
}
