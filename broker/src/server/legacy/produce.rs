//! Produce v0-2: the v3 request without `transactional_id`, carrying magic-0/1 message sets
//! (magic 2 is accepted too, as Kafka 2.5 does below v3). Each partition's set is parsed and
//! converted to one magic-2 batch here (`kafka_wire::legacy`: CRC32 checks, LogValidator
//! rules, offsets from 0, magic-0 timestamps NO_TIMESTAMP), then the shared Produce handler
//! validates and appends it as any batch (the topic's compression.type, timestamp type,
//! max.message.bytes and compaction rules apply there). A set that does not convert gets its
//! Kafka error code in that partition's answer. Responses: v0 `[topic [partition error
//! base_offset]]`, v1 adds `throttle_time_ms` at the end, v2 `log_append_time` after
//! base_offset.

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_wire::legacy::{self, LegacyError};

use super::{Reader, Writer};
use crate::server::errors::ErrorCode;
use crate::server::handlers::tn;

/// A partition whose records did not convert: (topic, partition, code, message).
pub type Refused = Vec<(String, i32, ErrorCode, String)>;

pub fn error_code(e: &LegacyError) -> ErrorCode {
    match e {
        LegacyError::Corrupt(_) => ErrorCode::CORRUPT_MESSAGE,
        LegacyError::Invalid(_) => ErrorCode::INVALID_RECORD,
        LegacyError::InvalidTimestamp(_) => ErrorCode::INVALID_TIMESTAMP,
        LegacyError::Compression(_) => ErrorCode::UNSUPPORTED_COMPRESSION_TYPE,
    }
}

/// Converts one partition's records to magic 2 (a magic-2 payload passes unchanged).
pub fn convert(records: &Bytes) -> Result<Bytes, LegacyError> {
    // The magic byte sits at offset 16 in both layouts (after offset, size, crc in legacy).
    match records.get(16).map(|m| *m as i8) {
        Some(2) => Ok(records.clone()),
        _ => {
            let parsed = legacy::parse(records)?;
            Ok(Bytes::from(legacy::to_batch(&parsed.records, parsed.codec)?))
        }
    }
}

/// Decodes a v0-2 request; legacy sets are converted, failures listed in `Refused` (their
/// records are left out, so the handler answers CORRUPT_MESSAGE, patched afterwards).
pub fn decode(body: Bytes) -> Option<(ProduceRequest, Refused)> {
    let mut r = Reader::new(body);
    let mut req = ProduceRequest::default();
    req.acks = r.i16()?;
    req.timeout_ms = r.i32()?;
    let mut refused = Vec::new();
    for _ in 0..r.count()? {
        let name = r.string()?;
        let mut td = TopicProduceData::default();
        td.name = tn(&name);
        for _ in 0..r.count()? {
            let mut pd = PartitionProduceData::default();
            pd.index = r.i32()?;
            pd.records = match r.nullable_bytes()? {
                Some(b) => match convert(&b) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        refused.push((name.clone(), pd.index, error_code(&e), e.to_string()));
                        None
                    }
                },
                None => None,
            };
            td.partition_data.push(pd);
        }
        req.topic_data.push(td);
    }
    r.rest().is_empty().then_some((req, refused))
}

/// Puts the conversion errors into the handler's answer (only where the handler got as far
/// as the records: an unknown topic stays UNKNOWN_TOPIC_OR_PARTITION, as in Kafka).
pub fn patch(resp: &mut ProduceResponse, refused: &Refused) {
    for (topic, index, code, msg) in refused {
        for t in resp.responses.iter_mut().filter(|t| t.name.0.as_str() == topic) {
            for p in t.partition_responses.iter_mut().filter(|p| p.index == *index && p.error_code == ErrorCode::CORRUPT_MESSAGE.code()) {
                p.error_code = code.code();
                p.error_message = Some(crate::server::handlers::sb(msg));
            }
        }
    }
}

pub fn encode(resp: &ProduceResponse, version: i16, correlation_id: i32) -> Bytes {
    let mut w = Writer::new(correlation_id);
    w.count(resp.responses.len());
    for t in &resp.responses {
        w.string(t.name.0.as_str());
        w.count(t.partition_responses.len());
        for p in &t.partition_responses {
            w.i32(p.index);
            w.i16(p.error_code);
            w.i64(p.base_offset);
            if version >= 2 {
                w.i64(p.log_append_time_ms);
            }
        }
    }
    if version >= 1 {
        w.i32(resp.throttle_time_ms);
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};

    #[test]
    fn responses_by_version() {
        let mut resp = ProduceResponse::default();
        let mut t = TopicProduceResponse::default();
        t.name = tn("t");
        let mut p = PartitionProduceResponse::default();
        p.index = 1;
        p.base_offset = 5;
        p.log_append_time_ms = -1;
        t.partition_responses.push(p);
        resp.responses.push(t);
        let v0 = encode(&resp, 0, 9);
        // length, corr, [1 topic "t" [1: partition 1, error 0, base 5]]
        let mut expect = vec![0, 0, 0, 29, 0, 0, 0, 9, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 1, 0, 0];
        expect.extend_from_slice(&5i64.to_be_bytes());
        assert_eq!(&v0[..], &expect[..]);
        assert_eq!(encode(&resp, 1, 9).len(), v0.len() + 4);
        assert_eq!(encode(&resp, 2, 9).len(), v0.len() + 12);
    }

    #[test]
    fn a_bad_set_is_refused_per_partition() {
        let mut body = vec![0, 1, 0, 0, 0x27, 0x10, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 0];
        body.extend_from_slice(&20i32.to_be_bytes());
        body.extend_from_slice(&[0u8; 20]);
        let (req, refused) = decode(Bytes::from(body)).unwrap();
        assert_eq!(req.acks, 1);
        assert!(req.topic_data[0].partition_data[0].records.is_none());
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].2, ErrorCode::CORRUPT_MESSAGE);
    }
}
