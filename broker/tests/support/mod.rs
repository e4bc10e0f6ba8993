//! Test support for the tests that run the real `ferrite` binary and real Kafka clients.
//!
//! [`FerriteProcess`] starts the binary on a free port and a temporary data directory, waits
//! for its `ferrite listening on ADDR` line, and can stop it with SIGTERM or SIGKILL and start
//! it again on the same directory and port. It kills the process when dropped.
//! [`run_with_timeout`] runs a client program (kcat, a Python script) with a deadline.
//! [`venv_python`] finds the compatibility suite's Python, installed by `scripts/test`.

#![allow(dead_code)] // Each test file uses a different part.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the broker may take to say it listens.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A `ferrite` process.
pub struct FerriteProcess {
    child: Option<Child>,
    data_dir: tempfile::TempDir,
    addr: Option<SocketAddr>,
    extra_arguments: Vec<String>,
    stderr_log: PathBuf,
}

impl FerriteProcess {
    /// Starts `ferrite` on 127.0.0.1 with a free port and small memory, with one shard per
    /// available core as the README's command runs it (so cross-core paths are exercised).
    pub fn start(extra_arguments: &[&str]) -> FerriteProcess {
        let data_dir = tempfile::tempdir().expect("a temporary directory");
        let stderr_log = data_dir.path().with_extension("stderr.log");
        let mut process = FerriteProcess {
            child: None,
            data_dir,
            addr: None,
            extra_arguments: extra_arguments.iter().map(|s| s.to_string()).collect(),
            stderr_log,
        };
        if let Err(error) = process.launch() {
            panic!("{error}");
        }
        process
    }

    fn launch(&mut self) -> Result<(), String> {
        let listen = self
            .addr
            .map_or("127.0.0.1:0".to_owned(), |addr| addr.to_string());
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr_log)
            .expect("the stderr log opens");
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferrite"))
            .arg("--listen")
            .arg(&listen)
            .arg("--data-dir")
            .arg(self.data_dir.path().join("data"))
            .arg("--io-memory-bytes")
            .arg("524288")
            .args(&self.extra_arguments)
            .env("FERRITE_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("the ferrite binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = sender.send(line);
            }
            // Keep draining so the broker never blocks on a full pipe.
            for _ in lines {}
        });
        let line = match receiver.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "ferrite did not start within {START_TIMEOUT:?}; stderr:\n{}",
                    self.stderr()
                ));
            }
        };
        let Some(addr) = line
            .strip_prefix("ferrite listening on ")
            .and_then(|addr| addr.trim().parse().ok())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("unexpected first line from ferrite: {line:?}"));
        };
        self.addr = Some(addr);
        self.child = Some(child);
        Ok(())
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("started once")
    }

    pub fn bootstrap(&self) -> String {
        self.addr().to_string()
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Everything the broker logged so far (all runs).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// SIGKILL: the process dies at once, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the process to exit (killing it after 30 s).
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        child.wait().ok()
    }

    /// Starts the broker again on the same directory and port (after `kill` or `terminate`),
    /// retrying while the port is still being released.
    pub fn restart(&mut self) {
        self.kill();
        let mut last_error = String::new();
        for _ in 0..50 {
            match self.launch() {
                Ok(()) => return,
                Err(error) => last_error = error,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("ferrite did not restart: {last_error}");
    }
}

impl Drop for FerriteProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.stderr_log);
    }
}

/// What a finished program printed.
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` with `stdin` as its input, killing it after `timeout`.
pub fn run_with_timeout(mut command: Command, stdin: &[u8], timeout: Duration) -> Output {
    let description = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {description}: {error}"));
    let mut input = child.stdin.take().expect("piped");
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = writer.join();
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    assert!(
        status.is_some(),
        "{description} did not finish within {timeout:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    Output {
        success: status.is_some_and(|status| status.success()),
        stdout,
        stderr,
    }
}

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("broker sits in the workspace")
        .to_path_buf()
}

/// The compatibility suite's Python (`.venv`, installed by `scripts/test`).
pub fn venv_python() -> PathBuf {
    let python = repo_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/test once, which installs the compatibility suite's clients",
        python.display()
    );
    python
}

/// Runs `compat/<script>` with the suite's Python against `bootstrap` and asserts it passed.
pub fn run_python_script(script: &str, bootstrap: &str, broker: &FerriteProcess) -> String {
    run_python_script_with(script, &[bootstrap], broker)
}

/// Runs `compat/<script> <arguments>` with the suite's Python and asserts it passed.
pub fn run_python_script_with(script: &str, arguments: &[&str], broker: &FerriteProcess) -> String {
    let mut command = Command::new(venv_python());
    command
        .arg(repo_root().join("compat").join(script))
        .args(arguments);
    let output = run_with_timeout(command, b"", Duration::from_secs(120));
    assert!(
        output.success,
        "compat/{script} {arguments:?} failed\nstdout:\n{}\nstderr:\n{}\nbroker log:\n{}",
        output.stdout,
        output.stderr,
        broker.stderr()
    );
    output.stdout
}

/// Flags for brokers that real group consumers use in tests: groups form at once and
/// sessions may be short, so that a dead member is noticed within seconds.
pub const GROUP_TEST_FLAGS: &[&str] = &[
    "--group-initial-rebalance-delay-ms",
    "0",
    "--group-min-session-timeout-ms",
    "1000",
];

/// Creates `topic` the way producers do: a Metadata request that allows auto-creation.
/// Returns its topic id.
pub fn create_topic(connection: &mut client::Connection, topic: &str) -> wire::codec::Uuid {
    use wire::codec::KStr;
    use wire::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
    let metadata = connection
        .send(MetadataRequest {
            topics: Some(vec![MetadataRequestTopic {
                name: Some(KStr::from(topic.to_owned())),
                ..Default::default()
            }]),
            allow_auto_topic_creation: true,
            ..Default::default()
        })
        .expect("metadata answers");
    assert_eq!(metadata.topics[0].error_code, 0, "topic {topic} is created");
    metadata.topics[0].topic_id
}

/// One uncompressed batch holding `values`, with timestamps from `first_timestamp_ms` up.
pub fn batch_of(values: &[&str], first_timestamp_ms: i64) -> bytes::Bytes {
    use wire::records::{BatchBuilder, BatchOptions, NewRecord};
    let mut builder = BatchBuilder::new(BatchOptions::default());
    for (index, value) in values.iter().enumerate() {
        builder
            .append(&NewRecord {
                timestamp_ms: first_timestamp_ms + index as i64,
                key: None,
                value: Some(value.as_bytes()),
                headers: &[],
            })
            .expect("the record fits");
    }
    builder.finish().expect("the batch builds").freeze()
}

/// Produces `records` to partition 0 of `topic` with acks=all; returns (error code, base
/// offset), or the client error if the request failed (the broker went away).
pub fn produce_to(
    connection: &mut client::Connection,
    topic: &str,
    records: bytes::Bytes,
) -> Result<(i16, i64), client::ClientError> {
    use wire::codec::KStr;
    use wire::messages::produce_request::{PartitionProduceData, ProduceRequest, TopicProduceData};
    let response = connection.send(ProduceRequest {
        acks: -1,
        timeout_ms: 10_000,
        topic_data: vec![TopicProduceData {
            name: KStr::from(topic.to_owned()),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(records),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    })?;
    let partition = &response.responses[0].partition_responses[0];
    Ok((partition.error_code, partition.base_offset))
}

/// What one fetch of partition 0 returned.
pub struct Fetched {
    pub error_code: i16,
    pub high_watermark: i64,
    pub records: bytes::Bytes,
}

/// Fetches partition 0 of `topic` from `offset` without waiting (v12, the newest version
/// that names topics).
pub fn fetch_from(connection: &mut client::Connection, topic: &str, offset: i64) -> Fetched {
    use wire::codec::KStr;
    use wire::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
    let response = connection
        .send_at(
            12,
            FetchRequest {
                replica_id: -1,
                max_wait_ms: 0,
                min_bytes: 0,
                max_bytes: 4 << 20,
                session_epoch: -1,
                topics: vec![FetchTopic {
                    topic: KStr::from(topic.to_owned()),
                    partitions: vec![FetchPartition {
                        partition: 0,
                        fetch_offset: offset,
                        partition_max_bytes: 4 << 20,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .expect("fetch answers");
    let partition = &response.responses[0].partitions[0];
    Fetched {
        error_code: partition.error_code,
        high_watermark: partition.high_watermark,
        records: partition.records.clone().unwrap_or_default(),
    }
}
