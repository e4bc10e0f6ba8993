//! The real file system: glommio DMA files (`O_DIRECT` through io_uring).
//!
//! This module and [`crate::io::glommio_file::run_on_local_executor`] are the only places of
//! this crate that call glommio, so a change of runtime stays a contained change. Directory
//! listing and creation use `std::fs` (rare, at open time); everything on the data path goes
//! through the ring.

use std::{
    cell::RefCell, collections::HashSet, future::Future, io, os::unix::fs::MetadataExt, path::Path,
};

use glommio::{
    io::{Directory, DmaBuffer, DmaFile, OpenOptions, ReadResult},
    LocalExecutorBuilder, Placement,
};

use super::{DirectoryEntry, FileSystem, SegmentFile};

/// The glommio-backed [`FileSystem`]. Stateless; one per core is as good as one per log.
#[derive(Debug, Clone, Copy, Default)]
pub struct GlommioFileSystem;

/// An open DMA file. Owned by the core that opened it.
pub struct GlommioFile {
    file: DmaFile,
}

impl SegmentFile for GlommioFile {
    type WriteBuffer = DmaBuffer;
    type ReadBuffer = ReadResult;

    fn alloc_write_buffer(&self, length_bytes: usize) -> DmaBuffer {
        self.file.alloc_dma_buffer(length_bytes)
    }

    async fn write_at(
        &self,
        mut buffer: DmaBuffer,
        length_bytes: usize,
        position: u64,
    ) -> io::Result<()> {
        buffer.trim_to_size(length_bytes);
        let written = self.file.write_at(buffer, position).await?;
        if written != length_bytes {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write: {written} of {length_bytes} bytes at {position}"),
            ));
        }
        Ok(())
    }

    async fn read_at(&self, position: u64, length_bytes: usize) -> io::Result<ReadResult> {
        Ok(self.file.read_at(position, length_bytes).await?)
    }

    async fn fdatasync(&self) -> io::Result<()> {
        Ok(self.file.fdatasync().await?)
    }

    async fn pre_allocate(&self, size_bytes: u64) -> io::Result<()> {
        Ok(self.file.pre_allocate(size_bytes, false).await?)
    }

    async fn truncate(&self, size_bytes: u64) -> io::Result<()> {
        Ok(self.file.truncate(size_bytes).await?)
    }

    async fn size(&self) -> io::Result<u64> {
        Ok(self.file.file_size().await?)
    }
}

impl FileSystem for GlommioFileSystem {
    type File = GlommioFile;

    async fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    async fn list_dir(&self, path: &Path) -> io::Result<Vec<DirectoryEntry>> {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            let metadata = entry.metadata()?;
            if !metadata.is_file() {
                continue;
            }
            if let Some(name) = entry.file_name().to_str() {
                entries.push(DirectoryEntry {
                    name: name.to_string(),
                    size_bytes: metadata.len(),
                });
            }
        }
        Ok(entries)
    }

    async fn open_file(&self, path: &Path, create: bool) -> io::Result<GlommioFile> {
        if let Some(directory) = path.parent() {
            probe_device_once(directory).await?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .dma_open(path)
            .await?;
        Ok(GlommioFile { file })
    }

    async fn remove_file(&self, path: &Path) -> io::Result<()> {
        Ok(glommio::io::remove(path).await?)
    }

    async fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        Ok(glommio::io::rename(from, to).await?)
    }

    async fn sync_dir(&self, path: &Path) -> io::Result<()> {
        // glommio cannot open a directory by a relative path.
        let directory = Directory::open(std::path::absolute(path)?).await?;
        directory.sync().await?;
        Ok(directory.close().await?)
    }
}

thread_local! {
    /// Devices whose io_uring polling support glommio has probed on this thread.
    static PROBED_DEVICES: RefCell<HashSet<u64>> = RefCell::new(HashSet::new());
}

/// Makes glommio probe the directory's device for `IOPOLL` support with a file that has data.
///
/// glommio probes a device the first time a DMA file on it is opened, by reading the first
/// block of that file through the polled ring, and remembers the answer for the process. When
/// that file is new and empty, the read ends at once at end-of-file and "succeeds", so glommio
/// concludes the device can poll; every later read on that device then fails with `EOPNOTSUPP`
/// on devices that cannot (virtio, most cloud disks). Opening a one-page probe file first gives
/// the probe real data to read and the right answer.
async fn probe_device_once(directory: &Path) -> io::Result<()> {
    let device = std::fs::metadata(directory)?.dev();
    if PROBED_DEVICES.with(|probed| probed.borrow().contains(&device)) {
        return Ok(());
    }
    let probe_path = directory.join(".iopoll-probe");
    std::fs::write(&probe_path, [0u8; 4096])?;
    let probe = DmaFile::open(&probe_path).await;
    let _ = std::fs::remove_file(&probe_path);
    probe?.close().await?;
    PROBED_DEVICES.with(|probed| probed.borrow_mut().insert(device));
    Ok(())
}

/// A default for the registered I/O memory of executors that run logs: small, because it
/// counts against the memlock limit (8 MiB on the project's machines) and glommio falls back to
/// ordinary aligned allocations once its pool is used up. Make it configurable where it matters.
pub const STORAGE_IO_MEMORY_BYTES: usize = 1 << 20;

/// Runs `make_future()` to completion on a new glommio executor on the calling thread, with
/// `io_memory_bytes` of registered I/O memory (see [`STORAGE_IO_MEMORY_BYTES`]).
pub fn run_on_local_executor<T, F, G>(io_memory_bytes: usize, make_future: G) -> io::Result<T>
where
    G: FnOnce() -> F,
    F: Future<Output = T>,
{
    let executor = LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(io_memory_bytes)
        .make()
        .map_err(io::Error::from)?;
    Ok(executor.run(make_future()))
}
