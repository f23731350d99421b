//! ListOffsets v0: `replica_id [topic [partition timestamp max_num_offsets]]`, answered
//! `[topic [partition error_code [offsets]]]` (the "old-style offsets"). The shared handler
//! finds the offset; the list is built as Kafka 2.5's `fetchOffsetsBefore` builds it for
//! a log of one segment: latest (-1) is `[high watermark, log start]` (one if they are
//! equal), earliest (-2) `[log start]`, both cut to `max_num_offsets` (0 gives `[]`). For a
//! real timestamp 2.5 lists segment base offsets by file modification time; here the answer
//! is the v1 lookup's offset (the first whose timestamp is at or after it), or `[]`.

use bytes::Bytes;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, ListOffsetsResponse};

use super::{Reader, Writer};
use crate::broker::Broker;
use crate::server::handlers::tn;

/// The request and each partition's `max_num_offsets`, in request order.
pub fn decode(body: Bytes) -> Option<(ListOffsetsRequest, Vec<Vec<i32>>)> {
    let mut r = Reader::new(body);
    let mut req = ListOffsetsRequest::default();
    req.replica_id = BrokerId(r.i32()?);
    let mut maxes = Vec::new();
    for _ in 0..r.count()? {
        let mut t = ListOffsetsTopic::default();
        t.name = tn(&r.string()?);
        let mut m = Vec::new();
        for _ in 0..r.count()? {
            let mut p = ListOffsetsPartition::default();
            p.partition_index = r.i32()?;
            p.timestamp = r.i64()?;
            p.current_leader_epoch = -1;
            m.push(r.i32()?);
            t.partitions.push(p);
        }
        maxes.push(m);
        req.topics.push(t);
    }
    Some((req, maxes))
}

pub fn encode(broker: &Broker, req: &ListOffsetsRequest, maxes: &[Vec<i32>], resp: &ListOffsetsResponse, correlation_id: i32) -> Bytes {
    let mut w = Writer::new(correlation_id);
    w.count(resp.topics.len());
    for ((t, rt), m) in resp.topics.iter().zip(&req.topics).zip(maxes) {
        w.string(t.name.0.as_str());
        w.count(t.partitions.len());
        for ((p, rp), max) in t.partitions.iter().zip(&rt.partitions).zip(m) {
            let mut offsets = Vec::new();
            if p.error_code == 0 {
                match rp.timestamp {
                    -1 => {
                        offsets.push(p.offset);
                        let start = broker.logs.get(t.name.0.as_str(), p.partition_index).map(|l| l.lock().log_start_offset);
                        if let Some(s) = start.filter(|s| *s != p.offset) {
                            offsets.push(s);
                        }
                    }
                    _ if p.offset >= 0 => offsets.push(p.offset),
                    _ => {}
                }
            }
            offsets.truncate((*max).max(0) as usize);
            w.i32(p.partition_index);
            w.i16(p.error_code);
            w.count(offsets.len());
            for o in offsets {
                w.i64(o);
            }
        }
    }
    w.finish()
}
