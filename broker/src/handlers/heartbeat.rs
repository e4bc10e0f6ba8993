//! Heartbeat: keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.

use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::messages::heartbeat_request::HeartbeatRequest;
use wire::messages::heartbeat_response::HeartbeatResponse;

use super::Request;
use crate::group::{on_coordinator, Identity};
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=4;

pub async fn handle(
    shard: Rc<Shard>,
    _request: Request,
    body: HeartbeatRequest,
) -> HeartbeatResponse {
    let group_id = body.group_id.to_string();
    let who = Identity {
        member_id: body.member_id.to_string(),
        instance_id: body.group_instance_id.as_ref().map(|id| id.to_string()),
    };
    let generation_id = body.generation_id;
    let target = group_id.clone();
    let error = on_coordinator(&shard, &target, move |owner, partition| async move {
        owner
            .groups
            .heartbeat(&partition, &group_id, who, generation_id)
            .await
    })
    .await
    .unwrap_or_else(|error| error);
    HeartbeatResponse {
        error_code: error.code(),
        ..Default::default()
    }
}
