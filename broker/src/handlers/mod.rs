//! The Kafka API handlers: one file per API, all registered in [`HANDLERS`] with the versions
//! they support. ApiVersions advertises exactly this table.
//!
//! ## How a request is handled
//! The connection loop hands each frame to [`ShardRequests::submit`] in arrival order. It peeks
//! the API key and version, finds the handler, decodes the frame with `wire`'s generated codecs
//! and starts the handler:
//! - a [`Handler::Concurrent`] handler runs as its own task at once (metadata, fetch, admin);
//! - a [`Handler::Ordered`] handler (produce) first performs the part whose order matters
//!   (queueing appends on the partitions' shards) before the next request of the connection is
//!   read, then finishes in the background.
//!
//! Either way the connection writes the responses in request order. A response is encoded at
//! the request's version, records as separate buffers (no copy of record data).
//!
//! ## What is refused, and how (as Kafka does)
//! - An unknown API key, a version outside the table, or a frame that does not decode closes
//!   the connection (bytes after a decoded body are ignored, as Kafka ignores them) with a log line naming the peer and the reason; the one exception is
//!   ApiVersions at an unsupported version, which gets UNSUPPORTED_VERSION in the v0 layout so
//!   that the client can retry with a version it finds there.
//! - Per-topic and per-partition problems are error codes inside a normal response.

use std::future::Future;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::rc::Rc;

use bytes::Bytes;
use wire::messages::{
    decode_request_frame_lenient, encode_response_frame, peek_request_api, ApiKey, RequestBody,
    RequestHeader, ResponseBody,
};

use crate::connection::{PendingReply, Reply, RequestHandler};
use crate::runtime::tasks::spawn;
use crate::shard::Shard;

pub mod alter_configs;
pub mod api_versions;
pub mod config_resources;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod partition_calls;
pub mod produce;
pub mod sync_group;

/// What a handler knows about the request besides its body.
#[derive(Debug, Clone)]
pub struct Request {
    pub header: RequestHeader,
    pub version: i16,
    pub peer: SocketAddr,
}

/// A response still being worked out; `None` means "send nothing" (produce with acks=0).
pub type ResponseFuture = Pin<Box<dyn Future<Output = Option<ResponseBody>>>>;

/// A concurrent handler's work.
pub type HandleFuture = Pin<Box<dyn Future<Output = ResponseBody>>>;
/// An ordered handler's start: completes once the order-sensitive work is queued, with the
/// rest of the work as its output.
pub type StartFuture = Pin<Box<dyn Future<Output = ResponseFuture>>>;

/// How a handler runs.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Runs as a task of its own, concurrently with the connection's other requests.
    Concurrent(fn(Rc<Shard>, Request, RequestBody) -> HandleFuture),
    /// Starts its order-sensitive work before the next request is read (the outer future),
    /// then finishes in the background (the inner one).
    Ordered(fn(Rc<Shard>, Request, RequestBody) -> StartFuture),
}

/// One registered API.
pub struct ApiEntry {
    pub api: ApiKey,
    pub versions: RangeInclusive<i16>,
    pub handler: Handler,
}

/// Adapts `module::handle(shard, request, body) -> Response` to [`Handler::Concurrent`].
macro_rules! concurrent {
    ($api:ident, $module:ident) => {
        ApiEntry {
            api: ApiKey::$api,
            versions: $module::VERSIONS,
            handler: Handler::Concurrent(|shard, request, body| {
                Box::pin(async move {
                    match body {
                        RequestBody::$api(body) => {
                            ResponseBody::from($module::handle(shard, request, body).await)
                        }
                        _ => unreachable!("the table routes each API to its own handler"),
                    }
                })
            }),
        }
    };
}

/// Every API this broker answers, with the versions it supports.
///
/// Version floors: Produce from v0 and Fetch from v4 because librdkafka decides which
/// compression codecs a broker supports from those ranges (it sends record batch v2 whenever
/// Produce v3 and Fetch v4 are available); clients sending v0/v1 message sets are refused with
/// INVALID_RECORD, as Ferrite stores only v2 batches.
pub static HANDLERS: &[ApiEntry] = &[
    ApiEntry {
        api: ApiKey::Produce,
        versions: produce::VERSIONS,
        handler: Handler::Ordered(start_produce),
    },
    concurrent!(Fetch, fetch),
    concurrent!(InitProducerId, init_producer_id),
    concurrent!(ListOffsets, list_offsets),
    concurrent!(Metadata, metadata),
    concurrent!(ApiVersions, api_versions),
    concurrent!(CreateTopics, create_topics),
    concurrent!(DeleteTopics, delete_topics),
    concurrent!(DescribeConfigs, describe_configs),
    concurrent!(AlterConfigs, alter_configs),
    concurrent!(CreatePartitions, create_partitions),
    concurrent!(IncrementalAlterConfigs, incremental_alter_configs),
    concurrent!(DescribeCluster, describe_cluster),
    concurrent!(DeleteRecords, delete_records),
    concurrent!(OffsetForLeaderEpoch, offset_for_leader_epoch),
    concurrent!(FindCoordinator, find_coordinator),
    concurrent!(JoinGroup, join_group),
    concurrent!(SyncGroup, sync_group),
    concurrent!(Heartbeat, heartbeat),
    concurrent!(LeaveGroup, leave_group),
    concurrent!(OffsetCommit, offset_commit),
    concurrent!(OffsetFetch, offset_fetch),
    concurrent!(OffsetDelete, offset_delete),
    concurrent!(DescribeGroups, describe_groups),
    concurrent!(ListGroups, list_groups),
    concurrent!(DeleteGroups, delete_groups),
];

// The outer future queues the appends; the one it yields finishes the request.
#[allow(clippy::async_yields_async)]
fn start_produce(shard: Rc<Shard>, request: Request, body: RequestBody) -> StartFuture {
    Box::pin(async move {
        match body {
            RequestBody::Produce(body) => produce::start(shard, request, body).await,
            _ => unreachable!("the table routes each API to its own handler"),
        }
    })
}

/// The entry of `api`, if this broker answers it.
pub fn entry(api: ApiKey) -> Option<&'static ApiEntry> {
    HANDLERS.iter().find(|entry| entry.api == api)
}

/// The request handler of one shard: serves every connection the shard accepted.
pub struct ShardRequests {
    pub shard: Rc<Shard>,
}

fn close(reason: String) -> PendingReply {
    Box::pin(async move { Reply::Close { reason } })
}

fn encode(correlation_id: i32, version: i16, body: Option<ResponseBody>) -> Reply {
    let Some(body) = body else {
        return Reply::Nothing;
    };
    match encode_response_frame(correlation_id, version, &body) {
        Ok(chunks) => Reply::Frame(chunks),
        Err(error) => Reply::Close {
            reason: format!(
                "cannot encode the {} response: {error}",
                body.api_key().name()
            ),
        },
    }
}

impl RequestHandler for ShardRequests {
    async fn submit(&self, frame: Bytes, peer: SocketAddr) -> PendingReply {
        let (api, version) = match peek_request_api(&frame) {
            Ok(found) => found,
            Err(error) => return close(format!("unreadable request header: {error}")),
        };
        let Some(entry) = entry(api) else {
            return close(format!(
                "{} (key {}) is not supported",
                api.name(),
                api.as_i16()
            ));
        };
        if !entry.versions.contains(&version) {
            if api == ApiKey::ApiVersions {
                return api_versions::unsupported_version_reply(&frame);
            }
            return close(format!(
                "{} v{version} is not supported (supported: v{}-v{})",
                api.name(),
                entry.versions.start(),
                entry.versions.end()
            ));
        }
        let (header, body) = match decode_request_frame_lenient(frame) {
            Ok((header, body, 0)) => (header, body),
            Ok((header, body, trailing_bytes)) => {
                // Kafka ignores bytes after the body, and librdkafka 2.x sends some.
                tracing::debug!(%peer, api = api.name(), version, trailing_bytes, "ignored bytes after a request body");
                (header, body)
            }
            Err(error) => {
                return close(format!(
                    "malformed {} v{version} request: {error}",
                    api.name()
                ))
            }
        };
        let correlation_id = header.correlation_id;
        let request = Request {
            header,
            version,
            peer,
        };
        let shard = self.shard.clone();
        match entry.handler {
            Handler::Concurrent(run) => {
                let task = spawn(run(shard, request, body));
                Box::pin(async move { encode(correlation_id, version, Some(task.join().await)) })
            }
            Handler::Ordered(start) => {
                let finish = start(shard, request, body).await;
                let task = spawn(finish);
                Box::pin(async move { encode(correlation_id, version, task.join().await) })
            }
        }
    }
}

/// The current wall-clock time in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// The Kafka error code for a storage failure.
pub fn storage_error_code(error: &storage::StorageError) -> wire::error_code::ErrorCode {
    use storage::StorageError;
    use wire::error_code::ErrorCode;
    use wire::records::BatchError;
    match error {
        StorageError::InvalidBatch(batch) => match batch {
            BatchError::CrcMismatch { .. } | BatchError::Truncated { .. } => {
                ErrorCode::CorruptMessage
            }
            BatchError::InvalidLength { length, max, .. } if *length > *max as i64 => {
                ErrorCode::MessageTooLarge
            }
            BatchError::InvalidLength { .. } => ErrorCode::CorruptMessage,
            BatchError::UnsupportedMagic(_) | BatchError::Inconsistent(_) => {
                ErrorCode::InvalidRecord
            }
            BatchError::UnknownCompression(_) => ErrorCode::UnsupportedCompressionType,
        },
        StorageError::InvalidAppend { length_bytes, .. } if *length_bytes > 0 => {
            ErrorCode::MessageTooLarge
        }
        StorageError::InvalidAppend { .. } => ErrorCode::CorruptMessage,
        StorageError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
        StorageError::Closed(_) => ErrorCode::NotLeaderOrFollower,
        StorageError::Io { .. }
        | StorageError::LogFailed { .. }
        | StorageError::Corrupt { .. }
        | StorageError::InvalidConfig(_) => ErrorCode::KafkaStorageError,
    }
}
