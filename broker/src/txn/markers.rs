//! The marker sender (Kafka's TransactionMarkerChannelManager): for every transaction the
//! coordinator has durably prepared to commit or abort, WriteTxnMarkers v0 goes to the leader
//! of each partition in it — other brokers and this one alike, over the wire, at the address
//! the replica fetcher uses.
//!
//! One task per transaction (`send`) tracks its partitions: it waits until the Prepare*
//! record is replicated, groups what is left by leader (looked up afresh each round), hands
//! each leader its share and retries with backoff what comes back retriable (NOT_LEADER,
//! connection errors, ...); partitions whose topic is gone are dropped. When every partition
//! has answered, the coordinator stores CompleteCommit/CompleteAbort. A job stops as soon as
//! this broker is no longer its coordinator (or the transaction moved on).
//!
//! One queue per destination broker (`Queues`, Kafka's per-broker TxnMarkerQueue): its task
//! owns one connection and sends whatever shares are waiting in one request — the markers of
//! many transactions together, at most one per producer id, each request bounded by
//! `replica.socket.timeout.ms`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::core::MarkerJob;
use super::wire;
use crate::broker::Broker;
use crate::error_code::ErrorCode;
use crate::replica::client::{split_correlation, BrokerConn};

/// Most markers in one WriteTxnMarkers request.
const MAX_MARKERS_PER_REQUEST: usize = 500;

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

type Answer = Result<HashMap<(String, i32), ErrorCode>, String>;

/// A job's partitions on one leader, and where their answer goes.
struct Share {
    job: Arc<MarkerJob>,
    parts: Vec<(String, i32)>,
    reply: oneshot::Sender<Answer>,
}

/// The per-destination queues, each drained by its own task (`leader_sender`).
#[derive(Default)]
struct Queues {
    map: Mutex<HashMap<i32, mpsc::UnboundedSender<Share>>>,
}

impl Queues {
    /// Queues a share for `leader`, starting its sender on first use. A share that cannot be
    /// queued is dropped, which its job sees as a failed round (retried).
    fn submit(&self, broker: &Arc<Broker>, leader: i32, share: Share) {
        let Ok(mut map) = self.map.lock() else { return };
        let tx = map.entry(leader).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(leader_sender(broker.clone(), leader, rx));
            tx
        });
        if let Err(e) = tx.send(share) {
            // The sender task ended (it only does at shutdown): forget it; the job retries.
            map.remove(&leader);
            drop(e);
        }
    }
}

/// Sends the shares queued for one broker, as many as are waiting (one per producer id) in
/// each request, over one connection kept between requests.
async fn leader_sender(broker: Arc<Broker>, leader: i32, mut rx: mpsc::UnboundedReceiver<Share>) {
    let timeout = Duration::from_millis(broker.cfg.replica_socket_timeout_ms as u64);
    let client_id = format!("broker-{}-txn-markers", broker.id);
    let mut conn: Option<BrokerConn> = None;
    let mut held: Option<Share> = None;
    loop {
        let first = match held.take() {
            Some(s) => s,
            None => match rx.recv().await {
                Some(s) => s,
                None => return,
            },
        };
        if broker.shutting_down() {
            return;
        }
        let mut pids = HashSet::from([first.job.producer_id]);
        let mut batch = vec![first];
        while batch.len() < MAX_MARKERS_PER_REQUEST {
            match rx.try_recv() {
                Ok(s) if pids.insert(s.job.producer_id) => batch.push(s),
                Ok(s) => {
                    held = Some(s);
                    break;
                }
                Err(_) => break,
            }
        }
        let answer = call(&broker, leader, &mut conn, &client_id, &batch, timeout).await;
        match answer {
            Ok(decoded) => {
                for s in batch {
                    let _ = s.reply.send(Ok(results(&decoded, s.job.producer_id)));
                }
            }
            Err(e) => {
                conn = None;
                for s in batch {
                    let _ = s.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// One WriteTxnMarkers v0 round trip (hand-encoded: see `wire`) carrying every share of
/// `batch`; connects first when needed, at the address the metadata view has for `leader`.
async fn call(broker: &Broker, leader: i32, conn: &mut Option<BrokerConn>, client_id: &str, batch: &[Share], timeout: Duration) -> Result<Vec<(i64, String, i32, ErrorCode)>, String> {
    if conn.is_none() {
        let meta = broker.meta.get();
        let b = meta.brokers.get(&leader).ok_or_else(|| format!("broker {leader} is not alive"))?;
        let addr = format!("{}:{}", b.host, b.port);
        let c = BrokerConn::connect(&addr, client_id, timeout).await.map_err(|e| format!("cannot connect to broker {leader} at {addr}: {e}"))?;
        *conn = Some(c);
    }
    let c = conn.as_mut().ok_or("no connection")?;
    let corr = c.next_correlation();
    let markers: Vec<(&MarkerJob, &[(String, i32)])> = batch.iter().map(|s| (s.job.as_ref(), s.parts.as_slice())).collect();
    let frame = wire::encode_request(corr, client_id, &markers);
    let resp = c.round_trip(frame, timeout).await.map_err(|e| e.to_string())?;
    let (got, body) = split_correlation(resp).ok_or("short response")?;
    if got != corr {
        return Err(format!("correlation id {got} where {corr} was expected"));
    }
    wire::decode_response(&body).ok_or_else(|| "malformed WriteTxnMarkers response".to_string())
}

/// Receives marker jobs from the coordinator and starts a sender for each.
pub async fn run(broker: Arc<Broker>) {
    let Some(mut rx) = broker.txn.take_jobs() else { return };
    let queues = Arc::new(Queues::default());
    while let Some((job, durable_at)) = rx.recv().await {
        if broker.shutting_down() {
            return;
        }
        tokio::spawn(send(broker.clone(), queues.clone(), job, durable_at));
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

async fn send(broker: Arc<Broker>, queues: Arc<Queues>, job: MarkerJob, durable_at: i64) {
    let timeout = Duration::from_millis(broker.cfg.replica_socket_timeout_ms as u64);
    if !prepared(&broker, &job, durable_at, timeout).await {
        return;
    }
    let job = Arc::new(job);
    let mut remaining: BTreeSet<(String, i32)> = job.partitions.clone();
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
        // Every leader's share is queued at once; the answers are awaited in turn.
        let mut waiting = Vec::new();
        for (leader, parts) in by_leader {
            let (reply, answer) = oneshot::channel();
            queues.submit(&broker, leader, Share { job: job.clone(), parts: parts.clone(), reply });
            waiting.push((leader, parts, answer));
        }
        let mut progress = false;
        for (leader, parts, answer) in waiting {
            let codes = match answer.await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    tracing::info!("WriteTxnMarkers to broker {leader} for {} failed: {e}; retrying", job.txn_id);
                    continue;
                }
                Err(_) => continue,
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
