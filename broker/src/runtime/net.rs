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
