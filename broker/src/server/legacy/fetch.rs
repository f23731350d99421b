//! Fetch v0-3: the v4 request without `isolation_level` (read_uncommitted), v0-2 also
//! without `max_bytes`. The shared Fetch handler reads the log as for any version; the
//! magic-2 batches it returns are down-converted here (`kafka_wire::legacy::down_convert`,
//! as Kafka 2.5's LazyDownConversionRecords: Fetch v0-1 get magic 0, v2-3 magic 1; control
//! batches dropped, headers lost, records of an uncompressed batch before the fetch offset
//! dropped). Sizes, as 2.5: v0-2 treat `partition_max_bytes` as a hard limit (the converted
//! set is cut there, possibly inside a message, which old clients drop, or report as a
//! message too large when it is the first); v3 keeps at least one whole message (KIP-74)
//! and otherwise cuts at a whole message. A topic whose compression.type is zstd, or a zstd
//! batch (it cannot go down to magic < 2), is UNSUPPORTED_COMPRESSION_TYPE for that
//! partition, as 2.5 answers fetches older than v10.
//! The answer is materialized (not zero-copy): at most [`READ_MAX`] bytes per partition.
//! Responses: v0 `[topic [partition error high_watermark records]]`, v1+ put
//! `throttle_time_ms` first.

use std::os::unix::fs::FileExt;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest};
use kafka_wire::compression;
use kafka_wire::legacy::{self, LegacyError};

use super::{Reader, Writer};
use crate::broker::Broker;
use crate::server::errors::ErrorCode;
use crate::server::handlers::fetch::FetchOut;
use crate::server::handlers::tn;

/// Most log bytes one partition's down-conversion reads (the client fetches again for more).
pub const READ_MAX: u64 = 32 * 1024 * 1024;

pub fn decode(body: Bytes, version: i16) -> Option<FetchRequest> {
    let mut r = Reader::new(body);
    let mut req = FetchRequest::default();
    req.replica_id = BrokerId(r.i32()?);
    req.max_wait_ms = r.i32()?;
    req.min_bytes = r.i32()?;
    req.max_bytes = if version >= 3 { r.i32()? } else { i32::MAX };
    req.isolation_level = 0;
    for _ in 0..r.count()? {
        let mut ft = FetchTopic::default();
        ft.topic = tn(&r.string()?);
        for _ in 0..r.count()? {
            let mut fp = FetchPartition::default();
            fp.partition = r.i32()?;
            fp.fetch_offset = r.i64()?;
            fp.partition_max_bytes = r.i32()?;
            fp.current_leader_epoch = -1;
            fp.log_start_offset = -1;
            ft.partitions.push(fp);
        }
        req.topics.push(ft);
    }
    r.rest().is_empty().then_some(req)
}

/// Down-converts one partition's bytes; `Err` is the partition's error code.
pub fn convert(data: &[u8], version: i16, fetch_offset: i64, max: usize, first: bool) -> Result<Vec<u8>, ErrorCode> {
    let magic = if version <= 1 { 0 } else { 1 };
    let mut out = legacy::down_convert(data, magic, fetch_offset).map_err(|e| match e {
        LegacyError::Compression(_) => ErrorCode::UNSUPPORTED_COMPRESSION_TYPE,
        other => {
            tracing::warn!("cannot down-convert stored data at offset {fetch_offset}: {other}");
            ErrorCode::CORRUPT_MESSAGE
        }
    })?;
    if out.len() > max {
        if version <= 2 {
            out.truncate(max);
        } else {
            let whole = legacy::whole_prefix(&out, max);
            let keep = if whole == 0 && first { first_message_end(&out) } else { whole };
            out.truncate(keep);
        }
    }
    Ok(out)
}

/// The end of the first whole message (0 if there is none).
fn first_message_end(data: &[u8]) -> usize {
    let Some(size) = data.get(8..12).map(|s| i32::from_be_bytes([s[0], s[1], s[2], s[3]])) else { return 0 };
    let end = legacy::LOG_OVERHEAD.saturating_add(size.max(0) as usize);
    if end <= data.len() {
        end
    } else {
        0
    }
}

/// Encodes the answer, down-converting each partition's data (blocking reads of the log).
pub fn encode(broker: &Broker, out: &FetchOut, req: &FetchRequest, version: i16, correlation_id: i32) -> Bytes {
    let mut w = Writer::new(correlation_id);
    if version >= 1 {
        w.i32(0); // throttle_time_ms
    }
    w.count(out.topics.len());
    let mut first = true;
    for ((topic, parts), ft) in out.topics.iter().zip(&req.topics) {
        w.string(topic);
        w.count(parts.len());
        for (p, fp) in parts.iter().zip(&ft.partitions) {
            let mut error = p.error;
            let mut data = Vec::new();
            let zstd_topic = broker.logs.get(topic, p.index).map(|l| l.lock().config.compression == Some(compression::ZSTD)).unwrap_or(false);
            if zstd_topic && error == ErrorCode::NONE {
                // Kafka 2.5 answers this for a zstd topic to any fetch older than v10.
                error = ErrorCode::UNSUPPORTED_COMPRESSION_TYPE;
            } else if let Some(s) = p.records.as_ref().filter(|s| s.len > 0) {
                let n = s.len.min(READ_MAX) as usize;
                let mut raw = vec![0u8; n];
                match s.file.read_exact_at(&mut raw, s.pos) {
                    Ok(()) => match convert(&raw, version, fp.fetch_offset, fp.partition_max_bytes.max(0) as usize, first) {
                        Ok(d) => data = d,
                        Err(code) => error = code,
                    },
                    Err(e) => {
                        tracing::warn!("fetch of {topic}-{}: cannot read the log: {e}", p.index);
                        error = ErrorCode::KAFKA_STORAGE_ERROR;
                    }
                }
                if !data.is_empty() {
                    first = false;
                }
            }
            w.i32(p.index);
            w.i16(error.code());
            w.i64(p.high_watermark);
            w.bytes(&data);
        }
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_wire::legacy::LegacyRecord;

    fn stored(n: usize, codec: i16) -> Vec<u8> {
        let recs: Vec<LegacyRecord> = (0..n).map(|i| LegacyRecord { timestamp: 10 + i as i64, key: None, value: Some(vec![b'x'; 30]) }).collect();
        legacy::to_batch(&recs, codec).unwrap()
    }

    #[test]
    fn sizes_follow_the_version() {
        let data = stored(4, 0);
        let full = convert(&data, 2, 0, usize::MAX, true).unwrap();
        let each = full.len() / 4;
        // v0-2: a hard limit, cut anywhere.
        assert_eq!(convert(&data, 0, 0, each + 5, true).unwrap().len(), each + 5);
        assert_eq!(convert(&data, 2, 0, each + 5, true).unwrap().len(), each + 5);
        // v3: whole messages, at least one for the first partition.
        assert_eq!(convert(&data, 3, 0, each + 5, true).unwrap().len(), each);
        assert_eq!(convert(&data, 3, 0, 5, true).unwrap().len(), each);
        assert_eq!(convert(&data, 3, 0, 5, false).unwrap().len(), 0);
        // Magic by version.
        assert_eq!(legacy::shallow(&convert(&data, 1, 0, usize::MAX, true).unwrap()).unwrap()[0].magic, 0);
        assert_eq!(legacy::shallow(&convert(&data, 3, 0, usize::MAX, true).unwrap()).unwrap()[0].magic, 1);
        // zstd cannot go below magic 2.
        assert_eq!(convert(&stored(2, 4), 2, 0, usize::MAX, true), Err(ErrorCode::UNSUPPORTED_COMPRESSION_TYPE));
    }

    #[test]
    fn decodes_v0_and_v3_requests() {
        let mut b = vec![];
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.extend_from_slice(&500i32.to_be_bytes());
        b.extend_from_slice(&1i32.to_be_bytes());
        let v0_tail = {
            let mut t = vec![0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1];
            t.extend_from_slice(&3i32.to_be_bytes());
            t.extend_from_slice(&77i64.to_be_bytes());
            t.extend_from_slice(&1000i32.to_be_bytes());
            t
        };
        let mut v0 = b.clone();
        v0.extend_from_slice(&v0_tail);
        let r = decode(Bytes::from(v0.clone()), 0).unwrap();
        assert_eq!((r.max_wait_ms, r.min_bytes, r.max_bytes), (500, 1, i32::MAX));
        assert_eq!((r.topics[0].partitions[0].partition, r.topics[0].partitions[0].fetch_offset), (3, 77));
        let mut v3 = b;
        v3.extend_from_slice(&4096i32.to_be_bytes());
        v3.extend_from_slice(&v0_tail);
        assert_eq!(decode(Bytes::from(v3), 3).unwrap().max_bytes, 4096);
        // Truncated: None, no panic.
        for n in 0..v0.len() {
            assert!(decode(Bytes::from(v0[..n].to_vec()), 0).is_none(), "{n}");
        }
    }
}
