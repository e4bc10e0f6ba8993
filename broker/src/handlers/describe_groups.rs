//! DescribeGroups: state, protocol, members with their metadata and assignments. A group that
//! does not exist is described as `Dead` with no error, as Kafka does before v6.

use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::codec::KStr;
use wire::messages::describe_groups_request::DescribeGroupsRequest;
use wire::messages::describe_groups_response::{
    DescribeGroupsResponse, DescribedGroup, DescribedGroupMember,
};

use super::Request;
use crate::group::{on_coordinator, GroupState};
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=5;

/// Authorized operations can be asked for from this version.
const OPERATIONS_VERSION: i16 = 3;
/// What Kafka answers for authorized operations when they were not asked for.
const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;
/// Kafka's ACL operations that apply to a group, as a bit set: READ 3, DELETE 6, DESCRIBE 8.
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

pub async fn handle(
    shard: Rc<Shard>,
    request: Request,
    body: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let operations = if request.version >= OPERATIONS_VERSION && body.include_authorized_operations
    {
        GROUP_OPERATIONS
    } else {
        OPERATIONS_NOT_REQUESTED
    };
    let mut groups = Vec::with_capacity(body.groups.len());
    for group_id in &body.groups {
        let id = group_id.to_string();
        let described = on_coordinator(&shard, &id.clone(), move |owner, _partition| async move {
            owner.groups.describe(&id)
        })
        .await;
        groups.push(match described {
            Err(error) => DescribedGroup {
                error_code: error.code(),
                group_id: group_id.clone(),
                authorized_operations: operations,
                ..Default::default()
            },
            Ok(None) => DescribedGroup {
                group_id: group_id.clone(),
                group_state: KStr::from_static(GroupState::Dead.name()),
                authorized_operations: operations,
                ..Default::default()
            },
            Ok(Some(description)) => DescribedGroup {
                group_id: group_id.clone(),
                group_state: KStr::from_static(description.state.name()),
                protocol_type: KStr::from(description.protocol_type),
                protocol_data: KStr::from(description.protocol),
                members: description
                    .members
                    .into_iter()
                    .map(|member| DescribedGroupMember {
                        member_id: KStr::from(member.member_id),
                        group_instance_id: member.instance_id.map(KStr::from),
                        client_id: KStr::from(member.client_id),
                        client_host: KStr::from(member.client_host),
                        member_metadata: member.metadata,
                        member_assignment: member.assignment,
                        ..Default::default()
                    })
                    .collect(),
                authorized_operations: operations,
                ..Default::default()
            },
        });
    }
    DescribeGroupsResponse {
        groups,
        ..Default::default()
    }
}
