//! JoinGroup (v0-v9): the classic rebalance's first phase, answered when the group's join
//! phase completes (see `group::group`). v4+ unknown members first get MEMBER_ID_REQUIRED
//! with their id; v5+ carry `group.instance.id` (static membership).

use bytes::Bytes;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::{sb, RequestCtx};
use crate::broker::Broker;
use crate::group::group::{JoinParams, JoinResult};
use crate::server::errors::ErrorCode;

pub async fn handle(broker: &Broker, req: JoinGroupRequest, version: i16, ctx: &RequestCtx) -> JoinGroupResponse {
    let group = req.group_id.0.as_str().to_string();
    let params = JoinParams {
        member_id: req.member_id.as_str().to_string(),
        instance_id: req.group_instance_id.as_ref().map(|s| s.as_str().to_string()).filter(|_| version >= 5),
        client_id: ctx.client_id.clone(),
        client_host: ctx.client_host.clone(),
        session_timeout: req.session_timeout_ms,
        rebalance_timeout: if version == 0 { req.session_timeout_ms } else { req.rebalance_timeout_ms },
        protocol_type: req.protocol_type.as_str().to_string(),
        protocols: req.protocols.iter().map(|p| (p.name.as_str().to_string(), p.metadata.clone())).collect::<Vec<(String, Bytes)>>(),
        require_known_member_id: version >= 4,
    };
    let member = params.member_id.clone();
    let rx = broker.groups.join(&broker.logs, &group, params);
    let r = rx.await.unwrap_or_else(|_| JoinResult::error(ErrorCode::NOT_COORDINATOR, &member));
    let mut resp = JoinGroupResponse::default();
    resp.error_code = r.error.code();
    resp.generation_id = r.generation;
    resp.protocol_type = r.protocol_type.map(|s| sb(&s));
    resp.protocol_name = match (r.protocol_name, version >= 7) {
        (Some(p), _) => Some(sb(&p)),
        (None, true) => None,
        (None, false) => Some(sb("")),
    };
    resp.leader = sb(&r.leader);
    resp.member_id = sb(&r.member_id);
    resp.members = r
        .members
        .into_iter()
        .map(|(id, instance, metadata)| {
            let mut m = JoinGroupResponseMember::default();
            m.member_id = sb(&id);
            m.group_instance_id = instance.map(|s| sb(&s));
            m.metadata = metadata;
            m
        })
        .collect();
    resp
}
