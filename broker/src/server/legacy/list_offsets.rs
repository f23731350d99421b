//! ListOffsets v0: `replica_id [topic [partition timestamp max_num_offsets]]`, answered
//! `[topic [partition error_code [offsets]]]` (the "old-style offsets"). The shared handler
//! answers the errors (unknown partition, not the leader); the list is Kafka 2.5's
//! `legacyFetchOffsetsBefore`: the candidates are each segment's base offset (at least the
//! log start) with its file's modification time, plus (log end, now) when the active
//! segment holds data; latest (-1) starts from the last candidate, earliest (-2) from the
//! first, a timestamp from the last candidate not newer than it; from there the offsets go
//! down, at most `max_num_offsets`. A consumer (replica id -1) never sees an offset above
//! the high watermark: those are replaced by it, as 2.5's `legacyFetchOffsetsForTimestamp`.

use bytes::Bytes;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, ListOffsetsResponse};

use super::{Reader, Writer};
use crate::broker::Broker;
use crate::log::partition_log::now_ms;
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
    r.rest().is_empty().then_some((req, maxes))
}

/// Kafka 2.5's legacyFetchOffsetsBefore on `segments` ((base, size, mtime), active last).
pub fn offsets_before(segments: &[(i64, u64, i64)], log_start: i64, log_end: i64, now: i64, timestamp: i64, max: i32) -> Vec<i64> {
    let mut candidates: Vec<(i64, i64)> = segments.iter().map(|(base, _, mtime)| ((*base).max(log_start), *mtime)).collect();
    if segments.last().map(|s| s.1 > 0).unwrap_or(false) {
        candidates.push((log_end, now));
    }
    let start: Option<usize> = match timestamp {
        -1 => candidates.len().checked_sub(1),
        -2 => (!candidates.is_empty()).then_some(0),
        ts => candidates.iter().rposition(|(_, t)| *t <= ts),
    };
    let Some(start) = start else { return Vec::new() };
    candidates[..=start].iter().rev().take(max.max(0) as usize).map(|(o, _)| *o).collect()
}

/// A consumer's view: offsets above the high watermark become the high watermark.
pub fn below_hw(offsets: Vec<i64>, hw: i64) -> Vec<i64> {
    if offsets.iter().any(|o| *o > hw) {
        let mut out = vec![hw];
        out.extend(offsets.into_iter().skip_while(|o| *o > hw));
        out
    } else {
        offsets
    }
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
                if let Some(part) = broker.logs.get(t.name.0.as_str(), p.partition_index) {
                    let log = part.lock();
                    offsets = offsets_before(&log.segment_times(), log.log_start_offset, log.log_end_offset, now_ms(), rp.timestamp, *max);
                    if req.replica_id.0 == -1 {
                        offsets = below_hw(offsets, log.high_watermark());
                    }
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_style_offsets_as_kafka_25() {
        // Two segments (0 at t=100, 50 at t=200, with data), log end 80, now 300.
        let segs = [(0, 10, 100), (50, 10, 200)];
        assert_eq!(offsets_before(&segs, 0, 80, 300, -1, 10), vec![80, 50, 0]);
        assert_eq!(offsets_before(&segs, 0, 80, 300, -1, 1), vec![80]);
        assert_eq!(offsets_before(&segs, 5, 80, 300, -2, 10), vec![5]);
        assert_eq!(offsets_before(&segs, 0, 80, 300, 150, 10), vec![0]);
        assert_eq!(offsets_before(&segs, 0, 80, 300, 250, 10), vec![50, 0]);
        assert_eq!(offsets_before(&segs, 0, 80, 300, 50, 10), Vec::<i64>::new());
        assert_eq!(offsets_before(&segs, 0, 80, 300, -1, 0), Vec::<i64>::new());
        // An empty active segment adds no log-end entry.
        assert_eq!(offsets_before(&[(0, 0, 100)], 0, 0, 300, -1, 5), vec![0]);
        assert_eq!(below_hw(vec![80, 50, 0], 60), vec![60, 50, 0]);
        assert_eq!(below_hw(vec![80, 50, 0], 40), vec![40, 0]);
    }
}
