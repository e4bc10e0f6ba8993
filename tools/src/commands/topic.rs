//! `ferritectl topic ...`: CreateTopics, Metadata, ListOffsets, DescribeConfigs,
//! DeleteTopics, IncrementalAlterConfigs and CreatePartitions.

use serde_json::{json, Value};
use wire::codec::KStr;
use wire::messages::create_partitions_request::{CreatePartitionsRequest, CreatePartitionsTopic};
use wire::messages::create_topics_request::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest,
};
use wire::messages::delete_topics_request::{DeleteTopicState, DeleteTopicsRequest};
use wire::messages::describe_configs_request::{DescribeConfigsRequest, DescribeConfigsResource};
use wire::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
};

use client::Cluster;

use super::{check_with_message, connect, key_value, topic_metadata, Result};
use crate::cli::{Cli, TopicCommand};
use crate::commands::data::partition_offsets;
use crate::output;

/// Kafka's resource type for topics in config requests.
const TOPIC_RESOURCE: i8 = 2;
/// IncrementalAlterConfigs operations.
const SET: i8 = 0;
const DELETE: i8 = 1;
const TIMEOUT_MS: i32 = 30_000;

pub fn run(cli: &Cli, command: &TopicCommand) -> Result<()> {
    let mut cluster = connect(cli)?;
    match command {
        TopicCommand::Create {
            name,
            partitions,
            replication_factor,
            configs,
        } => {
            let configs = configs
                .iter()
                .map(|text| {
                    key_value(text).map(|(key, value)| CreatableTopicConfig {
                        name: KStr::from(key),
                        value: Some(KStr::from(value)),
                        ..Default::default()
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let response = cluster
                .any()
                .send(CreateTopicsRequest {
                    topics: vec![CreatableTopic {
                        name: KStr::from(name.clone()),
                        num_partitions: *partitions,
                        replication_factor: *replication_factor,
                        configs,
                        ..Default::default()
                    }],
                    timeout_ms: TIMEOUT_MS,
                    ..Default::default()
                })
                .map_err(|e| e.to_string())?;
            let result = response
                .topics
                .first()
                .ok_or("the broker answered CreateTopics with no topic")?;
            check_with_message(
                result.error_code,
                result.error_message.as_ref(),
                &format!("cannot create topic {name}"),
            )?;
            output::object(
                cli.format,
                &[
                    ("created", json!(name)),
                    ("partitions", json!(result.num_partitions)),
                    ("replication_factor", json!(result.replication_factor)),
                ],
            );
            Ok(())
        }
        TopicCommand::List { internal } => {
            let metadata = cluster.metadata(None).map_err(|e| e.to_string())?;
            let mut rows: Vec<Vec<Value>> = metadata
                .topics
                .iter()
                .filter(|topic| *internal || !topic.is_internal)
                .map(|topic| {
                    vec![
                        json!(topic.name.as_deref().unwrap_or("")),
                        json!(topic.partitions.len()),
                        json!(topic
                            .partitions
                            .first()
                            .map_or(0, |partition| partition.replica_nodes.len())),
                        json!(topic.is_internal),
                    ]
                })
                .collect();
            rows.sort_by(|a, b| a[0].as_str().cmp(&b[0].as_str()));
            output::table(
                cli.format,
                &["name", "partitions", "replicas", "internal"],
                &rows,
            );
            Ok(())
        }
        TopicCommand::Describe { name } => describe(cli, &mut cluster, name),
        TopicCommand::Delete { names } => {
            let connection = cluster.any();
            let version = connection
                .version_for(wire::messages::ApiKey::DeleteTopics)
                .map_err(|e| e.to_string())?;
            // v6 names topics in `topics`, earlier versions in `topic_names`.
            let (topics, topic_names) = if version >= 6 {
                let topics = names
                    .iter()
                    .map(|name| DeleteTopicState {
                        name: Some(KStr::from(name.clone())),
                        ..Default::default()
                    })
                    .collect();
                (topics, Vec::new())
            } else {
                (
                    Vec::new(),
                    names.iter().map(|name| KStr::from(name.clone())).collect(),
                )
            };
            let response = connection
                .send_at(
                    version,
                    DeleteTopicsRequest {
                        topics,
                        topic_names,
                        timeout_ms: TIMEOUT_MS,
                        ..Default::default()
                    },
                )
                .map_err(|e| e.to_string())?;
            for result in &response.responses {
                let name = result.name.as_deref().unwrap_or("?");
                check_with_message(
                    result.error_code,
                    result.error_message.as_ref(),
                    &format!("cannot delete topic {name}"),
                )?;
            }
            let rows: Vec<Vec<Value>> = names.iter().map(|name| vec![json!(name)]).collect();
            output::table(cli.format, &["deleted"], &rows);
            Ok(())
        }
        TopicCommand::AlterConfig { name, configs } => {
            let configs = configs
                .iter()
                .map(|text| {
                    key_value(text).map(|(key, value)| AlterableConfig {
                        name: KStr::from(key),
                        config_operation: if value.is_empty() { DELETE } else { SET },
                        value: (!value.is_empty()).then(|| KStr::from(value)),
                        ..Default::default()
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let response = cluster
                .any()
                .send(IncrementalAlterConfigsRequest {
                    resources: vec![AlterConfigsResource {
                        resource_type: TOPIC_RESOURCE,
                        resource_name: KStr::from(name.clone()),
                        configs,
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .map_err(|e| e.to_string())?;
            for result in &response.responses {
                check_with_message(
                    result.error_code,
                    result.error_message.as_ref(),
                    &format!("cannot alter topic {name}"),
                )?;
            }
            output::object(cli.format, &[("altered", json!(name))]);
            Ok(())
        }
        TopicCommand::AddPartitions { name, total } => {
            let response = cluster
                .any()
                .send(CreatePartitionsRequest {
                    topics: vec![CreatePartitionsTopic {
                        name: KStr::from(name.clone()),
                        count: *total,
                        assignments: None,
                        ..Default::default()
                    }],
                    timeout_ms: TIMEOUT_MS,
                    ..Default::default()
                })
                .map_err(|e| e.to_string())?;
            for result in &response.results {
                check_with_message(
                    result.error_code,
                    result.error_message.as_ref(),
                    &format!("cannot add partitions to {name}"),
                )?;
            }
            output::object(
                cli.format,
                &[("topic", json!(name)), ("partitions", json!(total))],
            );
            Ok(())
        }
    }
}

fn describe(cli: &Cli, cluster: &mut Cluster, name: &str) -> Result<()> {
    let topic = topic_metadata(cluster, name, false)?;
    let mut partitions = Vec::new();
    for partition in &topic.partitions {
        let (earliest, latest) = partition_offsets(
            cluster,
            name,
            partition.partition_index,
            partition.leader_id,
        )?;
        partitions.push(json!({
            "partition": partition.partition_index,
            "leader": partition.leader_id,
            "replicas": partition.replica_nodes,
            "in_sync": partition.isr_nodes,
            "earliest_offset": earliest,
            "latest_offset": latest,
        }));
    }
    let configs = describe_configs(cluster, name)?;
    match cli.format {
        crate::cli::Format::Json => println!(
            "{}",
            json!({
                "name": name,
                "topic_id": topic.topic_id.to_string(),
                "internal": topic.is_internal,
                "partitions": partitions,
                "configs": configs,
            })
        ),
        crate::cli::Format::Text => {
            output::object(
                cli.format,
                &[
                    ("name", json!(name)),
                    ("topic id", json!(topic.topic_id.to_string())),
                    ("internal", json!(topic.is_internal)),
                ],
            );
            println!();
            let columns = [
                "partition",
                "leader",
                "replicas",
                "in_sync",
                "earliest_offset",
                "latest_offset",
            ];
            let rows: Vec<Vec<Value>> = partitions
                .iter()
                .map(|partition| columns.iter().map(|c| partition[*c].clone()).collect())
                .collect();
            output::table(cli.format, &columns, &rows);
            if let Value::Array(configs) = configs {
                println!();
                let rows: Vec<Vec<Value>> = configs
                    .iter()
                    .map(|config| {
                        vec![
                            config["name"].clone(),
                            config["value"].clone(),
                            config["source"].clone(),
                        ]
                    })
                    .collect();
                output::table(cli.format, &["config", "value", "source"], &rows);
            }
        }
    }
    Ok(())
}

/// The topic's configs as JSON, or `null` when the broker has no DescribeConfigs.
fn describe_configs(cluster: &mut Cluster, name: &str) -> Result<Value> {
    let connection = cluster.any();
    if connection
        .broker_versions(wire::messages::ApiKey::DescribeConfigs)
        .is_none()
    {
        return Ok(Value::Null);
    }
    let response = connection
        .send(DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource {
                resource_type: TOPIC_RESOURCE,
                resource_name: KStr::from(name.to_owned()),
                configuration_keys: None,
                ..Default::default()
            }],
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
    let result = response
        .results
        .first()
        .ok_or("the broker answered DescribeConfigs with no result")?;
    check_with_message(
        result.error_code,
        result.error_message.as_ref(),
        &format!("cannot describe configs of {name}"),
    )?;
    let mut configs: Vec<Value> = result
        .configs
        .iter()
        .map(|config| {
            json!({
                "name": &*config.name,
                "value": if config.is_sensitive { None } else { config.value.as_deref() },
                "source": config_source(config.config_source),
                "read_only": config.read_only,
            })
        })
        .collect();
    configs.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Ok(Value::Array(configs))
}

fn config_source(source: i8) -> &'static str {
    match source {
        1 => "topic",
        2 | 3 => "broker",
        4 => "static broker",
        5 => "default",
        _ => "unknown",
    }
}
