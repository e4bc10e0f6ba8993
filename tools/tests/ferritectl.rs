//! `ferritectl` against a real in-process broker, and its log tools on the files that broker
//! wrote (intact and corrupted).

use std::io::Write;
use std::process::{Command, Output, Stdio};

use broker::testing::TestBroker;

fn ferritectl(broker: &TestBroker, arguments: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferritectl"))
        .env("FERRITE_BROKERS", broker.bootstrap())
        .args(arguments)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferritectl runs");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin.as_bytes())
        .expect("stdin is written");
    child.wait_with_output().expect("ferritectl finishes")
}

fn succeed(broker: &TestBroker, arguments: &[&str], stdin: &str) -> String {
    let output = ferritectl(broker, arguments, stdin);
    assert!(
        output.status.success(),
        "ferritectl {arguments:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn fail(broker: &TestBroker, arguments: &[&str]) -> String {
    let output = ferritectl(broker, arguments, "");
    assert!(
        !output.status.success(),
        "ferritectl {arguments:?} should fail"
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

#[test]
fn produce_consume_and_describe_round_trip() {
    let broker = TestBroker::start();
    let produced = succeed(
        &broker,
        &[
            "--format",
            "json",
            "produce",
            "orders",
            "-K",
            ":",
            "-H",
            "source=test",
            "-z",
            "lz4",
        ],
        "k1:first\nk2:second\nk3:third\n",
    );
    let produced: serde_json::Value = serde_json::from_str(&produced).unwrap();
    assert_eq!(produced["records"], 3);
    assert_eq!(produced["first_offset"], 0);
    assert_eq!(produced["last_offset"], 2);

    let consumed = succeed(
        &broker,
        &[
            "consume",
            "orders",
            "-t",
            "%t/%p@%o %k=%v [%h]\\n",
            "--idle-ms",
            "300",
        ],
        "",
    );
    assert_eq!(
        consumed,
        "orders/0@0 k1=first [source=test]\norders/0@1 k2=second [source=test]\norders/0@2 k3=third [source=test]\n"
    );
    succeed(
        &broker,
        &[
            "produce",
            "tagged",
            "-K",
            ":",
            "--header-separator",
            "|",
            "-H",
            "all=yes",
        ],
        "trace=t1,tenant=7|k:v1\nno headers here\n",
    );
    let tagged = succeed(
        &broker,
        &[
            "consume",
            "tagged",
            "-t",
            "%k=%v [%h]\\n",
            "--idle-ms",
            "300",
        ],
        "",
    );
    assert_eq!(
        tagged,
        "k=v1 [all=yes,trace=t1,tenant=7]\n=no headers here [all=yes]\n"
    );
    let from_offset = succeed(&broker, &["consume", "orders", "-o", "1", "-n", "1"], "");
    assert_eq!(from_offset, "second\n");
    let latest = succeed(
        &broker,
        &["consume", "orders", "-o", "latest", "--idle-ms", "200"],
        "",
    );
    assert_eq!(latest, "");

    let list = succeed(&broker, &["topic", "list"], "");
    assert!(
        list.lines().any(|line| line.starts_with("orders ")),
        "{list}"
    );
    let described = succeed(
        &broker,
        &["--format", "json", "topic", "describe", "orders"],
        "",
    );
    let described: serde_json::Value = serde_json::from_str(&described).unwrap();
    assert_eq!(described["partitions"][0]["earliest_offset"], 0);
    assert_eq!(described["partitions"][0]["latest_offset"], 3);
    assert_eq!(described["partitions"][0]["leader"], 0);

    let info = succeed(&broker, &["--format", "json", "cluster", "info"], "");
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["topics"], 2, "orders and tagged");
    assert_eq!(info["controller"], 0);
    let health = succeed(&broker, &["cluster", "health"], "");
    assert!(health.contains("healthy: true"), "{health}");
}

#[test]
fn errors_are_one_line() {
    let broker = TestBroker::start();
    let unknown = fail(&broker, &["consume", "missing"]);
    assert!(unknown.contains("UNKNOWN_TOPIC_OR_PARTITION"), "{unknown}");
    let bad_offset = fail(&broker, &["consume", "missing", "-o", "soon"]);
    assert!(bad_offset.contains("ferritectl:"), "{bad_offset}");
    let output = Command::new(env!("CARGO_BIN_EXE_ferritectl"))
        .args(["--brokers", "127.0.0.1:1", "topic", "list"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("no broker reachable"), "{stderr}");
}

#[test]
fn log_tools_dump_verify_and_find_corruption() {
    let mut broker = TestBroker::start();
    let lines: String = (0..50).map(|index| format!("record {index}\n")).collect();
    succeed(
        &broker,
        &["produce", "audit", "--batch-records", "10"],
        &lines,
    );
    broker.stop();
    let data_dir = broker.data_dir().to_path_buf();
    let data_dir = data_dir.to_str().unwrap();

    let verified = succeed(
        &broker,
        &["--format", "json", "log", "verify", data_dir],
        "",
    );
    let verified: serde_json::Value = serde_json::from_str(&verified).unwrap();
    assert_eq!(verified[0]["batches"], 5);
    assert_eq!(verified[0]["records"], 50);
    assert_eq!(verified[0]["next_offset"], 50);

    let dump = succeed(&broker, &["log", "dump", data_dir, "--records"], "");
    assert_eq!(dump.matches("  batch ").count(), 5, "{dump}");
    assert!(dump.contains("offsets=40..49"), "{dump}");
    assert!(dump.contains("value=\"record 49\""), "{dump}");

    // Flip a byte inside the third batch's records: its CRC no longer matches.
    let segment = broker
        .data_dir()
        .join("topics/audit-0/00000000000000000000.log");
    let mut bytes = std::fs::read(&segment).unwrap();
    let dumped: Vec<serde_json::Value> =
        succeed(&broker, &["--format", "json", "log", "dump", data_dir], "")
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
    let third = dumped[2]["position"].as_u64().unwrap() as usize;
    bytes[third + 70] ^= 0x55;
    std::fs::write(&segment, bytes).unwrap();
    let problem = fail(&broker, &["log", "verify", data_dir]);
    assert!(problem.contains(&format!("position {third}")), "{problem}");
    assert!(problem.contains("00000000000000000000.log"), "{problem}");
}

#[test]
fn completions_are_generated() {
    let broker = TestBroker::start();
    let script = succeed(&broker, &["completions", "bash"], "");
    assert!(script.contains("ferritectl"), "{script}");
    assert!(script.contains("alter-config"), "{script}");
}

#[test]
fn topic_admin_commands() {
    let broker = TestBroker::start();
    let created = succeed(
        &broker,
        &[
            "topic",
            "create",
            "events",
            "-p",
            "3",
            "-c",
            "retention.ms=60000",
        ],
        "",
    );
    assert!(created.contains("partitions: 3"), "{created}");
    let again = fail(&broker, &["topic", "create", "events"]);
    assert!(again.contains("TOPIC_ALREADY_EXISTS"), "{again}");
    let bad = fail(
        &broker,
        &["topic", "create", "other", "-c", "retention.ms=soon"],
    );
    assert!(
        bad.contains("INVALID_CONFIG") && bad.contains("retention.ms"),
        "{bad}"
    );

    let describe = |broker: &TestBroker| -> serde_json::Value {
        serde_json::from_str(&succeed(
            broker,
            &["--format", "json", "topic", "describe", "events"],
            "",
        ))
        .unwrap()
    };
    let config = |described: &serde_json::Value, name: &str| -> serde_json::Value {
        described["configs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|config| config["name"] == name)
            .cloned()
            .unwrap()
    };
    let described = describe(&broker);
    assert_eq!(described["partitions"].as_array().unwrap().len(), 3);
    assert_eq!(config(&described, "retention.ms")["value"], "60000");
    assert_eq!(config(&described, "retention.ms")["source"], "topic");

    succeed(
        &broker,
        &[
            "topic",
            "alter-config",
            "events",
            "-c",
            "segment.bytes=1048576",
            "-c",
            "retention.ms=",
        ],
        "",
    );
    let described = describe(&broker);
    assert_eq!(config(&described, "segment.bytes")["value"], "1048576");
    assert_eq!(config(&described, "retention.ms")["source"], "default");
    let refused = fail(
        &broker,
        &["topic", "alter-config", "events", "-c", "segment.bytes=-1"],
    );
    assert!(refused.contains("INVALID_CONFIG"), "{refused}");

    succeed(
        &broker,
        &["topic", "add-partitions", "events", "--total", "5"],
        "",
    );
    assert_eq!(describe(&broker)["partitions"].as_array().unwrap().len(), 5);
    let fewer = fail(
        &broker,
        &["topic", "add-partitions", "events", "--total", "2"],
    );
    assert!(fewer.contains("INVALID_PARTITIONS"), "{fewer}");

    succeed(&broker, &["topic", "delete", "events"], "");
    let list = succeed(&broker, &["topic", "list"], "");
    assert!(!list.contains("events"), "{list}");
    let missing = fail(&broker, &["topic", "delete", "events"]);
    assert!(missing.contains("UNKNOWN_TOPIC_OR_PARTITION"), "{missing}");
}
