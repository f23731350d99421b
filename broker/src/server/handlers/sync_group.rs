//! SyncGroup (v0-v5): the leader hands in the assignment; every member gets its own once
//! the group metadata is stored.

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::sb;
use crate::broker::Broker;
use crate::group::group::SyncResult;
use crate::server::errors::ErrorCode;

pub async fn handle(broker: &Broker, req: SyncGroupRequest, version: i16) -> SyncGroupResponse {
    let group = req.group_id.0.as_str();
    let assignments = req.assignments.iter().map(|a| (a.member_id.as_str().to_string(), a.assignment.clone())).collect();
    let instance = req.group_instance_id.as_ref().map(|s| s.as_str());
    let rx = broker.groups.sync(&broker.logs, group, req.member_id.as_str(), instance, req.generation_id, assignments);
    let r = rx.await.unwrap_or(SyncResult { error: ErrorCode::NOT_COORDINATOR, ..Default::default() });
    let mut resp = SyncGroupResponse::default();
    resp.error_code = r.error.code();
    if version >= 5 {
        resp.protocol_type = r.protocol_type.map(|s| sb(&s));
        resp.protocol_name = r.protocol_name.map(|s| sb(&s));
    }
    resp.assignment = r.assignment;
    resp
}
