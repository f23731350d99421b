//! DescribeGroups (v0-v5): state, protocol and members (with their subscription and
//! assignment when the group is Stable, as Kafka). An unknown group is "Dead", no error.

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::sb;
use crate::broker::Broker;

pub async fn handle(broker: &Broker, req: DescribeGroupsRequest, version: i16) -> DescribeGroupsResponse {
    let mut resp = DescribeGroupsResponse::default();
    for gid in &req.groups {
        let mut d = DescribedGroup::default();
        d.group_id = gid.clone();
        d.authorized_operations = if version >= 3 && req.include_authorized_operations { 0 } else { i32::MIN };
        match broker.groups.describe(gid.0.as_str()) {
            Err(code) => {
                d.error_code = code.code();
                d.group_state = sb("");
                d.protocol_type = sb("");
                d.protocol_data = sb("");
            }
            Ok(info) => {
                d.group_state = sb(info.state);
                d.protocol_type = sb(&info.protocol_type);
                d.protocol_data = sb(&info.protocol);
                d.members = info
                    .members
                    .into_iter()
                    .map(|m| {
                        let mut dm = DescribedGroupMember::default();
                        dm.member_id = sb(&m.member_id);
                        dm.group_instance_id = m.instance_id.as_deref().map(sb);
                        dm.client_id = sb(&m.client_id);
                        dm.client_host = sb(&m.client_host);
                        dm.member_metadata = m.metadata;
                        dm.member_assignment = m.assignment;
                        dm
                    })
                    .collect();
            }
        }
        resp.groups.push(d);
    }
    resp
}
