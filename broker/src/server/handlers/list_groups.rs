//! ListGroups (v0-v4): the groups this broker coordinates; v4 filters by state.

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::sb;
use crate::broker::Broker;

pub async fn handle(broker: &Broker, req: ListGroupsRequest, version: i16) -> ListGroupsResponse {
    let mut resp = ListGroupsResponse::default();
    for (id, protocol_type, state) in broker.groups.list() {
        if version >= 4 && !req.states_filter.is_empty() && !req.states_filter.iter().any(|s| s.as_str().eq_ignore_ascii_case(state)) {
            continue;
        }
        let mut g = ListedGroup::default();
        g.group_id = GroupId(sb(&id));
        g.protocol_type = sb(&protocol_type);
        g.group_state = sb(state);
        resp.groups.push(g);
    }
    resp
}
