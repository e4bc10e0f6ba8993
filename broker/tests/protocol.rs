//! Every API the broker advertises is covered: each is exercised by at least one real client
//! of the compatibility suite (the table below, checked against the handler table), and each
//! version of each is swept here with a real request whose response must decode and succeed.

mod group_samples;
mod support;

use broker::handlers::HANDLERS;
use broker::testing::TestBroker;
use bytes::Bytes;
use client::Connection;
use wire::codec::KStr;
use wire::messages::alter_configs_request::{AlterConfigsRequest, AlterConfigsResource};
use wire::messages::api_versions_request::ApiVersionsRequest;
use wire::messages::create_partitions_request::{CreatePartitionsRequest, CreatePartitionsTopic};
use wire::messages::create_topics_request::{CreatableTopic, CreateTopicsRequest};
use wire::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsRequest, DeleteRecordsTopic,
};
use wire::messages::delete_topics_request::{DeleteTopicState, DeleteTopicsRequest};
use wire::messages::describe_cluster_request::DescribeClusterRequest;
use wire::messages::describe_configs_request::{DescribeConfigsRequest, DescribeConfigsResource};
use wire::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use wire::messages::incremental_alter_configs_request::{
    AlterConfigsResource as IncrementalResource, AlterableConfig as IncrementalConfig,
    IncrementalAlterConfigsRequest,
};
use wire::messages::init_producer_id_request::InitProducerIdRequest;
use wire::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use wire::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use wire::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderEpochRequest, OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use wire::messages::produce_request::{PartitionProduceData, ProduceRequest, TopicProduceData};
use wire::messages::{ApiKey, ResponseBody};

/// Which real-client test exercises each advertised API. A new API in `HANDLERS` must be
/// added here, with a real client that uses it, or `every_advertised_api_has_a_real_client`
/// fails.
const REAL_CLIENT_COVERAGE: &[(ApiKey, &str)] = &[
    (
        ApiKey::ApiVersions,
        "compat_kcat, compat_python (kafka-python's v4 → v0 fallback)",
    ),
    (ApiKey::Metadata, "compat_kcat (-L), compat_python"),
    (
        ApiKey::Produce,
        "compat_kcat (every codec), compat_python (acks=all)",
    ),
    (
        ApiKey::Fetch,
        "compat_kcat, compat_python, crash (kcat read-back)",
    ),
    (
        ApiKey::ListOffsets,
        "compat_kcat (-o), compat_python (watermarks, offsets_for_times)",
    ),
    (
        ApiKey::InitProducerId,
        "compat_python (idempotent confluent-kafka, kafka-python default)",
    ),
    (
        ApiKey::CreateTopics,
        "compat_python (confluent AdminClient, KafkaAdminClient)",
    ),
    (
        ApiKey::DeleteTopics,
        "compat_python (confluent AdminClient, KafkaAdminClient)",
    ),
    (
        ApiKey::DescribeConfigs,
        "compat_python (confluent AdminClient, KafkaAdminClient)",
    ),
    (
        ApiKey::AlterConfigs,
        "compat_python (confluent AdminClient.alter_configs)",
    ),
    (
        ApiKey::IncrementalAlterConfigs,
        "compat_python (confluent AdminClient)",
    ),
    (
        ApiKey::CreatePartitions,
        "compat_python (confluent AdminClient)",
    ),
    (
        ApiKey::DescribeCluster,
        "compat_python (confluent AdminClient.describe_cluster)",
    ),
    (
        ApiKey::DeleteRecords,
        "compat_python (confluent AdminClient.delete_records)",
    ),
    (
        ApiKey::OffsetForLeaderEpoch,
        "compat_python (confluent consumer assigned with a leader epoch validates its position)",
    ),
    (
        ApiKey::FindCoordinator,
        "compat_groups (confluent-kafka, kafka-python, kcat -G)",
    ),
    (ApiKey::JoinGroup, "compat_groups (every group scenario)"),
    (ApiKey::SyncGroup, "compat_groups (every group scenario)"),
    (
        ApiKey::Heartbeat,
        "compat_groups (session kept, kill → expiry)",
    ),
    (ApiKey::LeaveGroup, "compat_groups (a consumer closes)"),
    (
        ApiKey::OffsetCommit,
        "compat_groups (commit, resume after restarts)",
    ),
    (
        ApiKey::OffsetFetch,
        "compat_groups (resume from the commit)",
    ),
    (
        ApiKey::OffsetDelete,
        "compat_groups (confluent AdminClient.delete_consumer_group_offsets)",
    ),
    (
        ApiKey::DescribeGroups,
        "compat_groups (confluent AdminClient.describe_consumer_groups)",
    ),
    (
        ApiKey::ListGroups,
        "compat_groups (confluent AdminClient.list_consumer_groups)",
    ),
    (
        ApiKey::DeleteGroups,
        "compat_groups (confluent AdminClient.delete_consumer_groups)",
    ),
];

#[test]
fn every_advertised_api_has_a_real_client() {
    for entry in HANDLERS {
        assert!(
            REAL_CLIENT_COVERAGE
                .iter()
                .any(|(api, _)| *api == entry.api),
            "{} is advertised but no real-client test is listed for it",
            entry.api.name()
        );
    }
    for (api, _) in REAL_CLIENT_COVERAGE {
        assert!(
            HANDLERS.iter().any(|entry| entry.api == *api),
            "{} is listed but not advertised",
            api.name()
        );
    }
}

const TOPIC: &str = "sweep";

fn batch() -> Bytes {
    support::batch_of(&["sweep"], 1_700_000_000_000)
}

/// Sends `api`'s sample request at `version`; returns the error codes found in the response.
fn sweep_one(
    connection: &mut Connection,
    api: ApiKey,
    version: i16,
    topic_id: wire::codec::Uuid,
) -> Vec<i16> {
    let topic_name = KStr::from_static(TOPIC);
    match api {
        ApiKey::ApiVersions => {
            let response = connection
                .send_at(version, ApiVersionsRequest::default())
                .unwrap();
            vec![response.error_code]
        }
        ApiKey::Metadata => {
            let response = connection
                .send_at(
                    version,
                    MetadataRequest {
                        topics: Some(vec![MetadataRequestTopic {
                            name: Some(topic_name),
                            ..Default::default()
                        }]),
                        ..Default::default()
                    },
                )
                .unwrap();
            assert_eq!(response.topics.len(), 1);
            response
                .topics
                .iter()
                .map(|topic| topic.error_code)
                .collect()
        }
        ApiKey::Produce => {
            let response = connection
                .send_at(
                    version,
                    ProduceRequest {
                        acks: 1,
                        timeout_ms: 5_000,
                        topic_data: vec![TopicProduceData {
                            name: topic_name,
                            partition_data: vec![PartitionProduceData {
                                index: 0,
                                records: Some(batch()),
                                ..Default::default()
                            }],
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                )
                .unwrap();
            let codes: Vec<i16> = response
                .responses
                .iter()
                .flat_map(|topic| topic.partition_responses.iter().map(|p| p.error_code))
                .collect();
            assert_eq!(codes.len(), 1);
            codes
        }
        ApiKey::Fetch => {
            let response = connection
                .send_at(
                    version,
                    FetchRequest {
                        replica_id: -1,
                        max_wait_ms: 0,
                        max_bytes: 1 << 20,
                        session_epoch: -1,
                        topics: vec![FetchTopic {
                            topic: topic_name,
                            topic_id,
                            partitions: vec![FetchPartition {
                                partition: 0,
                                partition_max_bytes: 1 << 20,
                                ..Default::default()
                            }],
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                )
                .unwrap();
            let mut codes = vec![response.error_code];
            for topic in &response.responses {
                for partition in &topic.partitions {
                    assert!(partition.records.as_ref().is_some_and(|r| !r.is_empty()));
                    codes.push(partition.error_code);
                }
            }
            assert_eq!(codes.len(), 2, "one partition answered");
            codes
        }
        ApiKey::ListOffsets => {
            let response = connection
                .send_at(
                    version,
                    ListOffsetsRequest {
                        replica_id: -1,
                        topics: vec![ListOffsetsTopic {
                            name: topic_name,
                            partitions: vec![ListOffsetsPartition {
                                partition_index: 0,
                                timestamp: -1,
                                ..Default::default()
                            }],
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                )
                .unwrap();
            let partition = &response.topics[0].partitions[0];
            assert!(partition.offset >= 1, "v{version} sees the stored record");
            vec![partition.error_code]
        }
        ApiKey::InitProducerId => {
            let response = connection
                .send_at(
                    version,
                    InitProducerIdRequest {
                        transactional_id: None,
                        transaction_timeout_ms: 60_000,
                        producer_id: -1,
                        producer_epoch: -1,
                        ..Default::default()
                    },
                )
                .unwrap();
            assert!(
                response.producer_id >= 0,
                "InitProducerId v{version}: {response:?}"
            );
            vec![response.error_code]
        }
        ApiKey::CreateTopics => {
            let response = connection
                .send_at(
                    version,
                    CreateTopicsRequest {
                        topics: vec![CreatableTopic {
                            name: KStr::from(format!("sweep-created-{version}")),
                            num_partitions: 1,
                            replication_factor: 1,
                            ..Default::default()
                        }],
                        timeout_ms: 5_000,
                        ..Default::default()
                    },
                )
                .unwrap();
            response
                .topics
                .iter()
                .map(|topic| topic.error_code)
                .collect()
        }
        ApiKey::DeleteTopics => {
            let name = KStr::from(format!("sweep-created-{version}"));
            let response = connection
                .send_at(
                    version,
                    DeleteTopicsRequest {
                        // v6 names topics in `topics`, earlier versions in `topic_names`.
                        topics: if version >= 6 {
                            vec![DeleteTopicState {
                                name: Some(name.clone()),
                                ..Default::default()
                            }]
                        } else {
                            Vec::new()
                        },
                        topic_names: if version < 6 { vec![name] } else { Vec::new() },
                        timeout_ms: 5_000,
                        ..Default::default()
                    },
                )
                .unwrap();
            assert_eq!(response.responses.len(), 1);
            response
                .responses
                .iter()
                .map(|topic| topic.error_code)
                .collect()
        }
        ApiKey::DescribeConfigs => {
            let response = connection
                .send_at(
                    version,
                    DescribeConfigsRequest {
                        resources: vec![DescribeConfigsResource {
                            resource_type: 2,
                            resource_name: topic_name,
                            configuration_keys: None,
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                )
                .unwrap();
            assert!(!response.results[0].configs.is_empty());
            vec![response.results[0].error_code]
        }
        ApiKey::AlterConfigs => {
            let response = connection
                .send_at(
                    version,
                    AlterConfigsRequest {
                        resources: vec![AlterConfigsResource {
                            resource_type: 2,
                            resource_name: topic_name,
                            configs: vec![wire::messages::alter_configs_request::AlterableConfig {
                                name: KStr::from_static("retention.ms"),
                                value: Some(KStr::from(format!(
                                    "{}",
                                    600_000 + i64::from(version)
                                ))),
                                ..Default::default()
                            }],
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                )
                .unwrap();
            response.responses.iter().map(|r| r.error_code).collect()
        }
        ApiKey::IncrementalAlterConfigs => {
            let response = connection
                .send_at(
                    version,
                    IncrementalAlterConfigsRequest {
                        resources: vec![IncrementalResource {
                            resource_type: 2,
                            resource_name: topic_name,
                            configs: vec![IncrementalConfig {
                                name: KStr::from_static("segment.ms"),
                                config_operation: 0,
                                value: Some(KStr::from_static("3600000")),
                                ..Default::default()
                            }],
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                )
                .unwrap();
            response.responses.iter().map(|r| r.error_code).collect()
        }
        ApiKey::CreatePartitions => {
            let response = connection
                .send_at(
                    version,
                    CreatePartitionsRequest {
                        topics: vec![CreatePartitionsTopic {
                            name: KStr::from_static("sweep-partitions"),
                            count: i32::from(version) + 2,
                            assignments: None,
                            ..Default::default()
                        }],
                        timeout_ms: 5_000,
                        ..Default::default()
                    },
                )
                .unwrap();
            response.results.iter().map(|r| r.error_code).collect()
        }
        ApiKey::DescribeCluster => {
            let response = connection
                .send_at(
                    version,
                    DescribeClusterRequest {
                        endpoint_type: 1,
                        ..Default::default()
                    },
                )
                .unwrap();
            assert_eq!(response.brokers.len(), 1);
            vec![response.error_code]
        }
        ApiKey::DeleteRecords => {
            let response = connection
                .send_at(
                    version,
                    DeleteRecordsRequest {
                        topics: vec![DeleteRecordsTopic {
                            name: topic_name,
                            partitions: vec![DeleteRecordsPartition {
                                partition_index: 0,
                                offset: 0,
                                ..Default::default()
                            }],
                            ..Default::default()
                        }],
                        timeout_ms: 5_000,
                        ..Default::default()
                    },
                )
                .unwrap();
            let partition = &response.topics[0].partitions[0];
            assert_eq!(partition.low_watermark, 0);
            vec![partition.error_code]
        }
        ApiKey::OffsetForLeaderEpoch => {
            let response = connection
                .send_at(
                    version,
                    OffsetForLeaderEpochRequest {
                        replica_id: -1,
                        topics: vec![OffsetForLeaderTopic {
                            topic: topic_name,
                            partitions: vec![OffsetForLeaderPartition {
                                partition: 0,
                                current_leader_epoch: -1,
                                leader_epoch: 0,
                                ..Default::default()
                            }],
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                )
                .unwrap();
            let partition = &response.topics[0].partitions[0];
            assert!(partition.end_offset >= 1, "epoch 0 ends at the log end");
            vec![partition.error_code]
        }
        group_api if group_samples::GROUP_APIS.contains(&group_api) => {
            group_samples::sweep(connection, group_api, version, TOPIC)
        }
        other => panic!(
            "{} has no sample request in the version sweep: add one",
            other.name()
        ),
    }
}

#[test]
fn every_advertised_version_answers() {
    let broker = TestBroker::start();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    let topic_id = support::create_topic(&mut connection, TOPIC);
    support::create_topic(&mut connection, "sweep-partitions");
    // One record first, so that reads have something to return.
    let first = ResponseBody::from(
        connection
            .send(ProduceRequest {
                acks: 1,
                timeout_ms: 5_000,
                topic_data: vec![TopicProduceData {
                    name: KStr::from_static(TOPIC),
                    partition_data: vec![PartitionProduceData {
                        index: 0,
                        records: Some(batch()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            })
            .unwrap(),
    );
    assert!(matches!(first, ResponseBody::Produce(_)));

    for entry in HANDLERS {
        for version in entry.versions.clone() {
            let codes = sweep_one(&mut connection, entry.api, version, topic_id);
            assert!(
                codes.iter().all(|code| *code == 0),
                "{} v{version} answered error codes {codes:?}",
                entry.api.name()
            );
        }
    }
}
