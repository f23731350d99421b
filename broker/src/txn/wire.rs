//! WriteTxnMarkers v0 (API 27) frames, by hand: Kafka 2.5 brokers serve only v0, which the
//! `kafka-protocol` crate dropped along with Kafka 4.0 (it encodes v1+, the flexible form).
//! Pure bytes in and out, used by `markers`. Non-flexible encoding, big-endian:
//!
//! ```text
//! request:  size i32, header v1 (api_key 27, version 0, correlation_id, client_id string),
//!           markers [ producer_id i64, producer_epoch i16, transaction_result bool (i8),
//!                     topics [ name string, partition_indexes [i32] ], coordinator_epoch i32 ]
//! response: (size) correlation_id i32 (header v0),
//!           markers [ producer_id i64, topics [ name string, partitions [ partition_index i32,
//!                     error_code i16 ] ] ]
//! ```

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};

use kafka_wire::read::Reader;

use super::core::MarkerJob;
use crate::error_code::ErrorCode;

pub const API_KEY: i16 = 27;
pub const VERSION: i16 = 0;

fn put_str(b: &mut BytesMut, s: &str) {
    let s = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
    b.put_i16(s.len() as i16);
    b.put_slice(s);
}

/// The whole request frame (with its size): one marker per (job, its partitions on the
/// destination broker).
pub fn encode_request(correlation_id: i32, client_id: &str, markers: &[(&MarkerJob, &[(String, i32)])]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i32(0);
    b.put_i16(API_KEY);
    b.put_i16(VERSION);
    b.put_i32(correlation_id);
    put_str(&mut b, client_id);
    b.put_i32(markers.len() as i32);
    for (job, parts) in markers {
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in parts.iter() {
            topics.entry(t.as_str()).or_default().push(*p);
        }
        b.put_i64(job.producer_id);
        b.put_i16(job.producer_epoch);
        b.put_i8(job.commit as i8);
        b.put_i32(topics.len() as i32);
        for (t, ps) in topics {
            put_str(&mut b, t);
            b.put_i32(ps.len() as i32);
            for p in ps {
                b.put_i32(p);
            }
        }
        b.put_i32(job.coordinator_epoch);
    }
    let len = (b.len() - 4) as i32;
    b[0..4].copy_from_slice(&len.to_be_bytes());
    b.freeze()
}

/// A response body (after the correlation id): (producer id, topic, partition, error) for
/// every partition it answers. None = malformed. A body behind an empty tagged-field section
/// (a v1 response header by mistake) is read too.
pub fn decode_response(body: &[u8]) -> Option<Vec<(i64, String, i32, ErrorCode)>> {
    match decode_response_exact(body) {
        Some(v) => Some(v),
        None if body.first() == Some(&0) => decode_response_exact(&body[1..]),
        None => None,
    }
}

fn decode_response_exact(body: &[u8]) -> Option<Vec<(i64, String, i32, ErrorCode)>> {
    let mut r = Reader::new(body);
    let mut out = Vec::new();
    for _ in 0..r.count(12)? {
        let pid = r.i64()?;
        for _ in 0..r.count(6)? {
            let t = r.str()?;
            for _ in 0..r.count(6)? {
                let p = r.i32()?;
                let e = r.i16()?;
                out.push((pid, t.clone(), p, ErrorCode(e)));
            }
        }
    }
    (r.remaining() == 0).then_some(out)
}

/// One marker of a request (for the WriteTxnMarkers handler).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes_are_kafkas_v0() {
        let job = MarkerJob {
            txn_id: "x".into(),
            txn_partition: 0,
            coordinator_epoch: 3,
            producer_id: 9,
            producer_epoch: 2,
            commit: true,
            partitions: Default::default(),
        };
        let f = encode_request(7, "c", &[(&job, &[("a".into(), 0), ("a".into(), 1)][..])]);
        let mut want: Vec<u8> = Vec::new();
        want.extend_from_slice(&27i16.to_be_bytes());
        want.extend_from_slice(&0i16.to_be_bytes());
        want.extend_from_slice(&7i32.to_be_bytes());
        want.extend_from_slice(&[0, 1, b'c']);
        want.extend_from_slice(&1i32.to_be_bytes());
        want.extend_from_slice(&9i64.to_be_bytes());
        want.extend_from_slice(&2i16.to_be_bytes());
        want.push(1);
        want.extend_from_slice(&1i32.to_be_bytes());
        want.extend_from_slice(&[0, 1, b'a']);
        want.extend_from_slice(&2i32.to_be_bytes());
        want.extend_from_slice(&0i32.to_be_bytes());
        want.extend_from_slice(&1i32.to_be_bytes());
        want.extend_from_slice(&3i32.to_be_bytes());
        assert_eq!(&f[4..], &want[..]);
        assert_eq!(&f[..4], &(want.len() as i32).to_be_bytes());
    }

    #[test]
    fn responses_are_read_and_hostile_counts_refused() {
        let mut b = Vec::new();
        b.extend_from_slice(&1i32.to_be_bytes());
        b.extend_from_slice(&9i64.to_be_bytes());
        b.extend_from_slice(&1i32.to_be_bytes());
        b.extend_from_slice(&[0, 1, b'a']);
        b.extend_from_slice(&2i32.to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(&0i16.to_be_bytes());
        b.extend_from_slice(&1i32.to_be_bytes());
        b.extend_from_slice(&6i16.to_be_bytes());
        let got = decode_response(&b).unwrap();
        assert_eq!(got, vec![(9, "a".into(), 0, ErrorCode::NONE), (9, "a".into(), 1, ErrorCode::NOT_LEADER_OR_FOLLOWER)]);
        assert_eq!(decode_response(&b[..b.len() - 1]), None);
        assert_eq!(decode_response(&i32::MAX.to_be_bytes()), None);
        assert_eq!(decode_response(&(-1i32).to_be_bytes()), None);
        let mut tagged = vec![0u8];
        tagged.extend_from_slice(&b);
        assert_eq!(decode_response(&tagged).unwrap().len(), 2);
        // What our own server answers (handlers::write_txn_markers::encode_v0) reads back.
        use kafka_protocol::messages::write_txn_markers_response::{WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult};
        let mut resp = kafka_protocol::messages::WriteTxnMarkersResponse::default();
        let mut mr = WritableTxnMarkerResult::default();
        mr.producer_id = kafka_protocol::messages::ProducerId(9);
        let mut tr = WritableTxnMarkerTopicResult::default();
        tr.name = crate::server::handlers::tn("a");
        for (p, e) in [(0, ErrorCode::NONE), (1, ErrorCode::NOT_LEADER_OR_FOLLOWER)] {
            let mut pr = WritableTxnMarkerPartitionResult::default();
            pr.partition_index = p;
            pr.error_code = e.code();
            tr.partitions.push(pr);
        }
        mr.topics.push(tr);
        resp.markers.push(mr);
        let frame = crate::server::handlers::write_txn_markers::encode_v0(5, &resp);
        // size i32 + correlation id i32, then the body.
        assert_eq!(&frame[8..], &b[..]);
    }

    #[test]
    fn requests_decode_back() {
        let job = MarkerJob {
            txn_id: "x".into(),
            txn_partition: 0,
            coordinator_epoch: 3,
            producer_id: 9,
            producer_epoch: 2,
            commit: false,
            partitions: Default::default(),
        };
        let other = MarkerJob { producer_id: 10, commit: true, ..job.clone() };
        let f = encode_request(7, "c", &[(&job, &[("a".into(), 0), ("b".into(), 4)][..]), (&other, &[("a".into(), 1)][..])]);
        // size 4, api key 2, version 2, correlation 4, client id 2 + 1: then what the
        // server's own decoder (handlers::write_txn_markers::decode_v0) reads.
        let body = Bytes::copy_from_slice(&f[4 + 2 + 2 + 4 + 3..]);
        let got = crate::server::handlers::write_txn_markers::decode_v0(&mut body.clone()).unwrap();
        assert_eq!(got.markers.len(), 2);
        let m2 = &got.markers[1];
        assert_eq!((m2.producer_id.0, m2.transaction_result), (10, true));
        let m = &got.markers[0];
        assert_eq!((m.producer_id.0, m.producer_epoch, m.transaction_result, m.coordinator_epoch), (9, 2, false, 3));
        let topics: Vec<(String, Vec<i32>)> = m.topics.iter().map(|t| (t.name.0.to_string(), t.partition_indexes.clone())).collect();
        assert_eq!(topics, vec![("a".to_string(), vec![0]), ("b".to_string(), vec![4])]);
        assert!(crate::server::handlers::write_txn_markers::decode_v0(&mut body.slice(..body.len() - 1)).is_none());
    }
}
