//! What DescribeConfigs, AlterConfigs and IncrementalAlterConfigs share: resource types, the
//! broker's own (read-only) settings as configs, and answers for resources they cannot change.

use std::rc::Rc;

use wire::codec::KStr;
use wire::error_code::ErrorCode;

use crate::shard::Shard;
use crate::topics::{alter_topic_configs, stopping, ConfigChange};

use crate::config::BrokerConfig;

/// Kafka's config resource types.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// Where a config's value comes from (DescribeConfigs, CreateTopics v5+), as Kafka numbers it.
pub const SOURCE_TOPIC: i8 = 1;
pub const SOURCE_STATIC_BROKER: i8 = 4;
pub const SOURCE_DEFAULT: i8 = 5;

/// The broker's settings under their Kafka names, as read-only configs.
pub fn broker_configs(config: &BrokerConfig) -> Vec<(&'static str, String)> {
    vec![
        (
            "auto.create.topics.enable",
            config.auto_create_topics.to_string(),
        ),
        ("broker.id", config.node_id.to_string()),
        ("log.dirs", config.data_dir.display().to_string()),
        ("max.connections", config.connections_max.to_string()),
        ("num.partitions", config.default_partitions.to_string()),
        (
            "advertised.listeners",
            format!(
                "PLAINTEXT://{}:{}",
                config.advertised_listener.host, config.advertised_listener.port
            ),
        ),
        ("listeners", format!("PLAINTEXT://{}", config.listen)),
        (
            "socket.request.max.bytes",
            config.request_bytes_max.to_string(),
        ),
        (
            "connections.max.idle.ms",
            config.connection_idle_timeout_ms.to_string(),
        ),
    ]
}

/// Checks that a broker resource names this broker (or is empty, meaning "the one asked").
pub fn check_broker_name(config: &BrokerConfig, name: &str) -> Result<(), (ErrorCode, String)> {
    if name.is_empty() || name == config.node_id.to_string() {
        Ok(())
    } else {
        Err((
            ErrorCode::InvalidRequest,
            format!("broker `{name}` is not this broker ({})", config.node_id),
        ))
    }
}

/// The refusal for changes to broker configs: they come from the config file and flags.
pub fn broker_configs_read_only() -> (ErrorCode, String) {
    (
        ErrorCode::InvalidRequest,
        "broker configs are read-only at run time: set them in the config file, flags or environment and restart".to_owned(),
    )
}

/// The refusal for resource types other than topics and brokers.
pub fn unsupported_resource(resource_type: i8) -> (ErrorCode, String) {
    (
        ErrorCode::InvalidRequest,
        format!("resource type {resource_type} is not supported (topics are 2, brokers 4)"),
    )
}

/// Applies config changes to the resources of an AlterConfigs or IncrementalAlterConfigs
/// request, in order: each is `(resource type, resource name, the change to its topic
/// overrides)`. Topic changes are validated and recorded; broker resources are refused as
/// read-only and other types as unsupported. Returns each resource's error code and message.
pub async fn alter_resources(
    shard: &Rc<Shard>,
    resources: Vec<(i8, String, ConfigChange)>,
    validate_only: bool,
) -> Vec<(i16, Option<KStr>)> {
    let mut answers: Vec<Option<(ErrorCode, String)>> = Vec::with_capacity(resources.len());
    let mut positions = Vec::new();
    let mut changes = Vec::new();
    for (resource_type, name, change) in resources {
        match resource_type {
            RESOURCE_TOPIC => {
                positions.push(answers.len());
                changes.push((name, change));
                answers.push(None);
            }
            RESOURCE_BROKER => answers.push(Some(broker_configs_read_only())),
            other => answers.push(Some(unsupported_resource(other))),
        }
    }
    let outcomes = alter_topic_configs(shard, changes, validate_only)
        .await
        .unwrap_or_else(|_| stopping(positions.len()));
    for (position, outcome) in positions.into_iter().zip(outcomes) {
        answers[position] = outcome.err().map(|error| (error.code, error.message));
    }
    answers
        .into_iter()
        .map(|answer| match answer {
            Some((code, message)) => (code.code(), Some(KStr::from(message))),
            None => (0, None),
        })
        .collect()
}
