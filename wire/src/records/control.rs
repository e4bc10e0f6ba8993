//! Control batches: the COMMIT and ABORT markers a transaction coordinator writes.
//!
//! A control batch has the control bit (attributes bit 5) set, normally the transactional bit
//! too, and holds exactly one record whose key and value are fixed layouts (big-endian):
//!
//! | part  | field              | type  | notes                                         |
//! |-------|--------------------|-------|-----------------------------------------------|
//! | key   | version            | int16 | 0                                             |
//! | key   | type               | int16 | 0 = ABORT, 1 = COMMIT; KRaft uses others      |
//! | value | version            | int16 | 0 (end-transaction marker)                    |
//! | value | coordinator epoch  | int32 | epoch of the coordinator that wrote it        |
//!
//! Readers accept longer keys and values (later versions append fields) but not shorter ones.
//! Types other than ABORT and COMMIT (KRaft's leader-change and snapshot records) are reported
//! as [`ControlType::Other`] with their value left opaque.

use bytes::Bytes;

use super::batch::{BatchHeader, Compression, TimestampType};
use super::builder::{BatchBuilder, BatchOptions, BuildError, NewRecord};
use super::iteration::RecordError;
use super::record::Record;
use super::view::Batch;

/// Key version we write.
pub const CONTROL_KEY_VERSION: i16 = 0;
/// End-transaction marker value version we write.
pub const END_TRANSACTION_MARKER_VERSION: i16 = 0;
const CONTROL_KEY_LEN: usize = 4;
const END_TRANSACTION_VALUE_LEN: usize = 6;

/// What is wrong with a control record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ControlDefect {
    /// A control batch must hold exactly one record.
    #[error("control batch holds {0} records, not 1")]
    RecordCount(i32),
    #[error("control record key is null")]
    KeyMissing,
    #[error("control record key has {0} bytes, fewer than 4")]
    KeyTooShort(usize),
    #[error("control record key version {0} is negative")]
    NegativeKeyVersion(i16),
    #[error("end-transaction marker value is null")]
    ValueMissing,
    #[error("end-transaction marker value has {0} bytes, fewer than 6")]
    ValueTooShort(usize),
}

/// The type field of a control record key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlType {
    /// The producer's transaction was aborted: its records are dropped by read-committed
    /// consumers.
    Abort,
    /// The producer's transaction was committed.
    Commit,
    /// A type used outside transactions (KRaft's metadata log), kept as its id.
    Other(i16),
}

impl ControlType {
    pub fn from_id(id: i16) -> Self {
        match id {
            0 => Self::Abort,
            1 => Self::Commit,
            other => Self::Other(other),
        }
    }

    pub fn id(self) -> i16 {
        match self {
            Self::Abort => 0,
            Self::Commit => 1,
            Self::Other(id) => id,
        }
    }
}

/// The value of an ABORT or COMMIT control record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndTransactionMarker {
    pub version: i16,
    pub coordinator_epoch: i32,
}

/// A decoded control record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlRecord {
    pub key_version: i16,
    pub control_type: ControlType,
    /// Present for ABORT and COMMIT.
    pub end_transaction: Option<EndTransactionMarker>,
    /// The record's value as stored (for types other than ABORT and COMMIT).
    pub value: Option<Bytes>,
}

impl ControlRecord {
    /// Decodes the key and value of a control batch's record.
    pub fn parse(record: &Record) -> Result<Self, ControlDefect> {
        let key = record.key().ok_or(ControlDefect::KeyMissing)?;
        let Some(key_fields) = key.first_chunk::<CONTROL_KEY_LEN>() else {
            return Err(ControlDefect::KeyTooShort(key.len()));
        };
        let key_version = i16::from_be_bytes([key_fields[0], key_fields[1]]);
        if key_version < 0 {
            return Err(ControlDefect::NegativeKeyVersion(key_version));
        }
        let control_type = ControlType::from_id(i16::from_be_bytes([key_fields[2], key_fields[3]]));
        let value = record.value().cloned();
        let end_transaction = match control_type {
            ControlType::Abort | ControlType::Commit => {
                let value = value.as_ref().ok_or(ControlDefect::ValueMissing)?;
                let Some(fields) = value.first_chunk::<END_TRANSACTION_VALUE_LEN>() else {
                    return Err(ControlDefect::ValueTooShort(value.len()));
                };
                Some(EndTransactionMarker {
                    version: i16::from_be_bytes([fields[0], fields[1]]),
                    coordinator_epoch: i32::from_be_bytes([
                        fields[2], fields[3], fields[4], fields[5],
                    ]),
                })
            }
            ControlType::Other(_) => None,
        };
        Ok(Self {
            key_version,
            control_type,
            end_transaction,
            value,
        })
    }
}

impl Batch {
    /// The control record of a control batch, `None` for a data batch. Control batches are
    /// never compressed by Kafka, but a compressed one is read within the given bound.
    pub fn control_record(
        &self,
        decompressed_bytes_max: usize,
    ) -> Result<Option<ControlRecord>, RecordError> {
        if !self.header().attributes.is_control() {
            return Ok(None);
        }
        if self.header().record_count != 1 {
            return Err(ControlDefect::RecordCount(self.header().record_count).into());
        }
        let mut records = self.records(decompressed_bytes_max)?;
        let record = match records.next() {
            Some(record) => record?,
            None => return Err(ControlDefect::RecordCount(0).into()),
        };
        // Surface trailing bytes after the single record.
        if let Some(Err(error)) = records.next() {
            return Err(error);
        }
        Ok(Some(ControlRecord::parse(&record)?))
    }
}

/// The outcome an end-transaction marker records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionResult {
    Commit,
    Abort,
}

/// Everything an end-transaction marker batch carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTransaction {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub result: TransactionResult,
    pub coordinator_epoch: i32,
    /// When the marker was written (the coordinator's or leader's clock), ms since the epoch.
    pub timestamp_ms: i64,
    /// Where the marker lands in the partition (the broker rewrites it on append anyway).
    pub base_offset: i64,
    pub partition_leader_epoch: i32,
}

/// Builds the control batch for an end-transaction marker: transactional and control bits set,
/// one record, no compression, base sequence -1, `CreateTime`.
pub fn build_end_transaction_batch(marker: &EndTransaction) -> Result<Bytes, BuildError> {
    let control_type = match marker.result {
        TransactionResult::Commit => ControlType::Commit,
        TransactionResult::Abort => ControlType::Abort,
    };
    let mut key = [0u8; CONTROL_KEY_LEN];
    key[..2].copy_from_slice(&CONTROL_KEY_VERSION.to_be_bytes());
    key[2..].copy_from_slice(&control_type.id().to_be_bytes());
    let mut value = [0u8; END_TRANSACTION_VALUE_LEN];
    value[..2].copy_from_slice(&END_TRANSACTION_MARKER_VERSION.to_be_bytes());
    value[2..].copy_from_slice(&marker.coordinator_epoch.to_be_bytes());
    let options = BatchOptions {
        compression: Compression::None,
        timestamp_type: TimestampType::CreateTime,
        producer_id: marker.producer_id,
        producer_epoch: marker.producer_epoch,
        base_sequence: -1,
        transactional: true,
        control: true,
        base_offset: marker.base_offset,
        partition_leader_epoch: marker.partition_leader_epoch,
        ..BatchOptions::default()
    };
    let mut builder = BatchBuilder::with_capacity(options, 128);
    builder.append(&NewRecord {
        timestamp_ms: marker.timestamp_ms,
        key: Some(&key),
        value: Some(&value),
        headers: &[],
    })?;
    let batch = builder.finish()?.freeze();
    debug_assert!(BatchHeader::parse(&batch).is_ok_and(|header| header.attributes.is_control()));
    Ok(batch)
}
