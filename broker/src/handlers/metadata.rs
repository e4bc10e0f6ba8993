//! Metadata: brokers, topics and partitions, with topic auto-creation.
//!
//! On one node this broker leads every partition (leader epoch 0, itself as the only replica
//! and in-sync replica). Unknown topics are created with the default partition count when
//! `auto_create_topics` is on and the client allows it (v4+ carries the client's choice); the
//! topic is created before the response, so the client sees it complete at once.

use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::codec::{KStr, Uuid};
use wire::error_code::ErrorCode;
use wire::messages::metadata_request::MetadataRequest;
use wire::messages::metadata_response::{
    MetadataResponse, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};

use super::Request;
use crate::metadata::{TopicId, TopicInfo};
use crate::shard::Shard;
use crate::topics::{create_topics, NewTopic};

pub const VERSIONS: RangeInclusive<i16> = 0..=12;

/// What a requested topic resolves to.
enum Wanted {
    Name(String),
    Id(Uuid),
}

pub async fn handle(shard: Rc<Shard>, request: Request, body: MetadataRequest) -> MetadataResponse {
    let node_id = shard.config.node_id;
    let wanted: Option<Vec<Wanted>> = match &body.topics {
        None => None,
        Some(topics) if topics.is_empty() && request.version == 0 => None,
        Some(topics) => Some(
            topics
                .iter()
                .map(|topic| match &topic.name {
                    Some(name) => Wanted::Name(name.to_string()),
                    None => Wanted::Id(topic.topic_id),
                })
                .collect(),
        ),
    };
    let auto_create =
        shard.config.auto_create_topics && (request.version < 4 || body.allow_auto_topic_creation);
    if let (Some(wanted), true) = (&wanted, auto_create) {
        let missing: Vec<NewTopic> = {
            let image = shard.metadata.borrow();
            wanted
                .iter()
                .filter_map(|wanted| match wanted {
                    Wanted::Name(name) if image.topic(name).is_none() => Some(NewTopic {
                        name: name.clone(),
                        partition_count: shard.config.default_partitions,
                        configs: Vec::new(),
                    }),
                    _ => None,
                })
                .collect()
        };
        if !missing.is_empty() {
            match create_topics(&shard, missing, false).await {
                Ok(outcomes) => {
                    for outcome in outcomes.into_iter().filter_map(Result::err) {
                        // Invalid names are reported per topic below; others are logged.
                        if outcome.code != ErrorCode::InvalidTopicException
                            && outcome.code != ErrorCode::TopicAlreadyExists
                        {
                            tracing::warn!(reason = %outcome.message, "auto-creating a topic failed");
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "auto-creating topics failed"),
            }
        }
    }

    let image = shard.metadata.borrow();
    let topics = match wanted {
        None => image
            .topics()
            .map(|topic| describe_topic(topic, node_id))
            .collect(),
        Some(wanted) => wanted
            .into_iter()
            .map(|wanted| match wanted {
                Wanted::Name(name) => match image.topic(&name) {
                    Some(topic) => describe_topic(topic, node_id),
                    None => MetadataResponseTopic {
                        error_code: match crate::metadata::image::check_topic_name(&name) {
                            Ok(()) => ErrorCode::UnknownTopicOrPartition.code(),
                            Err(_) => ErrorCode::InvalidTopicException.code(),
                        },
                        name: Some(KStr::from(name)),
                        ..MetadataResponseTopic::default()
                    },
                },
                Wanted::Id(id) => match image.topic_by_id(TopicId(id.0)) {
                    Some(topic) => describe_topic(topic, node_id),
                    None => MetadataResponseTopic {
                        error_code: ErrorCode::UnknownTopicId.code(),
                        name: None,
                        topic_id: id,
                        ..MetadataResponseTopic::default()
                    },
                },
            })
            .collect(),
    };
    let listener = &shard.config.advertised_listener;
    MetadataResponse {
        brokers: vec![MetadataResponseBroker {
            node_id,
            host: KStr::from(listener.host.clone()),
            port: i32::from(listener.port),
            rack: None,
            ..MetadataResponseBroker::default()
        }],
        cluster_id: Some(KStr::from(shard.cluster_id.clone())),
        controller_id: node_id,
        topics,
        ..MetadataResponse::default()
    }
}

fn describe_topic(topic: &TopicInfo, node_id: i32) -> MetadataResponseTopic {
    MetadataResponseTopic {
        error_code: ErrorCode::None.code(),
        name: Some(KStr::from(topic.name.clone())),
        topic_id: Uuid(topic.id.0),
        is_internal: crate::group::is_internal_topic(&topic.name),
        partitions: (0..topic.partitions.len() as i32)
            .map(|index| MetadataResponsePartition {
                error_code: ErrorCode::None.code(),
                partition_index: index,
                leader_id: node_id,
                leader_epoch: 0,
                replica_nodes: vec![node_id],
                isr_nodes: vec![node_id],
                ..MetadataResponsePartition::default()
            })
            .collect(),
        ..MetadataResponseTopic::default()
    }
}
