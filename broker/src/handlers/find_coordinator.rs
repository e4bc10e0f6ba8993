//! FindCoordinator: where a group's coordinator is. On a single node it is always this
//! broker; the core that runs the group is an internal matter (requests reaching another core
//! are forwarded). The first lookup creates `__consumer_offsets` (as in Kafka), so the answer
//! names a coordinator that can serve at once. Transaction coordinators do not exist yet:
//! those keys get COORDINATOR_NOT_AVAILABLE, which clients retry.

use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::codec::KStr;
use wire::error_code::ErrorCode;
use wire::messages::find_coordinator_request::FindCoordinatorRequest;
use wire::messages::find_coordinator_response::{Coordinator, FindCoordinatorResponse};

use super::Request;
use crate::group::ensure_offsets_topic;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=4;

/// Key type 0: a consumer group (1 is a transactional id).
const KEY_TYPE_GROUP: i8 = 0;
/// Batched keys (KIP-699) from this version.
const BATCHED_VERSION: i16 = 4;

pub async fn handle(
    shard: Rc<Shard>,
    request: Request,
    body: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let keys: Vec<KStr> = if request.version >= BATCHED_VERSION {
        body.coordinator_keys.clone()
    } else {
        vec![body.key.clone()]
    };
    let outcome = if body.key_type == KEY_TYPE_GROUP {
        ensure_offsets_topic(&shard).await
    } else {
        Err(ErrorCode::CoordinatorNotAvailable)
    };
    let message = match outcome {
        Ok(()) => None,
        Err(_) if body.key_type != KEY_TYPE_GROUP => {
            Some(KStr::from_static("transactions are not supported yet"))
        }
        Err(_) => Some(KStr::from_static("the group coordinator is not ready")),
    };
    let advertised = &shard.config.advertised_listener;
    let (error, node_id, host, port) = match outcome {
        Ok(()) => (
            ErrorCode::None,
            shard.config.node_id,
            KStr::from(advertised.host.clone()),
            i32::from(advertised.port),
        ),
        Err(error) => (error, -1, KStr::new(), -1),
    };
    if request.version >= BATCHED_VERSION {
        return FindCoordinatorResponse {
            coordinators: keys
                .into_iter()
                .map(|key| Coordinator {
                    key,
                    node_id,
                    host: host.clone(),
                    port,
                    error_code: error.code(),
                    error_message: message.clone(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
    }
    FindCoordinatorResponse {
        error_code: error.code(),
        error_message: message,
        node_id,
        host,
        port,
        ..Default::default()
    }
}
