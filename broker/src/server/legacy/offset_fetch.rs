//! OffsetFetch v0: the v1 layout both ways (`group_id [topic [partition]]`, answered
//! `[topic [partition offset metadata error_code]]`), so the crate decodes and encodes it
//! at v1. As in Kafka 2.5, v0 reads ZooKeeper (`/consumers/<group>/offsets/<topic>/<partition>`,
//! written by OffsetCommit v0), not the group coordinator: a partition the cluster does not
//! have, or without a stored offset, answers offset -1 with UNKNOWN_TOPIC_OR_PARTITION.

use kafka_protocol::messages::offset_fetch_response::{OffsetFetchResponsePartition, OffsetFetchResponseTopic};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};

use super::offset_commit::zk_path;
use crate::broker::Broker;
use crate::server::errors::ErrorCode;
use crate::server::handlers::sb;

/// The v0 request (v1's layout), the whole body consumed.
pub fn decode(mut body: bytes::Bytes) -> Option<OffsetFetchRequest> {
    use kafka_protocol::protocol::Decodable;
    let req = OffsetFetchRequest::decode(&mut body, 1).ok()?;
    body.is_empty().then_some(req)
}

pub async fn fetch_v0(broker: &Broker, req: &OffsetFetchRequest) -> OffsetFetchResponse {
    let meta = broker.meta.get();
    let group = req.group_id.0.as_str();
    let mut resp = OffsetFetchResponse::default();
    for t in req.topics.iter().flatten() {
        let topic = t.name.0.as_str();
        let mut tr = OffsetFetchResponseTopic::default();
        tr.name = t.name.clone();
        for &p in &t.partition_indexes {
            let mut pr = OffsetFetchResponsePartition::default();
            pr.partition_index = p;
            pr.committed_offset = -1;
            pr.committed_leader_epoch = -1;
            pr.metadata = Some(sb(""));
            pr.error_code = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.code();
            let known = meta.topics.get(topic).map(|tm| tm.partitions.contains_key(&p)).unwrap_or(false);
            if known {
                match broker.zk.get_data(&zk_path(group, topic, p), false).await {
                    Ok(Some((Some(data), _))) => {
                        if let Some(o) = std::str::from_utf8(&data).ok().and_then(|s| s.trim().parse::<i64>().ok()) {
                            pr.committed_offset = o;
                            pr.error_code = ErrorCode::NONE.code();
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!("OffsetFetch v0 of {group} {topic}-{p} from ZooKeeper failed: {e}");
                        pr.error_code = ErrorCode::UNKNOWN_SERVER_ERROR.code();
                    }
                }
            }
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    resp
}
