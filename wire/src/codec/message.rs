//! The traits every generated message implements.

use super::encode::Encoder;
use super::error::{DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind};
use bytes::{Bytes, BytesMut};

/// An inclusive range of message versions; `min > max` means no version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRange {
    /// Lowest version in the range.
    pub min: i16,
    /// Highest version in the range.
    pub max: i16,
}

impl VersionRange {
    /// The empty range (a message that is never flexible, for example).
    pub const NONE: VersionRange = VersionRange { min: 1, max: 0 };

    /// True if `version` is in the range.
    #[inline]
    pub const fn contains(self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }

    /// True if the range holds no version.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.min > self.max
    }
}

/// A generated struct (a message, or a struct nested in one): how its fields are laid out at
/// each version. These methods trust the version; [`Message`] checks it.
pub trait StructCodec: Sized {
    /// Decodes the struct as encoded at `version`, consuming its bytes from `buf`.
    fn read(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError>;

    /// Encodes the struct at `version`.
    fn write(&self, encoder: &mut Encoder, version: i16) -> Result<(), EncodeError>;

    /// The exact number of bytes [`write`](Self::write) produces at `version` when it succeeds.
    fn size(&self, version: i16) -> usize;

    /// The fewest bytes any value of this struct takes at `version`; array lengths are checked
    /// against it before anything is allocated.
    fn encoded_bytes_min(version: i16) -> usize;
}

/// A top-level message (request, response, header or data record) with its valid versions.
pub trait Message: StructCodec + Default + Clone + std::fmt::Debug + PartialEq {
    /// The schema name, e.g. `"ProduceRequest"`.
    const NAME: &'static str;
    /// The versions this message exists at.
    const VERSIONS: VersionRange;
    /// The versions that use compact lengths and tagged fields.
    const FLEXIBLE_VERSIONS: VersionRange;

    /// Decodes the message at `version`, consuming its bytes from the front of `buf` (bytes
    /// after the message are left in `buf`).
    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError> {
        if !Self::VERSIONS.contains(version) {
            return Err(DecodeError::new(
                Self::NAME,
                DecodeErrorKind::UnsupportedVersion { version },
            ));
        }
        Self::read(buf, version)
    }

    /// Encodes the message at `version`. On error, what the encoder holds is unspecified and
    /// must be discarded.
    fn encode(&self, encoder: &mut Encoder, version: i16) -> Result<(), EncodeError> {
        if !Self::VERSIONS.contains(version) {
            return Err(EncodeError::new(
                Self::NAME,
                EncodeErrorKind::UnsupportedVersion { version },
            ));
        }
        self.write(encoder, version)
    }

    /// The exact size of the encoding at `version` (when encoding succeeds).
    fn encoded_size(&self, version: i16) -> usize {
        self.size(version)
    }

    /// Appends the encoding to `out`, records included.
    fn encode_into(&self, out: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        let written_before = out.len();
        out.reserve(self.encoded_size(version));
        let mut encoder = Encoder::contiguous(std::mem::take(out));
        let result = self.encode(&mut encoder, version);
        *out = encoder.into_contiguous();
        if result.is_err() {
            out.truncate(written_before);
        }
        result
    }

    /// Encodes into a new contiguous buffer.
    fn encode_to_vec(&self, version: i16) -> Result<Vec<u8>, EncodeError> {
        let mut out = BytesMut::with_capacity(self.encoded_size(version));
        self.encode_into(&mut out, version)?;
        Ok(out.to_vec())
    }

    /// Encodes as a gather list: records fields stay in their own buffers.
    fn encode_to_chunks(&self, version: i16) -> Result<Vec<Bytes>, EncodeError> {
        let mut encoder = Encoder::scatter(self.encoded_size(version).min(64 * 1024));
        self.encode(&mut encoder, version)?;
        Ok(encoder.into_chunks())
    }
}
