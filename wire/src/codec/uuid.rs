//! [`Uuid`]: Kafka's 128-bit identifiers (topic ids, directory ids).

use std::fmt;

/// A 128-bit UUID as Kafka sends it: 16 bytes, most significant first. The all-zero value is
/// Kafka's "no id".
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero id, which Kafka uses for "none".
    pub const ZERO: Uuid = Uuid([0; 16]);

    /// Builds an id from its 128-bit value.
    pub const fn from_u128(value: u128) -> Self {
        Self(value.to_be_bytes())
    }

    /// The 128-bit value.
    pub const fn as_u128(self) -> u128 {
        u128::from_be_bytes(self.0)
    }

    /// True for the all-zero id.
    pub fn is_zero(self) -> bool {
        self == Self::ZERO
    }
}

impl fmt::Display for Uuid {
    /// Formats in the usual 8-4-4-4-12 hexadecimal form.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, byte) in self.0.iter().enumerate() {
            if matches!(index, 4 | 6 | 8 | 10) {
                formatter.write_str("-")?;
            }
            write!(formatter, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Uuid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_a_uuid_and_round_trips_u128() {
        let id = Uuid::from_u128(0x0011_2233_4455_6677_8899_aabb_ccdd_eeff);
        assert_eq!(id.to_string(), "00112233-4455-6677-8899-aabbccddeeff");
        assert_eq!(id.as_u128(), 0x0011_2233_4455_6677_8899_aabb_ccdd_eeff);
        assert!(Uuid::ZERO.is_zero() && !id.is_zero());
    }
}
