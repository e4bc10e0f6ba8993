//! The active segment's write path: aligned chunks, coalescing, and the partial last page.
//!
//! Appended bytes are copied once into a 4 KiB-aligned chunk of `write_chunk_bytes`. A full
//! chunk is sealed and queued for writing; a partly filled chunk is sealed only when no write is
//! in flight, so that under load many small appends coalesce into one large write while at low
//! load an append is written at once. Sealing a partly filled chunk pads its last page with
//! zeros and keeps a copy of that partial page (under 4 KiB) as the start of the next chunk, so
//! the page is rewritten, now fuller, by the next write ("partial last page kept in memory and
//! rewritten until full").
//!
//! While writes are in flight, new data does not wait for them all: its whole pages are sent at
//! once (the partial last page stays for a later write), up to `writes_in_flight_max` writes.
//! A write whose first page overlaps the previous write's last page (a padded partial page)
//! waits for it: two in-flight writes of the same page could complete in either order and
//! leave the older copy on disk.
//!
//! This type is a plain state machine: it hands out [`WriteJob`]s and is told when they
//! complete. The log performs the I/O. Memory bound: the current chunk, the sealed queue
//! (bounded by the log's `unwritten_bytes_max`), and under 4 KiB while idle.

use std::{collections::VecDeque, rc::Rc};

use crate::{
    io::SegmentFile,
    offset::{page_align_down, page_align_up, PAGE_BYTES},
};

struct Chunk<B> {
    buffer: B,
    /// File position of the chunk's first byte (page-aligned).
    file_position: u64,
    /// Bytes of the chunk holding data.
    fill: usize,
    /// Bytes at the start copied from the previous partial page (already appended before).
    carried_bytes: usize,
}

struct SealedChunk<B> {
    buffer: B,
    file_position: u64,
    length_bytes: usize,
    logical_end: u64,
}

#[derive(Debug)]
struct InFlight {
    id: u64,
    logical_end: u64,
    end_position: u64,
    done: bool,
}

/// One aligned write to perform.
pub(crate) struct WriteJob<B> {
    pub id: u64,
    pub buffer: B,
    pub position: u64,
    pub length_bytes: usize,
}

/// Write state of the active segment. Owned by the log (one core).
pub(crate) struct SegmentWriter<W: SegmentFile> {
    file: Rc<W>,
    chunk_bytes: usize,
    writes_in_flight_max: usize,
    logical_size: u64,
    written_size: u64,
    current: Option<Chunk<W::WriteBuffer>>,
    /// When `current` is `None`: the bytes of the last, partial page (`logical_size % 4096`).
    tail_page: Vec<u8>,
    sealed: VecDeque<SealedChunk<W::WriteBuffer>>,
    in_flight: VecDeque<InFlight>,
    next_write_id: u64,
}

impl<W: SegmentFile> SegmentWriter<W> {
    /// A writer continuing a segment of `size_bytes` whose partial last page is `tail_page`.
    pub(crate) fn new(
        file: Rc<W>,
        chunk_bytes: usize,
        writes_in_flight_max: usize,
        size_bytes: u64,
        tail_page: Vec<u8>,
    ) -> Self {
        assert_eq!(chunk_bytes as u64 % PAGE_BYTES, 0);
        assert_eq!(tail_page.len() as u64, size_bytes % PAGE_BYTES);
        Self {
            file,
            chunk_bytes,
            writes_in_flight_max,
            logical_size: size_bytes,
            written_size: size_bytes,
            current: None,
            tail_page,
            sealed: VecDeque::new(),
            in_flight: VecDeque::new(),
            next_write_id: 0,
        }
    }

    pub(crate) fn file(&self) -> &Rc<W> {
        &self.file
    }

    pub(crate) fn logical_size(&self) -> u64 {
        self.logical_size
    }

    pub(crate) fn written_size(&self) -> u64 {
        self.written_size
    }

    pub(crate) fn unwritten_bytes(&self) -> u64 {
        self.logical_size - self.written_size
    }

    /// Copies `bytes` to the end of the segment's buffered data.
    pub(crate) fn append(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let chunk = match &mut self.current {
                Some(chunk) => chunk,
                None => {
                    let file_position = page_align_down(self.logical_size);
                    let mut buffer = self.file.alloc_write_buffer(self.chunk_bytes);
                    let carried_bytes = self.tail_page.len();
                    buffer.as_mut()[..carried_bytes].copy_from_slice(&self.tail_page);
                    self.tail_page.clear();
                    assert_eq!(file_position + carried_bytes as u64, self.logical_size);
                    self.current.insert(Chunk {
                        buffer,
                        file_position,
                        fill: carried_bytes,
                        carried_bytes,
                    })
                }
            };
            let space = self.chunk_bytes - chunk.fill;
            let taken = space.min(bytes.len());
            chunk.buffer.as_mut()[chunk.fill..chunk.fill + taken].copy_from_slice(&bytes[..taken]);
            chunk.fill += taken;
            self.logical_size += taken as u64;
            bytes = &bytes[taken..];
            if chunk.fill == self.chunk_bytes {
                self.seal_current();
            }
        }
    }

    /// Moves the current chunk to the sealed queue, padding its partial last page with zeros and
    /// keeping a copy of that page for the next chunk.
    fn seal_current(&mut self) {
        let Some(mut chunk) = self.current.take() else {
            return;
        };
        let length_bytes = page_align_up(chunk.fill as u64) as usize;
        let partial_start = page_align_down(chunk.fill as u64) as usize;
        let buffer = chunk.buffer.as_mut();
        buffer[chunk.fill..length_bytes].fill(0);
        self.tail_page.clear();
        self.tail_page
            .extend_from_slice(&buffer[partial_start..chunk.fill]);
        self.sealed.push_back(SealedChunk {
            buffer: chunk.buffer,
            file_position: chunk.file_position,
            length_bytes,
            logical_end: chunk.file_position + chunk.fill as u64,
        });
    }

    /// Whether [`SegmentWriter::take_job`] would now seal a partly filled chunk (the writer is
    /// idle with new data). The log lets other ready appends run first, so they join the write.
    pub(crate) fn would_seal_partial_chunk(&self) -> bool {
        self.sealed.is_empty()
            && self.in_flight.is_empty()
            && self
                .current
                .as_ref()
                .is_some_and(|chunk| chunk.fill > chunk.carried_bytes)
    }

    /// Moves the whole pages of the current chunk to the sealed queue; the partial last page
    /// (not written by this write, so still new data) starts the next chunk.
    fn seal_full_pages(&mut self) {
        let Some(chunk) = self.current.take() else {
            return;
        };
        let full_pages = page_align_down(chunk.fill as u64) as usize;
        assert!(full_pages > 0 && full_pages > chunk.carried_bytes);
        let rest = chunk.fill - full_pages;
        if rest > 0 {
            let mut buffer = self.file.alloc_write_buffer(self.chunk_bytes);
            buffer.as_mut()[..rest].copy_from_slice(&chunk.buffer.as_ref()[full_pages..chunk.fill]);
            self.current = Some(Chunk {
                buffer,
                file_position: chunk.file_position + full_pages as u64,
                fill: rest,
                carried_bytes: 0,
            });
        }
        self.sealed.push_back(SealedChunk {
            buffer: chunk.buffer,
            file_position: chunk.file_position,
            length_bytes: full_pages,
            logical_end: chunk.file_position + full_pages as u64,
        });
    }

    /// The next write to perform, if one may start now.
    pub(crate) fn take_job(&mut self) -> Option<WriteJob<W::WriteBuffer>> {
        if self.in_flight.len() >= self.writes_in_flight_max {
            return None;
        }
        if self.sealed.is_empty() {
            let chunk = self.current.as_ref()?;
            if chunk.fill <= chunk.carried_bytes {
                return None;
            }
            match self.in_flight.back() {
                None => self.seal_current(),
                Some(previous) => {
                    // Writes are in flight: send the full pages now, without the partial last
                    // page, so this write cannot overlap the next one.
                    let full_pages = page_align_down(chunk.fill as u64);
                    if full_pages == 0 || chunk.file_position < previous.end_position {
                        return None;
                    }
                    self.seal_full_pages();
                }
            }
        }
        let next = self.sealed.front()?;
        if let Some(previous) = self.in_flight.back() {
            if next.file_position < previous.end_position {
                return None;
            }
        }
        let sealed = self.sealed.pop_front()?;
        let id = self.next_write_id;
        self.next_write_id += 1;
        self.in_flight.push_back(InFlight {
            id,
            logical_end: sealed.logical_end,
            end_position: sealed.file_position + sealed.length_bytes as u64,
            done: false,
        });
        Some(WriteJob {
            id,
            buffer: sealed.buffer,
            position: sealed.file_position,
            length_bytes: sealed.length_bytes,
        })
    }

    /// Marks write `id` complete; returns the new written size (the contiguous prefix of the
    /// segment whose writes have all completed).
    pub(crate) fn complete(&mut self, id: u64) -> u64 {
        let entry = self
            .in_flight
            .iter_mut()
            .find(|entry| entry.id == id)
            .expect("completed write is in flight");
        entry.done = true;
        while let Some(front) = self.in_flight.front() {
            if !front.done {
                break;
            }
            assert!(front.logical_end >= self.written_size);
            self.written_size = front.logical_end;
            self.in_flight.pop_front();
        }
        assert!(self.written_size <= self.logical_size);
        self.written_size
    }

    /// No data waits to be written and nothing is in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.written_size == self.logical_size && self.in_flight.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::simulated::{SimulatedFile, SimulatedFileSystem};
    use crate::io::FileSystem;

    fn file() -> Rc<SimulatedFile> {
        let file_system = SimulatedFileSystem::new();
        let open = file_system.open_file(std::path::Path::new("/f"), true);
        Rc::new(futures_lite_block_on(open).unwrap())
    }

    /// Polls a future that completes after yielding a few times (the simulated file system
    /// yields once per operation).
    fn futures_lite_block_on<T>(future: impl std::future::Future<Output = T>) -> T {
        use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
        fn noop(_: *const ()) {}
        fn clone(pointer: *const ()) -> RawWaker {
            RawWaker::new(pointer, &VTABLE)
        }
        static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
        // SAFETY: the vtable's functions ignore the data pointer.
        let waker = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) };
        let mut context = Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        for _ in 0..100 {
            if let Poll::Ready(value) = future.as_mut().poll(&mut context) {
                return value;
            }
        }
        panic!("future did not complete in 100 polls");
    }

    #[test]
    fn small_appends_coalesce_while_a_write_is_in_flight() {
        let mut writer = SegmentWriter::new(file(), 16384, 4, 0, Vec::new());
        writer.append(&[1u8; 100]);
        let first = writer.take_job().expect("idle writer writes at once");
        assert_eq!((first.position, first.length_bytes), (0, 4096));
        assert_eq!(&first.buffer.as_ref()[..100], &[1u8; 100][..]);
        assert!(first.buffer.as_ref()[100..4096]
            .iter()
            .all(|&byte| byte == 0));
        writer.append(&[2u8; 5000]);
        writer.append(&[3u8; 5000]);
        assert!(
            writer.take_job().is_none(),
            "the new chunk starts on page 0, still in flight: it waits"
        );
        assert_eq!(writer.complete(first.id), 100);
        let second = writer.take_job().expect("coalesced write");
        assert_eq!((second.position, second.length_bytes), (0, 12288));
        assert_eq!(
            &second.buffer.as_ref()[..100],
            &[1u8; 100][..],
            "partial page rewritten"
        );
        assert_eq!(second.buffer.as_ref()[100], 2);
        assert_eq!(second.buffer.as_ref()[5100], 3);
        assert_eq!(writer.complete(second.id), 10_100);
        assert!(writer.is_idle());
    }

    #[test]
    fn full_chunks_go_in_flight_together_and_complete_in_order() {
        let mut writer = SegmentWriter::new(file(), 8192, 2, 0, Vec::new());
        writer.append(&[9u8; 8192 * 3 + 10]);
        let a = writer.take_job().unwrap();
        let b = writer.take_job().unwrap();
        assert!(writer.take_job().is_none(), "in-flight limit");
        assert_eq!((a.position, b.position), (0, 8192));
        assert_eq!(
            writer.complete(b.id),
            0,
            "out-of-order completion waits for the first"
        );
        assert_eq!(writer.complete(a.id), 16384);
        let c = writer.take_job().unwrap();
        assert_eq!((c.position, c.length_bytes), (16384, 8192));
        writer.complete(c.id);
        let d = writer.take_job().unwrap();
        assert_eq!((d.position, d.length_bytes), (24576, 4096));
        assert_eq!(writer.complete(d.id), 8192 * 3 + 10);
    }

    #[test]
    fn whole_pages_go_out_while_a_write_is_in_flight() {
        let mut writer = SegmentWriter::new(file(), 65536, 4, 0, Vec::new());
        writer.append(&[1u8; 8192]);
        let first = writer.take_job().unwrap();
        assert_eq!((first.position, first.length_bytes), (0, 8192));
        writer.append(&[2u8; 3000]);
        assert!(writer.take_job().is_none(), "less than a page: wait");
        writer.append(&[3u8; 6000]);
        let second = writer
            .take_job()
            .expect("whole pages go while the first is in flight");
        assert_eq!((second.position, second.length_bytes), (8192, 8192));
        // 808 bytes are left in the partial page, written later.
        assert_eq!(
            writer.complete(second.id),
            0,
            "completion waits for the first write"
        );
        assert_eq!(writer.complete(first.id), 16384);
        let third = writer
            .take_job()
            .expect("idle: the partial page goes, padded");
        assert_eq!((third.position, third.length_bytes), (16384, 4096));
        assert_eq!(&third.buffer.as_ref()[..808], &[3u8; 808][..]);
        assert_eq!(writer.complete(third.id), 8192 + 9000);
    }

    #[test]
    fn overlapping_partial_page_writes_never_fly_together() {
        let mut writer = SegmentWriter::new(file(), 8192, 4, 4000, vec![5u8; 4000]);
        writer.append(&[6u8; 200]);
        let first = writer.take_job().unwrap();
        assert_eq!((first.position, first.length_bytes), (0, 8192));
        writer.append(&[7u8; 8192]);
        // The next chunk starts at 4096 (the partial page of the first write): it must wait.
        assert!(writer.take_job().is_none());
        writer.complete(first.id);
        let second = writer.take_job().unwrap();
        assert_eq!(second.position, 4096);
        assert_eq!(writer.complete(second.id), 12288);
        let third = writer.take_job().unwrap();
        assert_eq!((third.position, third.length_bytes), (12288, 4096));
        assert_eq!(writer.complete(third.id), 4200 + 8192);
    }
}
