//! `ferritectl group list`, `describe`, `delete` and `seek`, and the offset requests they share
//! with `consume --group` (OffsetFetch, OffsetCommit).
//!
//! Group requests go to the group's coordinator (`client::Cluster::coordinator`), except
//! ListGroups, which every broker answers for the groups it coordinates and is therefore sent
//! to each broker of the cluster.

use std::collections::{BTreeMap, BTreeSet};

use client::{Cluster, Connection};
use serde_json::{json, Value};
use wire::codec::KStr;
use wire::messages::delete_groups_request::DeleteGroupsRequest;
use wire::messages::describe_groups_request::DescribeGroupsRequest;
use wire::messages::describe_groups_response::DescribedGroup;
use wire::messages::list_groups_request::ListGroupsRequest;
use wire::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use wire::messages::offset_fetch_request::{OffsetFetchRequest, OffsetFetchRequestTopic};
use wire::messages::ApiKey;

use super::data::{list_offset, StartAt};
use super::group_member::decode_assignment;
use super::{check, connect, topic_metadata, Result};
use crate::cli::{Cli, Format, GroupCommand, SeekArgs};
use crate::output;

/// The group states ListGroups knows, as Kafka spells them.
const GROUP_STATES: [&str; 8] = [
    "Empty",
    "Stable",
    "PreparingRebalance",
    "CompletingRebalance",
    "Dead",
    "Assigning",
    "Reconciling",
    "Unknown",
];
/// The first ListGroups version with a state filter.
const LIST_GROUPS_STATES_VERSION: i16 = 4;
/// The last OffsetFetch version that names one group (later ones take a list).
const OFFSET_FETCH_ONE_GROUP_VERSION_MAX: i16 = 7;
/// The first OffsetFetch version where a null topic list means every topic.
const OFFSET_FETCH_ALL_TOPICS_VERSION: i16 = 2;
/// The protocol type of Kafka consumers, whose assignments `describe` decodes.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

pub fn run(cli: &Cli, command: &GroupCommand) -> Result<()> {
    let mut cluster = connect(cli)?;
    match command {
        GroupCommand::List { states } => list(cli, &mut cluster, states),
        GroupCommand::Describe { group } => describe(cli, &mut cluster, group),
        GroupCommand::Delete { groups } => delete(cli, &mut cluster, groups),
        GroupCommand::Seek(arguments) => seek(cli, &mut cluster, arguments),
    }
}

fn list(cli: &Cli, cluster: &mut Cluster, states: &[String]) -> Result<()> {
    let states: Vec<&'static str> = states
        .iter()
        .map(|wanted| {
            GROUP_STATES
                .into_iter()
                .find(|state| state.eq_ignore_ascii_case(wanted))
                .ok_or_else(|| {
                    format!(
                        "--state {wanted:?} is not one of {}",
                        GROUP_STATES.join(", ")
                    )
                })
        })
        .collect::<Result<_>>()?;
    // Metadata of no topic: just the brokers.
    let no_topics: &[String] = &[];
    let metadata = cluster
        .metadata(Some(no_topics))
        .map_err(|e| e.to_string())?;
    // Each broker lists the groups it coordinates; a group is listed once.
    let mut groups: BTreeMap<String, (String, String)> = BTreeMap::new();
    for broker in &metadata.brokers {
        let connection = cluster.node(broker.node_id).map_err(|e| e.to_string())?;
        let version = connection
            .version_for(ApiKey::ListGroups)
            .map_err(|e| e.to_string())?;
        let states_filter = if version >= LIST_GROUPS_STATES_VERSION {
            states
                .iter()
                .map(|state| KStr::from_static(state))
                .collect()
        } else {
            Vec::new()
        };
        let response = connection
            .send_at(
                version,
                ListGroupsRequest {
                    states_filter,
                    ..Default::default()
                },
            )
            .map_err(|e| e.to_string())?;
        check(
            response.error_code,
            &format!("cannot list the groups of broker {}", broker.node_id),
        )?;
        for group in response.groups {
            // Brokers without the filter (or ignoring it) list every state.
            if !states.is_empty() && !states.contains(&&*group.group_state) {
                continue;
            }
            groups.insert(
                group.group_id.to_string(),
                (
                    group.group_state.to_string(),
                    group.protocol_type.to_string(),
                ),
            );
        }
    }
    let rows: Vec<Vec<Value>> = groups
        .into_iter()
        .map(|(group, (state, protocol_type))| {
            vec![json!(group), json!(state), json!(protocol_type)]
        })
        .collect();
    output::table(cli.format, &["group", "state", "protocol_type"], &rows);
    Ok(())
}

/// DescribeGroups for one group, from its coordinator; a group the coordinator does not know
/// (described as `Dead`) is GROUP_ID_NOT_FOUND.
pub fn describe_group(cluster: &mut Cluster, group: &str) -> Result<DescribedGroup> {
    let response = cluster
        .coordinator(group)
        .map_err(|e| e.to_string())?
        .send(DescribeGroupsRequest {
            groups: vec![KStr::from(group.to_owned())],
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
    let described = response
        .groups
        .into_iter()
        .next()
        .ok_or("the broker answered DescribeGroups with no group")?;
    check(described.error_code, &format!("group {group}"))?;
    if &*described.group_state == "Dead" {
        return Err(format!("group {group}: GROUP_ID_NOT_FOUND"));
    }
    Ok(described)
}

/// A group's committed offset of one partition.
#[derive(Debug, Clone)]
pub struct Committed {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// The committed offsets of `group` (OffsetFetch): of every topic when `topics` is `None`,
/// else of the listed partitions (those without a commit come back with offset -1).
pub fn fetch_committed(
    connection: &mut Connection,
    group: &str,
    topics: Option<&[(String, Vec<i32>)]>,
) -> Result<Vec<Committed>> {
    // v7 is the newest version that asks about one group (v8 asks about a list of them).
    let version = connection
        .version_for(ApiKey::OffsetFetch)
        .map_err(|e| e.to_string())?
        .min(OFFSET_FETCH_ONE_GROUP_VERSION_MAX);
    if topics.is_none() && version < OFFSET_FETCH_ALL_TOPICS_VERSION {
        return Err(format!(
            "the broker's OffsetFetch v{version} cannot list every committed offset"
        ));
    }
    let what = format!("cannot fetch the committed offsets of group {group}");
    let request = OffsetFetchRequest {
        group_id: KStr::from(group.to_owned()),
        topics: topics.map(|topics| {
            topics
                .iter()
                .map(|(name, partitions)| OffsetFetchRequestTopic {
                    name: KStr::from(name.clone()),
                    partition_indexes: partitions.clone(),
                    ..Default::default()
                })
                .collect()
        }),
        ..Default::default()
    };
    let response = connection
        .send_at(version, request)
        .map_err(|e| e.to_string())?;
    check(response.error_code, &what)?;
    let mut committed = Vec::new();
    for topic in response.topics {
        for partition in topic.partitions {
            check(partition.error_code, &what)?;
            committed.push(Committed {
                topic: topic.name.to_string(),
                partition: partition.partition_index,
                offset: partition.committed_offset,
            });
        }
    }
    Ok(committed)
}

/// Who commits: a member of the current generation, or (generation -1, empty member id) an
/// administrator, which the coordinator accepts only while the group has no members.
pub struct Committer<'a> {
    pub group: &'a str,
    pub generation_id: i32,
    pub member_id: &'a str,
}

/// Commits `offsets` (partition, next offset to read) of `topic`; returns each partition's
/// error code, for the caller to judge.
pub fn commit(
    connection: &mut Connection,
    committer: &Committer<'_>,
    topic: &str,
    offsets: &[(i32, i64)],
) -> Result<Vec<(i32, i16)>> {
    let response = connection
        .send(OffsetCommitRequest {
            group_id: KStr::from(committer.group.to_owned()),
            generation_id_or_member_epoch: committer.generation_id,
            member_id: KStr::from(committer.member_id.to_owned()),
            topics: vec![OffsetCommitRequestTopic {
                name: KStr::from(topic.to_owned()),
                partitions: offsets
                    .iter()
                    .map(|(partition, offset)| OffsetCommitRequestPartition {
                        partition_index: *partition,
                        committed_offset: *offset,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
    Ok(response
        .topics
        .iter()
        .flat_map(|topic| topic.partitions.iter())
        .map(|partition| (partition.partition_index, partition.error_code))
        .collect())
}

fn describe(cli: &Cli, cluster: &mut Cluster, group: &str) -> Result<()> {
    let described = describe_group(cluster, group)?;
    let is_consumer = &*described.protocol_type == CONSUMER_PROTOCOL_TYPE;
    // Which member owns each partition, and the members as printed.
    let mut owners: BTreeMap<(String, i32), String> = BTreeMap::new();
    let mut members = Vec::new();
    for member in &described.members {
        let assigned = if is_consumer {
            decode_assignment(&member.member_assignment)
                .map_err(|e| format!("member {}: {e}", &*member.member_id))?
        } else {
            Vec::new()
        };
        let mut partitions = Vec::new();
        for (topic, indexes) in &assigned {
            for index in indexes {
                owners.insert((topic.clone(), *index), member.member_id.to_string());
                partitions.push(format!("{topic}/{index}"));
            }
        }
        members.push(json!({
            "member_id": &*member.member_id,
            "instance_id": member.group_instance_id.as_deref(),
            "client_id": &*member.client_id,
            "host": &*member.client_host,
            "partitions": partitions,
        }));
    }
    let connection = cluster.coordinator(group).map_err(|e| e.to_string())?;
    let committed = fetch_committed(connection, group, None)?;
    // Every partition with a commit or an owner, with its log end offset.
    let mut partitions: BTreeMap<(String, i32), i64> =
        owners.keys().map(|key| (key.clone(), -1)).collect();
    for entry in &committed {
        partitions.insert((entry.topic.clone(), entry.partition), entry.offset);
    }
    let topics: Vec<String> = partitions
        .keys()
        .map(|(topic, _)| topic.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut leaders: BTreeMap<(String, i32), i32> = BTreeMap::new();
    if !topics.is_empty() {
        let metadata = cluster.metadata(Some(&topics)).map_err(|e| e.to_string())?;
        for topic in metadata.topics.iter().filter(|topic| topic.error_code == 0) {
            let name = topic.name.as_deref().unwrap_or_default();
            for partition in &topic.partitions {
                leaders.insert(
                    (name.to_owned(), partition.partition_index),
                    partition.leader_id,
                );
            }
        }
    }
    let mut offsets = Vec::new();
    for ((topic, partition), committed_offset) in &partitions {
        // A deleted topic or a leaderless partition has no log end to show.
        let log_end_offset = match leaders.get(&(topic.clone(), *partition)) {
            Some(leader) if *leader >= 0 => {
                Some(list_offset(cluster, topic, *partition, *leader, -1)?)
            }
            _ => None,
        };
        let committed_offset = (*committed_offset >= 0).then_some(*committed_offset);
        let lag = committed_offset
            .zip(log_end_offset)
            .map(|(at, end)| end - at);
        offsets.push(json!({
            "topic": topic,
            "partition": partition,
            "committed_offset": committed_offset,
            "log_end_offset": log_end_offset,
            "lag": lag,
            "member_id": owners.get(&(topic.clone(), *partition)),
        }));
    }
    let header = [
        ("group", json!(group)),
        ("state", json!(&*described.group_state)),
        ("protocol_type", json!(&*described.protocol_type)),
        // No protocol is chosen while the group is empty.
        (
            "protocol",
            json!((!described.protocol_data.is_empty()).then_some(&*described.protocol_data)),
        ),
    ];
    match cli.format {
        Format::Json => {
            let mut object: serde_json::Map<String, Value> = header
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect();
            object.insert("members".to_owned(), Value::Array(members));
            object.insert("offsets".to_owned(), Value::Array(offsets));
            println!("{}", Value::Object(object));
        }
        Format::Text => {
            output::object(cli.format, &header);
            println!();
            let columns = ["member_id", "client_id", "host", "partitions"];
            output::table(cli.format, &columns, &rows_of(&members, &columns));
            println!();
            let columns = [
                "topic",
                "partition",
                "committed_offset",
                "log_end_offset",
                "lag",
                "member_id",
            ];
            output::table(cli.format, &columns, &rows_of(&offsets, &columns));
        }
    }
    Ok(())
}

/// The `columns` of each JSON object, as table rows.
fn rows_of(objects: &[Value], columns: &[&str]) -> Vec<Vec<Value>> {
    objects
        .iter()
        .map(|object| columns.iter().map(|c| object[*c].clone()).collect())
        .collect()
}

fn delete(cli: &Cli, cluster: &mut Cluster, groups: &[String]) -> Result<()> {
    let mut deleted = Vec::new();
    let mut failures = Vec::new();
    for group in groups {
        let result = cluster
            .coordinator(group)
            .map_err(|e| e.to_string())
            .and_then(|connection| {
                connection
                    .send(DeleteGroupsRequest {
                        groups_names: vec![KStr::from(group.clone())],
                        ..Default::default()
                    })
                    .map_err(|e| e.to_string())
            })
            .and_then(|response| {
                let result = response
                    .results
                    .first()
                    .ok_or("the broker answered DeleteGroups with no group")?;
                check(result.error_code, &format!("cannot delete group {group}"))
            });
        match result {
            Ok(()) => deleted.push(vec![json!(group)]),
            Err(error) => failures.push(error),
        }
    }
    if !deleted.is_empty() {
        output::table(cli.format, &["deleted"], &deleted);
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

fn seek(cli: &Cli, cluster: &mut Cluster, arguments: &SeekArgs) -> Result<()> {
    let group = arguments.group.as_str();
    // A group that never existed may be given offsets; one with members may not.
    match describe_group(cluster, group) {
        Ok(described) if !described.members.is_empty() => {
            return Err(format!(
                "group {group} has {} active member(s) (state {}); stop its consumers before seeking",
                described.members.len(),
                &*described.group_state
            ));
        }
        Ok(_) => {}
        Err(error) if error.ends_with("GROUP_ID_NOT_FOUND") => {}
        Err(error) => return Err(error),
    }
    let topic = topic_metadata(cluster, &arguments.topic, false)?;
    let mut offsets = Vec::new();
    for partition in &topic.partitions {
        let index = partition.partition_index;
        if arguments.partition.is_some_and(|wanted| wanted != index) {
            continue;
        }
        let leader = partition.leader_id;
        let offset = if arguments.to_earliest {
            StartAt::Earliest.resolve(cluster, &arguments.topic, index, leader)?
        } else if arguments.to_latest {
            StartAt::Latest.resolve(cluster, &arguments.topic, index, leader)?
        } else if let Some(timestamp) = arguments.to_timestamp {
            StartAt::Timestamp(timestamp).resolve(cluster, &arguments.topic, index, leader)?
        } else {
            let wanted = arguments
                .to_offset
                .ok_or("say where to: --to-earliest, --to-latest, --to-offset or --to-timestamp")?;
            let earliest = StartAt::Earliest.resolve(cluster, &arguments.topic, index, leader)?;
            let latest = StartAt::Latest.resolve(cluster, &arguments.topic, index, leader)?;
            wanted.clamp(earliest, latest)
        };
        offsets.push((index, offset));
    }
    if offsets.is_empty() {
        return Err(format!(
            "topic {} has no partition {}",
            arguments.topic,
            arguments.partition.unwrap_or_default()
        ));
    }
    let committer = Committer {
        group,
        generation_id: -1,
        member_id: "",
    };
    let connection = cluster.coordinator(group).map_err(|e| e.to_string())?;
    let results = commit(connection, &committer, &arguments.topic, &offsets)?;
    for (partition, error_code) in &results {
        check(
            *error_code,
            &format!(
                "cannot commit group {group}'s offset of {}/{partition}",
                arguments.topic
            ),
        )
        .map_err(
            |error| match wire::error_code::ErrorCode::from_code(*error_code) {
                Some(wire::error_code::ErrorCode::UnknownMemberId) => {
                    format!("{error} (a consumer joined the group meanwhile; stop it and retry)")
                }
                _ => error,
            },
        )?;
    }
    let rows: Vec<Vec<Value>> = offsets
        .iter()
        .map(|(partition, offset)| {
            vec![
                json!(group),
                json!(arguments.topic),
                json!(partition),
                json!(offset),
            ]
        })
        .collect();
    output::table(
        cli.format,
        &["group", "topic", "partition", "offset"],
        &rows,
    );
    Ok(())
}
