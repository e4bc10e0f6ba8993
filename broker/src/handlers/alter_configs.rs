//! AlterConfigs (the older, non-incremental form): the configs given replace all of a topic's
//! overrides; configs not named go back to their defaults. Broker configs are read-only.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::messages::alter_configs_request::AlterConfigsRequest;
use wire::messages::alter_configs_response::{AlterConfigsResourceResponse, AlterConfigsResponse};

use super::config_resources::alter_resources;
use super::incremental_alter_configs::diff;
use super::Request;
use crate::shard::Shard;
use crate::topics::ConfigChange;

pub const VERSIONS: RangeInclusive<i16> = 0..=2;

pub async fn handle(
    shard: Rc<Shard>,
    _request: Request,
    body: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let resources = body
        .resources
        .iter()
        .map(|resource| {
            let wanted: BTreeMap<String, String> = resource
                .configs
                .iter()
                .filter_map(|config| {
                    let value = config.value.as_ref()?;
                    Some((config.name.to_string(), value.to_string()))
                })
                .collect();
            let change: ConfigChange =
                Box::new(move |current: &BTreeMap<String, String>| Ok(diff(current, &wanted)));
            (
                resource.resource_type,
                resource.resource_name.to_string(),
                change,
            )
        })
        .collect();
    let answers = alter_resources(&shard, resources, body.validate_only).await;
    AlterConfigsResponse {
        responses: body
            .resources
            .iter()
            .zip(answers)
            .map(
                |(resource, (error_code, error_message))| AlterConfigsResourceResponse {
                    error_code,
                    error_message,
                    resource_type: resource.resource_type,
                    resource_name: resource.resource_name.clone(),
                    ..Default::default()
                },
            )
            .collect(),
        ..Default::default()
    }
}
