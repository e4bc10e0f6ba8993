//! InitProducerId: hands an idempotent producer its producer id.
//!
//! Ids come from the shard's block of reserved ids ([`Shard::allocate_producer_id`]), so they
//! are unique across shards and restarts without a cross-core call per request.
//!
//! As Kafka does for a producer without a transactional id, every request gets a fresh id with
//! epoch 0, even when it names its current id and epoch (v3+, KIP-360): Kafka bumps the epoch
//! only for transactional ids, whose state a transaction coordinator keeps. Ferrite has no
//! transaction coordinator yet, so a transactional id is answered with
//! COORDINATOR_NOT_AVAILABLE, what a broker whose transaction coordinator is not running says.
//! An empty transactional id is INVALID_REQUEST, as in Kafka.

use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::error_code::ErrorCode;
use wire::messages::init_producer_id_request::InitProducerIdRequest;
use wire::messages::init_producer_id_response::InitProducerIdResponse;

use super::Request;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=5;

pub async fn handle(
    shard: Rc<Shard>,
    request: Request,
    body: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let failed = |error: ErrorCode| InitProducerIdResponse {
        error_code: error.code(),
        producer_id: -1,
        producer_epoch: -1,
        ..InitProducerIdResponse::default()
    };
    if body
        .transactional_id
        .as_ref()
        .is_some_and(|id| id.is_empty())
    {
        // As Kafka: an empty transactional id is a malformed request, not a transactional one.
        return failed(ErrorCode::InvalidRequest);
    }
    if body.transactional_id.is_some() {
        tracing::debug!(peer = %request.peer, "InitProducerId with a transactional id: transactions are not supported");
        return failed(ErrorCode::CoordinatorNotAvailable);
    }
    match shard.allocate_producer_id().await {
        Some(producer_id) => InitProducerIdResponse {
            error_code: ErrorCode::None.code(),
            producer_id,
            producer_epoch: 0,
            ..InitProducerIdResponse::default()
        },
        None => failed(ErrorCode::CoordinatorNotAvailable),
    }
}
