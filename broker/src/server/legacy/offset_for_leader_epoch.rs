//! OffsetForLeaderEpoch v0-1: `[topic [partition leader_epoch]]` (v2 adds
//! current_leader_epoch, here -1: not checked). Answers: v0 `[topic [error partition
//! end_offset]]`, v1 adds `leader_epoch` before end_offset; neither has throttle_time_ms.

use bytes::Bytes;
use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
use kafka_protocol::messages::{BrokerId, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::{Reader, Writer};
use crate::server::handlers::tn;

pub fn decode(body: Bytes) -> Option<OffsetForLeaderEpochRequest> {
    let mut r = Reader::new(body);
    let mut req = OffsetForLeaderEpochRequest::default();
    req.replica_id = BrokerId(-2);
    for _ in 0..r.count()? {
        let mut t = OffsetForLeaderTopic::default();
        t.topic = tn(&r.string()?);
        for _ in 0..r.count()? {
            let mut p = OffsetForLeaderPartition::default();
            p.partition = r.i32()?;
            p.leader_epoch = r.i32()?;
            p.current_leader_epoch = -1;
            t.partitions.push(p);
        }
        req.topics.push(t);
    }
    r.rest().is_empty().then_some(req)
}

pub fn encode(resp: &OffsetForLeaderEpochResponse, version: i16, correlation_id: i32) -> Bytes {
    let mut w = Writer::new(correlation_id);
    w.count(resp.topics.len());
    for t in &resp.topics {
        w.string(t.topic.0.as_str());
        w.count(t.partitions.len());
        for p in &t.partitions {
            w.i16(p.error_code);
            w.i32(p.partition);
            if version >= 1 {
                w.i32(p.leader_epoch);
            }
            w.i64(p.end_offset);
        }
    }
    w.finish()
}
