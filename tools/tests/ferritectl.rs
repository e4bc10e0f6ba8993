//! `ferritectl` against a real in-process broker, and its log tools on the files that broker
//! wrote (intact and corrupted).

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use broker::testing::TestBroker;

fn ferritectl(broker: &TestBroker, arguments: &[&str], stdin: &str) -> Output {
    let mut child = spawn(broker, arguments);
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin.as_bytes())
        .expect("stdin is written");
    child.wait_with_output().expect("ferritectl finishes")
}

/// Starts ferritectl in the background, its input and output piped.
fn spawn(broker: &TestBroker, arguments: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_ferritectl"))
        .env("FERRITE_BROKERS", broker.bootstrap())
        .args(arguments)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferritectl runs")
}

/// Waits (at most 20 s) for a background ferritectl to end, and checks it succeeded.
fn finish(mut child: std::process::Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("waitable").is_none() {
        if Instant::now() > deadline {
            child.kill().expect("killable");
            panic!("ferritectl did not finish: {:?}", child.wait_with_output());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("finished");
    assert!(
        output.status.success(),
        "ferritectl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Polls `condition` every 100 ms for at most 20 s.
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
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

    // The time index written by the broker checks out (above); one whose entry names no
    // batch's last offset is found, naming the file and the entry.
    let time_index = broker
        .data_dir()
        .join("topics/audit-0/00000000000000000000.timeindex");
    let original = std::fs::read(&time_index).expect("the broker wrote a time index");
    assert!(!original.is_empty(), "the time index has entries");
    let mut bogus = original.clone();
    bogus[8..12].copy_from_slice(&3u32.to_be_bytes());
    std::fs::write(&time_index, &bogus).unwrap();
    let problem = fail(&broker, &["log", "verify", data_dir]);
    assert!(
        problem.contains("00000000000000000000.timeindex"),
        "{problem}"
    );
    assert!(problem.contains("entry 0"), "{problem}");
    std::fs::write(&time_index, &original).unwrap();

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

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

/// Whether a text table has a row of exactly these cells.
fn has_row(table: &str, cells: &[&str]) -> bool {
    table
        .lines()
        .any(|line| line.split_whitespace().collect::<Vec<_>>() == cells)
}

/// `group describe GROUP --format json`.
fn describe_group(broker: &TestBroker, group: &str) -> serde_json::Value {
    json(&succeed(
        broker,
        &["--format", "json", "group", "describe", group],
        "",
    ))
}

/// The `offsets` entry of a `group describe --format json` for one partition.
fn group_offset(described: &serde_json::Value, partition: i64) -> serde_json::Value {
    described["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["partition"] == partition)
        .cloned()
        .unwrap_or_else(|| panic!("no partition {partition} in {described}"))
}

#[test]
fn group_consume_commits_and_group_commands_show_seek_and_delete() {
    let broker = TestBroker::start();
    succeed(&broker, &["topic", "create", "orders", "-p", "2"], "");
    succeed(&broker, &["produce", "orders", "-p", "0"], "a0\na1\na2\n");
    succeed(&broker, &["produce", "orders", "-p", "1"], "b0\nb1\n");
    let template = "%p@%o %v\\n";
    let consume = |extra: &[&str]| {
        let mut arguments = vec![
            "consume",
            "orders",
            "--group",
            "g",
            "-t",
            template,
            "--idle-ms",
            "700",
        ];
        arguments.extend_from_slice(extra);
        succeed(&broker, &arguments, "")
    };

    // Two records, then the group's commit says where the next member starts.
    assert_eq!(consume(&["-n", "2"]), "0@0 a0\n0@1 a1\n");
    let listed = succeed(&broker, &["group", "list"], "");
    assert!(has_row(&listed, &["g", "Empty", "consumer"]), "{listed}");
    let listed = json(&succeed(
        &broker,
        &["--format", "json", "group", "list"],
        "",
    ));
    assert_eq!(
        listed,
        serde_json::json!([{"group": "g", "state": "Empty", "protocol_type": "consumer"}])
    );
    let described = describe_group(&broker, "g");
    assert_eq!(described["state"], "Empty");
    assert_eq!(described["protocol_type"], "consumer");
    assert_eq!(described["members"], serde_json::json!([]));
    assert_eq!(described["protocol"], serde_json::Value::Null);
    let first = group_offset(&described, 0);
    assert_eq!(first["committed_offset"], 2);
    assert_eq!(first["log_end_offset"], 3);
    assert_eq!(first["lag"], 1);
    let text = succeed(&broker, &["group", "describe", "g"], "");
    assert!(text.contains("state: Empty"), "{text}");
    assert!(
        has_row(&text, &["orders", "0", "2", "3", "1", "-"]),
        "{text}"
    );

    assert_eq!(consume(&[]), "0@2 a2\n1@0 b0\n1@1 b1\n");
    let described = describe_group(&broker, "g");
    assert_eq!(group_offset(&described, 0)["lag"], 0);
    assert_eq!(group_offset(&described, 1)["committed_offset"], 2);
    assert_eq!(group_offset(&described, 1)["lag"], 0);
    assert_eq!(consume(&[]), "", "everything was committed");

    // Back to the start, then one partition to an offset and a timestamp.
    let seek = |format: &str, extra: &[&str]| {
        let mut arguments = vec![
            "--format", format, "group", "seek", "g", "--topic", "orders",
        ];
        arguments.extend_from_slice(extra);
        succeed(&broker, &arguments, "")
    };
    assert_eq!(
        json(&seek("json", &["--to-earliest"])),
        serde_json::json!([
            {"group": "g", "topic": "orders", "partition": 0, "offset": 0},
            {"group": "g", "topic": "orders", "partition": 1, "offset": 0},
        ])
    );
    assert_eq!(
        consume(&["-n", "5"]),
        "0@0 a0\n0@1 a1\n0@2 a2\n1@0 b0\n1@1 b1\n"
    );
    let sought = seek("text", &["-p", "1", "--to-offset", "1"]);
    assert!(has_row(&sought, &["g", "orders", "1", "1"]), "{sought}");
    assert_eq!(consume(&[]), "1@1 b1\n");
    seek("text", &["--to-timestamp", "0"]);
    assert_eq!(consume(&["-n", "1"]), "0@0 a0\n");
    seek("text", &["--to-offset", "99"]);
    let described = describe_group(&broker, "g");
    assert_eq!(
        group_offset(&described, 0)["committed_offset"],
        3,
        "clamped"
    );
    assert_eq!(
        group_offset(&described, 1)["committed_offset"],
        2,
        "clamped"
    );

    let deleted = succeed(&broker, &["group", "delete", "g"], "");
    assert_eq!(deleted, "DELETED\ng\n");
    let listed = succeed(&broker, &["group", "list"], "");
    assert_eq!(listed, "GROUP  STATE  PROTOCOL_TYPE\n");
    let missing = fail(&broker, &["group", "delete", "g"]);
    assert!(missing.contains("GROUP_ID_NOT_FOUND"), "{missing}");
    let missing = fail(&broker, &["group", "describe", "g"]);
    assert!(missing.contains("GROUP_ID_NOT_FOUND"), "{missing}");
    let two = ferritectl(&broker, &["group", "delete", "x", "y"], "");
    assert!(!two.status.success());
    let stderr = String::from_utf8(two.stderr).unwrap();
    assert_eq!(
        stderr,
        "ferritectl: cannot delete group x: GROUP_ID_NOT_FOUND\n\
         ferritectl: cannot delete group y: GROUP_ID_NOT_FOUND\n"
    );
    let unknown = fail(&broker, &["consume", "missing", "--group", "g"]);
    assert!(unknown.contains("UNKNOWN_TOPIC_OR_PARTITION"), "{unknown}");
    let bad_state = fail(&broker, &["group", "list", "--state", "sleepy"]);
    assert!(bad_state.contains("PreparingRebalance"), "{bad_state}");
}

mod active_member {
    //! A group member held by the test with the client crate, so that the group has an active
    //! member while ferritectl looks at it.

    use bytes::Bytes;
    use client::Connection;
    use wire::codec::{KStr, Message};
    use wire::messages::consumer_protocol_assignment::{
        ConsumerProtocolAssignment, TopicPartition,
    };
    use wire::messages::join_group_request::{JoinGroupRequest, JoinGroupRequestProtocol};
    use wire::messages::leave_group_request::{LeaveGroupRequest, MemberIdentity};
    use wire::messages::sync_group_request::{SyncGroupRequest, SyncGroupRequestAssignment};

    /// MEMBER_ID_REQUIRED: the coordinator hands out a member id to join with.
    const MEMBER_ID_REQUIRED: i16 = 79;

    pub struct Member {
        pub connection: Connection,
        pub member_id: String,
    }

    /// Joins `group` (session 30 s, longer than the test) and assigns itself `topic`/0.
    pub fn join(address: &str, group: &str, topic: &str) -> Member {
        let mut connection = Connection::connect(address).unwrap();
        let mut member_id = String::new();
        let joined = loop {
            let joined = connection
                .send(JoinGroupRequest {
                    group_id: KStr::from(group.to_owned()),
                    session_timeout_ms: 30_000,
                    rebalance_timeout_ms: 30_000,
                    member_id: KStr::from(member_id.clone()),
                    protocol_type: KStr::from_static("consumer"),
                    protocols: vec![JoinGroupRequestProtocol {
                        name: KStr::from_static("range"),
                        metadata: Bytes::from_static(&[0, 0, 0, 0, 0, 0, 255, 255, 255, 255]),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .unwrap();
            if joined.error_code == MEMBER_ID_REQUIRED && member_id.is_empty() {
                member_id = joined.member_id.to_string();
                continue;
            }
            assert_eq!(joined.error_code, 0, "joined");
            break joined;
        };
        let mut assignment = vec![0, 0];
        assignment.extend(
            ConsumerProtocolAssignment {
                assigned_partitions: vec![TopicPartition {
                    topic: KStr::from(topic.to_owned()),
                    partitions: vec![0],
                }],
                user_data: None,
            }
            .encode_to_vec(0)
            .unwrap(),
        );
        let synced = connection
            .send(SyncGroupRequest {
                group_id: KStr::from(group.to_owned()),
                generation_id: joined.generation_id,
                member_id: joined.member_id.clone(),
                protocol_type: Some(KStr::from_static("consumer")),
                protocol_name: Some(KStr::from_static("range")),
                assignments: vec![SyncGroupRequestAssignment {
                    member_id: joined.member_id.clone(),
                    assignment: Bytes::from(assignment),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .unwrap();
        assert_eq!(synced.error_code, 0, "synced");
        Member {
            connection,
            member_id: joined.member_id.to_string(),
        }
    }

    pub fn leave(member: &mut Member, group: &str) {
        let left = member
            .connection
            .send(LeaveGroupRequest {
                group_id: KStr::from(group.to_owned()),
                members: vec![MemberIdentity {
                    member_id: KStr::from(member.member_id.clone()),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .unwrap();
        assert_eq!(left.error_code, 0, "left");
    }
}

#[test]
fn group_with_an_active_member_is_described_and_cannot_be_sought_or_deleted() {
    let broker = TestBroker::start();
    succeed(&broker, &["produce", "events"], "e0\ne1\n");
    let mut member = active_member::join(&broker.bootstrap(), "busy", "events");

    let stable = succeed(&broker, &["group", "list", "--state", "stable"], "");
    assert!(stable.contains("busy"), "{stable}");
    let empty = succeed(&broker, &["group", "list", "--state", "Empty"], "");
    assert!(!empty.contains("busy"), "{empty}");
    let described = describe_group(&broker, "busy");
    assert_eq!(described["state"], "Stable");
    assert_eq!(described["protocol"], "range");
    let members = described["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{described}");
    assert_eq!(members[0]["member_id"], member.member_id.as_str());
    assert_eq!(members[0]["client_id"], "ferrite-client");
    assert!(members[0]["host"].as_str().unwrap().contains("127.0.0.1"));
    assert_eq!(members[0]["partitions"], serde_json::json!(["events/0"]));
    let owned = group_offset(&described, 0);
    assert_eq!(owned["member_id"], member.member_id.as_str());
    assert_eq!(owned["committed_offset"], serde_json::Value::Null);
    assert_eq!(owned["log_end_offset"], 2);
    let text = succeed(&broker, &["group", "describe", "busy"], "");
    assert!(text.contains("events/0"), "{text}");

    let refused = fail(
        &broker,
        &["group", "seek", "busy", "--topic", "events", "--to-latest"],
    );
    assert!(
        refused.contains("1 active member") && refused.contains("stop its consumers"),
        "{refused}"
    );
    let refused = fail(&broker, &["group", "delete", "busy"]);
    assert!(refused.contains("NON_EMPTY_GROUP"), "{refused}");

    active_member::leave(&mut member, "busy");
    let sought = succeed(
        &broker,
        &["group", "seek", "busy", "--topic", "events", "--to-latest"],
        "",
    );
    assert!(has_row(&sought, &["busy", "events", "0", "2"]), "{sought}");
}

#[test]
fn group_help_explains_every_command() {
    let broker = TestBroker::start();
    let help = succeed(&broker, &["group", "--help"], "");
    for command in ["list", "describe", "delete", "seek"] {
        assert!(help.contains(command), "{help}");
    }
    let seek = succeed(&broker, &["group", "seek", "--help"], "");
    for option in [
        "--to-earliest",
        "--to-latest",
        "--to-offset",
        "--to-timestamp",
        "no active members",
    ] {
        assert!(seek.contains(option), "{seek}");
    }
    let consume = succeed(&broker, &["consume", "--help"], "");
    assert!(consume.contains("--group"), "{consume}");
    let neither = ferritectl(&broker, &["group", "seek", "g", "--topic", "t"], "");
    assert!(!neither.status.success());
}

/// The members of a group and their partitions, from `group describe`.
fn member_partitions(broker: &TestBroker, group: &str) -> Vec<serde_json::Value> {
    let output = ferritectl(
        broker,
        &["--format", "json", "group", "describe", group],
        "",
    );
    if !output.status.success() {
        return Vec::new();
    }
    let described = json(&String::from_utf8(output.stdout).unwrap());
    if described["state"] != "Stable" {
        return Vec::new();
    }
    described["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|member| member["partitions"].clone())
        .collect()
}

#[test]
fn two_group_consumers_share_the_partitions_after_a_rebalance() {
    let broker = TestBroker::start();
    succeed(&broker, &["topic", "create", "shared", "-p", "2"], "");
    let arguments = [
        "consume",
        "shared",
        "--group",
        "pair",
        "-n",
        "1",
        "--idle-ms",
        "15000",
        "-t",
        "%p:%v\\n",
    ];
    let first = spawn(&broker, &arguments);
    wait_until("the first consumer owns both partitions", || {
        member_partitions(&broker, "pair") == [serde_json::json!(["shared/0", "shared/1"])]
    });
    // The second one's join starts a rebalance, which the first learns of by heartbeat.
    let second = spawn(&broker, &arguments);
    wait_until("each consumer owns one partition", || {
        let mut owned = member_partitions(&broker, "pair");
        owned.sort_by_key(|partitions| partitions.to_string());
        owned
            == [
                serde_json::json!(["shared/0"]),
                serde_json::json!(["shared/1"]),
            ]
    });
    succeed(&broker, &["produce", "shared", "-p", "0"], "zero\n");
    succeed(&broker, &["produce", "shared", "-p", "1"], "one\n");
    let mut printed = vec![finish(first), finish(second)];
    printed.sort();
    assert_eq!(printed, ["0:zero\n", "1:one\n"]);
    let described = describe_group(&broker, "pair");
    assert_eq!(described["state"], "Empty", "both left: {described}");
    assert_eq!(group_offset(&described, 0)["committed_offset"], 1);
    assert_eq!(group_offset(&described, 1)["committed_offset"], 1);
}

#[test]
fn an_interrupted_group_consumer_leaves_its_group() {
    let broker = TestBroker::start();
    succeed(&broker, &["produce", "quiet"], "only\n");
    let consumer = spawn(
        &broker,
        &[
            "consume",
            "quiet",
            "--group",
            "stopped",
            "--idle-ms",
            "15000",
        ],
    );
    wait_until("the consumer has joined and committed", || {
        member_partitions(&broker, "stopped").len() == 1
            && group_offset(&describe_group(&broker, "stopped"), 0)["committed_offset"] == 1
    });
    // SAFETY: signalling a child process this test started and still owns.
    let signalled = unsafe { libc::kill(consumer.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(signalled, 0);
    let started = Instant::now();
    assert_eq!(finish(consumer), "only\n");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "it stopped soon"
    );
    let described = describe_group(&broker, "stopped");
    assert_eq!(described["state"], "Empty", "it left: {described}");
}
