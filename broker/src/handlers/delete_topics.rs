//! DeleteTopics: by name (v0-v5) or by name or id (v6). A deleted topic's partition
//! directories are removed by the shards that own them.

use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::codec::{KStr, Uuid};
use wire::messages::delete_topics_request::DeleteTopicsRequest;
use wire::messages::delete_topics_response::{DeletableTopicResult, DeleteTopicsResponse};

use super::Request;
use crate::metadata::TopicId;
use crate::shard::Shard;
use crate::topics::{delete_topics, stopping, TopicRef};

pub const VERSIONS: RangeInclusive<i16> = 0..=6;

pub async fn handle(
    shard: Rc<Shard>,
    request: Request,
    body: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let wanted: Vec<TopicRef> = if request.version >= 6 {
        body.topics
            .iter()
            .map(|topic| match &topic.name {
                Some(name) => TopicRef::Name(name.to_string()),
                None => TopicRef::Id(TopicId(topic.topic_id.0)),
            })
            .collect()
    } else {
        body.topic_names
            .iter()
            .map(|name| TopicRef::Name(name.to_string()))
            .collect()
    };
    // Names and ids as the client gave them, filled in from the image where known.
    let described: Vec<(Option<KStr>, Uuid)> = {
        let image = shard.metadata.borrow();
        wanted
            .iter()
            .map(|topic| match topic {
                TopicRef::Name(name) => (
                    Some(KStr::from(name.clone())),
                    image
                        .topic(name)
                        .map_or(Uuid::default(), |info| Uuid(info.id.0)),
                ),
                TopicRef::Id(id) => (
                    image
                        .topic_by_id(*id)
                        .map(|info| KStr::from(info.name.clone())),
                    Uuid(id.0),
                ),
            })
            .collect()
    };
    let outcomes = delete_topics(&shard, wanted)
        .await
        .unwrap_or_else(|_| stopping(described.len()));
    let responses = described
        .into_iter()
        .zip(outcomes)
        .map(|((name, topic_id), outcome)| {
            let (error_code, error_message) = match outcome {
                Ok(()) => (0, None),
                Err(error) => (error.code.code(), Some(KStr::from(error.message))),
            };
            DeletableTopicResult {
                name,
                topic_id,
                error_code,
                error_message,
                ..Default::default()
            }
        })
        .collect();
    DeleteTopicsResponse {
        responses,
        ..Default::default()
    }
}
