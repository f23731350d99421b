//! Kafka's compression codecs, framed as the Java client frames them, so that every
//! client can read what the broker or the tools write: gzip, snappy in xerial framing (what
//! Java's SnappyOutputStream writes; raw snappy is read too, as librdkafka may send it),
//! LZ4 frames with independent blocks (stated explicitly: Kafka's Java LZ4 reader refuses dependent blocks),
//! and zstd.
//!
//! Decompression is bounded: at most [`MAX_DECOMPRESSED`] bytes come out of one payload,
//! and a snappy block may not claim more than its bytes can expand to, so a small hostile
//! payload cannot make either side allocate a lot. Pure functions on bytes.

use std::io::{Read, Write};

pub const NONE: i16 = 0;
pub const GZIP: i16 = 1;
pub const SNAPPY: i16 = 2;
pub const LZ4: i16 = 3;
pub const ZSTD: i16 = 4;

/// Most bytes one compressed payload may expand to.
pub const MAX_DECOMPRESSED: u64 = 512 * 1024 * 1024;

const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
/// Xerial framing: magic, version 1, compatible version 1, then (length, block) pairs.
const XERIAL_HEADER_LEN: usize = 16;
/// Block size of the xerial framing Java writes.
const SNAPPY_BLOCK: usize = 32 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// A codec id Kafka does not define (attribute bits 0-2 above 4).
    #[error("unsupported compression codec {0}")]
    Unsupported(i16),
    /// The payload cannot be decompressed (or compressing failed).
    #[error("{0}")]
    Corrupt(String),
}

/// Kafka's name for a codec id, as `compression.type` spells it.
pub fn name(codec: i16) -> Option<&'static str> {
    Some(match codec {
        NONE => "none",
        GZIP => "gzip",
        SNAPPY => "snappy",
        LZ4 => "lz4",
        ZSTD => "zstd",
        _ => return None,
    })
}

/// The codec id for a `compression.type` / `--compression-codec` name (`none` and the
/// broker's `uncompressed` both mean 0).
pub fn from_name(s: &str) -> Option<i16> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "none" | "uncompressed" | "" => NONE,
        "gzip" => GZIP,
        "snappy" => SNAPPY,
        "lz4" => LZ4,
        "zstd" => ZSTD,
        _ => return None,
    })
}

/// A snappy block's claimed length is believed only up to what its bytes can expand to:
/// the densest snappy element is a 3-byte copy of 64 bytes (ratio < 22), so a block
/// claiming more than 32 times its size (plus slack for tiny blocks) is corrupt, and
/// nothing is allocated for it.
fn snappy_len_plausible(claimed: usize, block: usize) -> bool {
    claimed <= block.saturating_mul(32).saturating_add(64)
}

/// Compresses a batch payload (its records) with `codec`.
pub fn compress(codec: i16, data: &[u8]) -> Result<Vec<u8>, CodecError> {
    let fail = |e: &dyn std::fmt::Display| CodecError::Corrupt(format!("cannot compress: {e}"));
    match codec {
        NONE => Ok(data.to_vec()),
        GZIP => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).map_err(|x| fail(&x))?;
            e.finish().map_err(|x| fail(&x))
        }
        SNAPPY => {
            let mut out = Vec::with_capacity(data.len() / 2 + 32);
            out.extend_from_slice(XERIAL_MAGIC);
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut enc = snap::raw::Encoder::new();
            for chunk in data.chunks(SNAPPY_BLOCK) {
                let block = enc.compress_vec(chunk).map_err(|x| fail(&x))?;
                out.extend_from_slice(&(block.len() as i32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            Ok(out)
        }
        LZ4 => {
            let info = lz4_flex::frame::FrameInfo::new().block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            e.write_all(data).map_err(|x| fail(&x))?;
            e.finish().map_err(|x| fail(&x))
        }
        ZSTD => zstd::stream::encode_all(data, 3).map_err(|x| fail(&x)),
        c => Err(CodecError::Unsupported(c)),
    }
}

/// A decompressing reader over `data` for the streaming codecs (gzip, lz4, zstd), limited to
/// [`MAX_DECOMPRESSED`] bytes; `Ok(None)` for none and snappy (read those whole).
pub fn stream<'a>(codec: i16, data: &'a [u8]) -> Result<Option<Box<dyn Read + 'a>>, CodecError> {
    let corrupt = |e: &dyn std::fmt::Display| CodecError::Corrupt(format!("cannot decompress: {e}"));
    Ok(Some(match codec {
        GZIP => Box::new(flate2::read::GzDecoder::new(data).take(MAX_DECOMPRESSED)),
        LZ4 => Box::new(lz4_flex::frame::FrameDecoder::new(data).take(MAX_DECOMPRESSED)),
        ZSTD => Box::new(zstd::stream::read::Decoder::new(data).map_err(|e| corrupt(&e))?.take(MAX_DECOMPRESSED)),
        NONE | SNAPPY => return Ok(None),
        c => return Err(CodecError::Unsupported(c)),
    }))
}

/// Decompresses a batch payload whole (at most [`MAX_DECOMPRESSED`] bytes).
pub fn decompress(codec: i16, data: &[u8]) -> Result<Vec<u8>, CodecError> {
    let corrupt = |e: &dyn std::fmt::Display| CodecError::Corrupt(format!("cannot decompress: {e}"));
    match codec {
        NONE => Ok(data.to_vec()),
        SNAPPY => snappy_decompress(data),
        _ => {
            let mut out = Vec::new();
            if let Some(mut r) = stream(codec, data)? {
                r.read_to_end(&mut out).map_err(|e| corrupt(&e))?;
            }
            Ok(out)
        }
    }
}

/// Snappy as Kafka clients send it: xerial-framed (Java, kafka-python) or raw (librdkafka may).
fn snappy_decompress(data: &[u8]) -> Result<Vec<u8>, CodecError> {
    let corrupt = |m: &str| CodecError::Corrupt(format!("cannot decompress snappy: {m}"));
    let mut dec = snap::raw::Decoder::new();
    if data.len() >= XERIAL_HEADER_LEN && data.starts_with(XERIAL_MAGIC) {
        let mut out = Vec::new();
        let mut rest = &data[XERIAL_HEADER_LEN..];
        while !rest.is_empty() {
            let Some((len_bytes, tail)) = rest.split_first_chunk::<4>() else {
                return Err(corrupt("truncated block length"));
            };
            let n = i32::from_be_bytes(*len_bytes);
            if n < 0 || tail.len() < n as usize {
                return Err(corrupt("truncated block"));
            }
            let (block, after) = tail.split_at(n as usize);
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
            rest = after;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips() {
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        for c in [NONE, GZIP, SNAPPY, LZ4, ZSTD] {
            let z = compress(c, &data).unwrap();
            assert_eq!(decompress(c, &z).unwrap(), data, "codec {c}");
        }
        assert_eq!(compress(7, b"x"), Err(CodecError::Unsupported(7)));
        assert_eq!(decompress(5, b"x"), Err(CodecError::Unsupported(5)));
    }

    #[test]
    fn lz4_frames_use_independent_blocks() {
        // FLG byte (after the 4-byte magic): bit 5 = block independence, as Java requires.
        let z = compress(LZ4, &[7u8; 100_000]).unwrap();
        assert_eq!(&z[..4], &[0x04, 0x22, 0x4d, 0x18]);
        assert_ne!(z[4] & 0x20, 0);
    }

    #[test]
    fn raw_snappy_is_read_and_hostile_claims_are_refused() {
        let raw = snap::raw::Encoder::new().compress_vec(b"hello hello hello").unwrap();
        assert_eq!(decompress(SNAPPY, &raw).unwrap(), b"hello hello hello");
        // A 6-byte block claiming 2^31 bytes: refused before any allocation.
        let hostile = [0x80, 0x80, 0x80, 0x80, 0x08, 0x00];
        assert!(matches!(decompress(SNAPPY, &hostile), Err(CodecError::Corrupt(_))));
        let mut framed = XERIAL_MAGIC.to_vec();
        framed.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 6]);
        framed.extend_from_slice(&hostile);
        assert!(matches!(decompress(SNAPPY, &framed), Err(CodecError::Corrupt(_))));
        framed.truncate(XERIAL_HEADER_LEN + 2);
        assert!(matches!(decompress(SNAPPY, &framed), Err(CodecError::Corrupt(_))));
    }

    #[test]
    fn names() {
        for c in [NONE, GZIP, SNAPPY, LZ4, ZSTD] {
            assert_eq!(from_name(name(c).unwrap()), Some(c));
        }
        assert_eq!(from_name("uncompressed"), Some(NONE));
        assert_eq!(from_name("brotli"), None);
    }
}
