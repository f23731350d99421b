//! AddPartitionsToTxn (v0-v1, Kafka 2.5's range; the v0-v3 single-transaction form): a
//! transactional producer names the partitions it is about to write. Partitions of unknown
//! topics get UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED, as Kafka
//! answers; otherwise the coordinator stores the transaction Ongoing with them and every
//! partition gets its answer.

use std::collections::BTreeSet;

use kafka_protocol::messages::add_partitions_to_txn_response::{AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

use crate::broker::Broker;
use crate::server::errors::ErrorCode;

pub async fn handle(broker: &Broker, req: AddPartitionsToTxnRequest, _version: i16) -> AddPartitionsToTxnResponse {
    let id = req.v3_and_below_transactional_id.0.as_str();
    let meta = broker.meta.get();
    let mut parts = BTreeSet::new();
    let mut unknown = BTreeSet::new();
    for t in &req.v3_and_below_topics {
        let name = t.name.0.as_str();
        for p in &t.partitions {
            let known = meta.topics.get(name).map(|tm| tm.partitions.contains_key(p)).unwrap_or(false);
            if known {
                parts.insert((name.to_string(), *p));
            } else {
                unknown.insert((name.to_string(), *p));
            }
        }
    }
    let code = if !unknown.is_empty() {
        None
    } else {
        let c = broker.txn.add_partitions(&broker.logs, id, req.v3_and_below_producer_id.0, req.v3_and_below_producer_epoch, &parts);
        let c = if c.is_ok() { broker.txn.replicated(&broker.logs, id, super::TXN_WRITE_TIMEOUT).await } else { c };
        if !c.is_ok() {
            tracing::debug!("AddPartitionsToTxn for {id}: {c:?}");
        }
        Some(c)
    };
    let mut resp = AddPartitionsToTxnResponse::default();
    for t in &req.v3_and_below_topics {
        let mut tr = AddPartitionsToTxnTopicResult::default();
        tr.name = t.name.clone();
        for p in &t.partitions {
            let mut pr = AddPartitionsToTxnPartitionResult::default();
            pr.partition_index = *p;
            let c = match code {
                Some(c) => c,
                None if unknown.contains(&(t.name.0.as_str().to_string(), *p)) => ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                None => ErrorCode::OPERATION_NOT_ATTEMPTED,
            };
            pr.partition_error_code = c.code();
            tr.results_by_partition.push(pr);
        }
        resp.results_by_topic_v3_and_below.push(tr);
    }
    resp
}
