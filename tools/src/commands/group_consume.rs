//! `ferritectl consume --group`: reading as a member of a consumer group.
//!
//! The member ([`GroupMember`]) joins and learns its partitions of the topic; each starts at
//! the group's committed offset, or where `--offset` says when the group has none. After the
//! records of each fetch are printed, the offset after the last printed one is committed, so a
//! later `consume --group` continues there (at least once: a record printed just before a
//! crash or a rebalance may be printed again). Heartbeats go out between fetches; a rebalance
//! makes the member rejoin and reload its positions. The member leaves the group when the
//! command ends: after `-n` records, when idle, after an error, and on Ctrl-C or SIGTERM.

use std::time::{Duration, Instant};

use client::Cluster;

use super::data::{fetch, Position, Printer, StartAt};
use super::group::fetch_committed;
use super::group_member::{GroupMember, Standing};
use super::{topic_metadata, Result};
use crate::cli::{Cli, ConsumeArgs};
use crate::interrupt;

/// Longest pause while the member has no partition (more members than partitions).
const UNASSIGNED_PAUSE: Duration = Duration::from_millis(500);

/// A partition this member reads, and the offset the group has committed for it.
struct Owned {
    position: Position,
    committed_offset: i64,
}

pub fn consume(
    _cli: &Cli,
    cluster: &mut Cluster,
    arguments: &ConsumeArgs,
    group: &str,
    start_at: StartAt,
) -> Result<()> {
    // An unknown topic is a clear error before anyone joins.
    topic_metadata(cluster, &arguments.topic, false)?;
    interrupt::catch();
    let mut member = GroupMember::join(cluster, group, &arguments.topic)?;
    let consumed = consume_as(cluster, &mut member, arguments, start_at);
    let left = member.leave(cluster);
    consumed.and(left)
}

fn consume_as(
    cluster: &mut Cluster,
    member: &mut GroupMember,
    arguments: &ConsumeArgs,
    start_at: StartAt,
) -> Result<()> {
    let mut printer = Printer::new(arguments);
    let idle = Duration::from_millis(arguments.idle_ms);
    let mut last_record = Instant::now();
    let mut owned = positions(cluster, member, &arguments.topic, start_at)?;
    while !printer.done() && last_record.elapsed() < idle && !interrupt::interrupted() {
        let mut standing = Standing::Member;
        if owned.is_empty() {
            std::thread::sleep(UNASSIGNED_PAUSE.min(idle.saturating_sub(last_record.elapsed())));
            if member.heartbeat_due() {
                standing = member.heartbeat(cluster)?;
            }
        }
        for partition in &mut owned {
            if printer.done() || standing == Standing::MustRejoin || interrupt::interrupted() {
                break;
            }
            if member.heartbeat_due() {
                standing = member.heartbeat(cluster)?;
                if standing == Standing::MustRejoin {
                    break;
                }
            }
            let position = &mut partition.position;
            let records = fetch(cluster, &arguments.topic, position, arguments.idle_ms)?;
            let printed = printer.print(position.partition, &records)?;
            if printed > 0 {
                last_record = Instant::now();
            }
            // The next record to read: the first one not printed, or where the fetch ended.
            let next_offset = records
                .get(printed)
                .map_or(position.next_offset, |record| record.offset());
            if next_offset != partition.committed_offset {
                standing = member.commit(cluster, &[(position.partition, next_offset)])?;
                if standing == Standing::Member {
                    partition.committed_offset = next_offset;
                }
            }
        }
        // No rejoin (which may wait for a whole rebalance) when the command is ending anyway.
        if standing == Standing::MustRejoin && !printer.done() && !interrupt::interrupted() {
            member.rejoin(cluster)?;
            owned = positions(cluster, member, &arguments.topic, start_at)?;
        }
    }
    printer.flush()
}

/// Where each assigned partition starts: the committed offset, else `start_at`.
fn positions(
    cluster: &mut Cluster,
    member: &GroupMember,
    topic: &str,
    start_at: StartAt,
) -> Result<Vec<Owned>> {
    if member.partitions().is_empty() {
        return Ok(Vec::new());
    }
    let metadata = topic_metadata(cluster, topic, false)?;
    let connection = cluster
        .coordinator(member.group())
        .map_err(|e| e.to_string())?;
    let wanted = [(topic.to_owned(), member.partitions().to_vec())];
    let committed = fetch_committed(connection, member.group(), Some(&wanted))?;
    let mut owned = Vec::new();
    for &partition in member.partitions() {
        let leader = metadata
            .partitions
            .iter()
            .find(|p| p.partition_index == partition)
            .map(|p| p.leader_id)
            .ok_or_else(|| format!("topic {topic} has no partition {partition}"))?;
        let committed_offset = committed
            .iter()
            .find(|entry| entry.topic == topic && entry.partition == partition)
            .map_or(-1, |entry| entry.offset);
        let next_offset = if committed_offset >= 0 {
            committed_offset
        } else {
            start_at.resolve(cluster, topic, partition, leader)?
        };
        owned.push(Owned {
            position: Position {
                partition,
                leader,
                next_offset,
            },
            committed_offset,
        });
    }
    Ok(owned)
}
