//! WriteTxnMarkers (v0, inter-broker): the transaction coordinator ends a transaction on
//! the partitions it touched. For each marker (producer id and epoch, commit or abort,
//! coordinator epoch) and each partition this broker leads, a control batch is appended
//! through the leader path (`replica::append_leader`, so it replicates like any batch),
//! then the answer waits, as acks=all does, until every in-sync replica has it (bounded by
//! [`TIMEOUT`]). Per partition: UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER,
//! NOT_ENOUGH_REPLICAS (ISR below min.insync.replicas), the producer state's
//! INVALID_PRODUCER_EPOCH / TRANSACTION_COORDINATOR_FENCED, REQUEST_TIMED_OUT. Below the
//! dispatch in `server`; the log side is `log::partition_log::txn`.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::write_txn_markers_response::{WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use crate::broker::Broker;
use crate::ids::Offset;
use crate::log::batch::control;
use crate::log::partition_log::now_ms;
use crate::server::errors::{self, ErrorCode};

/// How long the answer waits for the ISR (Kafka uses request.timeout.ms, 30 s).
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The group coordinator's topic: a marker there settles the producer's pending offsets.
const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Appends one marker to one partition; Ok(the offset after it) or the partition's error.
fn append_one(broker: &Broker, topic: &str, partition: i32, pid: i64, epoch: i16, commit: bool, coordinator_epoch: i32) -> Result<(Arc<crate::log::Partition>, i64), ErrorCode> {
    let meta = broker.meta.get();
    if meta.topics.get(topic).and_then(|t| t.partitions.get(&partition)).is_none() {
        return Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
    }
    let part = broker.logs.get(topic, partition).ok_or(ErrorCode::NOT_LEADER_OR_FOLLOWER)?;
    let (isr, _) = crate::replica::leader_isr(&part).ok_or(ErrorCode::NOT_LEADER_OR_FOLLOWER)?;
    let min_isr = part.lock().config.min_insync_replicas.max(1) as usize;
    if isr < min_isr {
        return Err(ErrorCode::NOT_ENOUGH_REPLICAS);
    }
    let mut data = control::build_marker(pid, epoch, commit, coordinator_epoch, now_ms());
    match crate::replica::append_leader(&broker.logs, &part, &mut data) {
        Ok(a) => Ok((part, a.next_offset)),
        Err(e) => {
            tracing::info!("WriteTxnMarkers: {} marker of producer {pid} (epoch {epoch}) to {topic}-{partition} refused: {e}", if commit { "COMMIT" } else { "ABORT" });
            Err(errors::from_log(&e))
        }
    }
}

pub async fn handle(broker: &Broker, req: WriteTxnMarkersRequest, _version: i16) -> WriteTxnMarkersResponse {
    let mut resp = WriteTxnMarkersResponse::default();
    // (marker, topic, partition index in the response, partition, offset to reach, offsets topic)
    let mut waits = Vec::new();
    for (mi, m) in req.markers.iter().enumerate() {
        let mut mr = WritableTxnMarkerResult::default();
        mr.producer_id = m.producer_id;
        for (ti, t) in m.topics.iter().enumerate() {
            let topic = t.name.0.as_str();
            let mut tr = WritableTxnMarkerTopicResult::default();
            tr.name = t.name.clone();
            for &p in &t.partition_indexes {
                let mut pr = WritableTxnMarkerPartitionResult::default();
                pr.partition_index = p;
                let res = tokio::task::block_in_place(|| append_one(broker, topic, p, m.producer_id.0, m.producer_epoch, m.transaction_result, m.coordinator_epoch));
                match res {
                    Ok((part, end)) => waits.push((mi, ti, tr.partitions.len(), part, end, topic == OFFSETS_TOPIC)),
                    Err(code) => pr.error_code = code.code(),
                }
                tr.partitions.push(pr);
            }
            mr.topics.push(tr);
        }
        resp.markers.push(mr);
    }
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    for (mi, ti, pi, part, end, offsets_topic) in waits {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let res = crate::replica::wait_replicated(&broker.logs, &part, Offset(end), left).await;
        let m = &req.markers[mi];
        if let Some(pr) = resp.markers.get_mut(mi).and_then(|r| r.topics.get_mut(ti)).and_then(|t| t.partitions.get_mut(pi)) {
            if let Err(code) = res {
                pr.error_code = code.code();
            } else if offsets_topic {
                // txn hook: the group coordinator materialises or drops the producer's pending offsets here
                // (Kafka 2.5: groupCoordinator.scheduleHandleTxnCompletion(producerId, partitions, result));
                // producer id `m.producer_id.0`, committed `m.transaction_result`, partition `pr.partition_index`.
                broker.groups.complete_txn(&broker.logs, pr.partition_index, m.producer_id.0, m.transaction_result);
            }
        }
    }
    resp
}

/// The v0 body (Kafka 2.5's only version; the `kafka-protocol` crate knows only v1, the
/// flexible one): markers array of (producer_id i64, producer_epoch i16, transaction_result
/// bool, topics array of (name string, partition_indexes array of i32), coordinator_epoch
/// i32). The request guard walked it first, so counts are backed by bytes; every read is
/// still checked. None when it does not parse.
pub fn decode_v0(buf: &mut bytes::Bytes) -> Option<WriteTxnMarkersRequest> {
    use bytes::Buf;
    use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
    fn count(buf: &mut bytes::Bytes, unit: usize) -> Option<usize> {
        if buf.remaining() < 4 {
            return None;
        }
        let n = usize::try_from(buf.get_i32()).ok()?;
        (n.checked_mul(unit)? <= buf.remaining()).then_some(n)
    }
    let mut req = WriteTxnMarkersRequest::default();
    let markers = count(buf, 8 + 2 + 1 + 4 + 4)?;
    for _ in 0..markers {
        let mut m = WritableTxnMarker::default();
        if buf.remaining() < 11 {
            return None;
        }
        m.producer_id = kafka_protocol::messages::ProducerId(buf.get_i64());
        m.producer_epoch = buf.get_i16();
        m.transaction_result = buf.get_u8() != 0;
        let topics = count(buf, 2 + 4)?;
        for _ in 0..topics {
            let mut t = WritableTxnMarkerTopic::default();
            if buf.remaining() < 2 {
                return None;
            }
            let len = usize::try_from(buf.get_i16()).ok()?;
            if buf.remaining() < len {
                return None;
            }
            let name = String::from_utf8(buf.split_to(len).to_vec()).ok()?;
            t.name = super::tn(&name);
            let parts = count(buf, 4)?;
            for _ in 0..parts {
                t.partition_indexes.push(buf.get_i32());
            }
            m.topics.push(t);
        }
        if buf.remaining() < 4 {
            return None;
        }
        m.coordinator_epoch = buf.get_i32();
        req.markers.push(m);
    }
    buf.is_empty().then_some(req)
}

/// The v0 response frame: length, correlation id (header v0), then markers array of
/// (producer_id i64, topics array of (name, partitions array of (partition_index i32,
/// error_code i16))).
pub fn encode_v0(correlation_id: i32, resp: &WriteTxnMarkersResponse) -> bytes::Bytes {
    use bytes::BufMut;
    let mut b = bytes::BytesMut::with_capacity(64);
    b.put_i32(0);
    b.put_i32(correlation_id);
    b.put_i32(resp.markers.len() as i32);
    for m in &resp.markers {
        b.put_i64(m.producer_id.0);
        b.put_i32(m.topics.len() as i32);
        for t in &m.topics {
            let name = t.name.0.as_bytes();
            b.put_i16(name.len() as i16);
            b.put_slice(name);
            b.put_i32(t.partitions.len() as i32);
            for p in &t.partitions {
                b.put_i32(p.partition_index);
                b.put_i16(p.error_code);
            }
        }
    }
    let len = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&len.to_be_bytes());
    b.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    #[test]
    fn v0_body_decodes_and_the_response_encodes() {
        let mut b = bytes::BytesMut::new();
        b.put_i32(1);
        b.put_i64(42);
        b.put_i16(3);
        b.put_u8(1);
        b.put_i32(1);
        b.put_i16(1);
        b.put_slice(b"t");
        b.put_i32(2);
        b.put_i32(0);
        b.put_i32(5);
        b.put_i32(7);
        let body = b.freeze();
        assert!(crate::server::request_guard::check(27, 0, &body).is_ok());
        let req = decode_v0(&mut body.clone()).unwrap();
        let m = &req.markers[0];
        assert_eq!((m.producer_id.0, m.producer_epoch, m.transaction_result, m.coordinator_epoch), (42, 3, true, 7));
        assert_eq!(m.topics[0].name.0.as_str(), "t");
        assert_eq!(m.topics[0].partition_indexes, vec![0, 5]);
        // Cut anywhere: None, never a panic; a huge count: None.
        for cut in 0..body.len() {
            assert!(decode_v0(&mut body.slice(..cut)).is_none(), "cut at {cut}");
        }
        let mut huge = bytes::BytesMut::new();
        huge.put_i32(i32::MAX);
        assert!(decode_v0(&mut huge.freeze()).is_none());

        let mut resp = WriteTxnMarkersResponse::default();
        let mut mr = WritableTxnMarkerResult::default();
        mr.producer_id = kafka_protocol::messages::ProducerId(42);
        let mut tr = WritableTxnMarkerTopicResult::default();
        tr.name = crate::server::handlers::tn("t");
        let mut pr = WritableTxnMarkerPartitionResult::default();
        pr.partition_index = 5;
        pr.error_code = 52;
        tr.partitions.push(pr);
        mr.topics.push(tr);
        resp.markers.push(mr);
        let out = encode_v0(9, &resp);
        let mut want = vec![];
        for x in [9i32, 1] {
            want.extend_from_slice(&x.to_be_bytes());
        }
        want.extend_from_slice(&42i64.to_be_bytes());
        want.extend_from_slice(&1i32.to_be_bytes());
        want.extend_from_slice(&[0, 1, b't']);
        want.extend_from_slice(&1i32.to_be_bytes());
        want.extend_from_slice(&5i32.to_be_bytes());
        want.extend_from_slice(&52i16.to_be_bytes());
        assert_eq!(&out[4..], &want[..]);
        assert_eq!(i32::from_be_bytes([out[0], out[1], out[2], out[3]]) as usize, out.len() - 4);
    }
}
