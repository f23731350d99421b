//! AddOffsetsToTxn (v0-v1): `send_offsets_to_transaction` first adds the group's
//! `__consumer_offsets` partition to the transaction, so that the coordinator writes a
//! marker there too; the offsets themselves then go to the group coordinator with
//! TxnOffsetCommit.

use std::collections::BTreeSet;

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use crate::broker::Broker;
use crate::group::OFFSETS_TOPIC;

pub async fn handle(broker: &Broker, req: AddOffsetsToTxnRequest, _version: i16) -> AddOffsetsToTxnResponse {
    let id = req.transactional_id.0.as_str();
    let group = req.group_id.0.as_str();
    let mut resp = AddOffsetsToTxnResponse::default();
    let parts: BTreeSet<(String, i32)> = [(OFFSETS_TOPIC.to_string(), broker.groups.partition_for(group))].into_iter().collect();
    let code = broker.txn.add_partitions(&broker.logs, id, req.producer_id.0, req.producer_epoch, &parts);
    let code = if code.is_ok() { broker.txn.replicated(&broker.logs, id, super::TXN_WRITE_TIMEOUT).await } else { code };
    if !code.is_ok() {
        tracing::debug!("AddOffsetsToTxn for {id} (group {group}): {code:?}");
    }
    resp.error_code = code.code();
    resp
}
