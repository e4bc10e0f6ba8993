//! SyncGroup: the leader hands in the assignment; every member gets its own part once the
//! group is durable in `__consumer_offsets`.

use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::codec::KStr;
use wire::messages::sync_group_request::SyncGroupRequest;
use wire::messages::sync_group_response::SyncGroupResponse;

use super::Request;
use crate::group::{on_coordinator, Identity, SyncOutcome};
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=5;

/// Protocol type and name are in request and answer from this version.
const PROTOCOL_VERSION: i16 = 5;

pub async fn handle(
    shard: Rc<Shard>,
    request: Request,
    body: SyncGroupRequest,
) -> SyncGroupResponse {
    let version = request.version;
    let group_id = body.group_id.to_string();
    let who = Identity {
        member_id: body.member_id.to_string(),
        instance_id: body.group_instance_id.as_ref().map(|id| id.to_string()),
    };
    let protocol = (
        body.protocol_type.as_ref().map(|text| text.to_string()),
        body.protocol_name.as_ref().map(|text| text.to_string()),
    );
    let assignments = body
        .assignments
        .iter()
        .map(|assignment| {
            (
                assignment.member_id.to_string(),
                assignment.assignment.clone(),
            )
        })
        .collect();
    let generation_id = body.generation_id;
    let target = group_id.clone();
    let outcome = on_coordinator(&shard, &target, move |owner, partition| async move {
        owner
            .groups
            .sync(
                &partition,
                &group_id,
                who,
                generation_id,
                protocol,
                assignments,
            )
            .await
    })
    .await
    .unwrap_or_else(SyncOutcome::error);
    answer(version, outcome)
}

fn answer(version: i16, outcome: SyncOutcome) -> SyncGroupResponse {
    let with_protocol = version >= PROTOCOL_VERSION;
    SyncGroupResponse {
        error_code: outcome.error.code(),
        protocol_type: outcome
            .protocol_type
            .filter(|_| with_protocol)
            .map(KStr::from),
        protocol_name: outcome
            .protocol_name
            .filter(|_| with_protocol)
            .map(KStr::from),
        assignment: outcome.assignment,
        ..Default::default()
    }
}
