//! The magic-2 record batch's fixed layout: what the broker's log stores and serves and what
//! the tools write and read. Pure functions on bytes.
//!
//! Layout (big-endian), as Kafka's DefaultRecordBatch:
//! ```text
//!  0 baseOffset i64        8 batchLength i32 (bytes after this field)
//! 12 partitionLeaderEpoch i32                 16 magic i8 (= 2)
//! 17 crc u32 (CRC-32C of bytes 21..end)       21 attributes i16
//!    (bits 0-2 compression, 3 timestamp type, 4 transactional, 5 control)
//! 23 lastOffsetDelta i32  27 firstTimestamp i64  35 maxTimestamp i64
//! 43 producerId i64       51 producerEpoch i16   53 baseSequence i32
//! 57 recordsCount i32     61 records (compressed as a whole when bits 0-2 != 0)
//! ```
//! Each record: length varint, attributes i8, timestampDelta varlong, offsetDelta varint,
//! key (varint length, -1 = null), value (likewise), header count varint, headers.

use bytes::Bytes;

/// Bytes of the fixed header, up to and including recordsCount.
pub const HEADER_LEN: usize = 61;
/// Bytes before batchLength's payload starts (baseOffset + batchLength).
pub const LOG_OVERHEAD: usize = 12;
/// Offset of the magic byte.
pub const MAGIC_OFFSET: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub first_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    /// The whole batch's size, its first 12 bytes included.
    pub fn total_size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }
    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }
    /// The offset after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }
    /// Codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression(&self) -> i16 {
        self.attributes & 0x7
    }
    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }
    /// Sequence of the batch's last record (sequences wrap at i32::MAX, as Kafka's).
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let last = self.base_sequence as i64 + self.last_offset_delta as i64;
        if last > i32::MAX as i64 {
            (last - i32::MAX as i64 - 1) as i32
        } else {
            last as i32
        }
    }
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

/// Parses the fixed header; None if fewer than [`HEADER_LEN`] bytes (every index below is
/// inside those 61 bytes).
pub fn parse_header(b: &[u8]) -> Option<BatchHeader> {
    if b.len() < HEADER_LEN {
        return None;
    }
    Some(BatchHeader {
        base_offset: be_i64(b, 0),
        batch_length: be_i32(b, 8),
        leader_epoch: be_i32(b, 12),
        magic: b[MAGIC_OFFSET] as i8,
        crc: be_i32(b, 17) as u32,
        attributes: be_i16(b, 21),
        last_offset_delta: be_i32(b, 23),
        first_timestamp: be_i64(b, 27),
        max_timestamp: be_i64(b, 35),
        producer_id: be_i64(b, 43),
        producer_epoch: be_i16(b, 51),
        base_sequence: be_i32(b, 53),
        records_count: be_i32(b, 57),
    })
}

/// Checks the CRC of one whole batch (header + payload).
pub fn crc_ok(batch: &[u8]) -> bool {
    match parse_header(batch) {
        Some(h) if batch.len() >= h.total_size() && h.total_size() >= HEADER_LEN => {
            crc32c::crc32c(&batch[21..h.total_size()]) == h.crc
        }
        _ => false,
    }
}

/// Splits a run of whole magic-2 batches (as the log returns them) into (header, bytes)
/// pairs; stops at the first partial or malformed batch.
pub fn split(data: &[u8]) -> Vec<(BatchHeader, &[u8])> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(h) = data.get(pos..).and_then(parse_header) {
        let size = h.total_size();
        if size < HEADER_LEN || pos + size > data.len() {
            break;
        }
        out.push((h, &data[pos..pos + size]));
        pos += size;
    }
    out
}

/// Splits fetched bytes into whole batches of any magic, by their length field alone (a
/// fetch may end inside a batch, which is dropped, as Kafka's clients do).
pub fn split_bytes(mut data: Bytes) -> Vec<Bytes> {
    let mut out = Vec::new();
    while data.len() >= LOG_OVERHEAD {
        let len = i32::from_be_bytes([data[8], data[9], data[10], data[11]]);
        if len < 0 || data.len() - LOG_OVERHEAD < len as usize {
            break;
        }
        out.push(data.split_to(LOG_OVERHEAD + len as usize));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_bytes(base: i64, len: i32, delta: i32) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&base.to_be_bytes());
        b[8..12].copy_from_slice(&len.to_be_bytes());
        b[16] = 2;
        b[23..27].copy_from_slice(&delta.to_be_bytes());
        b
    }

    #[test]
    fn split_stops_at_a_partial_batch() {
        let mut data = header_bytes(10, (HEADER_LEN - LOG_OVERHEAD) as i32, 4);
        data.extend(header_bytes(15, (HEADER_LEN - LOG_OVERHEAD) as i32, 0));
        data.extend_from_slice(&header_bytes(16, 500, 0)[..30]);
        let parts = split(&data);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].0.next_offset(), 15);
        assert_eq!(parts[1].0.base_offset, 15);
        assert_eq!(split_bytes(Bytes::from(data)).len(), 2);
    }

    #[test]
    fn hostile_lengths_do_not_split() {
        assert!(split(&header_bytes(0, -5, 0)).is_empty());
        assert!(split(&header_bytes(0, i32::MAX, 0)).is_empty());
        assert!(split_bytes(Bytes::from(header_bytes(0, -1, 0))).is_empty());
        assert!(split_bytes(Bytes::from(header_bytes(0, i32::MAX, 0))).is_empty());
        assert!(parse_header(&[0u8; 60]).is_none());
    }

    #[test]
    fn last_sequence_wraps() {
        let mut h = parse_header(&header_bytes(0, 49, 4)).unwrap();
        h.base_sequence = i32::MAX - 1;
        assert_eq!(h.last_sequence(), 2);
        h.base_sequence = -1;
        assert_eq!(h.last_sequence(), -1);
    }
}
