//! Request and response headers, header versions per API, whole frames, and the encode-side
//! rules (fields missing from a version, nulls, unknown tagged fields).

use bytes::{BufMut, Bytes, BytesMut};
use wire::codec::{EncodeErrorKind, KStr, Message, RawTaggedField};
use wire::messages::*;

#[test]
fn header_versions_follow_the_flexible_versions_and_the_two_exceptions() {
    assert_eq!(ApiKey::Produce.request_header_version(8), 1);
    assert_eq!(ApiKey::Produce.request_header_version(9), 2);
    assert_eq!(ApiKey::Produce.response_header_version(8), 0);
    assert_eq!(ApiKey::Produce.response_header_version(9), 1);
    assert_eq!(ApiKey::ControlledShutdown.request_header_version(0), 0);
    assert_eq!(ApiKey::ControlledShutdown.request_header_version(1), 1);
    // ApiVersions responses always use header v0, even at flexible versions.
    assert_eq!(ApiKey::ApiVersions.request_header_version(3), 2);
    for version in 0..=ApiKey::ApiVersions.valid_versions().max {
        assert_eq!(ApiKey::ApiVersions.response_header_version(version), 0);
    }
    assert_eq!(ApiKey::Fetch.flexible_versions_min(), Some(12));
    assert_eq!(ApiKey::from_i16(18), Some(ApiKey::ApiVersions));
    assert_eq!(ApiKey::from_i16(-1), None);
    assert_eq!(ApiKey::Metadata.name(), "Metadata");
    for api_key in ApiKey::ALL {
        assert_eq!(ApiKey::from_i16(api_key.as_i16()), Some(api_key));
    }
}

#[test]
fn request_header_v2_keeps_a_classic_client_id_and_adds_tagged_fields() {
    let header = RequestHeader {
        request_api_key: 18,
        request_api_version: 3,
        correlation_id: 7,
        client_id: Some(KStr::from("abc")),
        unknown_tagged_fields: Vec::new(),
    };
    let expected: &[u8] = &[0, 18, 0, 3, 0, 0, 0, 7, 0, 3, b'a', b'b', b'c', 0];
    assert_eq!(header.encode_to_vec(2).unwrap(), expected);
    assert_eq!(
        header.encode_to_vec(1).unwrap(),
        &expected[..expected.len() - 1]
    );
    assert_eq!(
        header.encode_to_vec(0).unwrap(),
        &expected[..8],
        "v0 drops the ignorable client id"
    );
    let decoded = RequestHeader::decode(&mut Bytes::from_static(expected), 2).unwrap();
    assert_eq!(decoded, header);
    let null_client = RequestHeader {
        client_id: None,
        ..header.clone()
    };
    assert_eq!(&null_client.encode_to_vec(1).unwrap()[8..], &[0xff, 0xff]);
}

#[test]
fn a_flexible_api_versions_request_frame_decodes_end_to_end() {
    // Header v2 then an ApiVersions v3 body with compact strings and an empty tag section.
    let mut frame = BytesMut::new();
    frame.put_slice(&[0, 18, 0, 3, 0, 0, 0, 42, 0, 4]);
    frame.put_slice(b"kcat");
    frame.put_u8(0);
    frame.put_u8(1 + 9);
    frame.put_slice(b"librdkafk");
    frame.put_u8(1 + 5);
    frame.put_slice(b"2.0.2");
    frame.put_u8(0);
    let (header, body) = decode_request_frame(frame.freeze()).unwrap();
    assert_eq!(header.correlation_id, 42);
    assert_eq!(header.client_id.as_deref(), Some("kcat"));
    let RequestBody::ApiVersions(request) = body else {
        panic!("wrong body {body:?}")
    };
    assert_eq!(&*request.client_software_name, "librdkafk");
    assert_eq!(&*request.client_software_version, "2.0.2");
}

#[test]
fn api_versions_responses_use_header_v0_at_flexible_versions() {
    let body = ResponseBody::ApiVersions(ApiVersionsResponse {
        error_code: 35,
        ..Default::default()
    });
    let chunks = encode_response_frame(9, 3, &body).unwrap();
    let frame: Vec<u8> = chunks
        .iter()
        .flat_map(|chunk| chunk.iter().copied())
        .collect();
    // Size, correlation id, and straight into the body (error code 35): no tag byte between.
    assert_eq!(&frame[4..10], &[0, 0, 0, 9, 0, 35]);
    assert_eq!(
        i32::from_be_bytes(frame[..4].try_into().unwrap()) as usize,
        frame.len() - 4
    );
    let (header, decoded) =
        decode_response_frame(ApiKey::ApiVersions, 3, Bytes::from(frame[4..].to_vec())).unwrap();
    assert_eq!(header.correlation_id, 9);
    assert_eq!(decoded, body);
    // Another flexible API gets response header v1 (an empty tag section after the id).
    let body = ResponseBody::Metadata(MetadataResponse::default());
    let frame: Vec<u8> = encode_response_frame(9, 9, &body).unwrap().concat();
    assert_eq!(&frame[4..9], &[0, 0, 0, 9, 0]);
}

#[test]
fn request_frames_round_trip_through_the_frame_helpers() {
    let header = RequestHeader {
        request_api_key: 3,
        request_api_version: 12,
        correlation_id: 1,
        client_id: Some(KStr::from("bench")),
        unknown_tagged_fields: Vec::new(),
    };
    let body = RequestBody::Metadata(MetadataRequest {
        allow_auto_topic_creation: true,
        ..Default::default()
    });
    let frame = encode_request_frame(&header, &body).unwrap().freeze();
    assert_eq!(
        i32::from_be_bytes(frame[..4].try_into().unwrap()) as usize,
        frame.len() - 4
    );
    let (decoded_header, decoded_body) = decode_request_frame(frame.slice(4..)).unwrap();
    assert_eq!(decoded_header, header);
    assert_eq!(decoded_body, body);
}

#[test]
fn fetch_responses_scatter_large_records_without_copying() {
    let records = Bytes::from(vec![0x5a; 64 * 1024]);
    let partition = fetch_response::PartitionData {
        records: Some(records.clone()),
        ..Default::default()
    };
    let topic = fetch_response::FetchableTopicResponse {
        partitions: vec![partition],
        ..Default::default()
    };
    let response = FetchResponse {
        responses: vec![topic],
        ..Default::default()
    };
    for version in [4, 12, 16] {
        let chunks = response.encode_to_chunks(version).unwrap();
        assert!(chunks
            .iter()
            .any(|chunk| chunk.as_ptr() == records.as_ptr() && chunk.len() == records.len()));
        let total: usize = chunks.iter().map(Bytes::len).sum();
        assert_eq!(total, response.encoded_size(version));
    }
}

#[test]
fn encoding_refuses_values_the_version_cannot_carry() {
    // SessionId exists from v7 and is not ignorable.
    let response = FetchResponse {
        session_id: 5,
        ..Default::default()
    };
    let error = response.encode_to_vec(6).unwrap_err();
    assert_eq!(error.field, "FetchResponse.SessionId");
    assert_eq!(
        error.kind,
        EncodeErrorKind::FieldNotInVersion { version: 6 }
    );
    assert!(response.encode_to_vec(7).is_ok());
    // ThrottleTimeMs (v1+) is ignorable: silently dropped at v0.
    let response = FetchResponse {
        throttle_time_ms: 100,
        ..Default::default()
    };
    let bytes = response.encode_to_vec(0).unwrap();
    assert_eq!(bytes.len(), response.encoded_size(0));
    assert_eq!(
        FetchResponse::decode(&mut Bytes::from(bytes), 0)
            .unwrap()
            .throttle_time_ms,
        0
    );
    // MetadataRequest.Topics is nullable only from v1.
    let request = MetadataRequest {
        topics: None,
        ..Default::default()
    };
    assert_eq!(
        request.encode_to_vec(0).unwrap_err().kind,
        EncodeErrorKind::NullNotAllowed { version: 0 }
    );
    assert!(request.encode_to_vec(1).is_ok());
    // Unknown tagged fields need a flexible version.
    let request = ApiVersionsRequest {
        unknown_tagged_fields: vec![RawTaggedField {
            tag: 9,
            data: Bytes::from_static(b"x"),
        }],
        ..Default::default()
    };
    assert_eq!(
        request.encode_to_vec(2).unwrap_err().kind,
        EncodeErrorKind::TaggedFieldsNotInVersion { version: 2 }
    );
    assert!(request.encode_to_vec(3).is_ok());
    assert_eq!(
        request.encode_to_vec(5).unwrap_err().kind,
        EncodeErrorKind::UnsupportedVersion { version: 5 }
    );
}

#[test]
fn schema_defaults_are_honoured() {
    let request = FetchRequest::default();
    assert_eq!(request.replica_id, -1);
    assert_eq!(request.max_bytes, 0x7fff_ffff);
    assert_eq!(request.cluster_id, None);
    let partition = fetch_request::FetchPartition::default();
    assert_eq!(partition.log_start_offset, -1);
    let response = ApiVersionsResponse::default();
    assert_eq!(response.finalized_features_epoch, -1);
    let request = DescribeTopicPartitionsRequest::default();
    assert_eq!(request.response_partition_limit, 2000);
    assert!(request.cursor.is_none());
}
