//! DeleteGroups: deletes groups without members, with their committed offsets
//! (NON_EMPTY_GROUP while members remain, GROUP_ID_NOT_FOUND for unknown groups).

use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::messages::delete_groups_request::DeleteGroupsRequest;
use wire::messages::delete_groups_response::{DeletableGroupResult, DeleteGroupsResponse};

use super::Request;
use crate::group::on_coordinator;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=2;

pub async fn handle(
    shard: Rc<Shard>,
    _request: Request,
    body: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(body.groups_names.len());
    for group_id in &body.groups_names {
        let id = group_id.to_string();
        let error = on_coordinator(&shard, &id.clone(), move |owner, partition| async move {
            owner.groups.delete_group(&partition, &id).await
        })
        .await
        .unwrap_or_else(|error| error);
        results.push(DeletableGroupResult {
            group_id: group_id.clone(),
            error_code: error.code(),
            ..Default::default()
        });
    }
    DeleteGroupsResponse {
        results,
        ..Default::default()
    }
}
