//! The run's set-up and tear-down, over the synchronous `client` crate: negotiate versions,
//! create the topics, find each partition's leader and end offset, delete the topics.
//!
//! None of this is measured, so plain blocking sockets on the main thread are the simple
//! choice; the load itself runs on glommio ([`crate::producer`], [`crate::consumer`]).

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use client::{Connection, ConnectionOptions};
use serde::{Deserialize, Serialize};
use wire::codec::KStr;
use wire::error_code::ErrorCode;
use wire::messages::create_topics_request::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest,
};
use wire::messages::delete_topics_request::{DeleteTopicState, DeleteTopicsRequest};
use wire::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use wire::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use wire::messages::ApiKey;

use crate::workload::Workload;

/// Bound on each admin request.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the bench waits for created topics to have leaders.
const TOPIC_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// One partition the run writes to and reads from.
#[derive(Debug, Clone)]
pub struct PartitionTarget {
    pub topic: String,
    pub topic_index: u32,
    pub partition: i32,
    pub leader: SocketAddr,
    /// End offset before the run: where consumers start.
    pub start_offset: i64,
}

/// What the broker told us about itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BrokerInfo {
    pub bootstrap: String,
    pub cluster_id: Option<String>,
    pub broker_count: usize,
    /// Kafka's protocol carries no software version; the API ranges identify what it speaks.
    pub api_versions: Vec<String>,
    pub produce_version: i16,
    pub fetch_version: i16,
}

/// The run's view of the cluster.
#[derive(Debug, Clone)]
pub struct Plan {
    pub broker: BrokerInfo,
    pub topics: Vec<String>,
    pub partitions: Vec<PartitionTarget>,
    /// The topics this run created (and may delete).
    pub created: bool,
}

fn error_name(code: i16) -> String {
    ErrorCode::from_code(code).map_or_else(|| format!("error code {code}"), |c| c.name().into())
}

fn connect(bootstrap: &str) -> Result<Connection> {
    Connection::connect_with(
        bootstrap,
        ConnectionOptions {
            client_id: "ferrite-bench-admin".to_owned(),
            timeout: ADMIN_TIMEOUT,
            ..Default::default()
        },
    )
    // ClientError's message already names its cause; a plain message avoids printing it twice.
    .map_err(|error| anyhow!("cannot reach the broker at {bootstrap}: {error}"))
}

/// Topic names for this run.
pub fn topic_names(workload: &Workload, run_id: &str) -> Vec<String> {
    let spec = &workload.topics;
    if spec.create {
        (0..spec.count)
            .map(|index| format!("{}-{run_id}-{index}", spec.prefix))
            .collect()
    } else if spec.count == 1 {
        vec![spec.prefix.clone()]
    } else {
        (0..spec.count)
            .map(|index| format!("{}-{index}", spec.prefix))
            .collect()
    }
}

/// Connects, creates the topics if asked, and resolves leaders and start offsets.
pub fn prepare(bootstrap: &str, workload: &Workload, run_id: &str) -> Result<Plan> {
    let mut connection = connect(bootstrap)?;
    let produce_version = connection
        .version_for(ApiKey::Produce)
        .context("the broker does not support Produce")?;
    // v12 is the newest Fetch that names topics (v13+ use topic ids). Produce-only runs
    // (for example against the sink) do not need Fetch: -1 then.
    let fetch_version = if workload.consumer.count > 0 {
        let version = connection
            .version_for(ApiKey::Fetch)
            .context("the broker does not support Fetch (run with --consumers 0?)")?
            .min(12);
        if version < 4 {
            bail!("the broker's Fetch v{version} predates record batches v2 (needs v4+)");
        }
        version
    } else {
        -1
    };
    let mut api_versions = Vec::new();
    for api in [
        ApiKey::ApiVersions,
        ApiKey::Metadata,
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::ListOffsets,
        ApiKey::CreateTopics,
        ApiKey::DeleteTopics,
    ] {
        if let Some((min, max)) = connection.broker_versions(api) {
            api_versions.push(format!("{} v{min}-v{max}", api.name()));
        }
    }
    let topics = topic_names(workload, run_id);
    if workload.topics.create {
        create_topics(&mut connection, workload, &topics)?;
    }
    let deadline = std::time::Instant::now() + TOPIC_READY_TIMEOUT;
    let (metadata, partitions) = loop {
        let metadata = connection
            .send(MetadataRequest {
                topics: Some(
                    topics
                        .iter()
                        .map(|name| MetadataRequestTopic {
                            name: Some(KStr::from(name.clone())),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            })
            .context("Metadata failed")?;
        match resolve_leaders(&metadata, &topics, workload.topics.partitions) {
            Ok(partitions) => break (metadata, partitions),
            Err(error) if std::time::Instant::now() < deadline => {
                let _ = error;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(error) => return Err(error),
        }
    };
    let mut partitions = partitions;
    fill_end_offsets(&mut connection, &mut partitions)?;
    Ok(Plan {
        broker: BrokerInfo {
            bootstrap: bootstrap.to_owned(),
            cluster_id: metadata.cluster_id.as_deref().map(str::to_owned),
            broker_count: metadata.brokers.len(),
            api_versions,
            produce_version,
            fetch_version,
        },
        topics,
        partitions,
        created: workload.topics.create,
    })
}

fn create_topics(
    connection: &mut Connection,
    workload: &Workload,
    topics: &[String],
) -> Result<()> {
    let spec = &workload.topics;
    let response = connection
        .send(CreateTopicsRequest {
            topics: topics
                .iter()
                .map(|name| CreatableTopic {
                    name: KStr::from(name.clone()),
                    num_partitions: spec.partitions as i32,
                    replication_factor: spec.replication_factor as i16,
                    configs: spec
                        .configs
                        .iter()
                        .map(|(key, value)| CreatableTopicConfig {
                            name: KStr::from(key.clone()),
                            value: Some(KStr::from(value.clone())),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            timeout_ms: ADMIN_TIMEOUT.as_millis() as i32,
            ..Default::default()
        })
        .context("CreateTopics failed")?;
    for result in &response.topics {
        if result.error_code != 0 {
            bail!(
                "cannot create topic {}: {}{}",
                &*result.name,
                error_name(result.error_code),
                result
                    .error_message
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

fn resolve_leaders(
    metadata: &wire::messages::metadata_response::MetadataResponse,
    topics: &[String],
    partitions_per_topic: u32,
) -> Result<Vec<PartitionTarget>> {
    let mut targets = Vec::new();
    for (topic_index, name) in topics.iter().enumerate() {
        let topic = metadata
            .topics
            .iter()
            .find(|topic| topic.name.as_deref() == Some(name.as_str()))
            .ok_or_else(|| anyhow!("the broker did not describe topic {name}"))?;
        if topic.error_code != 0 {
            bail!("topic {name}: {}", error_name(topic.error_code));
        }
        if topic.partitions.len() != partitions_per_topic as usize {
            bail!(
                "topic {name} has {} partitions; the workload wants {partitions_per_topic}",
                topic.partitions.len()
            );
        }
        let mut partitions: Vec<_> = topic.partitions.iter().collect();
        partitions.sort_by_key(|partition| partition.partition_index);
        for partition in partitions {
            if partition.error_code != 0 || partition.leader_id < 0 {
                bail!(
                    "topic {name} partition {} has no leader yet ({})",
                    partition.partition_index,
                    error_name(partition.error_code)
                );
            }
            let broker = metadata
                .brokers
                .iter()
                .find(|broker| broker.node_id == partition.leader_id)
                .ok_or_else(|| anyhow!("leader {} is not in the metadata", partition.leader_id))?;
            let address = format!("{}:{}", &*broker.host, broker.port);
            let leader = address
                .to_socket_addrs()
                .with_context(|| format!("cannot resolve broker address {address}"))?
                .next()
                .ok_or_else(|| anyhow!("broker address {address} resolves to nothing"))?;
            targets.push(PartitionTarget {
                topic: name.clone(),
                topic_index: topic_index as u32,
                partition: partition.partition_index,
                leader,
                start_offset: 0,
            });
        }
    }
    Ok(targets)
}

/// Asks each partition's end offset (the bootstrap broker answers for a single node; a
/// cluster would need per-leader requests, which single-node Ferrite does not yet need).
fn fill_end_offsets(connection: &mut Connection, partitions: &mut [PartitionTarget]) -> Result<()> {
    let mut topics: Vec<ListOffsetsTopic> = Vec::new();
    for target in partitions.iter() {
        let partition = ListOffsetsPartition {
            partition_index: target.partition,
            current_leader_epoch: -1,
            timestamp: -1,
            ..Default::default()
        };
        match topics.iter_mut().find(|t| *t.name == *target.topic) {
            Some(topic) => topic.partitions.push(partition),
            None => topics.push(ListOffsetsTopic {
                name: KStr::from(target.topic.clone()),
                partitions: vec![partition],
                ..Default::default()
            }),
        }
    }
    let response = connection
        .send(ListOffsetsRequest {
            replica_id: -1,
            topics,
            ..Default::default()
        })
        .context("ListOffsets failed")?;
    for target in partitions.iter_mut() {
        let answer = response
            .topics
            .iter()
            .filter(|topic| *topic.name == *target.topic)
            .flat_map(|topic| topic.partitions.iter())
            .find(|partition| partition.partition_index == target.partition)
            .ok_or_else(|| {
                anyhow!(
                    "ListOffsets did not answer {}/{}",
                    target.topic,
                    target.partition
                )
            })?;
        if answer.error_code != 0 {
            bail!(
                "ListOffsets {}/{}: {}",
                target.topic,
                target.partition,
                error_name(answer.error_code)
            );
        }
        target.start_offset = answer.offset;
    }
    Ok(())
}

/// Deletes the run's topics.
pub fn delete_topics(bootstrap: &str, topics: &[String]) -> Result<()> {
    let mut connection = connect(bootstrap)?;
    let version = connection.version_for(ApiKey::DeleteTopics)?;
    let request = if version >= 6 {
        DeleteTopicsRequest {
            topics: topics
                .iter()
                .map(|name| DeleteTopicState {
                    name: Some(KStr::from(name.clone())),
                    ..Default::default()
                })
                .collect(),
            timeout_ms: ADMIN_TIMEOUT.as_millis() as i32,
            ..Default::default()
        }
    } else {
        DeleteTopicsRequest {
            topic_names: topics.iter().map(|n| KStr::from(n.clone())).collect(),
            timeout_ms: ADMIN_TIMEOUT.as_millis() as i32,
            ..Default::default()
        }
    };
    let response = connection
        .send_at(version, request)
        .context("DeleteTopics failed")?;
    for result in &response.responses {
        if result.error_code != 0 {
            bail!(
                "cannot delete topic {}: {}",
                result.name.as_deref().unwrap_or("?"),
                error_name(result.error_code)
            );
        }
    }
    Ok(())
}
