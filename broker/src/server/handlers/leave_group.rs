//! LeaveGroup: v0-v2 one member id (error at the top level), v3+ a list of members by id or
//! `group.instance.id` (errors per member).

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::sb;
use crate::broker::Broker;
use crate::error_code::ErrorCode;

pub async fn handle(broker: &Broker, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        req.members.iter().map(|m| (m.member_id.as_str().to_string(), m.group_instance_id.as_ref().map(|s| s.as_str().to_string()))).collect()
    } else {
        vec![(req.member_id.as_str().to_string(), None)]
    };
    let mut resp = LeaveGroupResponse::default();
    match broker.groups.leave(&broker.logs, req.group_id.0.as_str(), &members) {
        Err(code) => resp.error_code = code.code(),
        Ok(results) => {
            if version >= 3 {
                resp.members = results
                    .iter()
                    .zip(&members)
                    .map(|((id, code), (_, instance))| {
                        let mut m = MemberResponse::default();
                        m.member_id = sb(id);
                        m.group_instance_id = instance.as_deref().map(sb);
                        m.error_code = code.code();
                        m
                    })
                    .collect();
            } else {
                resp.error_code = results.first().map(|(_, c)| *c).unwrap_or(ErrorCode::NONE).code();
            }
        }
    }
    resp
}
