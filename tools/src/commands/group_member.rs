//! Membership of a consumer group by Kafka's classic protocol, for `consume --group`.
//!
//! A [`GroupMember`] joins (JoinGroup, rejoining with the member id the coordinator hands out
//! when it answers MEMBER_ID_REQUIRED), computes a range assignment when it is the leader,
//! learns its partitions (SyncGroup), proves it is alive (Heartbeat), commits offsets
//! (OffsetCommit with its generation and member id) and leaves (LeaveGroup).
//!
//! The client is synchronous, so nothing heartbeats in the background: the consume loop asks
//! [`GroupMember::heartbeat_due`] between fetches (each fetch waits at most 500 ms), which keeps
//! heartbeats [`HEARTBEAT_INTERVAL`] apart, far inside [`SESSION_TIMEOUT_MS`].
//!
//! The subscription and the assignment are Kafka's consumer protocol
//! (`ConsumerProtocolSubscription` and `ConsumerProtocolAssignment`), each preceded by an i16
//! version, so Kafka consumers of other clients can share the group.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use client::{Cluster, Connection};
use wire::codec::{KStr, Message};
use wire::error_code::ErrorCode;
use wire::messages::consumer_protocol_assignment::{self, ConsumerProtocolAssignment};
use wire::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;
use wire::messages::heartbeat_request::HeartbeatRequest;
use wire::messages::join_group_request::{JoinGroupRequest, JoinGroupRequestProtocol};
use wire::messages::leave_group_request::{LeaveGroupRequest, MemberIdentity};
use wire::messages::sync_group_request::{SyncGroupRequest, SyncGroupRequestAssignment};
use wire::messages::ApiKey;

use super::group::{commit, Committer, CONSUMER_PROTOCOL_TYPE};
use super::{check, Result};

/// How long the coordinator waits without a heartbeat before it drops the member.
pub const SESSION_TIMEOUT_MS: i32 = 10_000;
/// How long the coordinator waits for members to rejoin in a rebalance (below the client's
/// 30 s read timeout, since JoinGroup answers only when the rebalance completes).
pub const REBALANCE_TIMEOUT_MS: i32 = 20_000;
/// Time between heartbeats.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// JoinGroup/SyncGroup rounds one (re)join may take before giving up.
const JOIN_ATTEMPTS_MAX: u32 = 20;
/// Pause before asking again after the coordinator moved or was not ready.
const COORDINATOR_RETRY_DELAY: Duration = Duration::from_millis(100);
/// The one assignor offered.
const RANGE_ASSIGNOR: &str = "range";
/// The consumer protocol version written (the oldest: every consumer reads it).
const CONSUMER_PROTOCOL_VERSION: i16 = 0;
/// The first LeaveGroup version that names members in a list.
const LEAVE_GROUP_MEMBERS_VERSION: i16 = 3;

/// Whether the member may go on after a heartbeat or a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Member,
    /// A rebalance started, or the generation or member id is no longer valid.
    MustRejoin,
}

/// One member of a group, subscribed to one topic.
pub struct GroupMember {
    group: String,
    topic: String,
    member_id: String,
    generation_id: i32,
    /// This generation's partitions of `topic`, in order.
    partitions: Vec<i32>,
    last_heartbeat: Instant,
}

impl GroupMember {
    /// Joins `group` subscribed to `topic` and waits for this generation's assignment.
    pub fn join(cluster: &mut Cluster, group: &str, topic: &str) -> Result<GroupMember> {
        let mut member = GroupMember {
            group: group.to_owned(),
            topic: topic.to_owned(),
            member_id: String::new(),
            generation_id: -1,
            partitions: Vec::new(),
            last_heartbeat: Instant::now(),
        };
        member.rejoin(cluster)?;
        Ok(member)
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    /// This generation's partitions of the topic.
    pub fn partitions(&self) -> &[i32] {
        &self.partitions
    }

    /// JoinGroup then SyncGroup until both succeed in one generation.
    pub fn rejoin(&mut self, cluster: &mut Cluster) -> Result<()> {
        let mut last_error = String::new();
        for _ in 0..JOIN_ATTEMPTS_MAX {
            let connection = self.coordinator(cluster)?;
            let joined = connection
                .send(JoinGroupRequest {
                    group_id: KStr::from(self.group.clone()),
                    session_timeout_ms: SESSION_TIMEOUT_MS,
                    rebalance_timeout_ms: REBALANCE_TIMEOUT_MS,
                    member_id: KStr::from(self.member_id.clone()),
                    group_instance_id: None,
                    protocol_type: KStr::from_static(CONSUMER_PROTOCOL_TYPE),
                    protocols: vec![JoinGroupRequestProtocol {
                        name: KStr::from_static(RANGE_ASSIGNOR),
                        metadata: self.subscription()?,
                        ..Default::default()
                    }],
                    reason: None,
                    ..Default::default()
                })
                .map_err(|e| e.to_string())?;
            if joined.error_code != 0 {
                last_error = self.retry_or_fail(cluster, joined.error_code, "join")?;
                if joined.error_code == ErrorCode::MemberIdRequired.code() {
                    self.member_id = joined.member_id.to_string();
                }
                continue;
            }
            self.member_id = joined.member_id.to_string();
            self.generation_id = joined.generation_id;
            let protocol_name = joined
                .protocol_name
                .clone()
                .unwrap_or_else(|| KStr::from_static(RANGE_ASSIGNOR));
            let assignments = if *joined.leader == *joined.member_id {
                let subscriptions: Vec<(String, Vec<String>)> = joined
                    .members
                    .iter()
                    .map(|member| {
                        (
                            member.member_id.to_string(),
                            decode_subscription(&member.metadata),
                        )
                    })
                    .collect();
                self.assign(cluster, &subscriptions)?
            } else {
                Vec::new()
            };
            let connection = self.coordinator(cluster)?;
            let synced = connection
                .send(SyncGroupRequest {
                    group_id: KStr::from(self.group.clone()),
                    generation_id: self.generation_id,
                    member_id: KStr::from(self.member_id.clone()),
                    group_instance_id: None,
                    protocol_type: Some(KStr::from_static(CONSUMER_PROTOCOL_TYPE)),
                    protocol_name: Some(protocol_name),
                    assignments,
                    ..Default::default()
                })
                .map_err(|e| e.to_string())?;
            if synced.error_code != 0 {
                last_error = self.retry_or_fail(cluster, synced.error_code, "sync with")?;
                continue;
            }
            let assigned = decode_assignment(&synced.assignment)?;
            self.partitions = assigned
                .into_iter()
                .filter(|(topic, _)| *topic == self.topic)
                .flat_map(|(_, partitions)| partitions)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            self.last_heartbeat = Instant::now();
            return Ok(());
        }
        Err(format!(
            "cannot join group {} after {JOIN_ATTEMPTS_MAX} attempts: {last_error}",
            self.group
        ))
    }

    /// For an error code answered to JoinGroup, SyncGroup, Heartbeat or OffsetCommit: prepares
    /// a retry (and says why) when one can succeed, otherwise fails with a one-line error.
    fn retry_or_fail(
        &mut self,
        cluster: &mut Cluster,
        error_code: i16,
        what: &str,
    ) -> Result<String> {
        let why = check(error_code, &format!("cannot {what} group {}", self.group))
            .err()
            .unwrap_or_default();
        match ErrorCode::from_code(error_code) {
            Some(ErrorCode::MemberIdRequired)
            | Some(ErrorCode::RebalanceInProgress)
            | Some(ErrorCode::IllegalGeneration) => Ok(why),
            Some(ErrorCode::UnknownMemberId) => {
                self.member_id.clear();
                Ok(why)
            }
            Some(ErrorCode::NotCoordinator)
            | Some(ErrorCode::CoordinatorNotAvailable)
            | Some(ErrorCode::CoordinatorLoadInProgress) => {
                cluster.forget_coordinator(&self.group);
                std::thread::sleep(COORDINATOR_RETRY_DELAY);
                Ok(why)
            }
            _ => Err(why),
        }
    }

    /// This member's subscription: the consumer protocol's, to the one topic.
    fn subscription(&self) -> Result<Bytes> {
        let subscription = ConsumerProtocolSubscription {
            topics: vec![KStr::from(self.topic.clone())],
            ..Default::default()
        };
        encode_versioned(&subscription)
    }

    /// The leader's work: a range assignment of every subscribed topic's partitions.
    fn assign(
        &self,
        cluster: &mut Cluster,
        subscriptions: &[(String, Vec<String>)],
    ) -> Result<Vec<SyncGroupRequestAssignment>> {
        let topics: Vec<String> = subscriptions
            .iter()
            .flat_map(|(_, topics)| topics.iter().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let metadata = cluster.metadata(Some(&topics)).map_err(|e| e.to_string())?;
        // Topics the cluster does not know get no partitions.
        let partition_counts: BTreeMap<String, i32> = metadata
            .topics
            .iter()
            .filter(|topic| topic.error_code == 0)
            .filter_map(|topic| {
                let name = topic.name.as_deref()?;
                Some((name.to_owned(), topic.partitions.len() as i32))
            })
            .collect();
        range_assignment(subscriptions, &partition_counts)
            .into_iter()
            .map(|(member_id, assigned)| {
                Ok(SyncGroupRequestAssignment {
                    member_id: KStr::from(member_id),
                    assignment: encode_assignment(&assigned)?,
                    ..Default::default()
                })
            })
            .collect()
    }

    /// The connection to the group's coordinator.
    fn coordinator<'c>(&self, cluster: &'c mut Cluster) -> Result<&'c mut Connection> {
        cluster.coordinator(&self.group).map_err(|e| e.to_string())
    }

    /// Whether a heartbeat is due.
    pub fn heartbeat_due(&self) -> bool {
        self.last_heartbeat.elapsed() >= HEARTBEAT_INTERVAL
    }

    pub fn heartbeat(&mut self, cluster: &mut Cluster) -> Result<Standing> {
        let connection = self.coordinator(cluster)?;
        let response = connection
            .send(HeartbeatRequest {
                group_id: KStr::from(self.group.clone()),
                generation_id: self.generation_id,
                member_id: KStr::from(self.member_id.clone()),
                group_instance_id: None,
                ..Default::default()
            })
            .map_err(|e| e.to_string())?;
        self.last_heartbeat = Instant::now();
        if response.error_code == 0 {
            return Ok(Standing::Member);
        }
        self.retry_or_fail(cluster, response.error_code, "heartbeat in")?;
        Ok(Standing::MustRejoin)
    }

    /// Commits `offsets` (partition, next offset to read) of the topic in this generation.
    pub fn commit(&mut self, cluster: &mut Cluster, offsets: &[(i32, i64)]) -> Result<Standing> {
        let committer = Committer {
            group: &self.group,
            generation_id: self.generation_id,
            member_id: &self.member_id,
        };
        let connection = self.coordinator(cluster)?;
        let results = commit(connection, &committer, &self.topic, offsets)?;
        let mut standing = Standing::Member;
        for (_, error_code) in results {
            if error_code != 0 {
                self.retry_or_fail(cluster, error_code, "commit offsets of")?;
                standing = Standing::MustRejoin;
            }
        }
        Ok(standing)
    }

    /// Leaves the group, so that it rebalances at once instead of after the session timeout.
    pub fn leave(&mut self, cluster: &mut Cluster) -> Result<()> {
        if self.member_id.is_empty() {
            return Ok(());
        }
        let connection = self.coordinator(cluster)?;
        let version = connection
            .version_for(ApiKey::LeaveGroup)
            .map_err(|e| e.to_string())?;
        let request = if version >= LEAVE_GROUP_MEMBERS_VERSION {
            LeaveGroupRequest {
                group_id: KStr::from(self.group.clone()),
                members: vec![MemberIdentity {
                    member_id: KStr::from(self.member_id.clone()),
                    group_instance_id: None,
                    reason: Some(KStr::from_static("ferritectl consume ended")),
                    ..Default::default()
                }],
                ..Default::default()
            }
        } else {
            LeaveGroupRequest {
                group_id: KStr::from(self.group.clone()),
                member_id: KStr::from(self.member_id.clone()),
                ..Default::default()
            }
        };
        let response = connection
            .send_at(version, request)
            .map_err(|e| e.to_string())?;
        let what = format!("cannot leave group {}", self.group);
        // A member the coordinator no longer knows (its session expired) has left already.
        let gone = ErrorCode::UnknownMemberId.code();
        for error_code in std::iter::once(response.error_code)
            .chain(response.members.iter().map(|member| member.error_code))
            .filter(|error_code| *error_code != gone)
        {
            check(error_code, &what)?;
        }
        self.member_id.clear();
        Ok(())
    }
}

/// Kafka's range assignment: for each topic, its partitions split into consecutive ranges
/// among the members subscribed to it (ordered by member id), the first members taking one
/// more when they do not divide evenly. Every member gets an entry, possibly empty.
pub fn range_assignment(
    subscriptions: &[(String, Vec<String>)],
    partition_counts: &BTreeMap<String, i32>,
) -> BTreeMap<String, Vec<(String, Vec<i32>)>> {
    let mut assignment: BTreeMap<String, Vec<(String, Vec<i32>)>> = subscriptions
        .iter()
        .map(|(member_id, _)| (member_id.clone(), Vec::new()))
        .collect();
    for (topic, count) in partition_counts {
        let subscribers: Vec<&String> = assignment
            .keys()
            .filter(|member_id| {
                subscriptions
                    .iter()
                    .any(|(id, topics)| id == *member_id && topics.contains(topic))
            })
            .collect::<Vec<_>>();
        if subscribers.is_empty() {
            continue;
        }
        let members = subscribers.len() as i32;
        let (each, extra) = (count / members, count % members);
        let mut ranges = Vec::new();
        let mut next = 0;
        for (index, member_id) in subscribers.into_iter().enumerate() {
            let size = each + i32::from((index as i32) < extra);
            ranges.push((member_id.clone(), (next..next + size).collect::<Vec<i32>>()));
            next += size;
        }
        assert_eq!(next, *count, "a range assignment covers every partition");
        for (member_id, partitions) in ranges {
            if !partitions.is_empty() {
                let entry = assignment.get_mut(&member_id).expect("a subscriber");
                entry.push((topic.clone(), partitions));
            }
        }
    }
    assignment
}

/// The consumer-protocol encoding of an assignment.
fn encode_assignment(assigned: &[(String, Vec<i32>)]) -> Result<Bytes> {
    let assignment = ConsumerProtocolAssignment {
        assigned_partitions: assigned
            .iter()
            .map(
                |(topic, partitions)| consumer_protocol_assignment::TopicPartition {
                    topic: KStr::from(topic.clone()),
                    partitions: partitions.clone(),
                },
            )
            .collect(),
        user_data: None,
    };
    encode_versioned(&assignment)
}

/// A consumer-protocol message as it travels: an i16 version, then the message.
fn encode_versioned<M: Message>(message: &M) -> Result<Bytes> {
    let mut bytes = CONSUMER_PROTOCOL_VERSION.to_be_bytes().to_vec();
    bytes.extend(
        message
            .encode_to_vec(CONSUMER_PROTOCOL_VERSION)
            .map_err(|e| format!("cannot encode a {}: {e}", M::NAME))?,
    );
    Ok(Bytes::from(bytes))
}

/// Reads an i16 version and the message. Later versions only add fields at the end, so a
/// newer message is read as the newest version `wire` knows.
fn decode_versioned<M: Message>(bytes: &Bytes) -> Result<M> {
    let mut buf = bytes.clone();
    if buf.remaining() < 2 {
        return Err(format!("the {} is shorter than its version", M::NAME));
    }
    let version = buf.get_i16().clamp(0, M::VERSIONS.max);
    M::decode(&mut buf, version).map_err(|e| format!("cannot decode the {}: {e}", M::NAME))
}

/// The topics and partitions of a consumer-protocol assignment (none for empty bytes, which
/// members have until their first SyncGroup).
pub fn decode_assignment(bytes: &Bytes) -> Result<Vec<(String, Vec<i32>)>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let assignment: ConsumerProtocolAssignment = decode_versioned(bytes)?;
    Ok(assignment
        .assigned_partitions
        .into_iter()
        .map(|assigned| (assigned.topic.to_string(), assigned.partitions))
        .collect())
}

/// The topics a consumer-protocol subscription names (none if it does not decode: such a
/// member is assigned nothing).
fn decode_subscription(bytes: &Bytes) -> Vec<String> {
    decode_versioned::<ConsumerProtocolSubscription>(bytes)
        .map(|subscription| subscription.topics.iter().map(|t| t.to_string()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscribed(member_id: &str, topics: &[&str]) -> (String, Vec<String>) {
        (
            member_id.to_owned(),
            topics.iter().map(|topic| topic.to_string()).collect(),
        )
    }

    #[test]
    fn range_assignment_splits_each_topic_in_member_order() {
        let subscriptions = [
            subscribed("b", &["orders"]),
            subscribed("a", &["orders", "audit"]),
            subscribed("c", &["orders"]),
        ];
        let counts = BTreeMap::from([("orders".to_owned(), 5), ("audit".to_owned(), 2)]);
        let assignment = range_assignment(&subscriptions, &counts);
        assert_eq!(
            assignment["a"],
            vec![
                ("audit".to_owned(), vec![0, 1]),
                ("orders".to_owned(), vec![0, 1])
            ]
        );
        assert_eq!(assignment["b"], vec![("orders".to_owned(), vec![2, 3])]);
        assert_eq!(assignment["c"], vec![("orders".to_owned(), vec![4])]);
    }

    #[test]
    fn more_members_than_partitions_leaves_some_empty() {
        let subscriptions = [subscribed("a", &["t"]), subscribed("b", &["t"])];
        let counts = BTreeMap::from([("t".to_owned(), 1)]);
        let assignment = range_assignment(&subscriptions, &counts);
        assert_eq!(assignment["a"], vec![("t".to_owned(), vec![0])]);
        assert!(assignment["b"].is_empty());
    }

    #[test]
    fn assignments_round_trip_through_the_consumer_protocol() {
        let assigned = vec![("t".to_owned(), vec![0, 2]), ("u".to_owned(), vec![1])];
        let bytes = encode_assignment(&assigned).unwrap();
        assert_eq!(&bytes[..2], &[0, 0], "an i16 version first");
        assert_eq!(decode_assignment(&bytes).unwrap(), assigned);
        assert!(decode_assignment(&Bytes::new()).unwrap().is_empty());
        assert!(decode_assignment(&Bytes::from_static(&[0])).is_err());
        assert!(decode_assignment(&Bytes::from_static(&[0, 3, 0, 0, 0, 9])).is_err());
    }

    #[test]
    fn subscriptions_decode_or_are_empty() {
        let member = GroupMember {
            group: "g".to_owned(),
            topic: "orders".to_owned(),
            member_id: String::new(),
            generation_id: -1,
            partitions: Vec::new(),
            last_heartbeat: Instant::now(),
        };
        let bytes = member.subscription().unwrap();
        assert_eq!(decode_subscription(&bytes), vec!["orders".to_owned()]);
        assert!(decode_subscription(&Bytes::from_static(&[0, 0, 0])).is_empty());
    }
}
