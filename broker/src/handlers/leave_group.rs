//! LeaveGroup: members leave (one before v3, a batch from v3, KIP-345); the rest rebalance.

use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::error_code::ErrorCode;
use wire::messages::leave_group_request::LeaveGroupRequest;
use wire::messages::leave_group_response::{LeaveGroupResponse, MemberResponse};

use super::Request;
use crate::group::{on_coordinator, Identity};
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=5;

/// Batched members from this version.
const BATCHED_VERSION: i16 = 3;

pub async fn handle(
    shard: Rc<Shard>,
    request: Request,
    body: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let batched = request.version >= BATCHED_VERSION;
    let leaving: Vec<Identity> = if batched {
        body.members
            .iter()
            .map(|member| Identity {
                member_id: member.member_id.to_string(),
                instance_id: member.group_instance_id.as_ref().map(|id| id.to_string()),
            })
            .collect()
    } else {
        vec![Identity {
            member_id: body.member_id.to_string(),
            instance_id: None,
        }]
    };
    let group_id = body.group_id.to_string();
    let target = group_id.clone();
    let members = leaving.clone();
    let outcome = on_coordinator(&shard, &target, move |owner, partition| async move {
        owner.groups.leave(&partition, &group_id, members).await
    })
    .await
    .and_then(|outcome| outcome);
    match outcome {
        Err(error) => LeaveGroupResponse {
            error_code: error.code(),
            ..Default::default()
        },
        Ok(errors) if !batched => LeaveGroupResponse {
            error_code: errors.first().copied().unwrap_or(ErrorCode::None).code(),
            ..Default::default()
        },
        Ok(errors) => LeaveGroupResponse {
            members: leaving
                .into_iter()
                .zip(errors)
                .map(|(who, error)| MemberResponse {
                    member_id: who.member_id.into(),
                    group_instance_id: who.instance_id.map(Into::into),
                    error_code: error.code(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        },
    }
}
