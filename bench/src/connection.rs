//! The bench's asynchronous Kafka connection on glommio: request frames out on one half,
//! response frames in on the other, so one task can keep sending while another reads the
//! replies (Kafka answers in request order on a connection).
//!
//! The socket is split by duplicating its descriptor: glommio's stream wants exclusive access
//! per operation, and the writer and reader run as separate tasks on the same core. Both
//! halves stay on the core that opened the connection.
//!
//! Limits: a response frame larger than [`RESPONSE_BYTES_MAX`] is refused before anything is
//! allocated for it.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd};

use bytes::Bytes;
use client::connection::{decode_response, response_frame_size};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use wire::codec::KStr;
use wire::messages::{encode_request_frame, ApiKey, RequestBody};
use wire::messages::{RequestHeader, ResponseBody};

/// Largest response frame accepted.
pub const RESPONSE_BYTES_MAX: usize = 512 << 20;

/// Why a connection failed: the `client` crate's error, so both clients report alike.
pub type ConnectionError = client::ClientError;

/// The sending half.
pub struct RequestWriter {
    stream: TcpStream,
    peer: SocketAddr,
    client_id: KStr,
    next_correlation_id: i32,
}

/// The receiving half.
pub struct ResponseReader {
    stream: TcpStream,
    peer: SocketAddr,
}

/// Opens a connection and splits it.
pub async fn connect(
    peer: SocketAddr,
    client_id: &str,
) -> Result<(RequestWriter, ResponseReader), ConnectionError> {
    let stream = TcpStream::connect(peer)
        .await
        .map_err(|error| ConnectionError::Connect {
            address: peer.to_string(),
            source: error.into(),
        })?;
    let io = |source| ConnectionError::Io { peer, source };
    stream.set_nodelay(true).map_err(|e| io(e.into()))?;
    // SAFETY: dup of a descriptor we own; the duplicate is owned by the new stream.
    let duplicate = unsafe { libc::dup(stream.as_raw_fd()) };
    if duplicate < 0 {
        return Err(io(std::io::Error::last_os_error()));
    }
    // SAFETY: `duplicate` is a fresh descriptor of this connected TCP socket.
    let reader = unsafe { TcpStream::from_raw_fd(duplicate) };
    Ok((
        RequestWriter {
            stream,
            peer,
            client_id: KStr::from(client_id.to_owned()),
            next_correlation_id: 1,
        },
        ResponseReader {
            stream: reader,
            peer,
        },
    ))
}

impl RequestWriter {
    /// Encodes and writes one request; returns its correlation id.
    pub async fn send(&mut self, version: i16, body: &RequestBody) -> Result<i32, ConnectionError> {
        let api = body.api_key();
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let header = RequestHeader {
            request_api_key: api.as_i16(),
            request_api_version: version,
            correlation_id,
            client_id: Some(self.client_id.clone()),
            ..Default::default()
        };
        let frame =
            encode_request_frame(&header, body).map_err(|error| ConnectionError::Encode {
                api: api.name(),
                message: error.to_string(),
            })?;
        let peer = self.peer;
        self.stream
            .write_all(&frame)
            .await
            .map_err(|source| ConnectionError::Io { peer, source })?;
        Ok(correlation_id)
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Shuts the socket down (both halves see it closed).
    pub async fn close(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both).await;
    }
}

impl ResponseReader {
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Reads one response frame (without its size prefix).
    pub async fn read_frame(&mut self) -> Result<Bytes, ConnectionError> {
        let peer = self.peer;
        let io = |source| ConnectionError::Io { peer, source };
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).await.map_err(io)?;
        let size = response_frame_size(peer, size, RESPONSE_BYTES_MAX)?;
        let mut frame = vec![0u8; size];
        self.stream.read_exact(&mut frame).await.map_err(io)?;
        Ok(Bytes::from(frame))
    }

    /// Reads the response to the request `correlation_id` of `api` sent at `version`.
    pub async fn read_response(
        &mut self,
        api: ApiKey,
        version: i16,
        correlation_id: i32,
    ) -> Result<ResponseBody, ConnectionError> {
        let frame = self.read_frame().await?;
        decode_response(self.peer, api, version, correlation_id, frame)
    }
}
