//! EndTxn (v0-v1): commit or abort. The coordinator stores PrepareCommit/PrepareAbort; the
//! answer goes out once that record is replicated (as Kafka answers), while the marker
//! sender writes the COMMIT/ABORT markers to every partition of the transaction and then
//! stores CompleteCommit/CompleteAbort. Until then a new transaction of the same id gets
//! CONCURRENT_TRANSACTIONS, which clients retry.

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse};

use crate::broker::Broker;

pub async fn handle(broker: &Broker, req: EndTxnRequest, _version: i16) -> EndTxnResponse {
    let id = req.transactional_id.0.as_str();
    let mut resp = EndTxnResponse::default();
    let code = broker.txn.end_txn(&broker.logs, id, req.producer_id.0, req.producer_epoch, req.committed);
    let code = if code.is_ok() { broker.txn.replicated(&broker.logs, id, super::TXN_WRITE_TIMEOUT).await } else { code };
    if !code.is_ok() {
        tracing::debug!("EndTxn({}) for {id}: {code:?}", if req.committed { "commit" } else { "abort" });
    }
    resp.error_code = code.code();
    resp
}
