//! `ferritectl cluster info` and `cluster health`.

use serde_json::{json, Value};
use wire::messages::ApiKey;

use super::{connect, Result};
use crate::cli::{Cli, ClusterCommand};
use crate::output;

pub fn run(cli: &Cli, command: &ClusterCommand) -> Result<()> {
    let mut cluster = connect(cli)?;
    let metadata = cluster.metadata(None).map_err(|e| e.to_string())?;
    let broker_list: Vec<Value> = metadata
        .brokers
        .iter()
        .map(|broker| {
            json!(format!(
                "{}@{}:{}",
                broker.node_id, &*broker.host, broker.port
            ))
        })
        .collect();
    match command {
        ClusterCommand::Info => {
            let connection = cluster.any();
            let apis = [ApiKey::Produce, ApiKey::Fetch, ApiKey::Metadata]
                .iter()
                .filter_map(|api| {
                    connection
                        .broker_versions(*api)
                        .map(|(min, max)| format!("{} v{min}-v{max}", api.name()))
                })
                .collect::<Vec<_>>();
            output::object(
                cli.format,
                &[
                    ("cluster_id", json!(metadata.cluster_id.as_deref())),
                    ("controller", json!(metadata.controller_id)),
                    ("brokers", Value::Array(broker_list)),
                    ("topics", json!(metadata.topics.len())),
                    ("bootstrap", json!(connection.peer().to_string())),
                    ("api_versions", json!(apis)),
                ],
            );
            Ok(())
        }
        ClusterCommand::Health => {
            let mut problems = Vec::new();
            for broker in &metadata.brokers {
                if let Err(error) = cluster.node(broker.node_id) {
                    problems.push(format!("broker {} unreachable: {error}", broker.node_id));
                }
            }
            for topic in &metadata.topics {
                for partition in &topic.partitions {
                    if partition.leader_id < 0 {
                        problems.push(format!(
                            "{}/{} has no leader",
                            topic.name.as_deref().unwrap_or("?"),
                            partition.partition_index
                        ));
                    }
                }
            }
            output::object(
                cli.format,
                &[
                    ("healthy", json!(problems.is_empty())),
                    ("brokers", Value::Array(broker_list)),
                    ("problems", json!(problems)),
                ],
            );
            if problems.is_empty() {
                Ok(())
            } else {
                Err(format!("cluster unhealthy: {}", problems.join("; ")))
            }
        }
    }
}
