//! Batch compression codecs (Kafka's attribute bits 0-2: none, gzip, snappy in the
//! xerial framing Kafka uses, lz4 frame, zstd), with every decompression bounded by
//! `MAX_DECOMPRESSED` so that a small hostile batch cannot exhaust memory. Used by
//! validation below Produce and by topic-level recompression.

use super::*;

pub(super) const MAX_DECOMPRESSED: u64 = 512 * 1024 * 1024;

/// A snappy block's claimed length is believed only up to what its bytes can expand to:
/// the densest snappy element is a 3-byte copy of 64 bytes (ratio < 22), so a block
/// claiming more than 32 times its size (plus slack for tiny blocks) is corrupt, and
/// nothing is allocated for it.
pub(super) fn snappy_len_plausible(claimed: usize, block: usize) -> bool {
    claimed <= block.saturating_mul(32).saturating_add(64)
}

/// Decompresses a batch payload per its codec.
pub fn decompress(codec: i16, data: &[u8]) -> Result<Vec<u8>, BatchError> {
    let corrupt = |e: &dyn std::fmt::Display| BatchError::Corrupt(format!("cannot decompress: {e}"));
    let mut out = Vec::new();
    match codec {
        0 => out.extend_from_slice(data),
        1 => {
            flate2::read::GzDecoder::new(data).take(MAX_DECOMPRESSED).read_to_end(&mut out).map_err(|e| corrupt(&e))?;
        }
        2 => out = snappy_decompress(data)?,
        3 => {
            lz4_flex::frame::FrameDecoder::new(data).take(MAX_DECOMPRESSED).read_to_end(&mut out).map_err(|e| corrupt(&e))?;
        }
        4 => {
            zstd::stream::read::Decoder::new(data)
                .map_err(|e| corrupt(&e))?
                .take(MAX_DECOMPRESSED)
                .read_to_end(&mut out)
                .map_err(|e| corrupt(&e))?;
        }
        c => return Err(BatchError::Compression(c)),
    }
    Ok(out)
}

/// Compresses a batch payload (the records) with a codec, as Kafka's clients frame it:
/// gzip, xerial-framed snappy (what Java's SnappyOutputStream writes), LZ4 frames with
/// independent blocks, zstd.
pub fn compress(codec: i16, data: &[u8]) -> Result<Vec<u8>, BatchError> {
    use std::io::Write;
    let fail = |e: &dyn std::fmt::Display| BatchError::Corrupt(format!("cannot compress: {e}"));
    match codec {
        0 => Ok(data.to_vec()),
        1 => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).map_err(|x| fail(&x))?;
            e.finish().map_err(|x| fail(&x))
        }
        2 => {
            let mut out = Vec::with_capacity(data.len() / 2 + 32);
            out.extend_from_slice(b"\x82SNAPPY\x00");
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut enc = snap::raw::Encoder::new();
            for chunk in data.chunks(32 * 1024) {
                let block = enc.compress_vec(chunk).map_err(|x| fail(&x))?;
                out.extend_from_slice(&(block.len() as i32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            Ok(out)
        }
        3 => {
            let info = lz4_flex::frame::FrameInfo::new().block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            e.write_all(data).map_err(|x| fail(&x))?;
            e.finish().map_err(|x| fail(&x))
        }
        4 => zstd::stream::encode_all(data, 3).map_err(|x| fail(&x)),
        c => Err(BatchError::Compression(c)),
    }
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

/// Snappy as Kafka clients send it: xerial-framed (Java, kafka-python) or raw (librdkafka may).
pub(super) fn snappy_decompress(data: &[u8]) -> Result<Vec<u8>, BatchError> {
    const MAGIC: &[u8] = b"\x82SNAPPY\x00";
    let corrupt = |m: &str| BatchError::Corrupt(format!("cannot decompress snappy: {m}"));
    let mut dec = snap::raw::Decoder::new();
    if data.len() >= 16 && &data[..8] == MAGIC {
        let mut out = Vec::new();
        let mut pos = 16;
        while pos < data.len() {
            if data.len() - pos < 4 {
                return Err(corrupt("truncated block length"));
            }
            let n = be_i32(data, pos);
            pos += 4;
            if n < 0 || data.len() - pos < n as usize {
                return Err(corrupt("truncated block"));
            }
            let block = &data[pos..pos + n as usize];
            let len = snap::raw::decompress_len(block).map_err(|e| corrupt(&e.to_string()))?;
            if !snappy_len_plausible(len, block.len()) {
                return Err(corrupt("a block claims more than its bytes can hold"));
            }
            if (out.len() + len) as u64 > MAX_DECOMPRESSED {
                return Err(corrupt("too large"));
            }
            let start = out.len();
            out.resize(start + len, 0);
            dec.decompress(block, &mut out[start..]).map_err(|e| corrupt(&e.to_string()))?;
            pos += n as usize;
        }
        Ok(out)
    } else {
        let len = snap::raw::decompress_len(data).map_err(|e| corrupt(&e.to_string()))?;
        if !snappy_len_plausible(len, data.len()) {
            return Err(corrupt("the block claims more than its bytes can hold"));
        }
        if len as u64 > MAX_DECOMPRESSED {
            return Err(corrupt("too large"));
        }
        dec.decompress_vec(data).map_err(|e| corrupt(&e.to_string()))
    }
}