//! Record batches for the tools: encoding (with Kafka's compression codecs) for producers,
//! decoding of fetched bytes (which may end in a partial batch) for consumers.
//!
//! Codecs as the Java client writes them: gzip, snappy in xerial framing, LZ4 frames, zstd.

use std::io::{Read, Write};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType};

use super::error::KafkaError;

/// Kafka's `compression.type` / `--compression-codec` names.
pub fn parse_codec(s: &str) -> Result<Compression, KafkaError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "none" | "" => Ok(Compression::None),
        "gzip" => Ok(Compression::Gzip),
        "snappy" => Ok(Compression::Snappy),
        "lz4" => Ok(Compression::Lz4),
        "zstd" => Ok(Compression::Zstd),
        other => Err(KafkaError::Other(format!("Invalid value {other} for configuration compression.type: String must be one of: none, gzip, snappy, lz4, zstd"))),
    }
}

pub fn codec_name(c: Compression) -> &'static str {
    match c {
        Compression::None => "NONE",
        Compression::Gzip => "GZIP",
        Compression::Snappy => "SNAPPY",
        Compression::Lz4 => "LZ4",
        Compression::Zstd => "ZSTD",
    }
}

/// A record to send: key, value, headers, create time.
#[derive(Clone, Debug, Default)]
pub struct Outgoing {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    pub timestamp: i64,
}

/// One batch of `records` (offsets 0..n) with `codec`.
pub fn encode_batch(records: &[Outgoing], codec: Compression) -> Result<Bytes, KafkaError> {
    let recs: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r.headers.iter().map(|(k, v)| (kafka_protocol::protocol::StrBytes::from_string(k.clone()), v.clone())).collect(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions { version: 2, compression: codec };
    RecordBatchEncoder::encode_with_custom_compression(
        &mut buf,
        recs.iter(),
        &opts,
        Some(|raw: &mut BytesMut, out: &mut BytesMut, c: Compression| -> anyhow::Result<()> {
            let data = compress(raw, c)?;
            out.put_slice(&data);
            Ok(())
        }),
    )
    .map_err(|e| KafkaError::Other(format!("cannot encode records: {e}")))?;
    Ok(buf.freeze())
}

const XERIAL_MAGIC: &[u8] = &[0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];

pub fn compress(raw: &[u8], c: Compression) -> anyhow::Result<Vec<u8>> {
    Ok(match c {
        Compression::None => raw.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(raw)?;
            e.finish()?
        }
        Compression::Snappy => {
            let mut out = Vec::new();
            out.extend_from_slice(XERIAL_MAGIC);
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut enc = snap::raw::Encoder::new();
            for chunk in raw.chunks(32 * 1024) {
                let block = enc.compress_vec(chunk)?;
                out.extend_from_slice(&(block.len() as i32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            out
        }
        Compression::Lz4 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(raw)?;
            e.finish()?
        }
        Compression::Zstd => zstd::stream::encode_all(raw, 3)?,
    })
}

const MAX_DECOMPRESSED: u64 = 512 * 1024 * 1024;

pub fn decompress(data: &[u8], c: Compression) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    match c {
        Compression::None => out.extend_from_slice(data),
        Compression::Gzip => {
            flate2::read::GzDecoder::new(data).take(MAX_DECOMPRESSED).read_to_end(&mut out)?;
        }
        Compression::Snappy => {
            if data.starts_with(XERIAL_MAGIC) && data.len() >= 16 {
                let mut rest = &data[16..];
                let mut dec = snap::raw::Decoder::new();
                while rest.len() >= 4 {
                    let n = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
                    if n < 0 || rest.len() < 4 + n as usize {
                        anyhow::bail!("truncated snappy block");
                    }
                    out.extend_from_slice(&dec.decompress_vec(&rest[4..4 + n as usize])?);
                    rest = &rest[4 + n as usize..];
                }
            } else {
                out = snap::raw::Decoder::new().decompress_vec(data)?;
            }
        }
        Compression::Lz4 => {
            lz4_flex::frame::FrameDecoder::new(data).take(MAX_DECOMPRESSED).read_to_end(&mut out)?;
        }
        Compression::Zstd => {
            zstd::stream::read::Decoder::new(data)?.take(MAX_DECOMPRESSED).read_to_end(&mut out)?;
        }
    }
    Ok(out)
}

/// A fetched record with its batch's facts.
#[derive(Clone, Debug)]
pub struct Incoming {
    pub offset: i64,
    pub timestamp: i64,
    pub timestamp_type: TimestampType,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// Splits `data` into whole batches (a trailing partial batch is ignored, as in a fetch).
pub fn split_batches(mut data: Bytes) -> Vec<Bytes> {
    let mut out = Vec::new();
    while data.len() >= 12 {
        let len = i32::from_be_bytes([data[8], data[9], data[10], data[11]]);
        if len < 0 || data.len() < 12 + len as usize {
            break;
        }
        out.push(data.split_to(12 + len as usize));
    }
    out
}

/// Decodes the data records of fetched bytes (control batches skipped).
pub fn decode_records(data: Bytes) -> Result<Vec<Incoming>, KafkaError> {
    let mut out = Vec::new();
    for mut b in split_batches(data) {
        if b.len() > 16 && b[16] != 2 {
            // Old message formats (magic 0/1) are not decoded by the tools.
            continue;
        }
        let set = RecordBatchDecoder::decode_with_custom_compression(
            &mut b,
            Some(|raw: &mut Bytes, c: Compression| -> anyhow::Result<Bytes> {
                let d = decompress(raw.chunk(), c)?;
                Ok(Bytes::from(d))
            }),
        )
        .map_err(|e| KafkaError::Protocol(format!("cannot decode fetched records: {e}")))?;
        for r in set.records {
            if r.control {
                continue;
            }
            out.push(Incoming {
                offset: r.offset,
                timestamp: r.timestamp,
                timestamp_type: r.timestamp_type,
                key: r.key,
                value: r.value,
                headers: r.headers.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            });
        }
    }
    Ok(out)
}

/// The offset after the last whole batch in `data` (to move past control-only batches).
pub fn next_offset_after(data: &Bytes) -> Option<i64> {
    let mut last = None;
    for b in split_batches(data.clone()) {
        if b.len() >= 27 {
            let base = i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            let delta = i32::from_be_bytes([b[23], b[24], b[25], b[26]]);
            last = Some(base + delta as i64 + 1);
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_all_codecs() {
        for c in [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let recs = vec![
                Outgoing { key: Some(Bytes::from_static(b"k")), value: Some(Bytes::from_static(b"v1")), headers: vec![], timestamp: 5 },
                Outgoing { key: None, value: Some(Bytes::from_static(b"v2")), headers: vec![("h".into(), None)], timestamp: 6 },
            ];
            let b = encode_batch(&recs, c).unwrap_or_default();
            let got = decode_records(b.clone()).unwrap_or_default();
            assert_eq!(got.len(), 2, "{c:?}");
            assert_eq!(got[1].value.as_deref(), Some(&b"v2"[..]));
            assert_eq!(next_offset_after(&b), Some(2));
        }
    }
}
