//! OffsetDelete (v0): removes committed offsets of a group, unless its members subscribe to
//! the topic (GROUP_SUBSCRIBED_TO_TOPIC).

use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use crate::broker::Broker;
use crate::server::errors::ErrorCode;

pub async fn handle(broker: &Broker, req: OffsetDeleteRequest, _version: i16) -> OffsetDeleteResponse {
    let meta = broker.meta.get();
    let mut resp = OffsetDeleteResponse::default();
    let mut known = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            let exists = meta.topics.get(t.name.0.as_str()).map(|tm| tm.partitions.contains_key(&p.partition_index)).unwrap_or(false);
            if exists {
                known.push((t.name.0.as_str().to_string(), p.partition_index));
            }
        }
    }
    let result = broker.groups.delete_offsets(&broker.logs, req.group_id.0.as_str(), &known);
    let codes = match result {
        Err(code) => {
            resp.error_code = code.code();
            return resp;
        }
        Ok(c) => c,
    };
    for t in &req.topics {
        let mut tr = OffsetDeleteResponseTopic::default();
        tr.name = t.name.clone();
        for p in &t.partitions {
            let mut pr = OffsetDeleteResponsePartition::default();
            pr.partition_index = p.partition_index;
            pr.error_code = known
                .iter()
                .position(|(n, i)| n == t.name.0.as_str() && *i == p.partition_index)
                .and_then(|i| codes.get(i).copied())
                .unwrap_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
                .code();
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    resp
}
