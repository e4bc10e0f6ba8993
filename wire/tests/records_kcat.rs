//! Batches written by a real client: Debian's kcat (librdkafka 2.0.2) produces to a fake broker
//! with each compression codec, and `wire::records` must read back exactly what was sent.
//!
//! kcat needs a broker, so this file carries a minimal one ([`fake_broker`]): a std
//! `TcpListener` on 127.0.0.1 with a free port, a thread per connection, answering ApiVersions,
//! Metadata and Produce and capturing the produced record bytes. Every loop is bounded in count
//! and time and the broker is always shut down (on drop). The three responses are hand-encoded
//! in [`responses`], a test fixture the integrator can switch to the generated message codecs.
//!
//! kcat must be installed (`scripts/test` installs it); without it these tests fail.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use wire::records::compression::snappy::XERIAL_MAGIC;
use wire::records::{Batch, Compression};

/// Hand encoding of the three responses kcat needs, and of the request fields we read.
mod responses {
    /// Kafka API keys used here.
    pub const API_PRODUCE: i16 = 0;
    pub const API_FETCH: i16 = 1;
    pub const API_METADATA: i16 = 3;
    pub const API_FIND_COORDINATOR: i16 = 10;
    pub const API_VERSIONS: i16 = 18;
    /// UNSUPPORTED_VERSION.
    pub const ERROR_UNSUPPORTED_VERSION: i16 = 35;

    /// (api key, min version, max version) we advertise, chosen for librdkafka 2.0.2:
    /// - Produce from 0: librdkafka compresses with gzip, snappy or lz4 only if the broker's
    ///   Produce range includes v0 (it sends v7, the highest both sides know, and v3+ is all
    ///   this fixture parses). A broker advertising Produce 3+ only gets uncompressed batches.
    /// - Produce 7 and Fetch 10: librdkafka's condition for zstd; Fetch 4: for v2 batches.
    ///   Fetch is never called.
    /// - FindCoordinator 0: librdkafka's (historical) condition for lz4. Never called.
    /// - ApiVersions 0 only: kcat opens with v3 (flexible) and gets UNSUPPORTED_VERSION in the
    ///   v0 layout, then retries with v0. Nothing else here is flexible.
    pub const ADVERTISED: [(i16, i16, i16); 5] = [
        (API_PRODUCE, 0, 7),
        (API_FETCH, 4, 10),
        (API_METADATA, 0, 4),
        (API_FIND_COORDINATOR, 0, 0),
        (API_VERSIONS, 0, 0),
    ];

    pub fn version_range(api_key: i16) -> Option<(i16, i16)> {
        ADVERTISED
            .iter()
            .find(|(key, _, _)| *key == api_key)
            .map(|(_, min, max)| (*min, *max))
    }

    fn put_string(out: &mut Vec<u8>, text: &str) {
        out.extend((text.len() as i16).to_be_bytes());
        out.extend(text.as_bytes());
    }

    /// ApiVersions response in the v0 layout (also what an unsupported version gets).
    pub fn api_versions_v0(error_code: i16) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(error_code.to_be_bytes());
        out.extend((ADVERTISED.len() as i32).to_be_bytes());
        for (key, min, max) in ADVERTISED {
            out.extend(key.to_be_bytes());
            out.extend(min.to_be_bytes());
            out.extend(max.to_be_bytes());
        }
        out
    }

    /// Metadata response v0-v4: one broker (ourselves, node 0), one topic, one partition led
    /// by node 0.
    pub fn metadata(version: i16, port: u16, topic: &str) -> Vec<u8> {
        let mut out = Vec::new();
        if version >= 3 {
            out.extend(0i32.to_be_bytes()); // throttle time
        }
        out.extend(1i32.to_be_bytes()); // brokers
        out.extend(0i32.to_be_bytes()); // node id
        put_string(&mut out, "127.0.0.1");
        out.extend(i32::from(port).to_be_bytes());
        if version >= 1 {
            out.extend((-1i16).to_be_bytes()); // rack: null
        }
        if version >= 2 {
            put_string(&mut out, "fake-cluster");
        }
        if version >= 1 {
            out.extend(0i32.to_be_bytes()); // controller id
        }
        out.extend(1i32.to_be_bytes()); // topics
        out.extend(0i16.to_be_bytes()); // error code
        put_string(&mut out, topic);
        if version >= 1 {
            out.push(0); // is internal: false
        }
        out.extend(1i32.to_be_bytes()); // partitions
        out.extend(0i16.to_be_bytes()); // error code
        out.extend(0i32.to_be_bytes()); // partition index
        out.extend(0i32.to_be_bytes()); // leader id
        for _ in 0..2 {
            // replica nodes, then isr nodes: [0]
            out.extend(1i32.to_be_bytes());
            out.extend(0i32.to_be_bytes());
        }
        out
    }

    /// Produce response v3-v7: success for every (topic, partition) of the request.
    pub fn produce(version: i16, partitions: &[(String, i32)], base_offset: i64) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend((partitions.len() as i32).to_be_bytes());
        for (topic, partition) in partitions {
            put_string(&mut out, topic);
            out.extend(1i32.to_be_bytes());
            out.extend(partition.to_be_bytes());
            out.extend(0i16.to_be_bytes()); // error code
            out.extend(base_offset.to_be_bytes());
            out.extend((-1i64).to_be_bytes()); // log append time
            if version >= 5 {
                out.extend(0i64.to_be_bytes()); // log start offset
            }
        }
        out.extend(0i32.to_be_bytes()); // throttle time
        out
    }

    /// A bounds-checked reader over a request body.
    pub struct Reader<'a> {
        pub bytes: &'a [u8],
    }

    impl Reader<'_> {
        pub fn take(&mut self, len: usize) -> Option<&[u8]> {
            if self.bytes.len() < len {
                return None;
            }
            let (head, rest) = self.bytes.split_at(len);
            self.bytes = rest;
            Some(head)
        }

        pub fn i16(&mut self) -> Option<i16> {
            self.take(2).map(|b| i16::from_be_bytes([b[0], b[1]]))
        }

        pub fn i32(&mut self) -> Option<i32> {
            self.take(4)
                .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        }

        /// A nullable string; `None` on truncation, `Some(None)` for null.
        pub fn string(&mut self) -> Option<Option<String>> {
            let len = self.i16()?;
            if len < 0 {
                return Some(None);
            }
            let bytes = self.take(len as usize)?;
            Some(Some(String::from_utf8_lossy(bytes).into_owned()))
        }
    }

    /// The produce request v3-v7 body: acks, and (topic, partition, records) triples.
    pub struct ProduceRequest {
        pub acks: i16,
        pub partitions: Vec<(String, i32, Option<Vec<u8>>)>,
    }

    /// Parses a produce body; counts are bounded by the bytes (each entry takes some).
    pub fn parse_produce(body: &[u8]) -> Option<ProduceRequest> {
        let mut reader = Reader { bytes: body };
        let _transactional_id = reader.string()?;
        let acks = reader.i16()?;
        let _timeout_ms = reader.i32()?;
        let topic_count = reader.i32()?;
        let mut partitions = Vec::new();
        for _ in 0..topic_count.clamp(0, 64) {
            let topic = reader.string()??;
            let partition_count = reader.i32()?;
            for _ in 0..partition_count.clamp(0, 64) {
                let index = reader.i32()?;
                let len = reader.i32()?;
                let records = if len < 0 {
                    None
                } else {
                    Some(reader.take(len as usize)?.to_vec())
                };
                partitions.push((topic.clone(), index, records));
            }
        }
        Some(ProduceRequest { acks, partitions })
    }
}

/// A broker that answers just enough of the protocol for a producer.
mod fake_broker {
    use std::io::{ErrorKind, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    use super::responses;

    /// Limits: the fake serves one short test.
    const CONNECTIONS_MAX: usize = 16;
    const REQUESTS_PER_CONNECTION_MAX: usize = 10_000;
    const FRAME_BYTES_MAX: usize = 16 << 20;
    const LIFETIME_MAX: Duration = Duration::from_secs(60);
    const POLL_INTERVAL: Duration = Duration::from_millis(10);

    pub struct FakeBroker {
        pub port: u16,
        stop: Arc<AtomicBool>,
        accept_thread: Option<JoinHandle<()>>,
        captured: Arc<Mutex<Vec<Vec<u8>>>>,
        log: Arc<Mutex<Vec<String>>>,
    }

    struct Shared {
        port: u16,
        topic: String,
        stop: Arc<AtomicBool>,
        deadline: Instant,
        captured: Arc<Mutex<Vec<Vec<u8>>>>,
        log: Arc<Mutex<Vec<String>>>,
    }

    impl FakeBroker {
        pub fn start(topic: &str) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
            listener
                .set_nonblocking(true)
                .expect("nonblocking listener");
            let port = listener.local_addr().expect("local addr").port();
            let stop = Arc::new(AtomicBool::new(false));
            let captured = Arc::new(Mutex::new(Vec::new()));
            let log = Arc::new(Mutex::new(Vec::new()));
            let shared = Arc::new(Shared {
                port,
                topic: topic.to_owned(),
                stop: Arc::clone(&stop),
                deadline: Instant::now() + LIFETIME_MAX,
                captured: Arc::clone(&captured),
                log: Arc::clone(&log),
            });
            let accept_thread = std::thread::spawn(move || accept_loop(listener, shared));
            Self {
                port,
                stop,
                accept_thread: Some(accept_thread),
                captured,
                log,
            }
        }

        /// The `records` fields of every produce request so far, in arrival order.
        pub fn captured(&self) -> Vec<Vec<u8>> {
            self.captured.lock().unwrap().clone()
        }

        /// What the fake saw: one line per request, for failure messages.
        pub fn log(&self) -> String {
            self.log.lock().unwrap().join("\n")
        }
    }

    impl Drop for FakeBroker {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            if let Some(thread) = self.accept_thread.take() {
                let _ = thread.join();
            }
        }
    }

    fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
        let mut connections = Vec::new();
        while !shared.stop.load(Ordering::SeqCst) && Instant::now() < shared.deadline {
            match listener.accept() {
                Ok((stream, _)) if connections.len() < CONNECTIONS_MAX => {
                    let shared = Arc::clone(&shared);
                    connections.push(std::thread::spawn(move || serve(stream, &shared)));
                }
                Ok((stream, _)) => drop(stream),
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(POLL_INTERVAL)
                }
                Err(_) => break,
            }
        }
        shared.stop.store(true, Ordering::SeqCst);
        for connection in connections {
            let _ = connection.join();
        }
    }

    /// Fills `buffer`, waiting out read timeouts until stopped. `false` on EOF, error or stop.
    fn read_full(stream: &mut TcpStream, buffer: &mut [u8], shared: &Shared) -> bool {
        let mut filled = 0;
        while filled < buffer.len() {
            if shared.stop.load(Ordering::SeqCst) || Instant::now() >= shared.deadline {
                return false;
            }
            match stream.read(&mut buffer[filled..]) {
                Ok(0) => return false,
                Ok(read) => filled += read,
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }

    fn serve(mut stream: TcpStream, shared: &Shared) {
        if stream.set_read_timeout(Some(POLL_INTERVAL * 5)).is_err() {
            return;
        }
        let _ = stream.set_nodelay(true);
        let mut next_base_offset = 0i64;
        for _ in 0..REQUESTS_PER_CONNECTION_MAX {
            let mut size = [0u8; 4];
            if !read_full(&mut stream, &mut size, shared) {
                return;
            }
            let size = i32::from_be_bytes(size);
            if size < 8 || size as usize > FRAME_BYTES_MAX {
                return;
            }
            let mut frame = vec![0u8; size as usize];
            if !read_full(&mut stream, &mut frame, shared) {
                return;
            }
            let Some(response) = respond(&frame, shared, &mut next_base_offset) else {
                continue;
            };
            if stream.write_all(&response).is_err() {
                return;
            }
        }
    }

    /// The framed response to one request frame, or `None` when none is due (acks=0).
    fn respond(frame: &[u8], shared: &Shared, next_base_offset: &mut i64) -> Option<Vec<u8>> {
        let mut reader = responses::Reader { bytes: frame };
        let api_key = reader.i16()?;
        let api_version = reader.i16()?;
        let correlation_id = reader.i32()?;
        let _client_id = reader.string()?;
        shared
            .log
            .lock()
            .unwrap()
            .push(format!("api {api_key} v{api_version}"));
        let supported = responses::version_range(api_key)
            .is_some_and(|(min, max)| (min..=max).contains(&api_version));
        let body = match api_key {
            responses::API_VERSIONS if !supported => {
                responses::api_versions_v0(responses::ERROR_UNSUPPORTED_VERSION)
            }
            responses::API_VERSIONS => responses::api_versions_v0(0),
            responses::API_METADATA if supported => {
                responses::metadata(api_version, shared.port, &shared.topic)
            }
            responses::API_PRODUCE if supported && api_version >= 3 => {
                // Non-flexible request header v1: the body follows the client id.
                let request = responses::parse_produce(reader.bytes)?;
                let mut partitions = Vec::new();
                for (topic, index, records) in request.partitions {
                    if let Some(records) = records {
                        shared.captured.lock().unwrap().push(records);
                    }
                    partitions.push((topic, index));
                }
                let base_offset = *next_base_offset;
                *next_base_offset += 1000;
                if request.acks == 0 {
                    return None;
                }
                responses::produce(api_version, &partitions, base_offset)
            }
            _ => {
                shared
                    .log
                    .lock()
                    .unwrap()
                    .push(format!("unexpected api {api_key} v{api_version}"));
                return None;
            }
        };
        let mut response = Vec::with_capacity(8 + body.len());
        response.extend(((body.len() + 4) as i32).to_be_bytes());
        response.extend(correlation_id.to_be_bytes());
        response.extend(body);
        Some(response)
    }
}

const TOPIC: &str = "records-test";
const RECORD_COUNT: usize = 24;
const KCAT_TIMEOUT: Duration = Duration::from_secs(30);
const BATCH_BYTES_MAX: usize = 16 << 20;
const DECOMPRESSED_BYTES_MAX: usize = 16 << 20;

fn key(index: usize) -> String {
    format!("key-{index}")
}

/// Values are long and repetitive so that every codec shrinks them (librdkafka sends a batch
/// uncompressed when compression does not pay off). The last one is empty, sent as null (-Z).
fn value(index: usize) -> Option<String> {
    if index == RECORD_COUNT - 1 {
        return None;
    }
    Some(format!("value-{index}:{}", "abcdefgh".repeat(40 + index)))
}

const HEADERS: [(&str, &str); 2] = [("trace", "abc123"), ("origin", "kcat")];

fn kcat_installed() -> bool {
    Command::new("kcat")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Runs kcat as a producer against `port` with `codec`; returns its stderr on success.
fn run_kcat(port: u16, codec: &str) -> Result<String, String> {
    assert!(
        kcat_installed(),
        "kcat is not installed: run scripts/test, which installs it (Debian package `kcat`)"
    );
    let mut command = Command::new("kcat");
    command
        .args(["-P", "-b", &format!("127.0.0.1:{port}"), "-t", TOPIC])
        .args(["-p", "0", "-K", ":", "-Z"])
        // librdkafka's feature negotiation and its "not compressing batch" notices go to
        // stderr, which the test prints (libtest shows it only when the test fails).
        .args(["-d", "feature,msg"])
        .args(["-X", &format!("compression.codec={codec}")]);
    for (name, value) in HEADERS {
        command.args(["-H", &format!("{name}={value}")]);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("spawning kcat: {error}"))?;
    let mut input = String::new();
    for index in 0..RECORD_COUNT {
        input.push_str(&format!(
            "{}:{}\n",
            key(index),
            value(index).unwrap_or_default()
        ));
    }
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(input.as_bytes())
        .map_err(|error| format!("writing to kcat: {error}"))?;
    drop(stdin);
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < KCAT_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Ok(None) => {
                let _ = child.kill();
                let output = child.wait_with_output().expect("kcat output after kill");
                return Err(format!(
                    "kcat did not finish within {KCAT_TIMEOUT:?}; stderr:\n{}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            Err(error) => return Err(format!("waiting for kcat: {error}")),
        }
    }
    let output = child
        .wait_with_output()
        .map_err(|error| format!("collecting kcat output: {error}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        return Err(format!(
            "kcat exited with {}; stderr:\n{stderr}",
            output.status
        ));
    }
    eprintln!("kcat stderr:\n{stderr}");
    Ok(stderr)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// Produces with kcat and checks every record of every captured batch.
fn check_codec(codec: &str, compression: Compression) {
    let started_ms = now_ms();
    let broker = fake_broker::FakeBroker::start(TOPIC);
    let result = run_kcat(broker.port, codec);
    let captured = broker.captured();
    let log = broker.log();
    drop(broker);
    eprintln!("fake broker saw:\n{log}");
    if let Err(error) = result {
        panic!("{error}\nfake broker saw:\n{log}");
    }
    assert!(
        !captured.is_empty(),
        "no produce request; broker saw:\n{log}"
    );

    let mut records = Vec::new();
    let mut snappy_framings = Vec::new();
    for request_records in captured {
        for batch in Batch::split(Bytes::from(request_records), BATCH_BYTES_MAX) {
            let batch = batch.expect("kcat batch validates (magic, length, CRC32C)");
            let header = batch.header();
            eprintln!(
                "batch codec {:?} count {} len {}",
                batch.compression(),
                header.record_count,
                batch.as_bytes().len()
            );
            assert_eq!(batch.compression(), compression, "codec of a kcat batch");
            assert!(!header.attributes.is_control());
            assert!(!header.attributes.is_transactional());
            assert_eq!(header.producer_id, -1, "kcat is not idempotent by default");
            if compression == Compression::Snappy {
                let xerial = batch.records_section().starts_with(&XERIAL_MAGIC);
                snappy_framings.push(if xerial { "xerial" } else { "raw" });
            }
            let mut count = 0;
            for record in batch
                .records(DECOMPRESSED_BYTES_MAX)
                .expect("records section")
            {
                let record = record.expect("kcat record decodes");
                assert_eq!(record.offset(), header.base_offset + count);
                count += 1;
                records.push(record);
            }
            assert_eq!(count, i64::from(header.record_count));
        }
    }
    if !snappy_framings.is_empty() {
        eprintln!("librdkafka snappy framing: {snappy_framings:?}");
    }

    assert_eq!(records.len(), RECORD_COUNT, "records across all batches");
    let finished_ms = now_ms();
    for (index, record) in records.iter().enumerate() {
        assert_eq!(
            record.key().map(|key| &key[..]),
            Some(key(index).as_bytes()),
            "key of record {index}"
        );
        assert_eq!(
            record.value().map(|value| &value[..]),
            value(index).as_ref().map(|value| value.as_bytes()),
            "value of record {index}"
        );
        let headers: Vec<(String, Option<Vec<u8>>)> = record
            .headers()
            .iter()
            .map(|header| {
                (
                    header.key_str().expect("UTF-8 header key").to_owned(),
                    header.value.map(|value| value.to_vec()),
                )
            })
            .collect();
        let expected: Vec<(String, Option<Vec<u8>>)> = HEADERS
            .iter()
            .map(|(name, value)| (name.to_string(), Some(value.as_bytes().to_vec())))
            .collect();
        assert_eq!(headers, expected, "headers of record {index}");
        // librdkafka stamps records with its wall clock while the test runs.
        assert!(
            (started_ms - 1_000..=finished_ms + 1_000).contains(&record.timestamp()),
            "timestamp {} of record {index} outside the test's run [{started_ms}, {finished_ms}]",
            record.timestamp()
        );
    }
}

#[test]
fn kcat_uncompressed_batches_are_read() {
    check_codec("none", Compression::None);
}

#[test]
fn kcat_gzip_batches_are_read() {
    check_codec("gzip", Compression::Gzip);
}

#[test]
fn kcat_snappy_batches_are_read() {
    check_codec("snappy", Compression::Snappy);
}

#[test]
fn kcat_lz4_batches_are_read() {
    check_codec("lz4", Compression::Lz4);
}

#[test]
fn kcat_zstd_batches_are_read() {
    check_codec("zstd", Compression::Zstd);
}
