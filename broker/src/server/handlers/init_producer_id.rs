//! InitProducerId (v0-v4) for idempotent producers: a fresh producer id with epoch 0 from
//! this broker's block (Kafka 2.5 does the same for a null transactional id, even when the
//! client offers its old id and epoch). Transactional ids are not supported.

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::broker::Broker;
use crate::server::errors::ErrorCode;

pub async fn handle(broker: &Broker, req: InitProducerIdRequest, _version: i16) -> InitProducerIdResponse {
    let mut resp = InitProducerIdResponse::default();
    resp.producer_id = ProducerId(-1);
    resp.producer_epoch = -1;
    if req.transactional_id.as_ref().map(|t| !t.0.is_empty()).unwrap_or(false) {
        tracing::info!("InitProducerId with a transactional id: transactions are not supported");
        resp.error_code = ErrorCode::COORDINATOR_NOT_AVAILABLE.code();
        return resp;
    }
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
    resp
}
