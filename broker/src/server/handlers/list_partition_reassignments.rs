//! ListPartitionReassignments (v0): the reassignments in progress, from the topic znodes'
//! `adding_replicas` / `removing_replicas`. Served by the controller, as Kafka's.

use kafka_protocol::messages::list_partition_reassignments_response::{OngoingPartitionReassignment, OngoingTopicReassignment};
use kafka_protocol::messages::{BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse};

use super::tn;
use crate::broker::Broker;
use crate::server::errors;

pub async fn handle(broker: &Broker, req: ListPartitionReassignmentsRequest, _version: i16) -> ListPartitionReassignmentsResponse {
    let meta = broker.meta.get();
    let mut resp = ListPartitionReassignmentsResponse::default();
    if meta.controller != broker.id {
        resp.error_code = errors::NOT_CONTROLLER;
        return resp;
    }
    let wanted: Option<Vec<(String, Vec<i32>)>> =
        req.topics.as_ref().map(|ts| ts.iter().map(|t| (t.name.0.as_str().to_string(), t.partition_indexes.clone())).collect());
    let ids = |v: &[i32]| v.iter().map(|b| BrokerId(*b)).collect::<Vec<_>>();
    for (t, tm) in &meta.topics {
        let filter = match &wanted {
            Some(w) => match w.iter().find(|(n, _)| n == t) {
                Some((_, ps)) => Some(ps),
                None => continue,
            },
            None => None,
        };
        let mut ot = OngoingTopicReassignment::default();
        ot.name = tn(t);
        for (p, pm) in &tm.partitions {
            if pm.adding.is_empty() && pm.removing.is_empty() {
                continue;
            }
            if filter.is_some_and(|ps| !ps.contains(p)) {
                continue;
            }
            let mut e = OngoingPartitionReassignment::default();
            e.partition_index = *p;
            e.replicas = ids(&pm.replicas);
            e.adding_replicas = ids(&pm.adding);
            e.removing_replicas = ids(&pm.removing);
            ot.partitions.push(e);
        }
        if !ot.partitions.is_empty() {
            resp.topics.push(ot);
        }
    }
    resp
}
