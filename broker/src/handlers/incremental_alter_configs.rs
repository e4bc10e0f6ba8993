//! IncrementalAlterConfigs: set, delete, append to or subtract from single topic configs.
//! APPEND and SUBTRACT apply to list configs (`cleanup.policy`) only. Broker configs are
//! read-only at run time.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::error_code::ErrorCode;
use wire::messages::incremental_alter_configs_request::IncrementalAlterConfigsRequest;
use wire::messages::incremental_alter_configs_response::{
    AlterConfigsResourceResponse, IncrementalAlterConfigsResponse,
};

use super::config_resources::alter_resources;
use super::Request;
use crate::shard::Shard;
use crate::topic_config::{self, ConfigKind};
use crate::topics::{ConfigChange, TopicError};

pub const VERSIONS: RangeInclusive<i16> = 0..=1;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// One requested operation, owned so it can travel to the metadata shard.
struct Operation {
    name: String,
    operation: i8,
    value: Option<String>,
}

fn change(operations: Vec<Operation>) -> ConfigChange {
    Box::new(move |current: &BTreeMap<String, String>| {
        let mut next = current.clone();
        for Operation {
            name,
            operation,
            value,
        } in &operations
        {
            let invalid = |message: String| TopicError::new(ErrorCode::InvalidConfig, message);
            match *operation {
                SET => {
                    let value = value
                        .clone()
                        .ok_or_else(|| invalid(format!("SET `{name}` needs a value")))?;
                    next.insert(name.clone(), value);
                }
                DELETE => {
                    next.remove(name);
                }
                APPEND | SUBTRACT => {
                    let spec = topic_config::spec(name)
                        .ok_or_else(|| invalid(format!("unknown topic config `{name}`")))?;
                    if !matches!(spec.kind, ConfigKind::ListOf(_)) {
                        return Err(invalid(format!(
                            "`{name}` is not a list: APPEND and SUBTRACT do not apply"
                        )));
                    }
                    let present = topic_config::effective(&next, name)
                        .unwrap_or("")
                        .to_owned();
                    let mut items: Vec<String> = present
                        .split(',')
                        .map(str::trim)
                        .filter(|item| !item.is_empty())
                        .map(str::to_owned)
                        .collect();
                    let given: Vec<String> = value
                        .as_deref()
                        .unwrap_or("")
                        .split(',')
                        .map(str::trim)
                        .filter(|item| !item.is_empty())
                        .map(str::to_owned)
                        .collect();
                    if *operation == APPEND {
                        for item in given {
                            if !items.contains(&item) {
                                items.push(item);
                            }
                        }
                    } else {
                        items.retain(|item| !given.contains(item));
                    }
                    next.insert(name.clone(), items.join(","));
                }
                other => {
                    return Err(TopicError::new(
                        ErrorCode::InvalidRequest,
                        format!("unknown config operation {other}"),
                    ))
                }
            }
        }
        Ok(diff(current, &next))
    })
}

/// The overrides to set and to remove to get from `current` to `next`.
pub fn diff(
    current: &BTreeMap<String, String>,
    next: &BTreeMap<String, String>,
) -> (Vec<(String, String)>, Vec<String>) {
    let set = next
        .iter()
        .filter(|(name, value)| current.get(*name) != Some(*value))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let remove = current
        .keys()
        .filter(|name| !next.contains_key(*name))
        .cloned()
        .collect();
    (set, remove)
}

pub async fn handle(
    shard: Rc<Shard>,
    _request: Request,
    body: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let resources = body
        .resources
        .iter()
        .map(|resource| {
            let operations = resource
                .configs
                .iter()
                .map(|config| Operation {
                    name: config.name.to_string(),
                    operation: config.config_operation,
                    value: config.value.as_ref().map(|value| value.to_string()),
                })
                .collect();
            (
                resource.resource_type,
                resource.resource_name.to_string(),
                change(operations),
            )
        })
        .collect();
    let answers = alter_resources(&shard, resources, body.validate_only).await;
    IncrementalAlterConfigsResponse {
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
