//! Batch compression as the broker uses it: the codecs themselves (gzip, snappy in the
//! xerial framing Kafka uses, lz4 frame, zstd, every decompression bounded by
//! `MAX_DECOMPRESSED`, snappy blocks by what their bytes can hold) live in the shared
//! `kafka-wire` crate; this module maps their errors onto `BatchError` and adds
//! topic-level recompression. Used by validation below Produce.

use super::*;
use kafka_wire::compression::{self, CodecError};

impl From<CodecError> for BatchError {
    fn from(e: CodecError) -> BatchError {
        match e {
            CodecError::Unsupported(c) => BatchError::Compression(c),
            CodecError::Corrupt(m) => BatchError::Corrupt(m),
        }
    }
}

/// Decompresses a batch payload per its codec (bounded by `MAX_DECOMPRESSED`).
pub fn decompress(codec: i16, data: &[u8]) -> Result<Vec<u8>, BatchError> {
    Ok(compression::decompress(codec, data)?)
}

/// Compresses a batch payload (the records) with a codec, as Kafka's clients frame it.
pub fn compress(codec: i16, data: &[u8]) -> Result<Vec<u8>, BatchError> {
    Ok(compression::compress(codec, data)?)
}

/// Rewrites a whole batch with another codec (a topic's `compression.type` other than
/// `producer`): same header fields and records, new attributes, length and CRC.
pub fn recompress(batch: &[u8], codec: i16) -> Result<Vec<u8>, BatchError> {
    let h = parse_header(batch).ok_or_else(|| BatchError::Corrupt("truncated batch header".into()))?;
    let payload = batch.get(HEADER_LEN..h.total_size()).ok_or_else(|| BatchError::Corrupt("truncated batch".into()))?;
    if h.compression() == codec {
        return Ok(batch[..h.total_size()].to_vec());
    }
    let records = decompress(h.compression(), payload)?;
    let body = compress(codec, &records)?;
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&batch[..HEADER_LEN]);
    out.extend_from_slice(&body);
    let len = (out.len() - LOG_OVERHEAD) as i32;
    out[8..12].copy_from_slice(&len.to_be_bytes());
    let attrs = (h.attributes & !0x7) | codec;
    out[21..23].copy_from_slice(&attrs.to_be_bytes());
    let crc = crc32c::crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok(out)
}
