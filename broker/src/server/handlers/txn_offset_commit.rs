//! TxnOffsetCommit (v0-v2, Kafka 2.5's range): `send_offsets_to_transaction` hands the
//! group coordinator offsets that become visible only if the transaction commits (see
//! `group::txn_offsets`). Per partition as OffsetCommit: metadata longer than
//! `offset.metadata.max.bytes` is OFFSET_METADATA_TOO_LARGE, an unknown topic or partition
//! UNKNOWN_TOPIC_OR_PARTITION; the rest is written in one transactional batch and answered
//! once the in-sync replicas have it.

use kafka_protocol::messages::txn_offset_commit_response::{TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use crate::broker::Broker;
use crate::group::records::OffsetValue;
use crate::log::partition_log::now_ms;
use crate::server::errors::ErrorCode;

pub async fn handle(broker: &Broker, req: TxnOffsetCommitRequest, version: i16) -> TxnOffsetCommitResponse {
    let meta = broker.meta.get();
    let now = now_ms();
    let max = broker.groups.settings.metadata_max_bytes;
    let group = req.group_id.0.as_str();
    let mut codes: Vec<Vec<ErrorCode>> = Vec::new();
    let mut commits = Vec::new();
    for t in &req.topics {
        let topic = t.name.0.as_str();
        let mut tc = Vec::new();
        for p in &t.partitions {
            let md = p.committed_metadata.as_ref().map(|s| s.as_str().to_string()).unwrap_or_default();
            let known = meta.topics.get(topic).map(|tm| tm.partitions.contains_key(&p.partition_index)).unwrap_or(false);
            if md.len() > max {
                tc.push(ErrorCode::OFFSET_METADATA_TOO_LARGE);
            } else if !known {
                tc.push(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
            } else {
                tc.push(ErrorCode::NONE);
                let v = OffsetValue {
                    offset: p.committed_offset,
                    leader_epoch: if version >= 2 { p.committed_leader_epoch } else { -1 },
                    metadata: md,
                    commit_timestamp: now,
                    expire_timestamp: None,
                };
                commits.push((topic.to_string(), p.partition_index, v));
            }
        }
        codes.push(tc);
    }
    let result = if commits.is_empty() {
        Ok(())
    } else {
        broker.groups.txn_commit(&broker.logs, group, req.producer_id.0, req.producer_epoch, commits)
    };
    let result = match result {
        Ok(()) => super::offset_commit::replicated(broker, group).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::debug!("TxnOffsetCommit for group {group}: {e:?}");
    }
    let mut resp = TxnOffsetCommitResponse::default();
    for (t, tc) in req.topics.iter().zip(codes) {
        let mut tr = TxnOffsetCommitResponseTopic::default();
        tr.name = t.name.clone();
        for (p, c) in t.partitions.iter().zip(tc) {
            let mut pr = TxnOffsetCommitResponsePartition::default();
            pr.partition_index = p.partition_index;
            let code = match (&result, c) {
                (Err(e), ErrorCode::NONE) => *e,
                (_, c) => c,
            };
            pr.error_code = code.code();
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    resp
}
