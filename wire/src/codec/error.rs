//! Typed errors of the message codecs.
//!
//! Every error names the field that failed as a `&'static str` path from the message root
//! (for example `"ProduceRequest.TopicData.PartitionData.Records"`), so a log line says exactly
//! where a frame went wrong without any allocation on the error path.

/// A frame could not be decoded. `field` is the schema path of the field being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode {field}: {kind}")]
pub struct DecodeError {
    /// Schema path of the field being decoded, e.g. `"FetchRequest.Topics.Partitions"`.
    pub field: &'static str,
    /// What was wrong with it.
    pub kind: DecodeErrorKind,
}

impl DecodeError {
    /// Builds an error for `field`.
    pub const fn new(field: &'static str, kind: DecodeErrorKind) -> Self {
        Self { field, kind }
    }
}

/// Why decoding failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// Fewer bytes remain than a fixed-size value needs.
    #[error("truncated: needs {needed_bytes} bytes, {remaining_bytes} remain")]
    Truncated {
        needed_bytes: usize,
        remaining_bytes: usize,
    },
    /// A length prefix is negative (other than the -1 that means null).
    #[error("negative length {length}")]
    NegativeLength { length: i64 },
    /// A string, bytes or records length points past the end of the buffer.
    #[error("length {length_bytes} runs past the end ({remaining_bytes} bytes remain)")]
    LengthPastEnd {
        length_bytes: usize,
        remaining_bytes: usize,
    },
    /// An array (or tagged-field section) claims more elements than the remaining bytes can
    /// hold, given the smallest possible encoding of one element.
    #[error(
        "{count} elements of at least {element_bytes_min} bytes each cannot fit in {remaining_bytes} bytes"
    )]
    TooManyElements {
        count: usize,
        element_bytes_min: usize,
        remaining_bytes: usize,
    },
    /// An unsigned varint is longer than 5 bytes or overflows 32 bits.
    #[error("invalid varint")]
    InvalidVarint,
    /// A string is not valid UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A null was sent for a field that is not nullable at this version.
    #[error("null for a non-nullable field")]
    NonNullableNull,
    /// The presence marker of a nullable struct is neither -1 (null) nor 1 (present).
    #[error("invalid presence marker {marker} for a nullable struct")]
    InvalidPresenceMarker { marker: i8 },
    /// The message does not exist at this version.
    #[error("unsupported version {version}")]
    UnsupportedVersion { version: i16 },
    /// The API key is not one this crate knows.
    #[error("unknown API key {api_key}")]
    UnknownApiKey { api_key: i16 },
    /// Bytes are left over after the message was fully decoded.
    #[error("{remaining_bytes} trailing bytes after the message")]
    TrailingBytes { remaining_bytes: usize },
    /// A known tagged field's declared length differs from the bytes its value used.
    #[error(
        "tagged field {tag} declares {declared_bytes} bytes but its value used {consumed_bytes}"
    )]
    TaggedFieldLengthMismatch {
        tag: u32,
        declared_bytes: usize,
        consumed_bytes: usize,
    },
}

/// A value could not be encoded at the requested version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode {field}: {kind}")]
pub struct EncodeError {
    /// Schema path of the field being encoded.
    pub field: &'static str,
    /// What was wrong with it.
    pub kind: EncodeErrorKind,
}

impl EncodeError {
    /// Builds an error for `field`.
    pub const fn new(field: &'static str, kind: EncodeErrorKind) -> Self {
        Self { field, kind }
    }
}

/// Why encoding failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeErrorKind {
    /// The message does not exist at this version.
    #[error("unsupported version {version}")]
    UnsupportedVersion { version: i16 },
    /// The field holds a non-default value but does not exist at this version and is not
    /// ignorable (Kafka refuses to drop such a value silently).
    #[error("field has a non-default value but does not exist at version {version}")]
    FieldNotInVersion { version: i16 },
    /// The field is null but is not nullable at this version.
    #[error("null is not allowed at version {version}")]
    NullNotAllowed { version: i16 },
    /// Unknown tagged fields are set but this version has no tagged-field section.
    #[error("tagged fields are set but version {version} is not flexible")]
    TaggedFieldsNotInVersion { version: i16 },
    /// A string, bytes or array is longer than its length prefix can express.
    #[error("length {length} exceeds the maximum {length_max}")]
    TooLong { length: usize, length_max: usize },
}
