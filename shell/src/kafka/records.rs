//! Record batches for the tools: encoding (with Kafka's compression codecs) for producers,
//! decoding of fetched bytes (which may end in a partial batch) for consumers.
//!
//! Codecs as the Java client writes them (gzip, snappy in xerial framing, LZ4 frames with
//! independent blocks, zstd) come from the `kafka-wire` crate the broker uses too.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType};

use kafka_wire::{batch, compression};

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
            // No producer id, so the batch's base sequence must be -1; the codec keeps records
            // in one batch only while offset - sequence stays the same, hence offset - 1.
            sequence: i as i32 - 1,
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

/// Kafka's codec id for the codec crate's enum.
fn codec_id(c: Compression) -> i16 {
    match c {
        Compression::None => compression::NONE,
        Compression::Gzip => compression::GZIP,
        Compression::Snappy => compression::SNAPPY,
        Compression::Lz4 => compression::LZ4,
        Compression::Zstd => compression::ZSTD,
    }
}

/// Compresses records with Kafka's framing for `c` (shared with the broker: `kafka-wire`).
pub fn compress(raw: &[u8], c: Compression) -> anyhow::Result<Vec<u8>> {
    Ok(compression::compress(codec_id(c), raw)?)
}

/// Decompresses a fetched batch's records, bounded in size (shared with the broker).
pub fn decompress(data: &[u8], c: Compression) -> anyhow::Result<Vec<u8>> {
    Ok(compression::decompress(codec_id(c), data)?)
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

/// Decodes the data records of fetched bytes (control batches skipped).
pub fn decode_records(data: Bytes) -> Result<Vec<Incoming>, KafkaError> {
    decode_records_with(data, false)
}

/// Decodes every record of fetched bytes; control records (transaction markers) too when
/// `control` (kafka-dump-log prints them).
pub fn decode_records_with(data: Bytes, control: bool) -> Result<Vec<Incoming>, KafkaError> {
    let mut out = Vec::new();
    for mut b in batch::split_bytes(data) {
        if b.len() > batch::MAGIC_OFFSET && b[batch::MAGIC_OFFSET] != 2 {
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
            if r.control && !control {
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
    batch::split_bytes(data.clone()).iter().filter_map(|b| batch::parse_header(b)).map(|h| h.next_offset()).last()
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
            // One batch holding both records, with no sequence (a non-idempotent producer's).
            let h = batch::parse_header(&b).unwrap_or_else(|| panic!("no header"));
            assert_eq!(h.next_offset(), 2, "{c:?}");
            assert_eq!(batch::split_bytes(b.clone()).len(), 1, "{c:?}");
            assert_eq!((h.base_sequence, h.records_count, h.producer_id), (-1, 2, -1), "{c:?}");
        }
    }
}
