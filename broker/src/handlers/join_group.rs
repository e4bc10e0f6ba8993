//! JoinGroup: a member joins (or rejoins) a group and waits until the join phase completes;
//! see [`crate::group::state`] for the protocol. A new member without an id gets
//! MEMBER_ID_REQUIRED and its id first (v4+, KIP-394); static members (group.instance.id,
//! KIP-345) skip that step and keep their place across restarts.

use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::codec::KStr;
use wire::messages::join_group_request::JoinGroupRequest;
use wire::messages::join_group_response::{JoinGroupResponse, JoinGroupResponseMember};

use super::Request;
use crate::group::{on_coordinator, JoinOutcome, JoinRequest};
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=9;

/// Before v1 there is no rebalance timeout: the session timeout serves as both.
const REBALANCE_TIMEOUT_VERSION: i16 = 1;
/// MEMBER_ID_REQUIRED from this version.
const MEMBER_ID_REQUIRED_VERSION: i16 = 4;
/// The protocol type is in the answer from this version.
const PROTOCOL_TYPE_VERSION: i16 = 7;
/// skip_assignment from this version.
const SKIP_ASSIGNMENT_VERSION: i16 = 9;

pub async fn handle(
    shard: Rc<Shard>,
    request: Request,
    body: JoinGroupRequest,
) -> JoinGroupResponse {
    let version = request.version;
    let group_id = body.group_id.to_string();
    let member_id = body.member_id.to_string();
    let join = JoinRequest {
        member_id: member_id.clone(),
        instance_id: body.group_instance_id.as_ref().map(|id| id.to_string()),
        client_id: request
            .header
            .client_id
            .as_ref()
            .map(|id| id.to_string())
            .unwrap_or_default(),
        client_host: format!("/{}", request.peer.ip()),
        session_timeout_ms: body.session_timeout_ms,
        rebalance_timeout_ms: if version >= REBALANCE_TIMEOUT_VERSION {
            body.rebalance_timeout_ms
        } else {
            body.session_timeout_ms
        },
        protocol_type: body.protocol_type.to_string(),
        protocols: body
            .protocols
            .iter()
            .map(|protocol| (protocol.name.to_string(), protocol.metadata.clone()))
            .collect(),
        require_known_member_id: version >= MEMBER_ID_REQUIRED_VERSION,
    };
    let target = group_id.clone();
    let outcome = on_coordinator(&shard, &target, move |owner, partition| async move {
        owner
            .groups
            .join(
                &owner,
                &partition,
                &group_id,
                join,
                version >= SKIP_ASSIGNMENT_VERSION,
            )
            .await
    })
    .await
    .unwrap_or_else(|error| JoinOutcome::error(error, &member_id));
    answer(version, outcome)
}

fn answer(version: i16, outcome: JoinOutcome) -> JoinGroupResponse {
    JoinGroupResponse {
        error_code: outcome.error.code(),
        generation_id: outcome.generation_id,
        protocol_type: outcome
            .protocol_type
            .filter(|_| version >= PROTOCOL_TYPE_VERSION)
            .map(KStr::from),
        protocol_name: match outcome.protocol_name {
            Some(name) => Some(KStr::from(name)),
            // Null only from v7; before, an empty string.
            None if version < PROTOCOL_TYPE_VERSION => Some(KStr::new()),
            None => None,
        },
        leader: KStr::from(outcome.leader),
        skip_assignment: outcome.skip_assignment && version >= SKIP_ASSIGNMENT_VERSION,
        member_id: KStr::from(outcome.member_id),
        members: outcome
            .members
            .into_iter()
            .map(|member| JoinGroupResponseMember {
                member_id: KStr::from(member.member_id),
                group_instance_id: member.instance_id.map(KStr::from),
                metadata: member.metadata,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
