//! [`KStr`]: a Kafka string that borrows the frame it was decoded from.

use bytes::Bytes;
use bytestring::ByteString;
use std::fmt;
use std::ops::Deref;

/// A UTF-8 string backed by [`Bytes`]: decoding a string slices the request buffer instead of
/// copying it, and the UTF-8 check happens once, when the string is decoded.
///
/// It derefs to `str`, and is built from `&'static str` or `String` for encoding.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KStr(ByteString);

impl KStr {
    /// An empty string.
    pub const fn new() -> Self {
        Self(ByteString::new())
    }

    /// A string that points at static text (no allocation).
    pub const fn from_static(text: &'static str) -> Self {
        Self(ByteString::from_static(text))
    }

    /// Checks that `bytes` is UTF-8 and wraps it without copying.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        ByteString::try_from(bytes).map(Self)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The underlying bytes (shares the buffer).
    pub fn as_bytes(&self) -> &Bytes {
        self.0.as_bytes()
    }

    /// Gives up the string and returns its bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0.into_bytes()
    }
}

impl Deref for KStr {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for KStr {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for KStr {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&'static str> for KStr {
    fn from(text: &'static str) -> Self {
        Self::from_static(text)
    }
}

impl From<String> for KStr {
    fn from(text: String) -> Self {
        Self(ByteString::from(text))
    }
}

impl PartialEq<str> for KStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for KStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for KStr {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), formatter)
    }
}

impl fmt::Display for KStr {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), formatter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_utf8_shares_the_buffer_and_rejects_invalid_text() {
        let frame = Bytes::from_static(b"topic-a");
        let text = KStr::from_utf8(frame.clone()).expect("valid UTF-8");
        assert_eq!(text.as_str(), "topic-a");
        assert_eq!(text.as_bytes().as_ptr(), frame.as_ptr());
        assert!(KStr::from_utf8(Bytes::from_static(&[b'a', 0xc3])).is_err());
    }

    #[test]
    fn builds_from_static_and_owned_text() {
        assert_eq!(KStr::from("x"), KStr::from(String::from("x")));
        assert_eq!(&*KStr::from_static("héllo"), "héllo");
        assert!(KStr::new().is_empty());
    }
}
