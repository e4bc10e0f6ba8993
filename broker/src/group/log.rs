//! What the coordinator writes to `__consumer_offsets`, and reading it back.
//!
//! Each record's key says what it is about; a later record with the same key replaces an
//! earlier one, and a record without a value (a tombstone) deletes it. The layouts are
//! Kafka's, so a tool that reads Kafka's offsets topic reads ours (big-endian integers,
//! strings with an int16 length, -1 for null, bytes with an int32 length):
//!
//! - offset commit key (version 1): group, topic, partition (int32); value (version 3):
//!   offset (int64), leader epoch (int32), metadata (string), commit timestamp (int64);
//! - group key (version 2): group; value (version 3): protocol type, generation (int32),
//!   protocol (nullable), leader (nullable), state timestamp (int64), and the members: id,
//!   instance id (nullable), client id, client host, rebalance timeout, session timeout
//!   (int32s), subscription and assignment (bytes).
//!
//! A record this version does not know (another key version, an undecodable value) is skipped
//! with a warning when the log is replayed, never fatal.

use bytes::{Bytes, BytesMut};
use wire::codec::{decode, DecodeError, EncodeError, Encoder, Message};
use wire::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;
use wire::records::{BatchBuilder, BatchOptions, NewRecord};

const OFFSET_KEY_VERSION: i16 = 1;
/// Kafka's older offset key version, with the same layout.
const OFFSET_KEY_VERSION_0: i16 = 0;
const GROUP_KEY_VERSION: i16 = 2;
const OFFSET_VALUE_VERSION: i16 = 3;
const GROUP_VALUE_VERSION: i16 = 3;

/// What a record of `__consumer_offsets` is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    Offset {
        group: String,
        topic: String,
        partition: i32,
    },
    Group {
        group: String,
    },
}

/// A committed offset as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_timestamp_ms: i64,
}

/// A group's membership as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSnapshot {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp_ms: i64,
    pub members: Vec<MemberSnapshot>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MemberSnapshot {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// A decoded record: its key and, unless it is a tombstone, its value.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Offset {
        group: String,
        topic: String,
        partition: i32,
        value: Option<OffsetValue>,
    },
    Group {
        group: String,
        value: Option<GroupSnapshot>,
    },
}

fn encoder() -> Encoder {
    Encoder::contiguous(BytesMut::with_capacity(128))
}

fn put_nullable_string(
    encoder: &mut Encoder,
    value: Option<&str>,
    field: &'static str,
) -> Result<(), EncodeError> {
    match value {
        Some(text) => encoder.put_string(text, false, field),
        None => encoder.put_string_length(None, false, field),
    }
}

impl RecordKey {
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        let mut encoder = encoder();
        match self {
            RecordKey::Offset {
                group,
                topic,
                partition,
            } => {
                encoder.put_i16(OFFSET_KEY_VERSION);
                encoder.put_string(group, false, "OffsetCommitKey.group")?;
                encoder.put_string(topic, false, "OffsetCommitKey.topic")?;
                encoder.put_i32(*partition);
            }
            RecordKey::Group { group } => {
                encoder.put_i16(GROUP_KEY_VERSION);
                encoder.put_string(group, false, "GroupMetadataKey.group")?;
            }
        }
        Ok(encoder.into_contiguous().freeze())
    }
}

impl OffsetValue {
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        let mut encoder = encoder();
        encoder.put_i16(OFFSET_VALUE_VERSION);
        encoder.put_i64(self.offset);
        encoder.put_i32(self.leader_epoch);
        put_nullable_string(
            &mut encoder,
            self.metadata.as_deref(),
            "OffsetCommitValue.metadata",
        )?;
        encoder.put_i64(self.commit_timestamp_ms);
        Ok(encoder.into_contiguous().freeze())
    }

    fn decode(buf: &mut Bytes) -> Result<Option<Self>, DecodeError> {
        let version = decode::read_i16(buf, "OffsetCommitValue.version")?;
        if version != OFFSET_VALUE_VERSION {
            return Ok(None);
        }
        Ok(Some(OffsetValue {
            offset: decode::read_i64(buf, "OffsetCommitValue.offset")?,
            leader_epoch: decode::read_i32(buf, "OffsetCommitValue.leader_epoch")?,
            metadata: decode::read_nullable_string(buf, false, "OffsetCommitValue.metadata")?
                .map(|text| text.to_string()),
            commit_timestamp_ms: decode::read_i64(buf, "OffsetCommitValue.commit_timestamp")?,
        }))
    }
}

impl GroupSnapshot {
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        let mut encoder = encoder();
        encoder.put_i16(GROUP_VALUE_VERSION);
        encoder.put_string(
            &self.protocol_type,
            false,
            "GroupMetadataValue.protocol_type",
        )?;
        encoder.put_i32(self.generation);
        put_nullable_string(
            &mut encoder,
            self.protocol.as_deref(),
            "GroupMetadataValue.protocol",
        )?;
        put_nullable_string(
            &mut encoder,
            self.leader.as_deref(),
            "GroupMetadataValue.leader",
        )?;
        encoder.put_i64(self.state_timestamp_ms);
        encoder.put_length(
            Some(self.members.len()),
            false,
            "GroupMetadataValue.members",
        )?;
        for member in &self.members {
            encoder.put_string(&member.member_id, false, "MemberMetadata.member_id")?;
            put_nullable_string(
                &mut encoder,
                member.instance_id.as_deref(),
                "MemberMetadata.group_instance_id",
            )?;
            encoder.put_string(&member.client_id, false, "MemberMetadata.client_id")?;
            encoder.put_string(&member.client_host, false, "MemberMetadata.client_host")?;
            encoder.put_i32(member.rebalance_timeout_ms);
            encoder.put_i32(member.session_timeout_ms);
            encoder.put_bytes(&member.subscription, false, "MemberMetadata.subscription")?;
            encoder.put_bytes(&member.assignment, false, "MemberMetadata.assignment")?;
        }
        Ok(encoder.into_contiguous().freeze())
    }

    fn decode(buf: &mut Bytes) -> Result<Option<Self>, DecodeError> {
        let version = decode::read_i16(buf, "GroupMetadataValue.version")?;
        if version != GROUP_VALUE_VERSION {
            return Ok(None);
        }
        let string = |buf: &mut Bytes, field| -> Result<String, DecodeError> {
            Ok(decode::read_string(buf, false, field)?.to_string())
        };
        let nullable = |buf: &mut Bytes, field| -> Result<Option<String>, DecodeError> {
            Ok(decode::read_nullable_string(buf, false, field)?.map(|text| text.to_string()))
        };
        let protocol_type = string(buf, "GroupMetadataValue.protocol_type")?;
        let generation = decode::read_i32(buf, "GroupMetadataValue.generation")?;
        let protocol = nullable(buf, "GroupMetadataValue.protocol")?;
        let leader = nullable(buf, "GroupMetadataValue.leader")?;
        let state_timestamp_ms = decode::read_i64(buf, "GroupMetadataValue.state_timestamp")?;
        // A member takes at least 28 bytes: the bound keeps a bad count from allocating.
        let members = decode::read_array(buf, false, 28, "GroupMetadataValue.members", |buf| {
            Ok(MemberSnapshot {
                member_id: string(buf, "MemberMetadata.member_id")?,
                instance_id: nullable(buf, "MemberMetadata.group_instance_id")?,
                client_id: string(buf, "MemberMetadata.client_id")?,
                client_host: string(buf, "MemberMetadata.client_host")?,
                rebalance_timeout_ms: decode::read_i32(buf, "MemberMetadata.rebalance_timeout")?,
                session_timeout_ms: decode::read_i32(buf, "MemberMetadata.session_timeout")?,
                subscription: decode::read_bytes(buf, false, "MemberMetadata.subscription")?,
                assignment: decode::read_bytes(buf, false, "MemberMetadata.assignment")?,
            })
        })?;
        Ok(Some(GroupSnapshot {
            protocol_type,
            generation,
            protocol,
            leader,
            state_timestamp_ms,
            members,
        }))
    }
}

/// Decodes one record's key and value; `Ok(None)` for a record kind this version does not know.
pub fn decode_entry(key: &Bytes, value: Option<&Bytes>) -> Result<Option<Entry>, DecodeError> {
    let mut key = key.clone();
    let version = decode::read_i16(&mut key, "key.version")?;
    match version {
        OFFSET_KEY_VERSION | OFFSET_KEY_VERSION_0 => {
            let group = decode::read_string(&mut key, false, "OffsetCommitKey.group")?.to_string();
            let topic = decode::read_string(&mut key, false, "OffsetCommitKey.topic")?.to_string();
            let partition = decode::read_i32(&mut key, "OffsetCommitKey.partition")?;
            let value = match value {
                None => None,
                Some(value) => match OffsetValue::decode(&mut value.clone())? {
                    Some(value) => Some(value),
                    None => return Ok(None),
                },
            };
            Ok(Some(Entry::Offset {
                group,
                topic,
                partition,
                value,
            }))
        }
        GROUP_KEY_VERSION => {
            let group = decode::read_string(&mut key, false, "GroupMetadataKey.group")?.to_string();
            let value = match value {
                None => None,
                Some(value) => match GroupSnapshot::decode(&mut value.clone())? {
                    Some(value) => Some(value),
                    None => return Ok(None),
                },
            };
            Ok(Some(Entry::Group { group, value }))
        }
        _ => Ok(None),
    }
}

/// One v2 batch holding `records` (key, value or tombstone), stamped `now_ms`.
pub fn build_batch(records: &[(Bytes, Option<Bytes>)], now_ms: i64) -> Result<BytesMut, String> {
    let mut builder = BatchBuilder::new(BatchOptions::default());
    for (key, value) in records {
        builder
            .append(&NewRecord {
                timestamp_ms: now_ms,
                key: Some(key),
                value: value.as_deref(),
                headers: &[],
            })
            .map_err(|error| error.to_string())?;
    }
    builder.finish().map_err(|error| error.to_string())
}

/// The topics a consumer-protocol subscription names (empty if it does not decode).
pub fn subscription_topics(metadata: &Bytes) -> Vec<String> {
    let mut buf = metadata.clone();
    let Ok(version) = decode::read_i16(&mut buf, "ConsumerProtocolSubscription.version") else {
        return Vec::new();
    };
    // Later versions only add fields at the end: read what this version knows.
    let known = version.clamp(0, ConsumerProtocolSubscription::VERSIONS.max);
    match ConsumerProtocolSubscription::decode(&mut buf, known) {
        Ok(subscription) => subscription
            .topics
            .iter()
            .map(|topic| topic.to_string())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_records_round_trip() {
        let key = RecordKey::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 7,
        };
        let value = OffsetValue {
            offset: 42,
            leader_epoch: 3,
            metadata: Some("meta".into()),
            commit_timestamp_ms: 1_700_000_000_000,
        };
        let decoded = decode_entry(&key.encode().unwrap(), Some(&value.encode().unwrap()))
            .unwrap()
            .unwrap();
        assert_eq!(
            decoded,
            Entry::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 7,
                value: Some(value),
            }
        );
        let tombstone = decode_entry(&key.encode().unwrap(), None).unwrap().unwrap();
        assert!(matches!(tombstone, Entry::Offset { value: None, .. }));
    }

    #[test]
    fn group_records_round_trip() {
        let snapshot = GroupSnapshot {
            protocol_type: "consumer".into(),
            generation: 5,
            protocol: Some("range".into()),
            leader: Some("m-1".into()),
            state_timestamp_ms: 99,
            members: vec![MemberSnapshot {
                member_id: "m-1".into(),
                instance_id: Some("static-1".into()),
                client_id: "client".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"assign"),
            }],
        };
        let key = RecordKey::Group { group: "g".into() };
        let decoded = decode_entry(&key.encode().unwrap(), Some(&snapshot.encode().unwrap()))
            .unwrap()
            .unwrap();
        assert_eq!(
            decoded,
            Entry::Group {
                group: "g".into(),
                value: Some(snapshot),
            }
        );
    }

    #[test]
    fn hostile_records_are_errors_or_skipped_never_panics() {
        let key = RecordKey::Group { group: "g".into() }.encode().unwrap();
        // A member count far beyond the bytes present is refused before allocating.
        let mut value = BytesMut::new();
        value.extend_from_slice(&GROUP_VALUE_VERSION.to_be_bytes());
        value.extend_from_slice(&[0, 1, b'c', 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
        value.extend_from_slice(&0i64.to_be_bytes());
        value.extend_from_slice(&i32::MAX.to_be_bytes());
        assert!(decode_entry(&key, Some(&value.freeze())).is_err());
        // Unknown key versions are skipped; truncated keys are errors.
        assert_eq!(
            decode_entry(&Bytes::from_static(&[0, 9, 0, 0]), None).unwrap(),
            None
        );
        assert!(decode_entry(&Bytes::from_static(&[0, 1, 0, 5, b'a']), None).is_err());
    }

    #[test]
    fn subscription_topics_of_a_consumer_subscription() {
        let subscription = ConsumerProtocolSubscription {
            topics: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        let mut encoder = Encoder::contiguous(BytesMut::new());
        encoder.put_i16(1);
        subscription.encode(&mut encoder, 1).unwrap();
        let bytes = encoder.into_contiguous().freeze();
        assert_eq!(subscription_topics(&bytes), vec!["a", "b"]);
        assert!(subscription_topics(&Bytes::from_static(b"\x00")).is_empty());
    }
}
