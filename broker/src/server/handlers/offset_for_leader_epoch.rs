//! OffsetsForLeaderEpoch (v2-v4): for each partition, the largest leader epoch at or below
//! the one asked that this leader's log knows, and the offset where it ended (see
//! `Log::end_offset_for_epoch`). Followers use it to find where their log diverges after a
//! leader change; consumers to detect truncation. Only the leader answers; the current
//! leader epoch in the request is checked as in Fetch.

use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use crate::broker::Broker;
use crate::server::errors::ErrorCode;

pub async fn handle(broker: &Broker, req: OffsetForLeaderEpochRequest, _version: i16) -> OffsetForLeaderEpochResponse {
    let meta = broker.meta.get();
    let mut resp = OffsetForLeaderEpochResponse::default();
    for t in &req.topics {
        let topic = t.topic.0.as_str();
        let mut tr = OffsetForLeaderTopicResult::default();
        tr.topic = t.topic.clone();
        for p in &t.partitions {
            let mut e = EpochEndOffset::default();
            e.partition = p.partition;
            e.leader_epoch = -1;
            e.end_offset = -1;
            let known = meta.topics.get(topic).map(|x| x.partitions.contains_key(&p.partition)).unwrap_or(false);
            let part = broker.logs.get(topic, p.partition);
            let leads = part.as_ref().and_then(|x| crate::replica::leader_isr(x)).map(|(_, ep)| ep);
            match (known, part, leads) {
                (false, _, _) => e.error_code = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.code(),
                (true, Some(part), Some(epoch)) => {
                    if p.current_leader_epoch >= 0 && p.current_leader_epoch < epoch.get() {
                        e.error_code = ErrorCode::FENCED_LEADER_EPOCH.code();
                    } else if p.current_leader_epoch > epoch.get() {
                        e.error_code = ErrorCode::UNKNOWN_LEADER_EPOCH.code();
                    } else {
                        let (le, off) = part.lock().end_offset_for_epoch(p.leader_epoch);
                        e.leader_epoch = le;
                        e.end_offset = off;
                    }
                }
                _ => e.error_code = ErrorCode::NOT_LEADER_OR_FOLLOWER.code(),
            }
            tr.partitions.push(e);
        }
        resp.topics.push(tr);
    }
    resp
}
