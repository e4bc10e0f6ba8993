//! The broker's data directory and the lock that gives one broker sole use of it.
//!
//! Layout (grows with the broker):
//! ```text
//! <data_dir>/
//!   .lock            flock(2)-ed while a broker runs; holds that broker's pid
//! ```

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Why the data directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("cannot create data directory {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open lock file {path}: {source}")]
    OpenLock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "data directory {path} is in use by another broker (pid {holder}); \
         stop it or choose another --data-dir"
    )]
    Locked { path: PathBuf, holder: String },
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// An exclusive hold on a data directory, released when dropped (or when the process dies:
/// flock locks go with the file descriptor, so a killed broker never leaves a stale lock).
#[derive(Debug)]
pub struct DataDirLock {
    path: PathBuf,
    _file: File,
}

impl DataDirLock {
    /// Creates the directory if needed and locks it, or says who holds it.
    pub fn acquire(data_dir: &Path) -> Result<Self, DataDirError> {
        std::fs::create_dir_all(data_dir).map_err(|source| DataDirError::Create {
            path: data_dir.to_owned(),
            source,
        })?;
        let lock_path = data_dir.join(".lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|source| DataDirError::OpenLock {
                path: lock_path.clone(),
                source,
            })?;
        // SAFETY: flock on a file descriptor we own.
        let result = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if result != 0 {
            let error = std::io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let holder = std::fs::read_to_string(&lock_path)
                    .map(|text| text.trim().to_owned())
                    .unwrap_or_default();
                return Err(DataDirError::Locked {
                    path: data_dir.to_owned(),
                    holder: if holder.is_empty() {
                        "unknown".to_owned()
                    } else {
                        holder
                    },
                });
            }
            return Err(DataDirError::Lock {
                path: lock_path,
                source: error,
            });
        }
        // Best effort: the pid only helps the message above; the lock is what counts.
        let _ = file.set_len(0);
        let _ = writeln!(file, "{}", std::process::id());
        Ok(Self {
            path: data_dir.to_owned(),
            _file: file,
        })
    }

    /// The locked directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_the_same_directory_is_refused_until_released() {
        let directory = tempfile::tempdir().unwrap();
        let data_dir = directory.path().join("data");
        let first = DataDirLock::acquire(&data_dir).unwrap();
        let second = DataDirLock::acquire(&data_dir);
        match second {
            Err(DataDirError::Locked { holder, .. }) => {
                assert_eq!(holder, std::process::id().to_string())
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(first);
        DataDirLock::acquire(&data_dir).unwrap();
    }
}
