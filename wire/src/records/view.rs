//! [`Batch`]: one validated v2 batch held as [`Bytes`], the entry point for reading records.

use bytes::Bytes;

use super::batch::{BatchError, BatchHeader, Compression, BATCH_HEADER_LEN};
use super::iteration::{RecordError, Records};

/// One v2 record batch whose header, length and CRC32C have been checked.
///
/// Cheap to clone (it shares the bytes). Owned by whoever decoded it; it is `Send`, but the
/// broker keeps batches on the core that owns their partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    header: BatchHeader,
    bytes: Bytes,
}

impl Batch {
    /// Validates the batch at the start of `bytes` ([`BatchHeader::validate`]: magic, length
    /// within `batch_bytes_max`, codec id, count/delta sanity, CRC32C) and keeps exactly its
    /// bytes. Bytes after the batch are ignored; [`Batch::split`] walks them.
    pub fn parse(bytes: &Bytes, batch_bytes_max: usize) -> Result<Self, BatchError> {
        let header = BatchHeader::validate(bytes, batch_bytes_max)?;
        let bytes = bytes.slice(..header.total_len());
        Ok(Self { header, bytes })
    }

    /// Splits concatenated batches (a produce request's records, a stretch of a segment) into
    /// validated batches, stopping after the first error.
    pub fn split(bytes: Bytes, batch_bytes_max: usize) -> Batches {
        Batches {
            rest: bytes,
            batch_bytes_max,
            failed: false,
        }
    }

    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The whole batch, header included.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The batch's codec (validated at parse time).
    pub fn compression(&self) -> Compression {
        self.header
            .attributes
            .compression()
            .expect("codec id checked by BatchHeader::check")
    }

    /// The records section as stored: everything after the 61-byte header, still compressed
    /// if the batch is.
    pub fn records_section(&self) -> Bytes {
        self.bytes.slice(BATCH_HEADER_LEN..)
    }

    /// Iterates the records, decompressing first (into at most `decompressed_bytes_max`
    /// bytes) if the batch is compressed.
    pub fn records(&self, decompressed_bytes_max: usize) -> Result<Records, RecordError> {
        Records::new(&self.header, self.records_section(), decompressed_bytes_max)
    }
}

/// Iterator over concatenated batches; see [`Batch::split`].
#[derive(Debug, Clone)]
pub struct Batches {
    rest: Bytes,
    batch_bytes_max: usize,
    failed: bool,
}

impl Iterator for Batches {
    type Item = Result<Batch, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match Batch::parse(&self.rest, self.batch_bytes_max) {
            Ok(batch) => {
                // Each step removes at least a header's worth of bytes.
                let _ = self.rest.split_to(batch.bytes.len());
                Some(Ok(batch))
            }
            Err(error) => {
                self.failed = true;
                Some(Err(error))
            }
        }
    }
}
