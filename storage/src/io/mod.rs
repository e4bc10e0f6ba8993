//! The fault-injection seam: every file operation the log does goes through these two traits.
//!
//! [`FileSystem`] names, creates, lists, renames and removes files; [`SegmentFile`] is one open
//! file with the handful of operations a log needs: aligned direct writes, reads, fdatasync,
//! preallocation, truncation. Two implementations exist:
//!
//! - [`glommio_file`]: the real one, `O_DIRECT` through io_uring with glommio's DMA files. It
//!   is the only module of this crate that calls glommio (with the executor helper beside it).
//! - [`simulated`]: an in-memory file system that remembers which bytes are durable and which
//!   were only written, so a test can crash it (dropping or tearing unsynced writes at any byte),
//!   fail the n-th write or fdatasync, or flip a byte, deterministically from a seed.
//!
//! Everything runs on one core: the traits use `async fn` without `Send` bounds on purpose.

use std::{io, ops::Deref, path::Path};

pub mod glommio_file;
pub mod simulated;

/// One name in a directory listing, with the file's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    pub name: String,
    pub size_bytes: u64,
}

/// An open file of a log (data, index or checkpoint file), opened for reading and writing.
///
/// Writes must start and end on a 4 KiB boundary and come from a buffer that
/// [`SegmentFile::alloc_write_buffer`] returned; reads may be unaligned.
#[allow(async_fn_in_trait)]
pub trait SegmentFile: 'static {
    /// A 4 KiB-aligned buffer that writes consume.
    type WriteBuffer: AsRef<[u8]> + AsMut<[u8]>;
    /// Bytes returned by a read; cloning shares them (no copy), so they can go to the network.
    type ReadBuffer: Deref<Target = [u8]> + Clone + 'static;

    /// An aligned buffer of `length_bytes` (a multiple of 4096). Its contents are unspecified.
    fn alloc_write_buffer(&self, length_bytes: usize) -> Self::WriteBuffer;
    /// Writes the first `length_bytes` of `buffer` at `position`. Both are multiples of 4096.
    /// A short write is an error.
    async fn write_at(
        &self,
        buffer: Self::WriteBuffer,
        length_bytes: usize,
        position: u64,
    ) -> io::Result<()>;
    /// Reads up to `length_bytes` from `position`; fewer at the end of the file.
    async fn read_at(&self, position: u64, length_bytes: usize) -> io::Result<Self::ReadBuffer>;
    /// Makes every completed write durable.
    async fn fdatasync(&self) -> io::Result<()>;
    /// Reserves space up to `size_bytes`; the file's size becomes at least that (zero-filled).
    async fn pre_allocate(&self, size_bytes: u64) -> io::Result<()>;
    /// Sets the file's size.
    async fn truncate(&self, size_bytes: u64) -> io::Result<()>;
    /// The file's current size.
    async fn size(&self) -> io::Result<u64>;
}

/// The directory-level operations of a log, and the factory of its files.
#[allow(async_fn_in_trait)]
pub trait FileSystem: Clone + 'static {
    type File: SegmentFile;

    async fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// The regular files in `path` with their sizes, in no particular order.
    async fn list_dir(&self, path: &Path) -> io::Result<Vec<DirectoryEntry>>;
    /// Opens `path` for reading and writing, creating it (empty) when `create` is set.
    async fn open_file(&self, path: &Path, create: bool) -> io::Result<Self::File>;
    async fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Renames atomically, replacing `to` if it exists.
    async fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    async fn sync_dir(&self, path: &Path) -> io::Result<()>;
}
