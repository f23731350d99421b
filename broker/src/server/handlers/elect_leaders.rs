//! ElectLeaders (v0-v2; `kafka-leader-election.sh`): handed to the controller task, which
//! elects the preferred replica (type 0) or, for leaderless partitions, any live replica
//! (type 1, unclean). A broker that is not the controller answers NOT_CONTROLLER.

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};

use super::{sb, tn};
use crate::broker::Broker;
use crate::controller::Command;
use crate::server::errors::ErrorCode;

pub async fn handle(broker: &Broker, req: ElectLeadersRequest, version: i16) -> ElectLeadersResponse {
    let mut resp = ElectLeadersResponse::default();
    let unclean = version >= 1 && req.election_type == 1;
    if version >= 1 && !matches!(req.election_type, 0 | 1) {
        resp.error_code = ErrorCode::INVALID_REQUEST.code();
        return resp;
    }
    let partitions = req.topic_partitions.as_ref().map(|tps| {
        tps.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.topic.0.as_str().to_string(), *p))).collect::<Vec<_>>()
    });
    let timeout = std::time::Duration::from_millis(req.timeout_ms.clamp(1000, 300_000) as u64);
    match broker.controller.ask(|reply| Command::Elect { unclean, partitions, reply }, timeout).await {
        Ok(results) => {
            let mut by_topic: std::collections::BTreeMap<String, Vec<PartitionResult>> = Default::default();
            for (t, p, code, msg) in results {
                let mut r = PartitionResult::default();
                r.partition_id = p;
                r.error_code = code.code();
                r.error_message = msg.as_deref().map(sb);
                by_topic.entry(t).or_default().push(r);
            }
            resp.replica_election_results = by_topic
                .into_iter()
                .map(|(t, rs)| {
                    let mut e = ReplicaElectionResult::default();
                    e.topic = tn(&t);
                    e.partition_result = rs;
                    e
                })
                .collect();
        }
        Err(code) => resp.error_code = code.code(),
    }
    if version == 0 && resp.error_code != ErrorCode::NONE {
        // v0 has no top-level error: put it on every partition asked.
        for t in req.topic_partitions.unwrap_or_default() {
            let mut e = ReplicaElectionResult::default();
            e.topic = t.topic.clone();
            e.partition_result = t
                .partitions
                .iter()
                .map(|p| {
                    let mut r = PartitionResult::default();
                    r.partition_id = *p;
                    r.error_code = resp.error_code;
                    r
                })
                .collect();
            resp.replica_election_results.push(e);
        }
    }
    resp
}
