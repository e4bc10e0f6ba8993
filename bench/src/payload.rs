//! The header every bench message value starts with, so consumers can check delivery and
//! measure end-to-end latency without any shared state with the producers.
//!
//! Layout (big-endian): producer index `u32`, sequence `u64` (per producer and partition, from
//! 0, no gaps), intended send time `u64` (nanoseconds since the run's start instant). The rest
//! of the value is filler. Producers and consumers run in one process, so they share the
//! monotonic clock the times are measured on.

/// Bytes of the value header.
pub const VALUE_HEADER_BYTES: usize = 20;

/// What a message value says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueHeader {
    pub producer: u32,
    pub sequence: u64,
    pub intended_send_ns: u64,
}

impl ValueHeader {
    /// Writes the header into the first [`VALUE_HEADER_BYTES`] of `value`.
    pub fn write(&self, value: &mut [u8]) {
        assert!(
            value.len() >= VALUE_HEADER_BYTES,
            "value too short for the header"
        );
        value[0..4].copy_from_slice(&self.producer.to_be_bytes());
        value[4..12].copy_from_slice(&self.sequence.to_be_bytes());
        value[12..20].copy_from_slice(&self.intended_send_ns.to_be_bytes());
    }

    /// Reads the header, `None` when the value is too short to be a bench message.
    pub fn read(value: &[u8]) -> Option<ValueHeader> {
        let header = value.get(..VALUE_HEADER_BYTES)?;
        Some(ValueHeader {
            producer: u32::from_be_bytes(header[0..4].try_into().ok()?),
            sequence: u64::from_be_bytes(header[4..12].try_into().ok()?),
            intended_send_ns: u64::from_be_bytes(header[12..20].try_into().ok()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_short_values_are_not_messages() {
        let header = ValueHeader {
            producer: 7,
            sequence: u64::MAX - 1,
            intended_send_ns: 123_456_789,
        };
        let mut value = vec![0xAA; 64];
        header.write(&mut value);
        assert_eq!(ValueHeader::read(&value), Some(header));
        assert_eq!(ValueHeader::read(&value[..19]), None);
    }
}
