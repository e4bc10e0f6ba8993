//! DescribeConfigs: every topic config with its value and where it comes from (the topic's
//! override or the default), and the broker's own settings (read-only).

use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::codec::KStr;
use wire::error_code::ErrorCode;
use wire::messages::describe_configs_request::{DescribeConfigsRequest, DescribeConfigsResource};
use wire::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResponse, DescribeConfigsResult,
    DescribeConfigsSynonym,
};

use super::config_resources::{
    broker_configs, check_broker_name, unsupported_resource, RESOURCE_BROKER, RESOURCE_TOPIC,
    SOURCE_DEFAULT, SOURCE_STATIC_BROKER, SOURCE_TOPIC,
};
use super::Request;
use crate::shard::Shard;
use crate::topic_config::{ConfigKind, TOPIC_CONFIGS};

pub const VERSIONS: RangeInclusive<i16> = 0..=4;

/// Kafka's config types (DescribeConfigs v3+).
fn config_type(kind: ConfigKind) -> i8 {
    match kind {
        ConfigKind::Boolean => 1,
        ConfigKind::OneOf(_) => 2,
        ConfigKind::Int { .. } => 3,
        ConfigKind::Long { .. } => 5,
        ConfigKind::ListOf(_) => 7,
    }
}

pub async fn handle(
    shard: Rc<Shard>,
    request: Request,
    body: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let results = body
        .resources
        .iter()
        .map(|resource| describe(&shard, &request, &body, resource))
        .collect();
    DescribeConfigsResponse {
        results,
        ..Default::default()
    }
}

fn wanted(resource: &DescribeConfigsResource, name: &str) -> bool {
    resource
        .configuration_keys
        .as_ref()
        .is_none_or(|keys| keys.is_empty() || keys.iter().any(|key| &**key == name))
}

fn describe(
    shard: &Shard,
    request: &Request,
    body: &DescribeConfigsRequest,
    resource: &DescribeConfigsResource,
) -> DescribeConfigsResult {
    let name = resource.resource_name.to_string();
    let refused = |(code, message): (ErrorCode, String)| DescribeConfigsResult {
        error_code: code.code(),
        error_message: Some(KStr::from(message)),
        resource_type: resource.resource_type,
        resource_name: resource.resource_name.clone(),
        configs: Vec::new(),
        ..Default::default()
    };
    let configs = match resource.resource_type {
        RESOURCE_TOPIC => {
            let image = shard.metadata.borrow();
            let Some(topic) = image.topic(&name) else {
                return refused((
                    ErrorCode::UnknownTopicOrPartition,
                    format!("topic `{name}` does not exist"),
                ));
            };
            TOPIC_CONFIGS
                .iter()
                .filter(|spec| wanted(resource, spec.name))
                .map(|spec| {
                    let overridden = topic.configs.get(spec.name);
                    let value = overridden.map_or(spec.default, String::as_str);
                    let source = if overridden.is_some() {
                        SOURCE_TOPIC
                    } else {
                        SOURCE_DEFAULT
                    };
                    let mut synonyms = Vec::new();
                    if body.include_synonyms {
                        if let Some(value) = overridden {
                            synonyms.push(synonym(spec.name, value, SOURCE_TOPIC));
                        }
                        synonyms.push(synonym(spec.name, spec.default, SOURCE_DEFAULT));
                    }
                    DescribeConfigsResourceResult {
                        name: KStr::from_static(spec.name),
                        value: Some(KStr::from(value.to_owned())),
                        read_only: false,
                        // IsDefault exists in v0 only (later versions carry the source).
                        is_default: request.version == 0 && overridden.is_none(),
                        config_source: source,
                        is_sensitive: false,
                        synonyms,
                        config_type: config_type(spec.kind),
                        documentation: (body.include_documentation && request.version >= 3)
                            .then(|| KStr::from_static(spec.documentation)),
                        ..Default::default()
                    }
                })
                .collect()
        }
        RESOURCE_BROKER => {
            if let Err(refusal) = check_broker_name(&shard.config, &name) {
                return refused(refusal);
            }
            broker_configs(&shard.config)
                .into_iter()
                .filter(|(config, _)| wanted(resource, config))
                .map(|(config, value)| DescribeConfigsResourceResult {
                    name: KStr::from_static(config),
                    synonyms: if body.include_synonyms {
                        vec![synonym(config, &value, SOURCE_STATIC_BROKER)]
                    } else {
                        Vec::new()
                    },
                    value: Some(KStr::from(value)),
                    read_only: true,
                    is_default: false,
                    config_source: SOURCE_STATIC_BROKER,
                    is_sensitive: false,
                    config_type: 2,
                    documentation: None,
                    ..Default::default()
                })
                .collect()
        }
        other => return refused(unsupported_resource(other)),
    };
    DescribeConfigsResult {
        error_code: 0,
        error_message: None,
        resource_type: resource.resource_type,
        resource_name: resource.resource_name.clone(),
        configs,
        ..Default::default()
    }
}

fn synonym(name: &'static str, value: &str, source: i8) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym {
        name: KStr::from_static(name),
        value: Some(KStr::from(value.to_owned())),
        source,
        ..Default::default()
    }
}
