//! AlterPartitionReassignments (v0-v1; `kafka-reassign-partitions.sh --bootstrap-server`):
//! handed to the controller task, which writes the target and the replicas being added and
//! removed into the topic znode and completes the move once the targets are in the ISR.
//! `replicas: null` cancels a reassignment. Not the controller: NOT_CONTROLLER.

use kafka_protocol::messages::alter_partition_reassignments_response::{ReassignablePartitionResponse, ReassignableTopicResponse};
use kafka_protocol::messages::{AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse};

use super::{sb, tn};
use crate::broker::Broker;
use crate::controller::Command;
use crate::error_code::ErrorCode;

pub async fn handle(broker: &Broker, req: AlterPartitionReassignmentsRequest, version: i16) -> AlterPartitionReassignmentsResponse {
    let mut resp = AlterPartitionReassignmentsResponse::default();
    if version >= 1 {
        resp.allow_replication_factor_change = req.allow_replication_factor_change;
    }
    let mut changes = Vec::new();
    let mut refused: Vec<(String, i32, ErrorCode, String)> = Vec::new();
    let meta = broker.meta.get();
    for t in &req.topics {
        for p in &t.partitions {
            let target = p.replicas.as_ref().map(|r| r.iter().map(|b| crate::ids::BrokerId(b.0)).collect::<Vec<_>>());
            let name = t.name.0.as_str().to_string();
            if let (false, Some(target)) = (req.allow_replication_factor_change || version == 0, &target) {
                let current = meta.topics.get(&name).and_then(|tm| tm.partitions.get(&p.partition_index)).map(|pm| pm.replicas.len() - pm.adding.len());
                if current.is_some_and(|n| n != target.len()) {
                    refused.push((name, p.partition_index, ErrorCode::INVALID_REPLICATION_FACTOR, "The replication factor is changed".into()));
                    continue;
                }
            }
            changes.push((name, p.partition_index, target));
        }
    }
    let timeout = std::time::Duration::from_millis(req.timeout_ms.clamp(1000, 300_000) as u64);
    let results = match broker.controller.ask(|reply| Command::Reassign { changes, reply }, timeout).await {
        Ok(r) => r,
        Err(code) => {
            resp.error_code = code.code();
            return resp;
        }
    };
    let mut by_topic: std::collections::BTreeMap<String, Vec<ReassignablePartitionResponse>> = Default::default();
    let all = results.into_iter().chain(refused.into_iter().map(|(t, p, c, m)| (t, p, c, Some(m))));
    for (t, p, code, msg) in all {
        let mut r = ReassignablePartitionResponse::default();
        r.partition_index = p;
        r.error_code = code.code();
        r.error_message = msg.as_deref().map(sb);
        by_topic.entry(t).or_default().push(r);
    }
    resp.responses = by_topic
        .into_iter()
        .map(|(t, rs)| {
            let mut e = ReassignableTopicResponse::default();
            e.name = tn(&t);
            e.partitions = rs;
            e
        })
        .collect();
    resp
}
