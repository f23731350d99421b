//! The controller: one broker wins the ephemeral `/controller`, bumps `/controller_epoch`,
//! and from then on every write it makes is `multi[check /controller_epoch at its version; op]`
//! (Kafka's fencing: a deposed controller's writes fail with BadVersion).
//!
//! A single task. While controller it reconciles on every relevant watch:
//! - new topics / partitions: creates `partitions`, `partitions/<p>` and `partitions/<p>/state`
//!   with the first live replica as leader and ISR = [leader] (no follower replication yet:
//!   issue 7; the ISR therefore never lists a replica that does not have the data);
//! - a leader's broker gone: the partition goes offline (leader -1, leader epoch + 1) unless
//!   another ISR member is alive; a returning ISR member is elected again;
//! - `/admin/delete_topics/<t>`: deletes the topic's znodes (state, partitions, topic, config)
//!   and then the deletion marker.
//! Brokers learn the results from the znodes (see `metadata`), not from LeaderAndIsr requests.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::broker::Broker;
use crate::log::partition_log::now_ms;
use crate::zk::jute::code;
use crate::zk::{Op, ZkClient, ZkError, ZkEvent};
use crate::zkdata::{self, PartitionState};

struct Epoch {
    epoch: i32,
    zk_version: i32,
}

enum Outcome {
    /// Lost the controllership (fenced, session gone): go back to electing.
    Resign,
}

pub async fn run(broker: Arc<Broker>) {
    let mut events = broker.zk.subscribe();
    loop {
        if broker.shutting_down() {
            return;
        }
        match elect(&broker).await {
            Ok(Some(ep)) => {
                tracing::info!("broker {} is the controller (epoch {})", broker.id, ep.epoch);
                let Outcome::Resign = serve(&broker, &ep, &mut events).await;
                tracing::info!("broker {} resigns as controller (epoch {})", broker.id, ep.epoch);
            }
            Ok(None) => {
                // Someone else is controller: wait for /controller to change or the session to renew.
                wait_for(&mut events, |e| match e {
                    ZkEvent::Watch { path, .. } => path == "/controller",
                    _ => true,
                }, Duration::from_secs(5))
                .await;
            }
            Err(e) => {
                tracing::warn!("controller election failed: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

async fn wait_for(events: &mut tokio::sync::broadcast::Receiver<ZkEvent>, pred: impl Fn(&ZkEvent) -> bool, max: Duration) {
    let _ = tokio::time::timeout(max, async {
        loop {
            match events.recv().await {
                Ok(e) if pred(&e) => return,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                Err(_) => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    return;
                }
            }
        }
    })
    .await;
}

/// Kafka 2.5's election: exists(/controller, watch); getData(/controller, watch); if none,
/// read (or create "0") /controller_epoch, then multi[create /controller; setData epoch+1].
async fn elect(broker: &Broker) -> Result<Option<Epoch>, ZkError> {
    let zk = &broker.zk;
    if zk.exists("/controller", true).await?.is_some() {
        if let Some((Some(d), _)) = zk.get_data("/controller", true).await? {
            if zkdata::parse_controller(&d) == Some(broker.id) {
                // Our own leftover from a previous session of this process: wait for it to go.
                return Ok(None);
            }
        }
        return Ok(None);
    }
    let (epoch, version) = match zk.get_data("/controller_epoch", false).await? {
        Some((Some(d), stat)) => (String::from_utf8_lossy(&d).trim().parse::<i32>().unwrap_or(0), stat.version),
        Some((None, stat)) => (0, stat.version),
        None => match zk.create("/controller_epoch", Some(b"0"), false).await {
            Ok(()) => (0, 0),
            Err(ZkError::Code(code::NODE_EXISTS)) => return Ok(None),
            Err(e) => return Err(e),
        },
    };
    let new_epoch = epoch + 1;
    let json = zkdata::controller_json(broker.id, now_ms());
    let res = zk
        .multi(&[
            Op::Create { path: "/controller".into(), data: Some(json.into_bytes()), ephemeral: true },
            Op::SetData { path: "/controller_epoch".into(), data: Some(new_epoch.to_string().into_bytes()), version },
        ])
        .await?;
    if ZkClient::multi_error(&res).is_some() {
        // Lost the race (NodeExists) or the epoch moved (BadVersion): someone else won.
        zk.exists("/controller", true).await?;
        return Ok(None);
    }
    Ok(Some(Epoch { epoch: new_epoch, zk_version: version + 1 }))
}

async fn serve(broker: &Broker, ep: &Epoch, events: &mut tokio::sync::broadcast::Receiver<ZkEvent>) -> Outcome {
    // Kafka's startup sequence (watches it registers), so the wire looks familiar.
    let zk = &broker.zk;
    let _ = zk.exists("/admin/preferred_replica_election", true).await;
    let _ = zk.exists("/admin/reassign_partitions", true).await;
    let _ = zk.get_children("/log_dir_event_notification", true).await;
    let _ = zk.get_children("/isr_change_notification", true).await;
    loop {
        if broker.shutting_down() {
            return Outcome::Resign;
        }
        match reconcile(broker, ep).await {
            Ok(true) => {}
            Ok(false) => return Outcome::Resign,
            Err(e) => {
                tracing::warn!("controller reconcile failed: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        // Still controller? (the ephemeral may be gone after a session expiry)
        let mut session_lost = false;
        wait_for(
            events,
            |e| match e {
                ZkEvent::Watch { path, .. } => {
                    path.starts_with("/brokers") || path.starts_with("/admin/delete_topics") || path == "/controller"
                }
                ZkEvent::NewSession => true,
                ZkEvent::Reconnected => true,
            },
            Duration::from_secs(2),
        )
        .await;
        while let Ok(e) = events.try_recv() {
            if matches!(e, ZkEvent::NewSession) {
                session_lost = true;
            }
        }
        // Debounce bursts (a topic creation fires several watches).
        tokio::time::sleep(Duration::from_millis(20)).await;
        match zk.get_data("/controller", true).await {
            Ok(Some((Some(d), _))) if zkdata::parse_controller(&d) == Some(broker.id) && !session_lost => {}
            Ok(_) => return Outcome::Resign,
            Err(_) => {}
        }
    }
}

/// One fenced write. Ok(false) means we were fenced (not controller any more).
async fn fenced(zk: &ZkClient, ep: &Epoch, op: Op) -> Result<bool, ZkError> {
    let res = zk.multi(&[Op::Check { path: "/controller_epoch".into(), version: ep.zk_version }, op]).await?;
    match res.first() {
        Some(crate::zk::OpResult::Error(c)) if *c == code::BAD_VERSION || *c == code::NO_NODE => {
            tracing::warn!("controller epoch {} fenced off (/controller_epoch moved)", ep.epoch);
            Ok(false)
        }
        _ => match ZkClient::multi_error(&res) {
            None | Some(code::NODE_EXISTS) | Some(code::NO_NODE) => Ok(true),
            Some(c) => Err(ZkError::Code(c)),
        },
    }
}

/// Brings partition states in line with live brokers and handles deletions.
/// Ok(false) = fenced.
async fn reconcile(broker: &Broker, ep: &Epoch) -> Result<bool, ZkError> {
    let zk = &broker.zk;
    let live: BTreeSet<i32> =
        zk.get_children("/brokers/ids", true).await?.unwrap_or_default().iter().filter_map(|s| s.parse().ok()).collect();
    let deletions = zk.get_children("/admin/delete_topics", true).await?.unwrap_or_default();
    for t in &deletions {
        if !delete_topic(zk, ep, t).await? {
            return Ok(false);
        }
    }
    for t in zk.get_children("/brokers/topics", true).await?.unwrap_or_default() {
        let Some((Some(data), _)) = zk.get_data(&zkdata::topic_path(&t), true).await? else { continue };
        let Some(assign) = zkdata::parse_topic(&data) else { continue };
        let mut parts_exists = zk.exists(&zkdata::partitions_path(&t), false).await?.is_some();
        for (p, replicas) in assign {
            let spath = zkdata::state_path(&t, p);
            match zk.get_data(&spath, false).await? {
                None => {
                    let Some(leader) = replicas.iter().copied().find(|r| live.contains(r)) else { continue };
                    if !parts_exists {
                        let op = Op::Create { path: zkdata::partitions_path(&t), data: None, ephemeral: false };
                        if !fenced(zk, ep, op).await? {
                            return Ok(false);
                        }
                        parts_exists = true;
                    }
                    if zk.exists(&zkdata::partition_path(&t, p), false).await?.is_none() {
                        let op = Op::Create { path: zkdata::partition_path(&t, p), data: None, ephemeral: false };
                        if !fenced(zk, ep, op).await? {
                            return Ok(false);
                        }
                    }
                    let st = PartitionState { controller_epoch: ep.epoch, leader, leader_epoch: 0, isr: vec![leader] };
                    let op = Op::Create { path: spath, data: Some(zkdata::state_json(&st).into_bytes()), ephemeral: false };
                    if !fenced(zk, ep, op).await? {
                        return Ok(false);
                    }
                }
                Some((data, stat)) => {
                    let Some(st) = data.as_deref().and_then(zkdata::parse_state) else { continue };
                    let new_leader = if st.leader >= 0 && live.contains(&st.leader) {
                        continue;
                    } else {
                        // Clean election only: a live ISR member (with one replica, the old leader).
                        st.isr.iter().copied().find(|r| live.contains(r)).unwrap_or(-1)
                    };
                    if new_leader == st.leader {
                        continue;
                    }
                    let ns = PartitionState {
                        controller_epoch: ep.epoch,
                        leader: new_leader,
                        leader_epoch: st.leader_epoch + 1,
                        isr: if new_leader >= 0 { vec![new_leader] } else { st.isr.clone() },
                    };
                    tracing::info!("{t}-{p}: leader {} -> {new_leader} (epoch {})", st.leader, ns.leader_epoch);
                    let op = Op::SetData { path: spath, data: Some(zkdata::state_json(&ns).into_bytes()), version: stat.version };
                    if !fenced(zk, ep, op).await? {
                        return Ok(false);
                    }
                }
            }
        }
    }
    Ok(true)
}

/// Kafka's deleteRecursive under fencing, then the config and the deletion marker.
async fn delete_topic(zk: &ZkClient, ep: &Epoch, t: &str) -> Result<bool, ZkError> {
    tracing::info!("deleting topic {t}");
    let mut stack = vec![zkdata::topic_path(t)];
    let mut order = Vec::new();
    while let Some(p) = stack.pop() {
        for c in zk.get_children(&p, false).await?.unwrap_or_default() {
            stack.push(format!("{p}/{c}"));
        }
        order.push(p);
    }
    for p in order.into_iter().rev() {
        if !fenced(zk, ep, Op::Delete { path: p, version: -1 }).await? {
            return Ok(false);
        }
    }
    if !fenced(zk, ep, Op::Delete { path: zkdata::topic_config_path(t), version: -1 }).await? {
        return Ok(false);
    }
    fenced(zk, ep, Op::Delete { path: zkdata::delete_topic_path(t), version: -1 }).await
}
