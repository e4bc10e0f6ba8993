//! A client connection's byte stream, as the connection loop needs it: read exactly N bytes
//! on one side, write a list of buffers on the other, know the peer, close.
//!
//! glommio's stream needs exclusive access for reads and for writes, while a connection reads
//! the next request as it writes the previous response. So the accepted socket is split into
//! two glommio streams over duplicated descriptors: [`StreamReader`] for the reading task and
//! [`StreamWriter`] for the writing task. Both live on the shard that accepted the connection.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd};

use bytes::Bytes;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

/// The reading side of a client connection.
pub struct StreamReader {
    stream: TcpStream,
    peer: SocketAddr,
}

/// The writing side of a client connection.
pub struct StreamWriter {
    stream: TcpStream,
}

/// Splits an accepted connection into its two sides.
pub(crate) fn split(stream: TcpStream) -> std::io::Result<(StreamReader, StreamWriter)> {
    stream.set_nodelay(true)?;
    let peer = stream.peer_addr()?;
    // SAFETY: dup of a descriptor we own; the duplicate is owned by the new stream.
    let duplicate = unsafe { libc::dup(stream.as_raw_fd()) };
    if duplicate < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `duplicate` is a fresh, open, connected TCP socket descriptor.
    let writer = unsafe { TcpStream::from_raw_fd(duplicate) };
    Ok((
        StreamReader { stream, peer },
        StreamWriter { stream: writer },
    ))
}

impl StreamReader {
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Fills `buffer` completely, or fails (`UnexpectedEof` when the peer closed first).
    pub async fn read_exact(&mut self, buffer: &mut [u8]) -> std::io::Result<()> {
        self.stream.read_exact(buffer).await
    }
}

impl StreamWriter {
    /// Writes every chunk, in order, without joining them into one buffer first.
    pub async fn write_chunks(&mut self, chunks: &[Bytes]) -> std::io::Result<()> {
        for chunk in chunks {
            self.stream.write_all(chunk).await?;
        }
        self.stream.flush().await
    }

    /// Shuts the connection down in both directions; the reading side sees end of stream.
    pub async fn close(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both).await;
    }
}

/// The open connections of one shard, so that stopping can end their reads: shutting a
/// socket's reading side down makes the pending read return end-of-stream, and the connection
/// then finishes the replies it owes and closes.
#[derive(Debug, Default)]
pub struct OpenConnections {
    next_id: std::cell::Cell<u64>,
    descriptors: std::cell::RefCell<std::collections::HashMap<u64, std::os::fd::RawFd>>,
}

/// A connection's entry in [`OpenConnections`]; removes itself when dropped.
pub struct OpenConnection {
    id: u64,
    registry: std::rc::Rc<OpenConnections>,
}

impl OpenConnections {
    pub fn len(&self) -> usize {
        self.descriptors.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Registers `reader`'s socket until the returned entry is dropped (drop it before the
    /// reader, so the descriptor is never used after it is closed).
    pub fn register(self: &std::rc::Rc<Self>, reader: &StreamReader) -> OpenConnection {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        self.descriptors
            .borrow_mut()
            .insert(id, reader.stream.as_raw_fd());
        OpenConnection {
            id,
            registry: self.clone(),
        }
    }

    /// Ends the reads of every open connection.
    pub fn shut_down_reads(&self) {
        for &fd in self.descriptors.borrow().values() {
            // SAFETY: the descriptor is open: entries are removed before their socket closes.
            unsafe {
                libc::shutdown(fd, libc::SHUT_RD);
            }
        }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.registry.descriptors.borrow_mut().remove(&self.id);
    }
}
