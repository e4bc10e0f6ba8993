//! Bad input and limits against a whole broker: each hostile connection gets the right error
//! code or is closed, and the broker keeps serving everyone else with its data intact.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use broker::testing::TestBroker;
use bytes::Bytes;
use client::Connection;
use wire::error_code::ErrorCode;
use wire::messages::api_versions_response::ApiVersionsResponse;

const TOPIC: &str = "survivor";

fn batch(value: &str) -> Bytes {
    support::batch_of(&[value], 1_700_000_000_000)
}

fn produce(connection: &mut Connection, records: Bytes) -> i16 {
    support::produce_to(connection, TOPIC, records).unwrap().0
}

/// A fresh client produces one record and reads back the high watermark: the broker serves.
fn check_still_serving(addr: SocketAddr, expected_records: i64) {
    let mut connection = Connection::connect(addr).expect("the broker accepts a new client");
    let fetched = support::fetch_from(&mut connection, TOPIC, 0);
    assert_eq!(fetched.error_code, 0);
    assert_eq!(
        fetched.high_watermark, expected_records,
        "stored data intact"
    );
}

/// True once the broker has closed `stream` (reads end), within a few seconds.
fn closed_by_broker(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buffer = [0u8; 1024];
    while Instant::now() < deadline {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(error) if error.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
    false
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    frame
}

fn start() -> (TestBroker, i64) {
    let broker = TestBroker::start_with(|config| {
        config.request_bytes_max = 64 * 1024;
        config.connections_max = 8;
    });
    let mut connection = Connection::connect(broker.addr()).unwrap();
    support::create_topic(&mut connection, TOPIC);
    assert_eq!(produce(&mut connection, batch("before")), 0);
    (broker, 1)
}

#[test]
fn hostile_frames_close_only_their_own_connection() {
    let (broker, records) = start();
    let hostile: [(&str, Vec<u8>); 6] = [
        (
            "garbage",
            frame(&[0x13, 0x37, 0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5]),
        ),
        (
            "unknown api key",
            frame(&[0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0, 0]),
        ),
        // Metadata v1 with a topic array claiming two billion entries.
        (
            "huge array length",
            frame(&[0, 3, 0, 1, 0, 0, 0, 7, 0, 0, 0x7f, 0xff, 0xff, 0xff]),
        ),
        (
            "huge length prefix",
            vec![0x7f, 0xff, 0xff, 0xff, 0, 18, 0, 0],
        ),
        (
            "negative length prefix",
            vec![0xff, 0xff, 0xff, 0xf0, 0, 18, 0, 0],
        ),
        ("frame over request_bytes_max", frame(&vec![0u8; 65 * 1024])),
    ];
    for (what, bytes) in hostile {
        let mut stream = TcpStream::connect(broker.addr()).unwrap();
        let _ = stream.write_all(&bytes);
        assert!(closed_by_broker(&mut stream), "{what}: connection closed");
        check_still_serving(broker.addr(), records);
    }

    // A truncated frame followed by the client going away.
    let mut stream = TcpStream::connect(broker.addr()).unwrap();
    stream.write_all(&[0, 0, 1, 0, 0, 18, 0]).unwrap();
    drop(stream);
    check_still_serving(broker.addr(), records);
}

#[test]
fn bad_requests_get_error_codes_and_keep_the_connection() {
    let (broker, records) = start();
    let mut connection = Connection::connect(broker.addr()).unwrap();

    // A batch whose CRC does not match: CORRUPT_MESSAGE, nothing stored.
    let mut corrupt = batch("corrupt").to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    assert_eq!(
        produce(&mut connection, Bytes::from(corrupt)),
        ErrorCode::CorruptMessage.code()
    );
    // Bytes that are no batch at all.
    assert_ne!(
        produce(&mut connection, Bytes::from_static(b"not a batch")),
        0
    );
    check_still_serving(broker.addr(), records);

    // ApiVersions at a version nobody knows: UNSUPPORTED_VERSION in the v0 layout.
    let mut stream = TcpStream::connect(broker.addr()).unwrap();
    stream
        .write_all(&frame(&[0, 18, 0, 99, 0, 0, 0, 42, 0, 0]))
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).unwrap();
    let mut reply = vec![0u8; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut reply).unwrap();
    assert_eq!(&reply[..4], &42i32.to_be_bytes(), "correlation id echoed");
    let mut body = Bytes::from(reply).slice(4..);
    let response = <ApiVersionsResponse as wire::codec::Message>::decode(&mut body, 0).unwrap();
    assert_eq!(response.error_code, ErrorCode::UnsupportedVersion.code());
    assert!(
        !response.api_keys.is_empty(),
        "the supported versions are listed"
    );

    // The first connection is still usable.
    assert_eq!(produce(&mut connection, batch("after")), 0);
    check_still_serving(broker.addr(), records + 1);
}

#[test]
fn connections_beyond_the_limit_are_refused_and_the_rest_served() {
    let (broker, records) = start();
    // connections_max is 8 on one core: hold 8, the next is closed.
    let held: Vec<Connection> = (0..8)
        .map(|_| Connection::connect(broker.addr()).unwrap())
        .collect();
    let mut extra = TcpStream::connect(broker.addr()).unwrap();
    let _ = extra.write_all(&frame(&[0, 18, 0, 0, 0, 0, 0, 1, 0, 0]));
    assert!(
        closed_by_broker(&mut extra),
        "the connection over the limit is closed"
    );
    drop(held);
    // Room again once the held connections are gone.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Connection::connect(broker.addr()).is_err() {
        assert!(Instant::now() < deadline, "connections are accepted again");
        std::thread::sleep(Duration::from_millis(50));
    }
    check_still_serving(broker.addr(), records);
}
