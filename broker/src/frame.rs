//! Kafka's framing: every request and response is a 4-byte big-endian size, then that many
//! bytes. This module checks a request's size prefix before anything is allocated for it.

/// The smallest request body: api key (2), api version (2), correlation id (4).
pub const REQUEST_BYTES_MIN: usize = 8;

/// Why a request frame is refused. The connection is closed; Kafka has no error code for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame size {size} is negative")]
    Negative { size: i32 },
    #[error("frame size {size} is below the {REQUEST_BYTES_MIN}-byte request header")]
    TooSmall { size: usize },
    #[error("frame size {size} exceeds request_bytes_max {limit}")]
    TooLarge { size: usize, limit: usize },
}

/// Checks a request size prefix against the configured maximum.
pub fn request_size(prefix: [u8; 4], request_bytes_max: usize) -> Result<usize, FrameError> {
    let size = i32::from_be_bytes(prefix);
    if size < 0 {
        return Err(FrameError::Negative { size });
    }
    let size = size as usize;
    if size < REQUEST_BYTES_MIN {
        return Err(FrameError::TooSmall { size });
    }
    if size > request_bytes_max {
        return Err(FrameError::TooLarge {
            size,
            limit: request_bytes_max,
        });
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked_against_both_bounds() {
        assert_eq!(request_size(16i32.to_be_bytes(), 100), Ok(16));
        assert_eq!(request_size(100i32.to_be_bytes(), 100), Ok(100));
        assert_eq!(
            request_size(101i32.to_be_bytes(), 100),
            Err(FrameError::TooLarge {
                size: 101,
                limit: 100
            })
        );
        assert_eq!(
            request_size((-1i32).to_be_bytes(), 100),
            Err(FrameError::Negative { size: -1 })
        );
        assert_eq!(
            request_size(3i32.to_be_bytes(), 100),
            Err(FrameError::TooSmall { size: 3 })
        );
        assert!(request_size(i32::MAX.to_be_bytes(), 100 << 20).is_err());
    }
}
