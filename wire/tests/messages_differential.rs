//! Differential test against the `kafka-protocol` crate (a dev-dependency only).
//!
//! For every API both crates know, at every version both support: random values built with
//! our generated code are encoded by us, decoded by kafka-protocol, re-encoded by it, and the
//! bytes must be identical; those bytes then decode with our code back to the original value.
//! The two crates were generated from different snapshots of Kafka's schemas (ours from the
//! 4.0 development line, kafka-protocol 0.18 from a later one), so only the versions in both
//! ranges are compared, and an API's newest version is skipped when our schema marks it
//! unstable (still being designed upstream: the share-group APIs changed their v0 between the
//! two snapshots). API keys are matched by number.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages as theirs;
use kafka_protocol::protocol::{Decodable, Encodable};
use wire::codec::testing::{Generate, ValueGenerator};
use wire::codec::{DecodeError, EncodeError, Encoder, Message};
use wire::messages::*;

/// Random values per API, version and direction.
const CASES_PER_VERSION: u64 = 8;

/// Versions that both crates support for an API.
fn shared_versions(
    ours: wire::codec::VersionRange,
    theirs: kafka_protocol::protocol::VersionRange,
) -> std::ops::RangeInclusive<i16> {
    ours.min.max(theirs.min)..=ours.max.min(theirs.max)
}

#[test]
fn requests_and_responses_agree_byte_for_byte_with_kafka_protocol() {
    let mut compared = 0usize;
    let mut apis_compared = 0usize;
    for api_key in ApiKey::ALL {
        let Ok(their_key) = theirs::ApiKey::try_from(api_key.as_i16()) else {
            continue;
        };
        let versions = shared_versions(api_key.valid_versions(), their_key.valid_versions());
        if versions.is_empty() {
            continue;
        }
        apis_compared += 1;
        for version in versions {
            if api_key.latest_version_unstable() && version == api_key.valid_versions().max {
                continue;
            }
            for case in 0..CASES_PER_VERSION {
                let seed = ((api_key.as_i16() as u64) << 32) | ((version as u64) << 16) | case;
                let what = format!("{api_key:?} v{version} seed {seed}");
                let request =
                    RequestBody::generate(api_key, version, &mut ValueGenerator::new(seed));
                check_against_theirs(
                    &format!("{what} request"),
                    &request,
                    |encoder| request.encode(encoder, version),
                    |frame| {
                        let decoded = theirs::RequestKind::decode(their_key, frame, version)?;
                        let mut out = BytesMut::new();
                        decoded.encode(&mut out, version)?;
                        Ok(out)
                    },
                    |frame| RequestBody::decode(api_key, version, frame),
                );
                let response =
                    ResponseBody::generate(api_key, version, &mut ValueGenerator::new(seed));
                check_against_theirs(
                    &format!("{what} response"),
                    &response,
                    |encoder| response.encode(encoder, version),
                    |frame| {
                        let decoded = theirs::ResponseKind::decode(their_key, frame, version)?;
                        let mut out = BytesMut::new();
                        decoded.encode(&mut out, version)?;
                        Ok(out)
                    },
                    |frame| ResponseBody::decode(api_key, version, frame),
                );
                compared += 2;
            }
        }
    }
    assert!(
        apis_compared >= 70,
        "only {apis_compared} APIs were comparable"
    );
    assert!(compared > 1000, "only {compared} values compared");
}

/// Encodes `value` with ours, has kafka-protocol decode and re-encode it (the bytes must be
/// identical), then decodes their bytes with ours (the value must be identical).
fn check_against_theirs<Value: PartialEq + std::fmt::Debug>(
    what: &str,
    value: &Value,
    encode_ours: impl FnOnce(&mut Encoder) -> Result<(), EncodeError>,
    theirs_round_trip: impl FnOnce(&mut Bytes) -> anyhow::Result<BytesMut>,
    decode_ours: impl FnOnce(&mut Bytes) -> Result<Value, DecodeError>,
) {
    let mut encoder = Encoder::contiguous(BytesMut::new());
    encode_ours(&mut encoder).unwrap_or_else(|error| panic!("{what}: {error}"));
    let ours = encoder.into_contiguous().freeze();
    let mut frame = ours.clone();
    let their_bytes = theirs_round_trip(&mut frame).unwrap_or_else(|error| {
        panic!("{what}: kafka-protocol cannot take our encoding: {error:#}")
    });
    assert!(
        frame.is_empty(),
        "{what}: kafka-protocol left {} bytes",
        frame.len()
    );
    assert_eq!(their_bytes.as_ref(), ours.as_ref(), "{what}: bytes differ");
    let mut frame = their_bytes.freeze();
    let back = decode_ours(&mut frame).unwrap_or_else(|error| panic!("{what}: {error}"));
    assert!(frame.is_empty(), "{what}: bytes left after our decode");
    assert_eq!(
        &back, value,
        "{what}: value differs after kafka-protocol's round trip"
    );
}

/// The same check for a message outside the request/response enums.
///
/// `prepare` adjusts a generated value where kafka-protocol cannot follow: its generated
/// decoders for data records with a field named `Version` read nested structs at that field's
/// value instead of the message version, so those fields are set to the message version.
fn compare<Ours, Theirs>(
    their_versions: kafka_protocol::protocol::VersionRange,
    prepare: fn(&mut Ours, i16),
) -> usize
where
    Ours: Message + Generate,
    Theirs: Encodable + Decodable,
{
    let mut compared = 0;
    for version in shared_versions(Ours::VERSIONS, their_versions) {
        for case in 0..CASES_PER_VERSION {
            let mut value = Ours::generate(&mut ValueGenerator::new(case), version);
            prepare(&mut value, version);
            check_against_theirs(
                &format!("{} v{version} case {case}", Ours::NAME),
                &value,
                |encoder| value.encode(encoder, version),
                |frame| {
                    let decoded = Theirs::decode(frame, version)?;
                    let mut out = BytesMut::new();
                    decoded.encode(&mut out, version)?;
                    Ok(out)
                },
                |frame| Ours::decode(frame, version),
            );
            compared += 1;
        }
    }
    compared
}

#[test]
fn headers_and_data_messages_agree_with_kafka_protocol() {
    use kafka_protocol::protocol::Message as TheirMessage;
    fn unchanged<T>(_: &mut T, _: i16) {}
    let compared =
        compare::<RequestHeader, theirs::RequestHeader>(theirs::RequestHeader::VERSIONS, unchanged)
            + compare::<ResponseHeader, theirs::ResponseHeader>(
                theirs::ResponseHeader::VERSIONS,
                unchanged,
            )
            + compare::<ConsumerProtocolAssignment, theirs::ConsumerProtocolAssignment>(
                theirs::ConsumerProtocolAssignment::VERSIONS,
                unchanged,
            )
            + compare::<ConsumerProtocolSubscription, theirs::ConsumerProtocolSubscription>(
                theirs::ConsumerProtocolSubscription::VERSIONS,
                unchanged,
            )
            + compare::<DefaultPrincipalData, theirs::DefaultPrincipalData>(
                theirs::DefaultPrincipalData::VERSIONS,
                unchanged,
            )
            + compare::<KRaftVersionRecord, theirs::KRaftVersionRecord>(
                theirs::KRaftVersionRecord::VERSIONS,
                |value, version| value.version = version,
            )
            + compare::<LeaderChangeMessage, theirs::LeaderChangeMessage>(
                theirs::LeaderChangeMessage::VERSIONS,
                |value, version| value.version = version,
            )
            + compare::<SnapshotFooterRecord, theirs::SnapshotFooterRecord>(
                theirs::SnapshotFooterRecord::VERSIONS,
                |value, version| value.version = version,
            )
            + compare::<SnapshotHeaderRecord, theirs::SnapshotHeaderRecord>(
                theirs::SnapshotHeaderRecord::VERSIONS,
                |value, version| value.version = version,
            )
            + compare::<VotersRecord, theirs::VotersRecord>(
                theirs::VotersRecord::VERSIONS,
                |value, version| value.version = version,
            );
    assert!(compared >= 10 * CASES_PER_VERSION as usize);
}
