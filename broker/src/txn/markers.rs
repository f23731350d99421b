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

use super::core::MarkerJob;
use super::wire;
use crate::broker::Broker;
use crate::error_code::ErrorCode;
use crate::replica::client::{split_correlation, BrokerConn};

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

/// Per-partition codes of a decoded response for one producer.
pub fn results(decoded: &[(i64, String, i32, ErrorCode)], producer_id: i64) -> HashMap<(String, i32), ErrorCode> {
    decoded.iter().filter(|(pid, ..)| *pid == producer_id).map(|(_, t, p, e)| ((t.clone(), *p), *e)).collect()
}

/// One WriteTxnMarkers v0 round trip (hand-encoded: see `wire`).
async fn call(c: &mut BrokerConn, client_id: &str, job: &MarkerJob, parts: &[(String, i32)], timeout: Duration) -> Result<HashMap<(String, i32), ErrorCode>, String> {
    let corr = c.next_correlation();
    let frame = wire::encode_request(corr, client_id, job, parts);
    let resp = c.round_trip(frame, timeout).await.map_err(|e| e.to_string())?;
    let (got, body) = split_correlation(resp).ok_or("short response")?;
    if got != corr {
        return Err(format!("correlation id {got} where {corr} was expected"));
    }
    let decoded = wire::decode_response(&body).ok_or("malformed WriteTxnMarkers response")?;
    Ok(results(&decoded, job.producer_id))
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
    let client_id = format!("broker-{}-txn-markers", broker.id);
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
                match BrokerConn::connect(&addr, &client_id, timeout).await {
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
            let codes = match call(c, &client_id, &job, &parts, timeout).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::info!("WriteTxnMarkers to broker {leader} for {} failed: {e}; retrying", job.txn_id);
                    conns.remove(&leader);
                    continue;
                }
            };
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
    fn results_are_per_partition_of_one_producer() {
        let decoded = vec![(9, "a".to_string(), 2, ErrorCode::NOT_LEADER_OR_FOLLOWER), (8, "a".to_string(), 1, ErrorCode::NONE)];
        let got = results(&decoded, 9);
        assert_eq!(got.len(), 1);
        assert_eq!(got.get(&("a".to_string(), 2)), Some(&ErrorCode::NOT_LEADER_OR_FOLLOWER));
    }
}
