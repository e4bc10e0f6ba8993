//! Decodes arbitrary bytes as a request frame (header + body, any API key and version).
//!
//! Properties: decoding never panics and never allocates beyond what the input justifies
//! (libFuzzer's -rss_limit_mb and -malloc_limit_mb catch that); whatever decodes re-encodes,
//! with `encoded_size` equal to the bytes written, and that encoding is a fixed point
//! (decoding and encoding it again gives the same bytes).
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use wire::codec::{Encoder, Message};
use wire::messages::{decode_request_frame, ApiKey, RequestBody, RequestHeader};

fn encode(header: &RequestHeader, body: &RequestBody) -> Bytes {
    let api_key = body.api_key();
    let version = header.request_api_version;
    let header_version = api_key.request_header_version(version);
    let mut encoder = Encoder::contiguous(BytesMut::new());
    header
        .encode(&mut encoder, header_version)
        .expect("a decoded header re-encodes");
    body.encode(&mut encoder, version)
        .expect("a decoded body re-encodes");
    let bytes = encoder.into_contiguous().freeze();
    assert_eq!(
        bytes.len(),
        header.encoded_size(header_version) + body.encoded_size(version),
        "encoded_size must match the bytes written"
    );
    bytes
}

fuzz_target!(|data: &[u8]| {
    let Ok((header, body)) = decode_request_frame(Bytes::copy_from_slice(data)) else {
        return;
    };
    assert_eq!(ApiKey::from_i16(header.request_api_key), Some(body.api_key()));
    let first = encode(&header, &body);
    let (header_again, body_again) =
        decode_request_frame(first.clone()).expect("our own encoding decodes");
    let second = encode(&header_again, &body_again);
    assert_eq!(first, second, "re-encoding must be a fixed point");
});
