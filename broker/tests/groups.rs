//! The group coordinator at the protocol level, against an in-process broker: error answers,
//! durability across a restart (members and offsets come back), groups on several cores,
//! session expiry, and the internal topic's protection.

mod group_samples;
mod support;

use std::time::{Duration, Instant};

use broker::testing::TestBroker;
use client::Connection;
use group_samples::{commit_request, committed, join, join_and_sync, join_request, manual_commit};
use wire::codec::KStr;
use wire::error_code::ErrorCode;
use wire::messages::create_partitions_request::{CreatePartitionsRequest, CreatePartitionsTopic};
use wire::messages::delete_groups_request::DeleteGroupsRequest;
use wire::messages::delete_topics_request::{DeleteTopicState, DeleteTopicsRequest};
use wire::messages::describe_groups_request::DescribeGroupsRequest;
use wire::messages::describe_groups_response::DescribedGroup;
use wire::messages::heartbeat_request::HeartbeatRequest;
use wire::messages::join_group_request::JoinGroupRequestProtocol;
use wire::messages::list_groups_request::ListGroupsRequest;
use wire::messages::metadata_request::MetadataRequest;

fn heartbeat(connection: &mut Connection, group: &str, member: &str, generation: i32) -> i16 {
    connection
        .send(HeartbeatRequest {
            group_id: KStr::from(group.to_owned()),
            generation_id: generation,
            member_id: KStr::from(member.to_owned()),
            ..Default::default()
        })
        .unwrap()
        .error_code
}

fn describe(connection: &mut Connection, group: &str) -> DescribedGroup {
    let mut response = connection
        .send(DescribeGroupsRequest {
            groups: vec![KStr::from(group.to_owned())],
            ..Default::default()
        })
        .unwrap();
    response.groups.remove(0)
}

fn delete_group(connection: &mut Connection, group: &str) -> i16 {
    connection
        .send(DeleteGroupsRequest {
            groups_names: vec![KStr::from(group.to_owned())],
            ..Default::default()
        })
        .unwrap()
        .results[0]
        .error_code
}

fn code(error: ErrorCode) -> i16 {
    error.code()
}

#[test]
fn wrong_members_generations_and_protocols_get_kafkas_errors() {
    let broker = TestBroker::start();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    support::create_topic(&mut connection, "t");
    let (member, generation) = join_and_sync(&mut connection, "g");

    assert_eq!(heartbeat(&mut connection, "g", &member, generation), 0);
    assert_eq!(
        heartbeat(&mut connection, "g", "stranger", generation),
        code(ErrorCode::UnknownMemberId)
    );
    assert_eq!(
        heartbeat(&mut connection, "g", &member, generation + 1),
        code(ErrorCode::IllegalGeneration)
    );
    assert_eq!(
        heartbeat(&mut connection, "", &member, generation),
        code(ErrorCode::InvalidGroupId)
    );
    assert_eq!(
        heartbeat(&mut connection, "no-such-group", &member, generation),
        code(ErrorCode::UnknownMemberId)
    );

    // A newcomer that shares no protocol with the group is refused.
    let mut other = join_request("g", "", None);
    other.protocols = vec![JoinGroupRequestProtocol {
        name: KStr::from_static("roundrobin"),
        ..Default::default()
    }];
    let refused = connection.send(other).unwrap();
    assert_eq!(
        refused.error_code,
        code(ErrorCode::InconsistentGroupProtocol)
    );
    // Session timeouts outside the broker's bounds are refused.
    let mut too_long = join_request("g2", "", None);
    too_long.session_timeout_ms = i32::MAX;
    assert_eq!(
        connection.send(too_long).unwrap().error_code,
        code(ErrorCode::InvalidSessionTimeout)
    );

    // Commits: by the member of the current generation only; unknown partitions and long
    // metadata are refused partition by partition.
    let ok = connection
        .send(commit_request("g", Some((&member, generation)), "t", 5))
        .unwrap();
    assert_eq!(ok.topics[0].partitions[0].error_code, 0);
    let stale = connection
        .send(commit_request("g", Some((&member, generation - 1)), "t", 6))
        .unwrap();
    assert_eq!(
        stale.topics[0].partitions[0].error_code,
        code(ErrorCode::IllegalGeneration)
    );
    assert_eq!(
        manual_commit(&mut connection, "g", "t", 6),
        code(ErrorCode::UnknownMemberId),
        "no manual commits into a group with members"
    );
    let unknown = connection
        .send(commit_request(
            "g",
            Some((&member, generation)),
            "missing",
            1,
        ))
        .unwrap();
    assert_eq!(
        unknown.topics[0].partitions[0].error_code,
        code(ErrorCode::UnknownTopicOrPartition)
    );
    let mut long = commit_request("g", Some((&member, generation)), "t", 7);
    long.topics[0].partitions[0].committed_metadata = Some(KStr::from("x".repeat(5000)));
    assert_eq!(
        connection.send(long).unwrap().topics[0].partitions[0].error_code,
        code(ErrorCode::OffsetMetadataTooLarge)
    );
    assert_eq!(
        committed(&mut connection, "g", "t"),
        5,
        "refused commits change nothing"
    );

    // Groups with members cannot be deleted; unknown groups are not found.
    assert_eq!(
        delete_group(&mut connection, "g"),
        code(ErrorCode::NonEmptyGroup)
    );
    assert_eq!(
        delete_group(&mut connection, "never-existed"),
        code(ErrorCode::GroupIdNotFound)
    );
}

#[test]
fn the_offsets_topic_cannot_be_deleted_or_grown() {
    let broker = TestBroker::start();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    assert_eq!(
        manual_commit(&mut connection, "g", "t", 0),
        code(ErrorCode::UnknownTopicOrPartition)
    );
    let metadata = connection
        .send(MetadataRequest {
            topics: None,
            ..Default::default()
        })
        .unwrap();
    let internal = metadata
        .topics
        .iter()
        .find(|topic| topic.name.as_ref().map(KStr::as_str) == Some("__consumer_offsets"))
        .expect("created by the first group request");
    assert!(internal.is_internal);
    assert_eq!(internal.partitions.len(), 50, "offsets_topic_partitions");

    let deleted = connection
        .send(DeleteTopicsRequest {
            topic_names: vec![KStr::from_static("__consumer_offsets")],
            topics: vec![DeleteTopicState {
                name: Some(KStr::from_static("__consumer_offsets")),
                ..Default::default()
            }],
            timeout_ms: 5_000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        deleted.responses[0].error_code,
        code(ErrorCode::InvalidRequest)
    );
    let grown = connection
        .send(CreatePartitionsRequest {
            topics: vec![CreatePartitionsTopic {
                name: KStr::from_static("__consumer_offsets"),
                count: 60,
                ..Default::default()
            }],
            timeout_ms: 5_000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(grown.results[0].error_code, code(ErrorCode::InvalidRequest));
}

#[test]
fn groups_and_offsets_come_back_after_a_restart() {
    let mut broker = TestBroker::start();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    support::create_topic(&mut connection, "t");
    let (member, generation) = join_and_sync(&mut connection, "live");
    let ok = connection
        .send(commit_request("live", Some((&member, generation)), "t", 11))
        .unwrap();
    assert_eq!(ok.topics[0].partitions[0].error_code, 0);
    assert_eq!(manual_commit(&mut connection, "manual", "t", 3), 0);
    assert_eq!(manual_commit(&mut connection, "manual", "t", 4), 0);
    assert_eq!(manual_commit(&mut connection, "gone", "t", 9), 0);
    assert_eq!(delete_group(&mut connection, "gone"), 0);
    drop(connection);

    broker.restart();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    assert_eq!(committed(&mut connection, "live", "t"), 11);
    assert_eq!(
        committed(&mut connection, "manual", "t"),
        4,
        "the last commit wins"
    );
    assert_eq!(
        committed(&mut connection, "gone", "t"),
        -1,
        "deleted groups stay deleted"
    );
    // The member carries on with its generation: its heartbeat is accepted.
    assert_eq!(heartbeat(&mut connection, "live", &member, generation), 0);
    let described = describe(&mut connection, "live");
    assert_eq!(described.group_state.as_str(), "Stable");
    assert_eq!(described.members.len(), 1);
    assert_eq!(described.members[0].member_id.as_str(), member);
    assert_eq!(
        described.members[0].member_assignment,
        bytes::Bytes::from_static(b"assignment")
    );
    let listed = connection.send(ListGroupsRequest::default()).unwrap();
    let mut names: Vec<&str> = listed
        .groups
        .iter()
        .map(|group| group.group_id.as_str())
        .collect();
    names.sort();
    assert_eq!(names, vec!["live", "manual"]);
}

#[test]
fn groups_on_both_cores_are_found_listed_and_served() {
    let broker = TestBroker::start_two_shards();
    let mut connections: Vec<Connection> = (0..4)
        .map(|_| Connection::connect(broker.addr()).unwrap())
        .collect();
    support::create_topic(&mut connections[0], "t");
    // Twenty groups land on partitions owned by both cores; each connection lands on some core.
    let groups: Vec<String> = (0..20).map(|index| format!("group-{index}")).collect();
    for (index, group) in groups.iter().enumerate() {
        let connection = &mut connections[index % 4];
        let (member, generation) = join_and_sync(connection, group);
        let committed_now = connection
            .send(commit_request(
                group,
                Some((&member, generation)),
                "t",
                index as i64,
            ))
            .unwrap();
        assert_eq!(committed_now.topics[0].partitions[0].error_code, 0);
    }
    for (index, group) in groups.iter().enumerate() {
        let connection = &mut connections[(index + 1) % 4];
        assert_eq!(committed(connection, group, "t"), index as i64);
    }
    let listed = connections[0].send(ListGroupsRequest::default()).unwrap();
    assert_eq!(listed.groups.len(), 20);
}

#[test]
fn a_silent_member_is_expired_after_its_session_timeout() {
    let broker = TestBroker::start();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    let mut request = join_request("short", "", None);
    request.session_timeout_ms = 300;
    let first = connection.send(request.clone()).unwrap();
    request.member_id = first.member_id.clone();
    let joined = connection.send(request).unwrap();
    assert_eq!(joined.error_code, 0);
    assert_eq!(describe(&mut connection, "short").members.len(), 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let described = describe(&mut connection, "short");
        if described.members.is_empty() {
            // Empty, and forgotten (Dead) at once as it holds no committed offsets.
            assert!(
                ["Empty", "Dead"].contains(&described.group_state.as_str()),
                "{described:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the member was never expired: {described:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        heartbeat(
            &mut connection,
            "short",
            joined.member_id.as_str(),
            joined.generation_id
        ),
        code(ErrorCode::UnknownMemberId)
    );
    // A member id handed out with MEMBER_ID_REQUIRED works once.
    let again = join(&mut connection, 9, "short");
    assert_eq!(again.error_code, 0);
}
