//! The marker sender (Kafka's TransactionMarkerChannelManager): for every transaction the
//! coordinator has durably prepared to commit or abort, WriteTxnMarkers v0 goes to the leader
//! of each partition in it — other brokers and this one alike, over the wire, at the address
//! the replica fetcher uses. One task per transaction; within it one connection per leader,
//! one request at a time, each bounded by `replica.socket.timeout.ms`. Partitions are
//! retried with backoff (NOT_LEADER, connection errors, ...) with leaders looked up afresh
//! each round, dropped when their topic is gone; when every partition has answered, the
//! coordinator stores CompleteCommit/CompleteAbort. A job stops as soon as this broker is no
//! longer its coordinator (or the transaction moved on).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use kafka_protocol::messages::{ProducerId, WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use super::core::MarkerJob;
use crate::broker::Broker;
use crate::error_code::ErrorCode;
use crate::replica::client::BrokerConn;
use crate::server::handlers::tn;

pub const WRITE_TXN_MARKERS_VERSION: i16 = 0;

/// What to do with a partition after the leader's answer (Kafka's
/// TransactionMarkerRequestCompletionHandler).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The marker is written (or can never be: the partition is dropped).
    Done,
    Retry,
    /// The producer or coordinator epoch moved on: this job is obsolete.
    Abandon,
}

pub fn classify(code: ErrorCode) -> Outcome {
    match code {
        ErrorCode::NONE => Outcome::Done,
        ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT | ErrorCode::UNSUPPORTED_VERSION => Outcome::Done,
        ErrorCode::INVALID_PRODUCER_EPOCH | ErrorCode::TRANSACTION_COORDINATOR_FENCED => Outcome::Abandon,
        _ => Outcome::Retry,
    }
}

/// The WriteTxnMarkers request for some partitions of a job.
pub fn request(job: &MarkerJob, parts: &[(String, i32)]) -> WriteTxnMarkersRequest {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in parts {
        topics.entry(t.as_str()).or_default().push(*p);
    }
    let mut m = WritableTxnMarker::default();
    m.producer_id = ProducerId(job.producer_id);
    m.producer_epoch = job.producer_epoch;
    m.transaction_result = job.commit;
    m.coordinator_epoch = job.coordinator_epoch;
    m.topics = topics
        .into_iter()
        .map(|(t, ps)| {
            let mut wt = WritableTxnMarkerTopic::default();
            wt.name = tn(t);
            wt.partition_indexes = ps;
            wt
        })
        .collect();
    let mut req = WriteTxnMarkersRequest::default();
    req.markers = vec![m];
    req
}

/// Per-partition codes of a response (partitions it does not mention are absent).
pub fn results(resp: &WriteTxnMarkersResponse, producer_id: i64) -> HashMap<(String, i32), ErrorCode> {
    let mut out = HashMap::new();
    for m in resp.markers.iter().filter(|m| m.producer_id.0 == producer_id) {
        for t in &m.topics {
            for p in &t.partitions {
                out.insert((t.name.0.as_str().to_string(), p.partition_index), ErrorCode(p.error_code));
            }
        }
    }
    out
}

/// Receives marker jobs from the coordinator and starts a sender for each.
pub async fn run(broker: Arc<Broker>) {
    let Some(mut rx) = broker.txn.take_jobs() else { return };
    while let Some((job, durable_at)) = rx.recv().await {
        if broker.shutting_down() {
            return;
        }
        tokio::spawn(send(broker.clone(), job, durable_at));
    }
}

/// Waits until the Prepare* record is replicated; false when the job must stop.
async fn prepared(broker: &Broker, job: &MarkerJob, durable_at: i64, timeout: Duration) -> bool {
    loop {
        if broker.shutting_down() || !broker.txn.job_current(job) {
            return false;
        }
        let Some(part) = broker.logs.get(super::TXN_TOPIC, job.txn_partition) else { return false };
        match crate::replica::wait_replicated(&broker.logs, &part, crate::ids::Offset(durable_at), timeout).await {
            Ok(()) => return true,
            Err(ErrorCode::NOT_LEADER_OR_FOLLOWER) => return false,
            Err(e) => tracing::info!("markers of {}: waiting for the Prepare record to replicate: {e:?}", job.txn_id),
        }
    }
}

async fn send(broker: Arc<Broker>, job: MarkerJob, durable_at: i64) {
    let timeout = Duration::from_millis(broker.cfg.replica_socket_timeout_ms as u64);
    if !prepared(&broker, &job, durable_at, timeout).await {
        return;
    }
    let mut remaining: BTreeSet<(String, i32)> = job.partitions.clone();
    let mut conns: HashMap<i32, BrokerConn> = HashMap::new();
    let mut failures = 0u32;
    let what = if job.commit { "COMMIT" } else { "ABORT" };
    loop {
        if broker.shutting_down() || !broker.txn.job_current(&job) {
            tracing::debug!("stopping {what} markers of {}: no longer current", job.txn_id);
            return;
        }
        let backoff = Duration::from_millis(100 * (1u64 << failures.min(4)));
        if remaining.is_empty() {
            match broker.txn.markers_written(&broker.logs, &job) {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!("cannot complete the transaction of {}: {e:?}; retrying", job.txn_id);
                    failures += 1;
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            }
        }
        let meta = broker.meta.get();
        let mut by_leader: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
        let mut dropped = Vec::new();
        for (t, p) in &remaining {
            match meta.topics.get(t) {
                Some(tm) if !tm.deleting => match tm.partitions.get(p) {
                    Some(pm) if meta.brokers.contains_key(&pm.leader().get()) => {
                        by_leader.entry(pm.leader().get()).or_default().push((t.clone(), *p));
                    }
                    Some(_) => {}
                    None => dropped.push((t.clone(), *p)),
                },
                _ => dropped.push((t.clone(), *p)),
            }
        }
        for tp in dropped {
            tracing::info!("{what} marker of {} for {}-{}: the topic is gone; dropping the partition", job.txn_id, tp.0, tp.1);
            remaining.remove(&tp);
        }
        let mut progress = false;
        for (leader, parts) in by_leader {
            let Some(b) = meta.brokers.get(&leader) else { continue };
            if !conns.contains_key(&leader) {
                let addr = format!("{}:{}", b.host, b.port);
                match BrokerConn::connect(&addr, &format!("broker-{}-txn-markers", broker.id), timeout).await {
                    Ok(c) => {
                        conns.insert(leader, c);
                    }
                    Err(e) => {
                        tracing::debug!("txn markers: cannot connect to broker {leader} at {addr}: {e}");
                        continue;
                    }
                }
            }
            let Some(c) = conns.get_mut(&leader) else { continue };
            let req = request(&job, &parts);
            let resp: WriteTxnMarkersResponse = match c.call(&req, WRITE_TXN_MARKERS_VERSION, timeout).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::info!("WriteTxnMarkers to broker {leader} for {} failed: {e}; retrying", job.txn_id);
                    conns.remove(&leader);
                    continue;
                }
            };
            let codes = results(&resp, job.producer_id);
            for tp in parts {
                let code = codes.get(&tp).copied().unwrap_or(ErrorCode::UNKNOWN_SERVER_ERROR);
                match classify(code) {
                    Outcome::Done => {
                        remaining.remove(&tp);
                        progress = true;
                    }
                    Outcome::Retry => {
                        tracing::debug!("{what} marker of {} on {}-{}: {code:?}; retrying", job.txn_id, tp.0, tp.1);
                    }
                    Outcome::Abandon => {
                        tracing::info!("{what} marker of {} on {}-{}: {code:?}; the transaction moved on, stopping", job.txn_id, tp.0, tp.1);
                        return;
                    }
                }
            }
        }
        if remaining.is_empty() {
            failures = 0;
            continue;
        }
        failures = if progress { 0 } else { failures + 1 };
        tokio::time::sleep(backoff).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::write_txn_markers_response::{
        WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
    };

    #[test]
    fn codes_are_classified_as_kafka_does() {
        assert_eq!(classify(ErrorCode::NONE), Outcome::Done);
        assert_eq!(classify(ErrorCode::NOT_LEADER_OR_FOLLOWER), Outcome::Retry);
        assert_eq!(classify(ErrorCode::NOT_ENOUGH_REPLICAS), Outcome::Retry);
        assert_eq!(classify(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION), Outcome::Retry);
        assert_eq!(classify(ErrorCode::INVALID_PRODUCER_EPOCH), Outcome::Abandon);
        assert_eq!(classify(ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT), Outcome::Done);
    }

    #[test]
    fn request_groups_partitions_by_topic_and_results_are_read_back() {
        let job = MarkerJob {
            txn_id: "t".into(),
            txn_partition: 3,
            coordinator_epoch: 4,
            producer_id: 9,
            producer_epoch: 2,
            commit: true,
            partitions: BTreeSet::new(),
        };
        let req = request(&job, &[("a".into(), 0), ("a".into(), 2), ("b".into(), 1)]);
        assert_eq!(req.markers.len(), 1);
        let m = &req.markers[0];
        assert_eq!((m.producer_id.0, m.producer_epoch, m.transaction_result, m.coordinator_epoch), (9, 2, true, 4));
        assert_eq!(m.topics.len(), 2);
        assert_eq!(m.topics[0].partition_indexes, vec![0, 2]);
        let mut p = WritableTxnMarkerPartitionResult::default();
        p.partition_index = 2;
        p.error_code = 6;
        let mut t = WritableTxnMarkerTopicResult::default();
        t.name = tn("a");
        t.partitions = vec![p];
        let mut r = WritableTxnMarkerResult::default();
        r.producer_id = ProducerId(9);
        r.topics = vec![t];
        let mut resp = WriteTxnMarkersResponse::default();
        resp.markers = vec![r];
        let got = results(&resp, 9);
        assert_eq!(got.get(&("a".to_string(), 2)), Some(&ErrorCode::NOT_LEADER_OR_FOLLOWER));
        assert!(results(&resp, 8).is_empty());
    }
}
