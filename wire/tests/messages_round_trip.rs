//! Every generated message at every version: random valid values encode to exactly
//! `encoded_size` bytes, in one buffer or as chunks, and decode back to themselves.

use bytes::Bytes;
use bytes::BytesMut;
use wire::codec::testing::{Generate, ValueGenerator};
use wire::codec::{DecodeError, EncodeError, Encoder, Message};
use wire::messages::*;

/// Random values per message and version.
const CASES_PER_VERSION: u64 = 12;

fn seed_of(key: i16, version: i16, case: u64) -> u64 {
    ((key as u64) << 40) ^ ((version as u64) << 20) ^ case
}

/// Some cases use larger byte fields, so that records reach the scatter-chunk threshold.
fn generator_for(seed: u64) -> ValueGenerator {
    let mut generator = ValueGenerator::new(seed);
    if seed % 4 == 3 {
        generator.bytes_max = 700;
    }
    generator
}

/// Encodes `value` into one buffer and as chunks: both must hold exactly `size` identical
/// bytes, which must decode back to `value` with nothing left over.
fn check_round_trip<Value: PartialEq + std::fmt::Debug>(
    what: &str,
    value: &Value,
    size: usize,
    encode: impl Fn(&mut Encoder) -> Result<(), EncodeError>,
    decode: impl FnOnce(&mut Bytes) -> Result<Value, DecodeError>,
) {
    let mut encoder = Encoder::contiguous(BytesMut::new());
    encode(&mut encoder).unwrap_or_else(|error| panic!("{what}: {error}"));
    let contiguous = encoder.into_contiguous().freeze();
    assert_eq!(
        contiguous.len(),
        size,
        "{what}: encoded_size differs from bytes written"
    );
    let mut encoder = Encoder::scatter(64);
    encode(&mut encoder).unwrap_or_else(|error| panic!("{what}: {error}"));
    let joined: Vec<u8> = encoder
        .into_chunks()
        .iter()
        .flat_map(|chunk| chunk.iter().copied())
        .collect();
    assert_eq!(
        joined, contiguous,
        "{what}: chunks differ from the contiguous encoding"
    );
    let mut frame = contiguous;
    let decoded = decode(&mut frame).unwrap_or_else(|error| panic!("{what}: {error}"));
    assert!(frame.is_empty(), "{what}: {} bytes left", frame.len());
    assert_eq!(&decoded, value, "{what}");
}

fn round_trip_message<M: Message + Generate>() -> usize {
    let mut checked = 0;
    for version in M::VERSIONS.min..=M::VERSIONS.max {
        for case in 0..CASES_PER_VERSION {
            let seed = seed_of(0x7ff, version, case);
            let value = M::generate(&mut generator_for(seed), version);
            check_round_trip(
                &format!("{} v{version} seed {seed}", M::NAME),
                &value,
                value.encoded_size(version),
                |encoder| value.encode(encoder, version),
                |frame| M::decode(frame, version),
            );
            checked += 1;
        }
    }
    checked
}

#[test]
fn every_request_and_response_round_trips_at_every_version() {
    let mut checked = 0;
    for api_key in ApiKey::ALL {
        let versions = api_key.valid_versions();
        for version in versions.min..=versions.max {
            for case in 0..CASES_PER_VERSION {
                let seed = seed_of(api_key.as_i16(), version, case);
                let what = format!("{api_key:?} v{version} seed {seed}");
                let request = RequestBody::generate(api_key, version, &mut generator_for(seed));
                assert_eq!(request.api_key(), api_key);
                check_round_trip(
                    &format!("{what} request"),
                    &request,
                    request.encoded_size(version),
                    |encoder| request.encode(encoder, version),
                    |frame| RequestBody::decode(api_key, version, frame),
                );
                let response = ResponseBody::generate(api_key, version, &mut generator_for(seed));
                check_round_trip(
                    &format!("{what} response"),
                    &response,
                    response.encoded_size(version),
                    |encoder| response.encode(encoder, version),
                    |frame| ResponseBody::decode(api_key, version, frame),
                );
                checked += 2;
            }
        }
    }
    // 88 APIs with several versions each: make sure the loops really ran.
    assert!(
        checked > 88 * 2 * CASES_PER_VERSION as usize,
        "only {checked} cases ran"
    );
}

#[test]
fn headers_and_data_messages_round_trip_at_every_version() {
    let checked = round_trip_message::<RequestHeader>()
        + round_trip_message::<ResponseHeader>()
        + round_trip_message::<ConsumerProtocolAssignment>()
        + round_trip_message::<ConsumerProtocolSubscription>()
        + round_trip_message::<DefaultPrincipalData>()
        + round_trip_message::<KRaftVersionRecord>()
        + round_trip_message::<LeaderChangeMessage>()
        + round_trip_message::<SnapshotFooterRecord>()
        + round_trip_message::<SnapshotHeaderRecord>()
        + round_trip_message::<VotersRecord>();
    assert!(checked >= 10 * CASES_PER_VERSION as usize);
}

#[test]
fn generated_values_exercise_optional_parts() {
    // The generator must produce nulls, tagged fields and unknown tagged fields, or the
    // round trips above would not cover those code paths.
    let mut saw_null_records = false;
    let mut saw_unknown_tagged = false;
    let mut saw_known_tagged = false;
    for case in 0..200 {
        let mut generator = ValueGenerator::new(case);
        let request = ProduceRequest::generate(&mut generator, 11);
        saw_null_records |= request
            .topic_data
            .iter()
            .flat_map(|topic| &topic.partition_data)
            .any(|partition| partition.records.is_none());
        saw_unknown_tagged |= !request.unknown_tagged_fields.is_empty();
        let response = FetchResponse::generate(&mut generator, 16);
        saw_known_tagged |= !response.node_endpoints.is_empty();
    }
    assert!(saw_null_records && saw_unknown_tagged && saw_known_tagged);
}
