//! An in-memory [`FileSystem`] for tests: durable versus merely written bytes, crashes that drop
//! or tear unsynced writes, injected write and fdatasync failures, and byte corruption.
//!
//! Model: each file has its current content (what reads see) and its durable content (what
//! survives a crash), plus the list of changes (writes, size changes) made since the last
//! fdatasync. A crash keeps the durable content and replays a chosen prefix of those changes,
//! possibly tearing the last replayed write at any byte. Directory operations (create, rename,
//! remove, preallocate) are treated as durable at once, like a journaling file system's
//! metadata after a directory fsync; the log fsyncs its directory after each anyway.
//!
//! Every operation yields to the executor once before it takes effect, so concurrent appends
//! really interleave with in-flight writes. Write buffers start filled with `0xA5` so that a
//! writer which forgets to zero its padding is caught by the tests.
//!
//! Single core: `Rc`/`RefCell` inside, not `Send`.

use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
    io,
    ops::Deref,
    path::{Path, PathBuf},
    rc::Rc,
};

use super::{DirectoryEntry, FileSystem, SegmentFile};
use crate::{offset::PAGE_BYTES, signal::YieldOnce};

/// A small deterministic generator (SplitMix64) so that fault schedules replay from a seed.
#[derive(Debug, Clone)]
pub struct SeededRandom {
    state: u64,
}

impl SeededRandom {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut mixed = self.state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mixed ^ (mixed >> 31)
    }

    /// A value in `0..bound` (`bound > 0`).
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "SeededRandom::below(0)");
        self.next_u64() % bound
    }
}

#[derive(Debug, Clone)]
enum Change {
    Write { position: u64, bytes: Vec<u8> },
    SetSize(u64),
}

#[derive(Debug, Default, Clone)]
struct FileData {
    content: Vec<u8>,
    durable: Vec<u8>,
    unsynced: Vec<Change>,
}

fn apply_change(content: &mut Vec<u8>, change: &Change) {
    match change {
        Change::Write { position, bytes } => {
            let start = *position as usize;
            let end = start + bytes.len();
            if content.len() < end {
                content.resize(end, 0);
            }
            content[start..end].copy_from_slice(bytes);
        }
        Change::SetSize(size) => content.resize(*size as usize, 0),
    }
}

/// What a simulated crash keeps of the changes made since each file's last fdatasync.
#[derive(Debug, Clone)]
pub enum CrashMode {
    /// Keep only durable content.
    DropUnsynced,
    /// In `path`, replay the first `kept_changes` unsynced changes fully and then the first
    /// `torn_bytes` bytes of the next one if it is a write; other files keep durable content.
    TornWrite {
        path: PathBuf,
        kept_changes: usize,
        torn_bytes: usize,
    },
    /// Each file keeps a random prefix of its unsynced changes, the last one torn at a random
    /// byte, chosen from `seed`.
    Random { seed: u64 },
}

#[derive(Debug, Default)]
struct State {
    files: BTreeMap<PathBuf, Rc<RefCell<FileData>>>,
    directories: BTreeSet<PathBuf>,
    writes_started: u64,
    syncs_started: u64,
    fail_write_number: Option<u64>,
    fail_sync_number: Option<u64>,
}

/// The simulated file system. Clones share the same files.
#[derive(Debug, Clone, Default)]
pub struct SimulatedFileSystem {
    state: Rc<RefCell<State>>,
}

/// An open simulated file.
pub struct SimulatedFile {
    path: PathBuf,
    data: Rc<RefCell<FileData>>,
    state: Rc<RefCell<State>>,
}

/// An aligned-by-contract write buffer.
pub struct SimulatedBuffer(Vec<u8>);

impl AsRef<[u8]> for SimulatedBuffer {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl AsMut<[u8]> for SimulatedBuffer {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

/// Bytes read from a simulated file (shared, cheap to clone).
#[derive(Debug, Clone)]
pub struct SimulatedRead(Rc<[u8]>);

impl Deref for SimulatedRead {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("injected {what} failure"))
}

impl SimulatedFileSystem {
    pub fn new() -> Self {
        Self::default()
    }

    /// An independent deep copy of every file (current, durable and unsynced state), so that a
    /// test can set a scene up once and crash it many different ways.
    pub fn snapshot(&self) -> SimulatedFileSystem {
        let state = self.state.borrow();
        let files = state
            .files
            .iter()
            .map(|(path, data)| (path.clone(), Rc::new(RefCell::new(data.borrow().clone()))))
            .collect();
        SimulatedFileSystem {
            state: Rc::new(RefCell::new(State {
                files,
                directories: state.directories.clone(),
                writes_started: state.writes_started,
                syncs_started: state.syncs_started,
                fail_write_number: None,
                fail_sync_number: None,
            })),
        }
    }

    /// The `number`-th write from now on (1 = the next one) fails with an I/O error.
    pub fn fail_write_number(&self, number: u64) {
        let mut state = self.state.borrow_mut();
        state.fail_write_number = Some(state.writes_started + number);
    }

    /// The `number`-th fdatasync from now on (1 = the next one) fails with an I/O error.
    pub fn fail_sync_number(&self, number: u64) {
        let mut state = self.state.borrow_mut();
        state.fail_sync_number = Some(state.syncs_started + number);
    }

    /// Disarms the injected write and fdatasync failures that have not happened yet.
    pub fn clear_faults(&self) {
        let mut state = self.state.borrow_mut();
        state.fail_write_number = None;
        state.fail_sync_number = None;
    }

    /// Writes started so far (including failed ones).
    pub fn writes_started(&self) -> u64 {
        self.state.borrow().writes_started
    }

    /// fdatasyncs started so far (including failed ones).
    pub fn syncs_started(&self) -> u64 {
        self.state.borrow().syncs_started
    }

    /// Flips the bits of one byte, in both the current and the durable content.
    pub fn corrupt_byte(&self, path: &Path, position: u64) -> io::Result<()> {
        let state = self.state.borrow();
        let data = state
            .files
            .get(path)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let mut data = data.borrow_mut();
        let position = position as usize;
        if position >= data.content.len() {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        data.content[position] ^= 0xFF;
        if position < data.durable.len() {
            data.durable[position] ^= 0xFF;
        }
        Ok(())
    }

    /// The (position, length) of each write to `path` since its last fdatasync.
    pub fn unsynced_writes(&self, path: &Path) -> Vec<(u64, usize)> {
        let state = self.state.borrow();
        let Some(data) = state.files.get(path) else {
            return Vec::new();
        };
        let data = data.borrow();
        data.unsynced
            .iter()
            .filter_map(|change| match change {
                Change::Write { position, bytes } => Some((*position, bytes.len())),
                Change::SetSize(_) => None,
            })
            .collect()
    }

    /// Number of changes (writes and size changes) to `path` since its last fdatasync.
    pub fn unsynced_change_count(&self, path: &Path) -> usize {
        let state = self.state.borrow();
        state
            .files
            .get(path)
            .map_or(0, |data| data.borrow().unsynced.len())
    }

    /// The file's current content, or `None` if it does not exist.
    pub fn content(&self, path: &Path) -> Option<Vec<u8>> {
        let state = self.state.borrow();
        state
            .files
            .get(path)
            .map(|data| data.borrow().content.clone())
    }

    /// Replaces a file's content (current and durable), creating it if needed.
    pub fn set_content(&self, path: &Path, bytes: &[u8]) {
        let mut state = self.state.borrow_mut();
        let data = state.files.entry(path.to_path_buf()).or_default();
        let mut data = data.borrow_mut();
        data.content = bytes.to_vec();
        data.durable = bytes.to_vec();
        data.unsynced.clear();
    }

    /// Names of the files under `directory` (direct children).
    pub fn file_names(&self, directory: &Path) -> Vec<String> {
        let state = self.state.borrow();
        state
            .files
            .keys()
            .filter(|path| path.parent() == Some(directory))
            .filter_map(|path| path.file_name()?.to_str().map(str::to_string))
            .collect()
    }

    /// Simulates a power cut: every file goes back to its durable content plus what `mode`
    /// keeps of its unsynced changes. Files still open keep working on the crashed content;
    /// callers drop their logs first.
    pub fn crash(&self, mode: &CrashMode) {
        let state = self.state.borrow();
        let mut random = match mode {
            CrashMode::Random { seed } => Some(SeededRandom::new(*seed)),
            _ => None,
        };
        for (path, data) in &state.files {
            let mut data = data.borrow_mut();
            let mut content = data.durable.clone();
            let (kept_changes, torn_bytes) = match mode {
                CrashMode::DropUnsynced => (0, 0),
                CrashMode::TornWrite {
                    path: torn_path,
                    kept_changes,
                    torn_bytes,
                } if torn_path == path => (*kept_changes, *torn_bytes),
                CrashMode::TornWrite { .. } => (0, 0),
                CrashMode::Random { .. } => {
                    let random = random.as_mut().expect("random mode has a generator");
                    let kept = random.below(data.unsynced.len() as u64 + 1) as usize;
                    let torn = match data.unsynced.get(kept) {
                        Some(Change::Write { bytes, .. }) => {
                            random.below(bytes.len() as u64 + 1) as usize
                        }
                        _ => 0,
                    };
                    (kept, torn)
                }
            };
            let kept_changes = kept_changes.min(data.unsynced.len());
            for change in &data.unsynced[..kept_changes] {
                apply_change(&mut content, change);
            }
            if let Some(Change::Write { position, bytes }) = data.unsynced.get(kept_changes) {
                let torn_bytes = torn_bytes.min(bytes.len());
                if torn_bytes > 0 {
                    let torn = Change::Write {
                        position: *position,
                        bytes: bytes[..torn_bytes].to_vec(),
                    };
                    apply_change(&mut content, &torn);
                }
            }
            data.durable = content.clone();
            data.content = content;
            data.unsynced.clear();
        }
    }
}

impl SegmentFile for SimulatedFile {
    type WriteBuffer = SimulatedBuffer;
    type ReadBuffer = SimulatedRead;

    fn alloc_write_buffer(&self, length_bytes: usize) -> SimulatedBuffer {
        SimulatedBuffer(vec![0xA5; length_bytes])
    }

    async fn write_at(
        &self,
        buffer: SimulatedBuffer,
        length_bytes: usize,
        position: u64,
    ) -> io::Result<()> {
        {
            let mut state = self.state.borrow_mut();
            state.writes_started += 1;
            if state.fail_write_number == Some(state.writes_started) {
                return Err(injected("write"));
            }
        }
        if !position.is_multiple_of(PAGE_BYTES)
            || !(length_bytes as u64).is_multiple_of(PAGE_BYTES)
            || length_bytes > buffer.0.len()
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "unaligned direct write of {length_bytes} bytes at {position} to {}",
                    self.path.display()
                ),
            ));
        }
        YieldOnce::new().await;
        let change = Change::Write {
            position,
            bytes: buffer.0[..length_bytes].to_vec(),
        };
        let mut data = self.data.borrow_mut();
        apply_change(&mut data.content, &change);
        data.unsynced.push(change);
        Ok(())
    }

    async fn read_at(&self, position: u64, length_bytes: usize) -> io::Result<SimulatedRead> {
        YieldOnce::new().await;
        let data = self.data.borrow();
        let start = (position as usize).min(data.content.len());
        let end = start.saturating_add(length_bytes).min(data.content.len());
        Ok(SimulatedRead(Rc::from(&data.content[start..end])))
    }

    async fn fdatasync(&self) -> io::Result<()> {
        {
            let mut state = self.state.borrow_mut();
            state.syncs_started += 1;
            if state.fail_sync_number == Some(state.syncs_started) {
                return Err(injected("fdatasync"));
            }
        }
        YieldOnce::new().await;
        let mut data = self.data.borrow_mut();
        data.durable = data.content.clone();
        data.unsynced.clear();
        Ok(())
    }

    async fn pre_allocate(&self, size_bytes: u64) -> io::Result<()> {
        YieldOnce::new().await;
        let mut data = self.data.borrow_mut();
        if (data.content.len() as u64) < size_bytes {
            let change = Change::SetSize(size_bytes);
            apply_change(&mut data.content, &change);
            data.unsynced.push(change);
        }
        Ok(())
    }

    async fn truncate(&self, size_bytes: u64) -> io::Result<()> {
        YieldOnce::new().await;
        let mut data = self.data.borrow_mut();
        let change = Change::SetSize(size_bytes);
        apply_change(&mut data.content, &change);
        data.unsynced.push(change);
        Ok(())
    }

    async fn size(&self) -> io::Result<u64> {
        Ok(self.data.borrow().content.len() as u64)
    }
}

impl FileSystem for SimulatedFileSystem {
    type File = SimulatedFile;

    async fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.state
            .borrow_mut()
            .directories
            .insert(path.to_path_buf());
        Ok(())
    }

    async fn list_dir(&self, path: &Path) -> io::Result<Vec<DirectoryEntry>> {
        let state = self.state.borrow();
        if !state.directories.contains(path) {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        Ok(state
            .files
            .iter()
            .filter(|(file_path, _)| file_path.parent() == Some(path))
            .filter_map(|(file_path, data)| {
                Some(DirectoryEntry {
                    name: file_path.file_name()?.to_str()?.to_string(),
                    size_bytes: data.borrow().content.len() as u64,
                })
            })
            .collect())
    }

    async fn open_file(&self, path: &Path, create: bool) -> io::Result<SimulatedFile> {
        YieldOnce::new().await;
        let mut state = self.state.borrow_mut();
        let data = match state.files.get(path) {
            Some(data) => data.clone(),
            None if create => {
                let data = Rc::new(RefCell::new(FileData::default()));
                state.files.insert(path.to_path_buf(), data.clone());
                data
            }
            None => return Err(io::Error::from(io::ErrorKind::NotFound)),
        };
        Ok(SimulatedFile {
            path: path.to_path_buf(),
            data,
            state: self.state.clone(),
        })
    }

    async fn remove_file(&self, path: &Path) -> io::Result<()> {
        YieldOnce::new().await;
        match self.state.borrow_mut().files.remove(path) {
            Some(_) => Ok(()),
            None => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }

    async fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        YieldOnce::new().await;
        let mut state = self.state.borrow_mut();
        let data = state
            .files
            .remove(from)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        state.files.insert(to.to_path_buf(), data);
        Ok(())
    }

    async fn sync_dir(&self, _path: &Path) -> io::Result<()> {
        YieldOnce::new().await;
        Ok(())
    }
}
