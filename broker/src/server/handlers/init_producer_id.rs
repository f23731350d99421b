//! InitProducerId (v0-v4). Without a transactional id (idempotent producers): a fresh
//! producer id with epoch 0 from this broker's block (Kafka 2.5 does the same even when the
//! client offers its old id and epoch). With one: the transaction coordinator (`txn`) gives
//! the id's producer id and a bumped epoch, fencing older producers of the same id.

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::broker::Broker;
use crate::server::errors::ErrorCode;
use crate::txn::core::Init;

pub async fn handle(broker: &Broker, req: InitProducerIdRequest, version: i16) -> InitProducerIdResponse {
    let mut resp = InitProducerIdResponse::default();
    resp.producer_id = ProducerId(-1);
    resp.producer_epoch = -1;
    let txn_id = req.transactional_id.as_ref().map(|t| t.0.as_str().to_string());
    let Some(txn_id) = txn_id else {
        match broker.producer_ids.generate(&broker.zk, broker.id).await {
            Ok(id) => {
                resp.producer_id = ProducerId(id);
                resp.producer_epoch = 0;
            }
            Err(e) => {
                tracing::warn!("InitProducerId: {e}");
                resp.error_code = ErrorCode::COORDINATOR_NOT_AVAILABLE.code();
            }
        }
        return resp;
    };
    // v3+ clients may offer the producer id and epoch they had (KIP-360).
    let expected = (version >= 3 && req.producer_id.0 >= 0).then_some((req.producer_id.0, req.producer_epoch));
    let timeout = req.transaction_timeout_ms;
    let mut fresh = None;
    for _ in 0..3 {
        let out = broker.txn.init_producer_id(&broker.logs, &txn_id, timeout, expected, fresh);
        match out {
            Init::Ok { producer_id, producer_epoch } => {
                let code = broker.txn.replicated(&broker.logs, &txn_id, super::TXN_WRITE_TIMEOUT).await;
                if !code.is_ok() {
                    resp.error_code = code.code();
                    return resp;
                }
                resp.producer_id = ProducerId(producer_id);
                resp.producer_epoch = producer_epoch;
                return resp;
            }
            Init::Err(code) => {
                if code != ErrorCode::CONCURRENT_TRANSACTIONS {
                    tracing::info!("InitProducerId for transactional id {txn_id}: {code:?}");
                }
                resp.error_code = code.code();
                return resp;
            }
            Init::NeedProducerId => match broker.producer_ids.generate(&broker.zk, broker.id).await {
                Ok(id) => fresh = Some(id),
                Err(e) => {
                    tracing::warn!("InitProducerId: {e}");
                    resp.error_code = ErrorCode::COORDINATOR_NOT_AVAILABLE.code();
                    return resp;
                }
            },
        }
    }
    resp.error_code = ErrorCode::CONCURRENT_TRANSACTIONS.code();
    resp
}
