//! Group API requests for protocol-level tests: a member that joins and syncs, simple
//! commits, and one sample request per group API for the version sweep.

#![allow(dead_code)]

use bytes::Bytes;
use client::Connection;
use wire::codec::KStr;
use wire::error_code::ErrorCode;
use wire::messages::delete_groups_request::DeleteGroupsRequest;
use wire::messages::describe_groups_request::DescribeGroupsRequest;
use wire::messages::find_coordinator_request::FindCoordinatorRequest;
use wire::messages::heartbeat_request::HeartbeatRequest;
use wire::messages::join_group_request::{JoinGroupRequest, JoinGroupRequestProtocol};
use wire::messages::join_group_response::JoinGroupResponse;
use wire::messages::leave_group_request::{LeaveGroupRequest, MemberIdentity};
use wire::messages::list_groups_request::ListGroupsRequest;
use wire::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use wire::messages::offset_delete_request::{
    OffsetDeleteRequest, OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use wire::messages::offset_fetch_request::{OffsetFetchRequest, OffsetFetchRequestTopic};
use wire::messages::sync_group_request::{SyncGroupRequest, SyncGroupRequestAssignment};
use wire::messages::ApiKey;

/// The group APIs.
pub const GROUP_APIS: &[ApiKey] = &[
    ApiKey::FindCoordinator,
    ApiKey::JoinGroup,
    ApiKey::SyncGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::OffsetDelete,
    ApiKey::DescribeGroups,
    ApiKey::ListGroups,
    ApiKey::DeleteGroups,
];

pub const SESSION_TIMEOUT_MS: i32 = 10_000;

/// A JoinGroup for `group` at `version` as a consumer with one protocol.
pub fn join_request(group: &str, member_id: &str, instance_id: Option<&str>) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: KStr::from(group.to_owned()),
        session_timeout_ms: SESSION_TIMEOUT_MS,
        rebalance_timeout_ms: SESSION_TIMEOUT_MS,
        member_id: KStr::from(member_id.to_owned()),
        group_instance_id: instance_id.map(|id| KStr::from(id.to_owned())),
        protocol_type: KStr::from_static("consumer"),
        protocols: vec![JoinGroupRequestProtocol {
            name: KStr::from_static("range"),
            metadata: Bytes::from_static(b"subscription"),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Joins `group` at `version`, answering MEMBER_ID_REQUIRED with the id it brings.
pub fn join(connection: &mut Connection, version: i16, group: &str) -> JoinGroupResponse {
    let first = connection
        .send_at(version, join_request(group, "", None))
        .unwrap();
    if first.error_code != ErrorCode::MemberIdRequired.code() {
        return first;
    }
    connection
        .send_at(version, join_request(group, first.member_id.as_str(), None))
        .unwrap()
}

/// A member of `group` that joined and synced (alone, so it leads): its id and generation.
pub fn join_and_sync(connection: &mut Connection, group: &str) -> (String, i32) {
    let joined = join(connection, 9, group);
    assert_eq!(joined.error_code, 0, "join {group}: {joined:?}");
    let member_id = joined.member_id.to_string();
    let synced = connection
        .send(SyncGroupRequest {
            group_id: KStr::from(group.to_owned()),
            generation_id: joined.generation_id,
            member_id: joined.member_id.clone(),
            assignments: vec![SyncGroupRequestAssignment {
                member_id: joined.member_id.clone(),
                assignment: Bytes::from_static(b"assignment"),
                ..Default::default()
            }],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(synced.error_code, 0, "sync {group}: {synced:?}");
    (member_id, joined.generation_id)
}

/// An OffsetCommit of `offset` for `topic` partition 0 by `member` (or a manual commit).
pub fn commit_request(
    group: &str,
    member: Option<(&str, i32)>,
    topic: &str,
    offset: i64,
) -> OffsetCommitRequest {
    let (member_id, generation) = member.unwrap_or(("", -1));
    OffsetCommitRequest {
        group_id: KStr::from(group.to_owned()),
        generation_id_or_member_epoch: generation,
        member_id: KStr::from(member_id.to_owned()),
        retention_time_ms: -1,
        topics: vec![OffsetCommitRequestTopic {
            name: KStr::from(topic.to_owned()),
            partitions: vec![OffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: offset,
                committed_leader_epoch: -1,
                committed_metadata: Some(KStr::from_static("meta")),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Commits `offset` for `topic` partition 0 outside the group protocol; returns the error.
pub fn manual_commit(connection: &mut Connection, group: &str, topic: &str, offset: i64) -> i16 {
    let response = connection
        .send(commit_request(group, None, topic, offset))
        .unwrap();
    response.topics[0].partitions[0].error_code
}

/// The committed offset of `topic` partition 0 in `group` (-1 if none).
pub fn committed(connection: &mut Connection, group: &str, topic: &str) -> i64 {
    let response = connection.send_at(7, fetch_request(group, topic)).unwrap();
    assert_eq!(response.error_code, 0);
    response.topics[0].partitions[0].committed_offset
}

/// An OffsetFetch (before v8) of `topic` partition 0 in `group`.
fn fetch_request(group: &str, topic: &str) -> OffsetFetchRequest {
    OffsetFetchRequest {
        group_id: KStr::from(group.to_owned()),
        topics: Some(vec![OffsetFetchRequestTopic {
            name: KStr::from(topic.to_owned()),
            partition_indexes: vec![0],
            ..Default::default()
        }]),
        ..Default::default()
    }
}

/// Sends the sample request of group API `api` at `version` (against `topic`, which exists
/// with one partition); returns the error codes of the answer.
pub fn sweep(connection: &mut Connection, api: ApiKey, version: i16, topic: &str) -> Vec<i16> {
    let group = format!("sweep-{}-{version}", api.name());
    match api {
        ApiKey::FindCoordinator => {
            let request = if version >= 4 {
                FindCoordinatorRequest {
                    coordinator_keys: vec![KStr::from(group.clone())],
                    ..Default::default()
                }
            } else {
                FindCoordinatorRequest {
                    key: KStr::from(group.clone()),
                    ..Default::default()
                }
            };
            let response = connection.send_at(version, request).unwrap();
            if version >= 4 {
                assert_eq!(response.coordinators.len(), 1);
                assert!(response.coordinators[0].port > 0);
                response
                    .coordinators
                    .iter()
                    .map(|coordinator| coordinator.error_code)
                    .collect()
            } else {
                assert!(response.port > 0);
                vec![response.error_code]
            }
        }
        ApiKey::JoinGroup => {
            let response = join(connection, version, &group);
            assert_eq!(response.generation_id, 1, "{response:?}");
            assert_eq!(response.members.len(), 1, "the leader sees itself");
            vec![response.error_code]
        }
        ApiKey::SyncGroup => {
            let joined = join(connection, version.min(9), &group);
            let response = connection
                .send_at(
                    version,
                    SyncGroupRequest {
                        group_id: KStr::from(group.clone()),
                        generation_id: joined.generation_id,
                        member_id: joined.member_id.clone(),
                        assignments: vec![SyncGroupRequestAssignment {
                            member_id: joined.member_id.clone(),
                            assignment: Bytes::from_static(b"mine"),
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                )
                .unwrap();
            assert_eq!(response.assignment, Bytes::from_static(b"mine"));
            vec![joined.error_code, response.error_code]
        }
        ApiKey::Heartbeat => {
            let (member, generation) = join_and_sync(connection, &group);
            let response = connection
                .send_at(
                    version,
                    HeartbeatRequest {
                        group_id: KStr::from(group.clone()),
                        generation_id: generation,
                        member_id: KStr::from(member),
                        ..Default::default()
                    },
                )
                .unwrap();
            vec![response.error_code]
        }
        ApiKey::LeaveGroup => {
            let (member, _) = join_and_sync(connection, &group);
            let request = if version >= 3 {
                LeaveGroupRequest {
                    group_id: KStr::from(group.clone()),
                    members: vec![MemberIdentity {
                        member_id: KStr::from(member),
                        ..Default::default()
                    }],
                    ..Default::default()
                }
            } else {
                LeaveGroupRequest {
                    group_id: KStr::from(group.clone()),
                    member_id: KStr::from(member),
                    ..Default::default()
                }
            };
            let response = connection.send_at(version, request).unwrap();
            let mut codes = vec![response.error_code];
            codes.extend(response.members.iter().map(|member| member.error_code));
            codes
        }
        ApiKey::OffsetCommit => {
            let member = (version >= 1).then(|| join_and_sync(connection, &group));
            let request = commit_request(
                &group,
                member
                    .as_ref()
                    .map(|(id, generation)| (id.as_str(), *generation)),
                topic,
                1,
            );
            let response = connection.send_at(version, request).unwrap();
            assert_eq!(committed(connection, &group, topic), 1);
            vec![response.topics[0].partitions[0].error_code]
        }
        ApiKey::OffsetFetch => {
            assert_eq!(manual_commit(connection, &group, topic, 7), 0);
            if version >= 8 {
                let response = connection
                    .send_at(
                        version,
                        OffsetFetchRequest {
                            groups: vec![
                                wire::messages::offset_fetch_request::OffsetFetchRequestGroup {
                                    group_id: KStr::from(group.clone()),
                                    member_epoch: -1,
                                    topics: None,
                                    ..Default::default()
                                },
                            ],
                            ..Default::default()
                        },
                    )
                    .unwrap();
                let answer = &response.groups[0];
                assert_eq!(answer.topics[0].partitions[0].committed_offset, 7);
                vec![answer.error_code, answer.topics[0].partitions[0].error_code]
            } else {
                let response = connection
                    .send_at(version, fetch_request(&group, topic))
                    .unwrap();
                let partition = &response.topics[0].partitions[0];
                assert_eq!(partition.committed_offset, 7);
                vec![response.error_code, partition.error_code]
            }
        }
        ApiKey::OffsetDelete => {
            assert_eq!(manual_commit(connection, &group, topic, 3), 0);
            let response = connection
                .send_at(
                    version,
                    OffsetDeleteRequest {
                        group_id: KStr::from(group.clone()),
                        topics: vec![OffsetDeleteRequestTopic {
                            name: KStr::from(topic.to_owned()),
                            partitions: vec![OffsetDeleteRequestPartition { partition_index: 0 }],
                        }],
                    },
                )
                .unwrap();
            assert_eq!(committed(connection, &group, topic), -1);
            vec![
                response.error_code,
                response.topics[0].partitions[0].error_code,
            ]
        }
        ApiKey::DescribeGroups => {
            join_and_sync(connection, &group);
            let response = connection
                .send_at(
                    version,
                    DescribeGroupsRequest {
                        groups: vec![KStr::from(group.clone())],
                        include_authorized_operations: version >= 3,
                        ..Default::default()
                    },
                )
                .unwrap();
            let described = &response.groups[0];
            assert_eq!(described.group_state.as_str(), "Stable");
            assert_eq!(described.members.len(), 1);
            assert_eq!(
                described.members[0].member_assignment,
                Bytes::from_static(b"assignment")
            );
            vec![described.error_code]
        }
        ApiKey::ListGroups => {
            assert_eq!(manual_commit(connection, &group, topic, 1), 0);
            let response = connection
                .send_at(version, ListGroupsRequest::default())
                .unwrap();
            assert!(response
                .groups
                .iter()
                .any(|listed| listed.group_id.as_str() == group));
            vec![response.error_code]
        }
        ApiKey::DeleteGroups => {
            assert_eq!(manual_commit(connection, &group, topic, 1), 0);
            let response = connection
                .send_at(
                    version,
                    DeleteGroupsRequest {
                        groups_names: vec![KStr::from(group.clone())],
                        ..Default::default()
                    },
                )
                .unwrap();
            assert_eq!(committed(connection, &group, topic), -1);
            response
                .results
                .iter()
                .map(|result| result.error_code)
                .collect()
        }
        other => panic!("{} is not a group API", other.name()),
    }
}
