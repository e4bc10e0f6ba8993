//! Admin APIs beyond what the real clients check: config changes are durable metadata and
//! reach the partition logs.

mod support;

use broker::testing::TestBroker;
use client::Connection;
use wire::codec::KStr;
use wire::messages::create_topics_request::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest,
};
use wire::messages::describe_configs_request::{DescribeConfigsRequest, DescribeConfigsResource};
use wire::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
};
use wire::messages::produce_request::{PartitionProduceData, ProduceRequest, TopicProduceData};

fn config_value(connection: &mut Connection, topic: &str, name: &str) -> String {
    let response = connection
        .send(DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource {
                resource_type: 2,
                resource_name: KStr::from(topic.to_owned()),
                configuration_keys: Some(vec![KStr::from(name.to_owned())]),
                ..Default::default()
            }],
            ..Default::default()
        })
        .unwrap();
    let result = &response.results[0];
    assert_eq!(result.error_code, 0);
    assert_eq!(result.configs.len(), 1, "only the config asked for");
    result.configs[0].value.as_deref().unwrap().to_owned()
}

fn segment_count(broker: &TestBroker, topic: &str) -> usize {
    std::fs::read_dir(broker.data_dir().join("topics").join(format!("{topic}-0")))
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|entry| entry.file_name().to_string_lossy().ends_with(".log"))
        })
        .count()
}

#[test]
fn topic_configs_survive_restarts_and_reach_the_log() {
    let mut broker = TestBroker::start();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    let response = connection
        .send(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: KStr::from_static("kept"),
                num_partitions: 1,
                replication_factor: -1,
                configs: vec![CreatableTopicConfig {
                    name: KStr::from_static("retention.ms"),
                    value: Some(KStr::from_static("3600000")),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            timeout_ms: 5_000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(response.topics[0].error_code, 0);
    assert_eq!(response.topics[0].num_partitions, 1);

    // Small segments from now on: appends must roll to new segment files.
    let response = connection
        .send(IncrementalAlterConfigsRequest {
            resources: vec![AlterConfigsResource {
                resource_type: 2,
                resource_name: KStr::from_static("kept"),
                configs: vec![AlterableConfig {
                    name: KStr::from_static("segment.bytes"),
                    config_operation: 0,
                    value: Some(KStr::from_static("4096")),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(response.responses[0].error_code, 0);
    assert_eq!(segment_count(&broker, "kept"), 1);
    let value = "x".repeat(1000);
    for _ in 0..12 {
        let response = connection
            .send(ProduceRequest {
                acks: -1,
                timeout_ms: 5_000,
                topic_data: vec![TopicProduceData {
                    name: KStr::from_static("kept"),
                    partition_data: vec![PartitionProduceData {
                        index: 0,
                        records: Some(support::batch_of(&[&value, &value], 1_700_000_000_000)),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            })
            .unwrap();
        assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
    }
    assert!(
        segment_count(&broker, "kept") > 3,
        "24 KB in 4 KiB segments rolls: {} segments",
        segment_count(&broker, "kept")
    );

    drop(connection);
    broker.restart();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    assert_eq!(
        config_value(&mut connection, "kept", "retention.ms"),
        "3600000"
    );
    assert_eq!(
        config_value(&mut connection, "kept", "segment.bytes"),
        "4096"
    );
}
