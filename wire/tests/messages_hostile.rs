//! Hostile input: truncated frames, lengths past the end, huge counts, bad varints and bad
//! UTF-8 give typed errors, never a panic, and never an allocation sized by a claimed length.
//!
//! A counting global allocator records the largest single allocation made by this test binary,
//! so a decoder that trusted a length from the wire would fail the tests here.

use bytes::{BufMut, Bytes, BytesMut};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use wire::codec::testing::ValueGenerator;
use wire::codec::{DecodeErrorKind, Message};
use wire::messages::*;

struct LargestAllocation;

static LARGEST_ALLOCATION_BYTES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST_ALLOCATION_BYTES.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwards the caller's layout unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: the pointer came from `System.alloc` with this layout.
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST_ALLOCATION_BYTES.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: forwards the caller's arguments unchanged to the system allocator.
        unsafe { System.realloc(pointer, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

/// No allocation in this binary may exceed this: every frame here is at most a few KiB, and
/// arrays preallocate at most 64 KiB.
const ALLOCATION_BYTES_MAX: usize = 1024 * 1024;

fn assert_no_large_allocation() {
    let largest = LARGEST_ALLOCATION_BYTES.load(Ordering::Relaxed);
    assert!(
        largest <= ALLOCATION_BYTES_MAX,
        "an allocation of {largest} bytes was made"
    );
}

fn valid_request(api_key: ApiKey, version: i16, seed: u64) -> (RequestBody, Bytes) {
    let body = RequestBody::generate(api_key, version, &mut ValueGenerator::new(seed));
    let mut out = BytesMut::new();
    let mut encoder = wire::codec::Encoder::contiguous(BytesMut::new());
    body.encode(&mut encoder, version)
        .expect("generated values encode");
    out.extend_from_slice(&encoder.into_contiguous());
    (body, out.freeze())
}

#[test]
fn every_strict_prefix_of_every_request_is_an_error() {
    let mut prefixes_checked = 0usize;
    for api_key in ApiKey::ALL {
        let versions = api_key.valid_versions();
        for version in versions.min..=versions.max {
            for seed in 0..3 {
                let (_, encoding) = valid_request(api_key, version, seed);
                for length in 0..encoding.len() {
                    let mut prefix = encoding.slice(..length);
                    let result = RequestBody::decode(api_key, version, &mut prefix);
                    assert!(
                        result.is_err(),
                        "{api_key:?} v{version} seed {seed}: a {length}-byte prefix of {} bytes decoded",
                        encoding.len()
                    );
                    prefixes_checked += 1;
                }
            }
        }
    }
    assert!(
        prefixes_checked > 10_000,
        "only {prefixes_checked} prefixes checked"
    );
    assert_no_large_allocation();
}

#[test]
fn huge_counts_written_anywhere_never_panic_or_allocate() {
    // Overwrite every position of valid encodings with a maximal int32 length and with a
    // maximal compact length: whatever field that lands on, decoding must stay bounded.
    let patterns: [&[u8]; 3] = [
        &[0x7f, 0xff, 0xff, 0xff],
        &[0xfe, 0xff, 0xff, 0xff, 0x07],
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    ];
    let mut decodes = 0usize;
    for api_key in ApiKey::ALL {
        let versions = api_key.valid_versions();
        for version in [versions.min, versions.max] {
            let (_, encoding) = valid_request(api_key, version, 7);
            for pattern in patterns {
                for offset in 0..encoding.len() {
                    let mut corrupted = encoding.to_vec();
                    for (index, byte) in pattern.iter().enumerate() {
                        if let Some(slot) = corrupted.get_mut(offset + index) {
                            *slot = *byte;
                        }
                    }
                    let mut frame = Bytes::from(corrupted);
                    let _ = RequestBody::decode(api_key, version, &mut frame);
                    decodes += 1;
                }
            }
        }
    }
    assert!(decodes > 1_000);
    assert_no_large_allocation();
}

#[test]
fn a_five_byte_body_claiming_two_billion_topics_is_a_typed_error() {
    // MetadataRequest v0: Topics is an int32-counted array of strings (2 bytes each at least).
    let mut frame = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0x00]);
    let error = MetadataRequest::decode(&mut frame, 0).unwrap_err();
    assert_eq!(error.field, "MetadataRequest.Topics");
    assert_eq!(
        error.kind,
        DecodeErrorKind::TooManyElements {
            count: i32::MAX as usize,
            element_bytes_min: 2,
            remaining_bytes: 1
        }
    );
    // ProduceRequest v3: null transactional id, acks, timeout, then 2^31-1 topics.
    let mut body = BytesMut::new();
    body.put_i16(-1);
    body.put_i16(1);
    body.put_i32(1000);
    body.put_i32(i32::MAX);
    let error = ProduceRequest::decode(&mut body.freeze(), 3).unwrap_err();
    assert_eq!(error.field, "ProduceRequest.TopicData");
    assert!(
        matches!(error.kind, DecodeErrorKind::TooManyElements { count, .. } if count == i32::MAX as usize)
    );
    assert_no_large_allocation();
}

#[test]
fn records_length_past_the_end_names_the_field() {
    // ProduceRequest v3 with one topic, one partition whose records claim 1000 bytes.
    let mut body = BytesMut::new();
    body.put_i16(-1); // transactional id: null
    body.put_i16(1); // acks
    body.put_i32(1000); // timeout
    body.put_i32(1); // one topic
    body.put_i16(1);
    body.put_slice(b"t");
    body.put_i32(1); // one partition
    body.put_i32(0); // index
    body.put_i32(1000); // records length
    body.put_slice(&[0; 10]);
    let error = ProduceRequest::decode(&mut body.freeze(), 3).unwrap_err();
    assert_eq!(
        error.field,
        "ProduceRequest.TopicData.PartitionData.Records"
    );
    assert_eq!(
        error.kind,
        DecodeErrorKind::LengthPastEnd {
            length_bytes: 1000,
            remaining_bytes: 10
        }
    );
}

#[test]
fn negative_lengths_invalid_varints_and_bad_utf8_are_typed_errors() {
    // FindCoordinatorRequest v0: Key is a non-nullable int16 string.
    let error =
        FindCoordinatorRequest::decode(&mut Bytes::from_static(&[0xff, 0xfe]), 0).unwrap_err();
    assert_eq!(error.field, "FindCoordinatorRequest.Key");
    assert_eq!(error.kind, DecodeErrorKind::NegativeLength { length: -2 });
    let error =
        FindCoordinatorRequest::decode(&mut Bytes::from_static(&[0xff, 0xff]), 0).unwrap_err();
    assert_eq!(error.kind, DecodeErrorKind::NonNullableNull);
    let error =
        FindCoordinatorRequest::decode(&mut Bytes::from_static(&[0x00, 0x02, 0xc3, 0x28]), 0)
            .unwrap_err();
    assert_eq!(error.kind, DecodeErrorKind::InvalidUtf8);

    // ApiVersionsRequest v3 (flexible): ClientSoftwareName is a compact string.
    let error = ApiVersionsRequest::decode(
        &mut Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        3,
    )
    .unwrap_err();
    assert_eq!(error.field, "ApiVersionsRequest.ClientSoftwareName");
    assert_eq!(error.kind, DecodeErrorKind::InvalidVarint);
    let error =
        ApiVersionsRequest::decode(&mut Bytes::from_static(&[0x03, 0xc3, 0x28]), 3).unwrap_err();
    assert_eq!(error.kind, DecodeErrorKind::InvalidUtf8);
    let error = ApiVersionsRequest::decode(&mut Bytes::from_static(&[]), 9).unwrap_err();
    assert_eq!(
        error.kind,
        DecodeErrorKind::UnsupportedVersion { version: 9 }
    );
}

#[test]
fn tagged_fields_with_a_wrong_length_are_rejected_and_unknown_ones_kept() {
    // ApiVersionsResponse v3: error code, empty key array, throttle, then tagged fields.
    let encode = |tagged: &[u8]| {
        let mut body = BytesMut::new();
        body.put_i16(0);
        body.put_u8(1); // compact array, 0 elements
        body.put_i32(0);
        body.put_slice(tagged);
        body.freeze()
    };
    // Tag 1 (FinalizedFeaturesEpoch, an int64) declared with 9 bytes.
    let mut frame = encode(&[1, 1, 9, 0, 0, 0, 0, 0, 0, 0, 5, 0]);
    let error = ApiVersionsResponse::decode(&mut frame, 3).unwrap_err();
    assert_eq!(
        error.kind,
        DecodeErrorKind::TaggedFieldLengthMismatch {
            tag: 1,
            declared_bytes: 9,
            consumed_bytes: 8
        }
    );
    // Tag 1 with 8 bytes, and an unknown tag 42.
    let mut frame = encode(&[2, 1, 8, 0, 0, 0, 0, 0, 0, 0, 5, 42, 2, 0xab, 0xcd]);
    let response = ApiVersionsResponse::decode(&mut frame, 3).unwrap();
    assert_eq!(response.finalized_features_epoch, 5);
    assert_eq!(response.unknown_tagged_fields.len(), 1);
    assert_eq!(response.unknown_tagged_fields[0].tag, 42);
    assert_eq!(&response.unknown_tagged_fields[0].data[..], &[0xab, 0xcd]);
    // Re-encoded in tag order with the unknown field intact.
    assert_eq!(
        response.encode_to_vec(3).unwrap(),
        encode(&[2, 1, 8, 0, 0, 0, 0, 0, 0, 0, 5, 42, 2, 0xab, 0xcd])
    );
}

#[test]
fn whole_frames_with_unknown_keys_bad_versions_or_trailing_bytes_are_refused() {
    let error =
        decode_request_frame(Bytes::from_static(&[0x7f, 0x00, 0, 0, 0, 0, 0, 1])).unwrap_err();
    assert_eq!(
        error.kind,
        DecodeErrorKind::UnknownApiKey { api_key: 0x7f00 }
    );
    let error = decode_request_frame(Bytes::from_static(&[0, 18, 0, 99, 0, 0, 0, 1])).unwrap_err();
    assert_eq!(
        error.kind,
        DecodeErrorKind::UnsupportedVersion { version: 99 }
    );
    let error = decode_request_frame(Bytes::from_static(&[0, 18])).unwrap_err();
    assert!(matches!(error.kind, DecodeErrorKind::Truncated { .. }));
    // ApiVersions v0: header v1 (key, version, correlation id, client id), empty body, + 1 byte.
    let error = decode_request_frame(Bytes::from_static(&[
        0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0,
    ]))
    .unwrap_err();
    assert_eq!(
        error.kind,
        DecodeErrorKind::TrailingBytes { remaining_bytes: 1 }
    );
}
