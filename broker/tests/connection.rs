//! The connection loop on a real executor and real sockets: ordering, limits, bad frames,
//! idle timeout and stopping.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use broker::connection::{
    serve, ConnectionLimits, PendingReply, Reply, RequestHandler, ShardActivity,
};
use broker::runtime::executors::{start_shards, ExecutorSettings, RunningShards};
use broker::runtime::listener::SharedListener;
use broker::runtime::tasks::spawn_detached;
use broker::runtime::time::sleep;
use bytes::Bytes;

/// Echoes each frame back. A frame whose body starts with a delay in milliseconds (bytes 8..10)
/// is answered only after that delay, so later requests can finish first.
struct DelayedEcho;

impl RequestHandler for DelayedEcho {
    async fn submit(&self, frame: Bytes, _peer: SocketAddr) -> PendingReply {
        let delay_ms = u16::from_be_bytes([frame[8], frame[9]]);
        Box::pin(async move {
            sleep(Duration::from_millis(u64::from(delay_ms))).await;
            let prefix = Bytes::copy_from_slice(&(frame.len() as i32).to_be_bytes());
            Reply::Frame(vec![prefix, frame])
        })
    }
}

const LIMITS: ConnectionLimits = ConnectionLimits {
    request_bytes_max: 1024,
    in_flight_requests_max: 4,
    idle_timeout: Duration::from_millis(700),
};

struct Server {
    listener: SharedListener,
    shards: Option<RunningShards<()>>,
}

impl Server {
    fn start() -> Self {
        let listener = SharedListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let handle = std::sync::Mutex::new(Some(listener.handle().unwrap()));
        let handle = std::sync::Arc::new(handle);
        let settings = ExecutorSettings {
            cores: vec![broker::config::available_cores()[0]],
            io_memory_bytes: 64 * 1024,
        };
        let shards = start_shards(&settings, move |_shard| {
            let handle = handle.lock().unwrap().take().expect("one shard");
            async move {
                let handler = Rc::new(DelayedEcho);
                let activity = Rc::new(ShardActivity::default());
                handle
                    .accept_until_stopped(|reader, writer| {
                        spawn_detached(serve(
                            handler.clone(),
                            reader,
                            writer,
                            LIMITS,
                            activity.clone(),
                        ))
                    })
                    .await;
            }
        })
        .unwrap();
        Self {
            listener,
            shards: Some(shards),
        }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.listener.local_addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.listener.stop_accepting();
        if let Some(shards) = self.shards.take() {
            shards.join().unwrap();
        }
    }
}

fn frame(sequence: u32, delay_ms: u16) -> Vec<u8> {
    let mut body = vec![0u8; 12];
    body[4..8].copy_from_slice(&sequence.to_be_bytes());
    body[8..10].copy_from_slice(&delay_ms.to_be_bytes());
    let mut framed = (body.len() as i32).to_be_bytes().to_vec();
    framed.extend(body);
    framed
}

fn read_reply(stream: &mut TcpStream) -> Vec<u8> {
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix).unwrap();
    let mut body = vec![0u8; i32::from_be_bytes(prefix) as usize];
    stream.read_exact(&mut body).unwrap();
    body
}

fn assert_closed(stream: &mut TcpStream) {
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => {}
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("expected the broker to close the connection, got {other:?}"),
    }
}

#[test]
fn pipelined_replies_come_back_in_request_order() {
    let server = Server::start();
    let mut stream = server.connect();
    let count = 20u32;
    for sequence in 0..count {
        // Earlier requests wait longer, so they finish last.
        stream
            .write_all(&frame(sequence, ((count - sequence) * 5) as u16))
            .unwrap();
    }
    for sequence in 0..count {
        let reply = read_reply(&mut stream);
        assert_eq!(
            u32::from_be_bytes(reply[4..8].try_into().unwrap()),
            sequence
        );
    }
}

#[test]
fn bad_frames_close_only_their_connection() {
    let server = Server::start();
    let mut healthy = server.connect();
    let bad_prefixes: [&[u8]; 3] = [
        &(-1i32).to_be_bytes(),
        &2i32.to_be_bytes(),
        &(1025i32).to_be_bytes(),
    ];
    for prefix in bad_prefixes {
        let mut bad = server.connect();
        bad.write_all(prefix).unwrap();
        assert_closed(&mut bad);
    }
    // A frame cut short by the peer closing mid-body.
    let mut truncated = server.connect();
    truncated.write_all(&100i32.to_be_bytes()).unwrap();
    truncated.write_all(&[0u8; 10]).unwrap();
    truncated.shutdown(std::net::Shutdown::Write).unwrap();
    assert_closed(&mut truncated);

    healthy.write_all(&frame(7, 0)).unwrap();
    let reply = read_reply(&mut healthy);
    assert_eq!(u32::from_be_bytes(reply[4..8].try_into().unwrap()), 7);
}

#[test]
fn idle_connections_are_closed_after_the_timeout() {
    let server = Server::start();
    let mut stream = server.connect();
    let started = Instant::now();
    assert_closed(&mut stream);
    let waited = started.elapsed();
    assert!(waited >= LIMITS.idle_timeout, "closed after {waited:?}");
    assert!(
        waited < Duration::from_secs(4),
        "closed only after {waited:?}"
    );
}

#[test]
fn stopping_ends_accepting_and_frees_the_port() {
    let server = Server::start();
    let address = server.listener.local_addr();
    drop(server);
    // The port is free again at once: a new broker can bind it.
    let again = SharedListener::bind(address).unwrap();
    assert_eq!(again.local_addr(), address);
}
