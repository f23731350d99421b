//! Heartbeat (v0-v4): keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::broker::Broker;

pub async fn handle(broker: &Broker, req: HeartbeatRequest, _version: i16) -> HeartbeatResponse {
    let instance = req.group_instance_id.as_ref().map(|s| s.as_str());
    let mut resp = HeartbeatResponse::default();
    resp.error_code = broker.groups.heartbeat(&broker.logs, req.group_id.0.as_str(), req.member_id.as_str(), instance, req.generation_id).code();
    resp
}
