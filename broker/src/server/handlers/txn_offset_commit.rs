//! TxnOffsetCommit (v0-v2, Kafka 2.5's range): `send_offsets_to_transaction` hands the
//! group coordinator offsets that become visible only if the transaction commits (see
//! `group::txn_offsets`). Each partition is checked as OffsetCommit checks it
//! (`offset_commit::check`); the rest is written in one transactional batch and answered
//! once the in-sync replicas have it.

use kafka_protocol::messages::txn_offset_commit_response::{TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::offset_commit::{check, final_code, replicated, PartitionCommit};
use crate::broker::Broker;

pub async fn handle(broker: &Broker, req: TxnOffsetCommitRequest, version: i16) -> TxnOffsetCommitResponse {
    let group = req.group_id.0.as_str();
    let checked = check(
        broker,
        req.topics.iter().map(|t| {
            let parts = t.partitions.iter().map(|p| PartitionCommit {
                index: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: if version >= 2 { p.committed_leader_epoch } else { -1 },
                metadata: p.committed_metadata.as_ref().map(|s| s.as_str()),
                commit_timestamp: -1,
            });
            (t.name.0.as_str(), parts.collect())
        }),
    );
    let result = if checked.commits.is_empty() {
        Ok(())
    } else {
        broker.groups.txn_commit(&broker.logs, group, req.producer_id.0, req.producer_epoch, checked.commits)
    };
    let result = match result {
        Ok(()) => replicated(broker, group).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::debug!("TxnOffsetCommit for group {group}: {e:?}");
    }
    let mut resp = TxnOffsetCommitResponse::default();
    for (t, tc) in req.topics.iter().zip(checked.codes) {
        let mut tr = TxnOffsetCommitResponseTopic::default();
        tr.name = t.name.clone();
        for (p, c) in t.partitions.iter().zip(tc) {
            let mut pr = TxnOffsetCommitResponsePartition::default();
            pr.partition_index = p.partition_index;
            pr.error_code = final_code(&result, c).code();
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    resp
}
