//! The hand-written runtime under the generated message codecs (`crate::messages`).
//!
//! - [`decode`]: readers that consume a frame held in [`bytes::Bytes`]. Strings, bytes and
//!   records are slices of the frame, never copies; every length is checked against the bytes
//!   that remain (and an array's count against its elements' smallest encoding) before anything
//!   is sliced or allocated.
//! - [`encode`]: the [`Encoder`], which writes one contiguous buffer or a gather list whose
//!   records chunks share the records' buffers, and the size functions that let every message
//!   compute its exact encoded size before writing.
//! - [`KStr`] (a UTF-8 checked string over `Bytes`), [`Uuid`], the typed errors, and the
//!   [`StructCodec`] / [`Message`] traits the generated code implements.
//!
//! Limits: decoded memory is bounded by the frame (arrays preallocate at most
//! [`decode::ARRAY_PREALLOCATION_BYTES_MAX`] bytes and grow only as elements are decoded);
//! the frame itself is bounded by the caller (the broker's configured request size maximum).

pub mod decode;
pub mod encode;
mod error;
mod kstr;
mod message;
#[cfg(feature = "arbitrary")]
pub mod testing;
mod uuid;

pub use decode::RawTaggedField;
pub use encode::Encoder;
pub use error::{DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind};
pub use kstr::KStr;
pub use message::{Message, StructCodec, VersionRange};
pub use uuid::Uuid;
