//! FindCoordinator: the leader of the group's `__consumer_offsets` partition, in the v0-v3
//! single form and the v4+ batched form. The offsets topic is created on first use
//! (`offsets.topic.num.partitions`, `offsets.topic.replication.factor`, compacted); until
//! its partition has a leader the answer is COORDINATOR_NOT_AVAILABLE and clients retry.
//! Key type 1 finds a transaction coordinator the same way: the leader of the transactional
//! id's `__transaction_state` partition, that topic being created on first use
//! (`transaction.state.log.*`, compacted, `min.insync.replicas` set).

use std::time::Duration;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::{create_topic, sb, wait_meta};
use crate::broker::Broker;
use crate::group::{records, OFFSETS_TOPIC};
use crate::txn::TXN_TOPIC;
use crate::server::errors::ErrorCode;

fn error(key: &str, code: ErrorCode, msg: &str) -> Coordinator {
    let mut c = Coordinator::default();
    c.key = sb(key);
    c.node_id = BrokerId(-1);
    c.host = sb("");
    c.port = -1;
    c.error_code = code.code();
    c.error_message = Some(sb(msg));
    c
}

/// Creates `__consumer_offsets` as Kafka does on the first FindCoordinator.
async fn create_offsets_topic(broker: &Broker) -> Result<(), (ErrorCode, String)> {
    let configs = vec![
        ("cleanup.policy".to_string(), "compact".to_string()),
        ("compression.type".to_string(), "producer".to_string()),
        ("segment.bytes".to_string(), broker.cfg.offsets_topic_segment_bytes.to_string()),
    ];
    let c = &broker.cfg;
    create_internal(broker, OFFSETS_TOPIC, c.offsets_topic_num_partitions, c.offsets_topic_replication_factor, "offsets.topic.replication.factor", configs).await
}

/// Creates `__transaction_state` as Kafka does on the first transactional request.
pub async fn create_txn_topic(broker: &Broker) -> Result<(), (ErrorCode, String)> {
    let c = &broker.cfg;
    let configs = vec![
        ("cleanup.policy".to_string(), "compact".to_string()),
        ("compression.type".to_string(), "uncompressed".to_string()),
        ("min.insync.replicas".to_string(), c.transaction_state_log_min_isr.to_string()),
        ("segment.bytes".to_string(), c.transaction_state_log_segment_bytes.to_string()),
        ("unclean.leader.election.enable".to_string(), "false".to_string()),
    ];
    let rf = c.transaction_state_log_replication_factor;
    create_internal(broker, TXN_TOPIC, c.transaction_state_log_num_partitions, rf, "transaction.state.log.replication.factor", configs).await
}

async fn create_internal(
    broker: &Broker,
    topic: &str,
    partitions: i32,
    rf: i16,
    rf_key: &str,
    configs: Vec<(String, String)>,
) -> Result<(), (ErrorCode, String)> {
    let live = broker.meta.get().brokers.len();
    if (live as i64) < rf as i64 {
        let what = if topic == OFFSETS_TOPIC { "offsets" } else { "transactions state" };
        let msg = format!(
            "Number of alive brokers '{live}' does not meet the required replication factor '{rf}' for the {what} topic (configured via '{rf_key}'). This error can be ignored if the cluster is starting up and not all brokers are up yet."
        );
        tracing::warn!("{msg}");
        return Err((ErrorCode::COORDINATOR_NOT_AVAILABLE, msg));
    }
    match create_topic(broker, topic, partitions, rf, None, configs, false).await {
        Ok(_) => Ok(()),
        Err((code, _)) if code == ErrorCode::TOPIC_ALREADY_EXISTS => Ok(()),
        Err(e) => Err(e),
    }
}

async fn find(broker: &Broker, key: &str, key_type: i8) -> Coordinator {
    let topic = match key_type {
        0 => OFFSETS_TOPIC,
        1 => TXN_TOPIC,
        _ => return error(key, ErrorCode::INVALID_REQUEST, "unknown coordinator key type"),
    };
    if key_type == 1 && key.is_empty() {
        return error(key, ErrorCode::INVALID_REQUEST, "empty transactional id");
    }
    if !broker.meta.get().topics.contains_key(topic) {
        let created = if key_type == 0 { create_offsets_topic(broker).await } else { create_txn_topic(broker).await };
        if let Err((code, msg)) = created {
            return error(key, code, &msg);
        }
    }
    // Give a fresh topic a moment to get its leaders, so the first answer is usually useful.
    let k = key.to_string();
    wait_meta(broker, Duration::from_millis(2000), move |m| {
        m.topics
            .get(topic)
            .and_then(|t| t.partitions.get(&records::partition_for(&k, t.partitions.len() as i32)))
            .map(|p| p.leader().is_some())
            .unwrap_or(false)
    })
    .await;
    let meta = broker.meta.get();
    let Some(t) = meta.topics.get(topic) else {
        return error(key, ErrorCode::COORDINATOR_NOT_AVAILABLE, "The coordinator is not available.");
    };
    let p = records::partition_for(key, t.partitions.len() as i32);
    let leader = t.partitions.get(&p).map(|pm| pm.leader()).unwrap_or(crate::ids::BrokerId::NONE);
    match meta.brokers.get(&leader.get()) {
        Some(b) => {
            let mut c = Coordinator::default();
            c.key = sb(key);
            c.node_id = BrokerId(b.id);
            c.host = sb(&b.host);
            c.port = b.port;
            c.error_code = ErrorCode::NONE.code();
            c
        }
        None => error(key, ErrorCode::COORDINATOR_NOT_AVAILABLE, "The coordinator is not available."),
    }
}

pub async fn handle(broker: &Broker, req: FindCoordinatorRequest, version: i16) -> FindCoordinatorResponse {
    let mut resp = FindCoordinatorResponse::default();
    if version >= 4 {
        for k in &req.coordinator_keys {
            resp.coordinators.push(find(broker, k.as_str(), req.key_type).await);
        }
        return resp;
    }
    let c = find(broker, req.key.as_str(), req.key_type).await;
    resp.error_code = c.error_code;
    resp.error_message = if c.error_code == ErrorCode::NONE { None } else { c.error_message };
    resp.node_id = c.node_id;
    resp.host = c.host;
    resp.port = c.port;
    resp
}
