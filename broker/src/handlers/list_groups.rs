//! ListGroups: every group of every core, optionally only those in the given states (v4+,
//! case-insensitive as in Kafka) and of the given types (v5+; all groups here are `classic`).

use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::codec::KStr;
use wire::error_code::ErrorCode;
use wire::messages::list_groups_request::ListGroupsRequest;
use wire::messages::list_groups_response::{ListGroupsResponse, ListedGroup};

use super::Request;
use crate::runtime::executors::ShardId;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=5;

/// The state is in the answer from this version.
const STATE_VERSION: i16 = 4;
/// The group type is in the answer from this version.
const TYPE_VERSION: i16 = 5;
/// The only group type this broker has (Kafka's name for the classic protocol).
const CLASSIC: &str = "classic";

pub async fn handle(
    shard: Rc<Shard>,
    request: Request,
    body: ListGroupsRequest,
) -> ListGroupsResponse {
    let wants_type = body.types_filter.is_empty()
        || body
            .types_filter
            .iter()
            .any(|kind| kind.eq_ignore_ascii_case(CLASSIC));
    let mut calls = Vec::with_capacity(shard.shard_count());
    for target in 0..shard.shard_count() {
        let call = shard
            .mesh
            .start_call(ShardId(target), &shard, |owner: Rc<Shard>| async move {
                owner.groups.list()
            })
            .await;
        calls.push(call);
    }
    let mut error = ErrorCode::None;
    let mut groups = Vec::new();
    for call in calls {
        let listed = match call {
            Ok(call) => call.result().await.ok(),
            Err(_) => None,
        };
        let Some(listed) = listed else {
            error = ErrorCode::CoordinatorNotAvailable;
            continue;
        };
        for group in listed {
            let state = group.state.name();
            let wanted_state = body.states_filter.is_empty()
                || body
                    .states_filter
                    .iter()
                    .any(|wanted| wanted.eq_ignore_ascii_case(state));
            if !(wanted_state && wants_type) {
                continue;
            }
            groups.push(ListedGroup {
                group_id: KStr::from(group.group_id),
                protocol_type: KStr::from(group.protocol_type),
                group_state: if request.version >= STATE_VERSION {
                    KStr::from_static(state)
                } else {
                    KStr::new()
                },
                group_type: if request.version >= TYPE_VERSION {
                    KStr::from_static(CLASSIC)
                } else {
                    KStr::new()
                },
                ..Default::default()
            });
        }
    }
    groups.sort_by(|a, b| a.group_id.as_str().cmp(b.group_id.as_str()));
    ListGroupsResponse {
        error_code: error.code(),
        groups,
        ..Default::default()
    }
}
