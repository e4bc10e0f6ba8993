//! ApiVersions: the APIs and versions this broker answers, straight from the handler table.
//!
//! A client opening with a version newer than ours (kafka-python 3.x sends v4 before knowing
//! the broker) gets UNSUPPORTED_VERSION in the v0 layout, which every client can read, with the
//! table in it; it then retries at a version from the table.

use std::ops::RangeInclusive;
use std::rc::Rc;

use bytes::Bytes;
use wire::error_code::ErrorCode;
use wire::messages::api_versions_request::ApiVersionsRequest;
use wire::messages::api_versions_response::{ApiVersion, ApiVersionsResponse};
use wire::messages::ResponseBody;

use super::{encode, Request, HANDLERS};
use crate::connection::PendingReply;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=4;

/// Every registered API with its version range.
fn advertised() -> Vec<ApiVersion> {
    let mut api_keys: Vec<ApiVersion> = HANDLERS
        .iter()
        .map(|entry| ApiVersion {
            api_key: entry.api.as_i16(),
            min_version: *entry.versions.start(),
            max_version: *entry.versions.end(),
            ..ApiVersion::default()
        })
        .collect();
    api_keys.sort_by_key(|api| api.api_key);
    api_keys
}

pub async fn handle(
    _shard: Rc<Shard>,
    _request: Request,
    _body: ApiVersionsRequest,
) -> ApiVersionsResponse {
    ApiVersionsResponse {
        error_code: ErrorCode::None.code(),
        api_keys: advertised(),
        ..ApiVersionsResponse::default()
    }
}

/// The reply to ApiVersions at a version we do not know: UNSUPPORTED_VERSION, v0 layout. Only
/// the correlation id is read from the request (its body may be in a layout we cannot parse).
pub fn unsupported_version_reply(frame: &Bytes) -> PendingReply {
    // The frame check guarantees at least 8 bytes: key, version and correlation id.
    let correlation_id = frame.get(4..8).map_or(0, |bytes| {
        i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    });
    let body = ResponseBody::from(ApiVersionsResponse {
        error_code: ErrorCode::UnsupportedVersion.code(),
        api_keys: advertised(),
        ..ApiVersionsResponse::default()
    });
    let reply = encode(correlation_id, 0, Some(body));
    Box::pin(async move { reply })
}
