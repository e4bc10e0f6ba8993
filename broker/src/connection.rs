//! One client connection: read request frames, hand them to the request handler in arrival
//! order, write the replies in the same order.
//!
//! Two tasks serve a connection. The *reader* reads a frame, checks its size before allocating
//! (the body buffer grows as bytes arrive, so a peer that claims 100 MiB and sends 10 bytes
//! holds 10 bytes, not 100 MiB), and calls [`RequestHandler::submit`], which starts the
//! request's order-sensitive work (for example queueing appends on the partition's core) before
//! it returns. The pending reply goes into a bounded queue: at most
//! `in_flight_requests_per_connection_max` replies wait at once, and while the queue is full the
//! reader stops reading, so the socket applies backpressure to the client. The *writer* takes
//! pending replies in order, waits for each (a produce waiting for durability, a fetch long
//! poll) and writes it. Kafka requires responses in request order per connection; submitting in
//! order and writing in order gives exactly that while later requests' work overlaps earlier
//! requests' waits.
//!
//! Any failure closes only this connection, with one log line naming the peer and the reason.

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::frame;
use crate::runtime::net::{StreamReader, StreamWriter};
use crate::runtime::tasks::{bounded_queue, spawn};
use crate::runtime::time::within;

/// What to send back for one request.
pub enum Reply {
    /// A whole response frame (size prefix included), as buffers written in order.
    Frame(Vec<Bytes>),
    /// No response: Kafka's produce with acks=0.
    Nothing,
    /// Close the connection after the replies before this one, logging the reason.
    Close { reason: String },
}

/// A reply that may still be waiting for work to finish.
pub type PendingReply = Pin<Box<dyn Future<Output = Reply>>>;

/// Turns request frames into replies. One handler serves every connection of a shard.
pub trait RequestHandler: 'static {
    /// Starts handling one request (`frame` is the body after the size prefix). Called in
    /// arrival order; work whose order matters must be started before the returned future
    /// completes. The returned reply is awaited later, in order.
    fn submit(&self, frame: Bytes, peer: SocketAddr) -> impl Future<Output = PendingReply>;
}

/// Limits of one connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub request_bytes_max: usize,
    pub in_flight_requests_max: usize,
    pub idle_timeout: Duration,
}

/// Bytes by which a request body buffer grows while its bytes arrive.
const BODY_READ_CHUNK_BYTES: usize = 64 * 1024;

/// Counts requests submitted but not yet answered on one shard, and says whether the shard is
/// stopping (then connections take no new requests).
#[derive(Debug, Default)]
pub struct ShardActivity {
    in_flight_requests: Cell<usize>,
    stopping: Cell<bool>,
}

impl ShardActivity {
    pub fn in_flight_requests(&self) -> usize {
        self.in_flight_requests.get()
    }

    pub fn stop_taking_requests(&self) {
        self.stopping.set(true);
    }

    pub fn stopping(&self) -> bool {
        self.stopping.get()
    }
}

/// Marks one request in flight until dropped.
struct InFlight(Rc<ShardActivity>);

impl InFlight {
    fn new(activity: &Rc<ShardActivity>) -> Self {
        activity
            .in_flight_requests
            .set(activity.in_flight_requests.get() + 1);
        Self(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let count = self.0.in_flight_requests.get();
        assert!(count > 0, "in-flight request count underflow");
        self.0.in_flight_requests.set(count - 1);
    }
}

/// Why the reader stopped.
enum ReadEnd {
    /// The peer closed between requests.
    PeerClosed,
    /// The connection sat idle longer than the limit.
    Idle,
    /// The shard is stopping.
    Stopping,
    /// A bad frame or a read error; the reason is logged.
    Failed(String),
}

/// Serves one connection until either side closes it.
pub async fn serve<H: RequestHandler>(
    handler: Rc<H>,
    mut reader: StreamReader,
    mut writer: StreamWriter,
    limits: ConnectionLimits,
    activity: Rc<ShardActivity>,
) {
    let peer = reader.peer();
    let (replies, pending_replies) =
        bounded_queue::<(PendingReply, InFlight)>(limits.in_flight_requests_max);

    let writing = spawn(async move {
        while let Some((pending, in_flight)) = pending_replies.recv().await {
            let reply = pending.await;
            drop(in_flight);
            match reply {
                Reply::Frame(chunks) => {
                    if let Err(error) = writer.write_chunks(&chunks).await {
                        tracing::info!(%peer, %error, "closing connection: write failed");
                        break;
                    }
                }
                Reply::Nothing => {}
                Reply::Close { reason } => {
                    tracing::warn!(%peer, %reason, "closing connection");
                    break;
                }
            }
        }
        // Closing makes the reader's next read fail, so it stops too.
        writer.close().await;
    });

    let end = loop {
        if activity.stopping() {
            break ReadEnd::Stopping;
        }
        let frame = match read_frame(&mut reader, &limits).await {
            Ok(frame) => frame,
            Err(end) => break end,
        };
        if activity.stopping() {
            break ReadEnd::Stopping;
        }
        let in_flight = InFlight::new(&activity);
        let pending = handler.submit(frame, peer).await;
        if replies.send((pending, in_flight)).await.is_err() {
            // The writer stopped (it logged why).
            break ReadEnd::PeerClosed;
        }
    };
    match end {
        ReadEnd::PeerClosed | ReadEnd::Stopping => {}
        ReadEnd::Idle => tracing::info!(
            %peer,
            idle_timeout_ms = limits.idle_timeout.as_millis() as u64,
            "closing idle connection"
        ),
        ReadEnd::Failed(reason) => tracing::warn!(%peer, %reason, "closing connection"),
    }
    // The writer drains the replies already queued, then closes.
    drop(replies);
    writing.join().await;
}

async fn read_frame(
    reader: &mut StreamReader,
    limits: &ConnectionLimits,
) -> Result<Bytes, ReadEnd> {
    let mut prefix = [0u8; 4];
    match within(limits.idle_timeout, reader.read_exact(&mut prefix)).await {
        None => return Err(ReadEnd::Idle),
        Some(Err(error))
            if matches!(
                error.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
            ) =>
        {
            // Between requests, a reset is a client going away, not a fault.
            return Err(ReadEnd::PeerClosed);
        }
        Some(Err(error)) => return Err(ReadEnd::Failed(format!("read failed: {error}"))),
        Some(Ok(())) => {}
    }
    let size = frame::request_size(prefix, limits.request_bytes_max)
        .map_err(|error| ReadEnd::Failed(format!("invalid request frame: {error}")))?;
    let mut body = BytesMut::new();
    while body.len() < size {
        let chunk = (size - body.len()).min(BODY_READ_CHUNK_BYTES);
        let start = body.len();
        body.resize(start + chunk, 0);
        match within(limits.idle_timeout, reader.read_exact(&mut body[start..])).await {
            None => {
                return Err(ReadEnd::Failed(
                    "request body stalled past the idle timeout".into(),
                ))
            }
            Some(Err(error)) => {
                return Err(ReadEnd::Failed(format!(
                    "connection ended inside a {size}-byte request after {start} bytes: {error}"
                )))
            }
            Some(Ok(())) => {}
        }
    }
    Ok(body.freeze())
}
