//! ListPartitionReassignments (v0): the reassignments in progress, read from the topic
//! znodes' `adding_replicas` / `removing_replicas` at the time of the request (not from the
//! metadata cache, which follows the znodes a moment later: an AlterPartitionReassignments
//! answered just before must show here). Served by the controller, as Kafka's.

use kafka_protocol::messages::list_partition_reassignments_response::{OngoingPartitionReassignment, OngoingTopicReassignment};
use kafka_protocol::messages::{BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse};

use super::tn;
use crate::broker::Broker;
use crate::server::errors::ErrorCode;
use crate::zkdata;

pub async fn handle(broker: &Broker, req: ListPartitionReassignmentsRequest, _version: i16) -> ListPartitionReassignmentsResponse {
    let meta = broker.meta.get();
    let mut resp = ListPartitionReassignmentsResponse::default();
    if meta.controller != broker.id {
        resp.error_code = ErrorCode::NOT_CONTROLLER.code();
        return resp;
    }
    let wanted: Option<Vec<(String, Vec<i32>)>> =
        req.topics.as_ref().map(|ts| ts.iter().map(|t| (t.name.0.as_str().to_string(), t.partition_indexes.clone())).collect());
    let ids = |v: &[i32]| v.iter().map(|b| BrokerId(*b)).collect::<Vec<_>>();
    let typed = |v: &[crate::ids::BrokerId]| v.iter().map(|b| BrokerId(b.get())).collect::<Vec<_>>();
    let names: Vec<String> = match &wanted {
        Some(w) => w.iter().map(|(n, _)| n.clone()).collect(),
        None => match broker.zk.get_children("/brokers/topics", false).await {
            Ok(c) => c.unwrap_or_default(),
            Err(e) => {
                resp.error_code = ErrorCode::UNKNOWN_SERVER_ERROR.code();
                resp.error_message = Some(super::sb(&format!("reading /brokers/topics: {e}")));
                return resp;
            }
        },
    };
    let mut seen: Vec<(String, std::collections::BTreeMap<i32, Vec<i32>>)> = Vec::new();
    for t in names {
        let filter = wanted.as_ref().and_then(|w| w.iter().find(|(n, _)| *n == t)).map(|(_, ps)| ps.clone());
        let data = match broker.zk.get_data(&zkdata::topic_path(&t), false).await {
            Ok(Some((Some(d), _))) => d,
            Ok(_) => continue,
            Err(e) => {
                resp.error_code = ErrorCode::UNKNOWN_SERVER_ERROR.code();
                resp.error_message = Some(super::sb(&format!("reading the topic {t}: {e}")));
                return resp;
            }
        };
        let assignment = zkdata::parse_topic(&data).unwrap_or_default();
        seen.push((t.clone(), assignment.clone()));
        let moving = zkdata::parse_topic_reassignments(&data);
        let mut ot = OngoingTopicReassignment::default();
        ot.name = tn(&t);
        for (p, (adding, removing)) in moving {
            if (adding.is_empty() && removing.is_empty()) || filter.as_ref().is_some_and(|ps| !ps.contains(&p)) {
                continue;
            }
            let mut e = OngoingPartitionReassignment::default();
            e.partition_index = p;
            e.replicas = ids(assignment.get(&p).map(Vec::as_slice).unwrap_or(&[]));
            e.adding_replicas = typed(&adding);
            e.removing_replicas = typed(&removing);
            ot.partitions.push(e);
        }
        if !ot.partitions.is_empty() {
            resp.topics.push(ot);
        }
    }
    // A tool asks Metadata next to see the replicas of finished moves: let our cache catch up
    // with the znodes just read first (bounded).
    super::wait_meta(broker, std::time::Duration::from_secs(2), move |m| {
        seen.iter().all(|(t, a)| m.topics.get(t).map(|tm| a.iter().all(|(p, r)| tm.partitions.get(p).map(|pm| crate::ids::BrokerId::raw_all(&pm.replicas) == *r).unwrap_or(false))).unwrap_or(true))
    })
    .await;
    resp
}
