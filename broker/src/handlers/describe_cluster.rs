//! DescribeCluster: the cluster id, the controller (this broker on a single node) and the
//! brokers, as the admin clients' `describe_cluster` shows them.

use std::ops::RangeInclusive;
use std::rc::Rc;

use wire::codec::KStr;
use wire::error_code::ErrorCode;
use wire::messages::describe_cluster_request::DescribeClusterRequest;
use wire::messages::describe_cluster_response::{DescribeClusterBroker, DescribeClusterResponse};

use super::Request;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=1;

/// Endpoint type 1: brokers (2, controllers, is for KRaft controller listeners).
const ENDPOINT_BROKERS: i8 = 1;
/// What Kafka answers for authorized operations when they were not asked for.
const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;
/// Kafka's ACL operations that apply to a cluster, as a bit set (bit n = operation code n):
/// CREATE 5, ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11,
/// IDEMPOTENT_WRITE 12.
const CLUSTER_OPERATIONS: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

pub async fn handle(
    shard: Rc<Shard>,
    request: Request,
    body: DescribeClusterRequest,
) -> DescribeClusterResponse {
    if request.version >= 1 && body.endpoint_type != ENDPOINT_BROKERS {
        return DescribeClusterResponse {
            error_code: ErrorCode::UnsupportedEndpointType.code(),
            error_message: Some(KStr::from_static("only broker endpoints are described")),
            endpoint_type: body.endpoint_type,
            ..Default::default()
        };
    }
    let advertised = &shard.config.advertised_listener;
    DescribeClusterResponse {
        endpoint_type: ENDPOINT_BROKERS,
        cluster_id: KStr::from(shard.cluster_id.clone()),
        controller_id: shard.config.node_id,
        brokers: vec![DescribeClusterBroker {
            broker_id: shard.config.node_id,
            host: KStr::from(advertised.host.clone()),
            port: i32::from(advertised.port),
            rack: None,
            ..Default::default()
        }],
        // Without authorization every cluster operation is allowed.
        cluster_authorized_operations: if body.include_cluster_authorized_operations {
            CLUSTER_OPERATIONS
        } else {
            OPERATIONS_NOT_REQUESTED
        },
        ..Default::default()
    }
}
