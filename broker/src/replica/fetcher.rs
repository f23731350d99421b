//! The follower side: one fetcher task per leader broker we follow partitions of.
//!
//! Each round, partitions that just became followers first ask the leader with
//! OffsetsForLeaderEpoch (v3, replica id = our broker id) where their newest leader epoch
//! ends on the leader and cut their log there (Kafka's KIP-101/KIP-279 truncation), then
//! every partition is fetched from its log end with Fetch (v11, replica id = our broker id,
//! current leader epoch for fencing). Fetched batches are appended as they are; the high
//! watermark is the leader's, bounded by our log end. A leader whose log now starts past
//! our end (retention, DeleteRecords) makes us start over at its log start. A partition
//! that cannot store what it fetched (a full disk) waits a second before fetching again;
//! replicas with damaged data or in an offline log dir do not fetch (see `heal`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
use kafka_protocol::messages::{BrokerId as WireBrokerId, FetchRequest, FetchResponse, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::client::{BrokerConn, ClientError};
use super::state::Role;
use super::Ctx;
use crate::error_code::ErrorCode;
use crate::ids::{BrokerId, LeaderEpoch};
use crate::log::{LogError, Partition};

const FETCH_VERSION: i16 = 11;
/// How long a partition that could not store what it fetched waits (Kafka's default
/// replica.fetch.backoff.ms).
const STORAGE_BACKOFF_MS: i64 = 1000;
const EPOCH_VERSION: i16 = 3;

type Followed = Vec<(String, i32, Arc<Partition>)>;

/// Starts and reaps the per-leader fetchers as roles change.
pub async fn run(broker: Arc<dyn Ctx>) {
    let mut tasks: HashMap<BrokerId, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        if broker.fetching_stopped() {
            for (_, t) in tasks.drain() {
                t.abort();
            }
            return;
        }
        let changed = broker.meta().changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let leaders: BTreeSet<BrokerId> = broker
            .logs()
            .all()
            .iter()
            .filter_map(|(_, p)| match p.repl().role {
                Role::Follower { leader } => Some(leader),
                _ => None,
            })
            .collect();
        tasks.retain(|_, t| !t.is_finished());
        for l in leaders {
            tasks.entry(l).or_insert_with(|| tokio::spawn(follow(broker.clone(), l)));
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), changed).await;
    }
}

fn followed(broker: &dyn Ctx, leader: BrokerId) -> Followed {
    let mut v: Followed = broker
        .logs()
        .all()
        .into_iter()
        // A replica in an offline dir, or with damaged data, does not fetch (see `heal`).
        .filter(|(_, p)| p.repl().role == Role::Follower { leader } && !p.offline() && p.lock().first_damage().is_none())
        .map(|((t, i), p)| (t, i, p))
        .collect();
    v.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    v
}

async fn follow(broker: Arc<dyn Ctx>, leader: BrokerId) {
    let timeout = Duration::from_millis(broker.cfg().replica_socket_timeout_ms as u64);
    let mut conn: Option<BrokerConn> = None;
    let mut failures = 0u32;
    loop {
        if broker.fetching_stopped() {
            return;
        }
        let parts = followed(&*broker, leader);
        if parts.is_empty() {
            return;
        }
        let backoff = Duration::from_millis((100 * (1 << failures.min(3))) as u64);
        if conn.is_none() {
            let meta = broker.meta().get();
            let Some(b) = meta.brokers.get(&leader.get()) else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            let addr = format!("{}:{}", b.host, b.port);
            match BrokerConn::connect(&addr, &format!("broker-{}-fetcher-0", broker.id()), timeout).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::debug!("fetcher for leader {leader}: cannot connect to {addr}: {e}");
                    failures += 1;
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let need: Followed = parts.iter().filter(|p| p.2.repl().needs_truncation).cloned().collect();
        if !need.is_empty() {
            if let Err(e) = truncate(&*broker, c, &need, timeout).await {
                tracing::info!("fetcher for leader {leader}: OffsetsForLeaderEpoch failed: {e}");
                conn = None;
                failures += 1;
                tokio::time::sleep(backoff).await;
                continue;
            }
        }
        let now = crate::log::partition_log::now_ms();
        let ready: Followed = parts
            .into_iter()
            .filter(|p| {
                let repl = p.2.repl();
                !repl.needs_truncation && repl.fetch_backoff_until <= now
            })
            .collect();
        if ready.is_empty() {
            failures += 1;
            tokio::time::sleep(backoff).await;
            continue;
        }
        match fetch(&*broker, c, &ready, timeout).await {
            Ok(true) => failures = 0,
            Ok(false) => {
                failures += 1;
                tokio::time::sleep(backoff).await;
            }
            Err(e) => {
                tracing::info!("fetcher for leader {leader}: fetch failed: {e}");
                conn = None;
                failures += 1;
                tokio::time::sleep(backoff).await;
            }
        }
    }
}

/// Where our log diverges from the leader's, per partition; cuts it there.
async fn truncate(broker: &dyn Ctx, c: &mut BrokerConn, parts: &Followed, timeout: Duration) -> Result<(), ClientError> {
    let mut req = OffsetForLeaderEpochRequest::default();
    req.replica_id = WireBrokerId(broker.id().get());
    let mut asked: BTreeMap<(String, i32), (Arc<Partition>, LeaderEpoch, i32)> = BTreeMap::new();
    let mut topics: BTreeMap<String, Vec<OffsetForLeaderPartition>> = BTreeMap::new();
    for (t, p, part) in parts {
        let current = part.repl().leader_epoch;
        let (latest, leo, hw) = {
            let log = part.lock();
            (log.latest_epoch(), log.log_end_offset, log.high_watermark())
        };
        let Some(latest) = latest else {
            // No epochs recorded: nothing to compare; Kafka's fallback is the high watermark.
            if leo > hw {
                let mut log = part.lock();
                tokio::task::block_in_place(|| log.truncate_to(hw)).map_err(|e| ClientError::Protocol(e.to_string()))?;
            }
            part.repl().needs_truncation = false;
            continue;
        };
        let mut e = OffsetForLeaderPartition::default();
        e.partition = *p;
        e.current_leader_epoch = current.get();
        e.leader_epoch = latest;
        topics.entry(t.clone()).or_default().push(e);
        asked.insert((t.clone(), *p), (part.clone(), current, latest));
    }
    if topics.is_empty() {
        return Ok(());
    }
    req.topics = topics
        .into_iter()
        .map(|(t, ps)| {
            let mut ot = OffsetForLeaderTopic::default();
            ot.topic = tn(&t);
            ot.partitions = ps;
            ot
        })
        .collect();
    let resp: OffsetForLeaderEpochResponse = c.call(&req, EPOCH_VERSION, timeout).await?;
    for tr in resp.topics {
        let topic = tr.topic.0.as_str().to_string();
        for pr in tr.partitions {
            let Some((part, asked_epoch, my_latest)) = asked.get(&(topic.clone(), pr.partition)) else { continue };
            if pr.error_code != ErrorCode::NONE {
                tracing::debug!("{topic}-{}: OffsetsForLeaderEpoch error {}", pr.partition, pr.error_code);
                continue;
            }
            let mut repl = part.repl();
            if repl.leader_epoch != *asked_epoch || !repl.needs_truncation {
                continue;
            }
            let mut log = part.lock();
            let target = if pr.end_offset < 0 {
                log.high_watermark()
            } else if pr.leader_epoch == *my_latest || pr.leader_epoch < 0 {
                pr.end_offset.min(log.log_end_offset)
            } else {
                // The leader's newest epoch at or below ours is older: our own end of it.
                let (_, mine) = log.end_offset_for_epoch(pr.leader_epoch);
                let mine = if mine < 0 { log.log_end_offset } else { mine };
                pr.end_offset.min(mine)
            };
            if target < log.log_end_offset {
                tracing::info!(
                    "{topic}-{}: leader's epoch {} ends at {}; truncating our log from {} to {target}",
                    pr.partition,
                    pr.leader_epoch,
                    pr.end_offset,
                    log.log_end_offset
                );
                if let Err(e) = tokio::task::block_in_place(|| log.truncate_to(target)) {
                    tracing::error!("{topic}-{}: truncation failed: {e}", pr.partition);
                    continue;
                }
            }
            repl.needs_truncation = false;
        }
    }
    Ok(())
}

/// One fetch round. Ok(false) when no partition made progress (back off).
async fn fetch(broker: &dyn Ctx, c: &mut BrokerConn, parts: &Followed, timeout: Duration) -> Result<bool, ClientError> {
    let mut req = FetchRequest::default();
    req.replica_id = WireBrokerId(broker.id().get());
    req.max_wait_ms = broker.cfg().replica_fetch_wait_max_ms;
    req.min_bytes = 1;
    req.max_bytes = 10 * 1024 * 1024;
    req.isolation_level = 0;
    req.session_id = 0;
    req.session_epoch = -1;
    let mut sent: BTreeMap<(String, i32), (Arc<Partition>, LeaderEpoch)> = BTreeMap::new();
    let mut topics: BTreeMap<String, Vec<FetchPartition>> = BTreeMap::new();
    for (t, p, part) in parts {
        let epoch = part.repl().leader_epoch;
        let (leo, start) = {
            let log = part.lock();
            (log.log_end_offset, log.log_start_offset)
        };
        let mut fp = FetchPartition::default();
        fp.partition = *p;
        fp.current_leader_epoch = epoch.get();
        fp.fetch_offset = leo;
        fp.log_start_offset = start;
        fp.last_fetched_epoch = -1;
        fp.partition_max_bytes = broker.cfg().replica_fetch_max_bytes;
        topics.entry(t.clone()).or_default().push(fp);
        sent.insert((t.clone(), *p), (part.clone(), epoch));
    }
    req.topics = topics
        .into_iter()
        .map(|(t, ps)| {
            let mut ft = FetchTopic::default();
            ft.topic = tn(&t);
            ft.partitions = ps;
            ft
        })
        .collect();
    let wait = timeout + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let resp: FetchResponse = c.call(&req, FETCH_VERSION, wait).await?;
    let mut progress = false;
    for tr in resp.responses {
        let topic = tr.topic.0.as_str().to_string();
        for pd in tr.partitions {
            let Some((part, epoch)) = sent.get(&(topic.clone(), pd.partition_index)) else { continue };
            let repl = part.repl();
            if repl.leader_epoch != *epoch || !matches!(repl.role, Role::Follower { .. }) {
                continue;
            }
            drop(repl);
            match ErrorCode(pd.error_code) {
                ErrorCode::NONE => {
                    progress = true;
                    let mut log = part.lock();
                    if let Some(records) = pd.records.as_ref().filter(|r| !r.is_empty()) {
                        match tokio::task::block_in_place(|| log.append_replica(records)) {
                            Ok(_) => broker.replicated_in(records.len() as u64),
                            Err(e @ (LogError::Io(_) | LogError::Offline(_))) => {
                                // A storage problem here (a full disk), not a divergence from
                                // the leader: this partition waits a second before it fetches
                                // again (Kafka's replica.fetch.backoff.ms), so that the leader,
                                // which has data for it, does not make the fetcher spin.
                                tracing::warn!("{topic}-{}: cannot append the leader's data: {e}", pd.partition_index);
                                drop(log);
                                part.repl().fetch_backoff_until = crate::log::partition_log::now_ms() + STORAGE_BACKOFF_MS;
                                continue;
                            }
                            Err(e) => {
                                tracing::warn!("{topic}-{}: cannot append the leader's data: {e}; re-checking divergence", pd.partition_index);
                                drop(log);
                                part.repl().needs_truncation = true;
                                continue;
                            }
                        }
                    }
                    let hw = pd.high_watermark.min(log.log_end_offset);
                    log.set_high_watermark(hw);
                    if pd.log_start_offset > log.log_start_offset {
                        if let Err(e) = tokio::task::block_in_place(|| log.advance_log_start(pd.log_start_offset)) {
                            tracing::warn!("{topic}-{}: cannot follow the leader's log start: {e}", pd.partition_index);
                        }
                    }
                }
                ErrorCode::OFFSET_OUT_OF_RANGE => {
                    let mut log = part.lock();
                    let res = if pd.log_start_offset >= 0 && log.log_end_offset < pd.log_start_offset {
                        tracing::info!(
                            "{topic}-{}: the leader's log starts at {} past our end {}; starting over there",
                            pd.partition_index,
                            pd.log_start_offset,
                            log.log_end_offset
                        );
                        tokio::task::block_in_place(|| log.truncate_fully_and_start_at(pd.log_start_offset))
                    } else if pd.high_watermark >= 0 && log.log_end_offset > pd.high_watermark {
                        tracing::info!(
                            "{topic}-{}: our end {} is past the leader's; truncating to its high watermark {}",
                            pd.partition_index,
                            log.log_end_offset,
                            pd.high_watermark
                        );
                        tokio::task::block_in_place(|| log.truncate_to(pd.high_watermark))
                    } else {
                        Ok(())
                    };
                    if let Err(e) = res {
                        tracing::error!("{topic}-{}: {e}", pd.partition_index);
                    }
                }
                code => {
                    tracing::debug!("{topic}-{}: fetch from leader answered error {code}", pd.partition_index);
                }
            }
        }
    }
    Ok(progress)
}

fn tn(s: &str) -> kafka_protocol::messages::TopicName {
    kafka_protocol::messages::TopicName(kafka_protocol::protocol::StrBytes::from_string(s.to_string()))
}
