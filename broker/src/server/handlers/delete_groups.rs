//! DeleteGroups (v0-v2): a group without members is removed with its offsets (tombstones in
//! `__consumer_offsets`); one with members is NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::broker::Broker;

pub async fn handle(broker: &Broker, req: DeleteGroupsRequest, _version: i16) -> DeleteGroupsResponse {
    let mut resp = DeleteGroupsResponse::default();
    for g in &req.groups_names {
        let mut r = DeletableGroupResult::default();
        r.group_id = g.clone();
        r.error_code = broker.groups.delete_group(&broker.logs, g.0.as_str()).code();
        resp.results.push(r);
    }
    resp
}
