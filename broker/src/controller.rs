//! The controller: one broker wins the ephemeral `/controller`, bumps `/controller_epoch`,
//! and from then on every write it makes is `multi[check /controller_epoch at its version; op]`
//! (Kafka's fencing: a deposed controller's writes fail with BadVersion).
//!
//! A single task. While controller it reconciles on every relevant watch and on requests
//! from the broker's handlers (`Command`):
//! - new topics / partitions: `partitions`, `partitions/<p>` and `partitions/<p>/state` with
//!   the first live replica as leader and every live replica in the ISR (Kafka 2.5);
//! - broker failure: partitions it led get a new leader from the live ISR (first in replica
//!   order), leader epoch + 1; with no live ISR member the partition goes offline (leader -1,
//!   ISR kept) unless `unclean.leader.election.enable`; dead followers leave the ISR (epoch
//!   + 1, as Kafka's removeReplicasFromIsr); an offline partition's returning ISR member
//!   is elected again;
//! - controlled shutdown (`Command::ControlledShutdown`): leadership moves off the broker
//!   and it leaves the ISRs, before it goes;
//! - preferred leader election (`auto.leader.rebalance.enable` on
//!   `leader.imbalance.check.interval.seconds`, ElectLeaders, `/admin/preferred_replica_election`);
//! - reassignment (AlterPartitionReassignments, `/admin/reassign_partitions`): the topic
//!   znode carries target + removing replicas with `adding_replicas` / `removing_replicas`;
//!   once every target replica is in the ISR the assignment becomes the target, the leader
//!   moves if it must, the removed replicas leave the ISR and delete their logs;
//! - `/admin/delete_topics/<t>`: deletes the topic's znodes and then the deletion marker;
//! - `/isr_change_notification/*`: consumed (deleted) after the leaders' ISR changes.
//! Brokers learn the results from the znodes (see `metadata`) rather than from
//! LeaderAndIsr / UpdateMetadata requests, which the kafka-protocol codec no longer carries.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::oneshot;

use crate::broker::Broker;
use crate::log::partition_log::now_ms;
use crate::server::errors;
use crate::zk::jute::code;
use crate::zk::{Op, ZkClient, ZkError, ZkEvent};
use crate::zkdata::{self, PartitionState};

/// A per-partition answer: topic, partition, error code, message.
pub type PartitionResult = (String, i32, i16, Option<String>);

/// Requests to the controller task. A broker that is not the controller answers
/// NOT_CONTROLLER.
pub enum Command {
    /// Move leadership off `broker` and out of the ISRs; answers the partitions it still
    /// leads (replication factor > 1 only, as Kafka 2.5).
    ControlledShutdown { broker: i32, reply: oneshot::Sender<Result<Vec<(String, i32)>, i16>> },
    /// ElectLeaders: `unclean` = election type 1; None = every partition.
    Elect { unclean: bool, partitions: Option<Vec<(String, i32)>>, reply: oneshot::Sender<Result<Vec<PartitionResult>, i16>> },
    /// AlterPartitionReassignments: target replicas, or None to cancel.
    Reassign { changes: Vec<(String, i32, Option<Vec<i32>>)>, reply: oneshot::Sender<Result<Vec<PartitionResult>, i16>> },
}

/// Hands a request to this broker's controller task and waits for its answer: NOT_CONTROLLER
/// when the task is gone (or this broker is not the controller), REQUEST_TIMED_OUT when no
/// answer comes within `timeout`.
pub async fn ask<T>(
    broker: &Broker,
    command: impl FnOnce(oneshot::Sender<Result<T, i16>>) -> Command,
    timeout: Duration,
) -> Result<T, i16> {
    let (tx, rx) = oneshot::channel();
    if broker.controller_tx.send(command(tx)).is_err() {
        return Err(errors::NOT_CONTROLLER);
    }
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) => Err(errors::NOT_CONTROLLER),
        Err(_) => Err(errors::REQUEST_TIMED_OUT),
    }
}

impl Command {
    fn refuse(self, code: i16) {
        match self {
            Command::ControlledShutdown { reply, .. } => {
                let _ = reply.send(Err(code));
            }
            Command::Elect { reply, .. } | Command::Reassign { reply, .. } => {
                let _ = reply.send(Err(code));
            }
        }
    }
}

struct Epoch {
    epoch: i32,
    zk_version: i32,
}

/// Controller state kept between reconciliations.
#[derive(Default)]
struct Ctx {
    /// Brokers in controlled shutdown: never elected, until their znode goes.
    shutting: BTreeSet<i32>,
    last_rebalance: Option<std::time::Instant>,
}

pub async fn run(broker: Arc<Broker>, mut cmds: UnboundedReceiver<Command>) {
    let mut events = broker.zk.subscribe();
    loop {
        if broker.shutting_down() {
            return;
        }
        match elect(&broker).await {
            Ok(Some(ep)) => {
                tracing::info!("broker {} is the controller (epoch {})", broker.id, ep.epoch);
                serve(&broker, &ep, &mut events, &mut cmds).await;
                tracing::info!("broker {} resigns as controller (epoch {})", broker.id, ep.epoch);
            }
            Ok(None) => {
                // Someone else is controller: wait for /controller to change; refuse commands.
                let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
                loop {
                    tokio::select! {
                        e = events.recv() => match e {
                            Ok(ZkEvent::Watch { path, .. }) if path == "/controller" => break,
                            Ok(ZkEvent::Watch { .. }) => {}
                            Ok(_) | Err(_) => break,
                        },
                        c = cmds.recv() => match c {
                            Some(c) => c.refuse(errors::NOT_CONTROLLER),
                            None => return,
                        },
                        _ = tokio::time::sleep_until(deadline) => break,
                    }
                }
            }
            Err(e) => {
                tracing::warn!("controller election failed: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Kafka 2.5's election: exists(/controller, watch); getData(/controller, watch); if none,
/// read (or create "0") /controller_epoch, then multi[create /controller; setData epoch+1].
async fn elect(broker: &Broker) -> Result<Option<Epoch>, ZkError> {
    let zk = &broker.zk;
    if zk.exists("/controller", true).await?.is_some() {
        let _ = zk.get_data("/controller", true).await?;
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

async fn serve(
    broker: &Broker,
    ep: &Epoch,
    events: &mut tokio::sync::broadcast::Receiver<ZkEvent>,
    cmds: &mut UnboundedReceiver<Command>,
) {
    // Kafka's startup sequence (watches it registers), so the wire looks familiar.
    let zk = &broker.zk;
    let _ = zk.exists("/admin/preferred_replica_election", true).await;
    let _ = zk.exists("/admin/reassign_partitions", true).await;
    let _ = zk.get_children("/log_dir_event_notification", true).await;
    let _ = zk.get_children("/isr_change_notification", true).await;
    let mut ctx = Ctx { last_rebalance: Some(std::time::Instant::now()), ..Default::default() };
    let mut pending: Vec<Command> = Vec::new();
    loop {
        if broker.shutting_down() {
            for c in pending.drain(..) {
                c.refuse(errors::NOT_CONTROLLER);
            }
            return;
        }
        match reconcile(broker, ep, &mut ctx).await {
            Ok(true) => {}
            Ok(false) => {
                for c in pending.drain(..) {
                    c.refuse(errors::NOT_CONTROLLER);
                }
                return;
            }
            Err(e) => {
                tracing::warn!("controller reconcile failed: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        for c in pending.drain(..) {
            match command(broker, ep, &mut ctx, c).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => tracing::warn!("controller command failed: {e}"),
            }
        }
        if broker.cfg.auto_leader_rebalance_enable
            && ctx.last_rebalance.map(|t| t.elapsed() >= Duration::from_millis(broker.cfg.leader_imbalance_check_interval_ms)).unwrap_or(true)
        {
            ctx.last_rebalance = Some(std::time::Instant::now());
            match auto_rebalance(broker, ep, &ctx).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => tracing::warn!("preferred leader election failed: {e}"),
            }
        }
        let mut session_lost = false;
        let rebalance_in = Duration::from_millis(broker.cfg.leader_imbalance_check_interval_ms).min(Duration::from_secs(2));
        tokio::select! {
            e = events.recv() => match e {
                Ok(ZkEvent::NewSession) => session_lost = true,
                Ok(_) => {}
                Err(_) => {}
            },
            c = cmds.recv() => match c {
                Some(c) => pending.push(c),
                None => return,
            },
            _ = tokio::time::sleep(rebalance_in) => {}
        }
        // Debounce bursts (a topic creation fires several watches).
        tokio::time::sleep(Duration::from_millis(20)).await;
        while let Ok(e) = events.try_recv() {
            if matches!(e, ZkEvent::NewSession) {
                session_lost = true;
            }
        }
        while let Ok(c) = cmds.try_recv() {
            pending.push(c);
        }
        match zk.get_data("/controller", true).await {
            Ok(Some((Some(d), _))) if zkdata::parse_controller(&d) == Some(broker.id) && !session_lost => {}
            Ok(_) => {
                for c in pending.drain(..) {
                    c.refuse(errors::NOT_CONTROLLER);
                }
                return;
            }
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

/// A partition as the controller sees it.
#[derive(Clone)]
struct Part {
    topic: String,
    partition: i32,
    replicas: Vec<i32>,
    adding: Vec<i32>,
    removing: Vec<i32>,
    state: Option<(PartitionState, i32)>,
}

/// Reads every topic's assignment and partition states.
async fn read_parts(zk: &ZkClient) -> Result<(Vec<Part>, BTreeMap<String, i32>), ZkError> {
    let mut out = Vec::new();
    let mut topic_versions = BTreeMap::new();
    for t in zk.get_children("/brokers/topics", true).await?.unwrap_or_default() {
        let Some((Some(data), stat)) = zk.get_data(&zkdata::topic_path(&t), true).await? else { continue };
        let Some(assign) = zkdata::parse_topic(&data) else { continue };
        topic_versions.insert(t.clone(), stat.version);
        let re = zkdata::parse_topic_reassignments(&data);
        for (p, replicas) in assign {
            let state = match zk.get_data(&zkdata::state_path(&t, p), false).await? {
                Some((Some(d), stat)) => zkdata::parse_state(&d).map(|s| (s, stat.version)),
                _ => None,
            };
            let (adding, removing) = re.get(&p).cloned().unwrap_or_default();
            out.push(Part { topic: t.clone(), partition: p, replicas, adding, removing, state });
        }
    }
    Ok((out, topic_versions))
}

async fn live_brokers(zk: &ZkClient) -> Result<BTreeSet<i32>, ZkError> {
    Ok(zk.get_children("/brokers/ids", true).await?.unwrap_or_default().iter().filter_map(|s| s.parse().ok()).collect())
}

/// Writes a partition's new state (fenced, conditional on the version read).
async fn write_state(zk: &ZkClient, ep: &Epoch, p: &Part, st: &PartitionState, version: i32) -> Result<bool, ZkError> {
    let st = PartitionState { controller_epoch: ep.epoch, ..st.clone() };
    let op = Op::SetData { path: zkdata::state_path(&p.topic, p.partition), data: Some(zkdata::state_json(&st).into_bytes()), version };
    fenced(zk, ep, op).await
}

fn unclean_allowed(broker: &Broker, topic: &str) -> bool {
    let meta = broker.meta.get();
    broker.topic_config(&meta, topic).unclean_leader_election
}

/// Brings partition states in line with live brokers; handles deletions, reassignments,
/// admin znodes and ISR notifications. Ok(false) = fenced.
async fn reconcile(broker: &Broker, ep: &Epoch, ctx: &mut Ctx) -> Result<bool, ZkError> {
    let zk = &broker.zk;
    let live = live_brokers(zk).await?;
    ctx.shutting.retain(|b| live.contains(b));
    let eligible = |r: &i32| live.contains(r) && !ctx.shutting.contains(r);
    let deletions = zk.get_children("/admin/delete_topics", true).await?.unwrap_or_default();
    for t in &deletions {
        if !delete_topic(zk, ep, t).await? {
            return Ok(false);
        }
    }
    for n in zk.get_children("/isr_change_notification", true).await?.unwrap_or_default() {
        if !fenced(zk, ep, Op::Delete { path: format!("/isr_change_notification/{n}"), version: -1 }).await? {
            return Ok(false);
        }
    }
    if !legacy_admin_paths(broker, ep, &live).await? {
        return Ok(false);
    }
    let (parts, topic_versions) = read_parts(zk).await?;
    let mut parts_exists: BTreeMap<String, bool> = BTreeMap::new();
    let mut finished: BTreeMap<String, Vec<(i32, Vec<i32>)>> = BTreeMap::new();
    for p in &parts {
        let t = &p.topic;
        let Some((st, version)) = &p.state else {
            // A new partition: every live replica in the ISR, the first one leads.
            let isr: Vec<i32> = p.replicas.iter().copied().filter(|r| live.contains(r)).collect();
            let Some(leader) = isr.first().copied() else { continue };
            if !*parts_exists.entry(t.clone()).or_insert(false) {
                if zk.exists(&zkdata::partitions_path(t), false).await?.is_none() {
                    let op = Op::Create { path: zkdata::partitions_path(t), data: None, ephemeral: false };
                    if !fenced(zk, ep, op).await? {
                        return Ok(false);
                    }
                }
                parts_exists.insert(t.clone(), true);
            }
            if zk.exists(&zkdata::partition_path(t, p.partition), false).await?.is_none() {
                let op = Op::Create { path: zkdata::partition_path(t, p.partition), data: None, ephemeral: false };
                if !fenced(zk, ep, op).await? {
                    return Ok(false);
                }
            }
            let st = PartitionState { controller_epoch: ep.epoch, leader, leader_epoch: 0, isr };
            let op = Op::Create { path: zkdata::state_path(t, p.partition), data: Some(zkdata::state_json(&st).into_bytes()), ephemeral: false };
            if !fenced(zk, ep, op).await? {
                return Ok(false);
            }
            continue;
        };
        let mut st = st.clone();
        let mut version = *version;
        // Broker failures: elect from the live ISR, drop dead members from it.
        if let Some(ns) = failover_state(&st, &p.replicas, &eligible, &live, unclean_allowed(broker, t)) {
            tracing::info!(
                "{t}-{}: leader {} -> {}, ISR {:?} -> {:?} (epoch {})",
                p.partition,
                st.leader,
                ns.leader,
                st.isr,
                ns.isr,
                ns.leader_epoch
            );
            if !write_state(zk, ep, p, &ns, version).await? {
                return Ok(false);
            }
            version += 1;
            st = ns;
        }
        // Reassignment: done once every target replica is in the ISR.
        if !p.adding.is_empty() || !p.removing.is_empty() {
            let target: Vec<i32> = p.replicas.iter().copied().filter(|r| !p.removing.contains(r)).collect();
            if !target.is_empty() && target.iter().all(|r| st.isr.contains(r)) {
                let isr: Vec<i32> = st.isr.iter().copied().filter(|r| target.contains(r)).collect();
                let leader = if target.contains(&st.leader) && eligible(&st.leader) {
                    st.leader
                } else {
                    target.iter().copied().find(|r| isr.contains(r) && eligible(r)).unwrap_or(-1)
                };
                if leader >= 0 {
                    let ns = PartitionState { controller_epoch: ep.epoch, leader, leader_epoch: st.leader_epoch + 1, isr };
                    tracing::info!("{t}-{}: reassignment to {target:?} complete; leader {leader}, ISR {:?}", p.partition, ns.isr);
                    if !write_state(zk, ep, p, &ns, version).await? {
                        return Ok(false);
                    }
                    finished.entry(t.clone()).or_default().push((p.partition, target));
                }
            }
        }
    }
    // Finished reassignments: the topic znode takes the target replicas.
    for (t, done) in finished {
        let mut assignment: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
        let mut adding = BTreeMap::new();
        let mut removing = BTreeMap::new();
        for p in parts.iter().filter(|p| p.topic == t) {
            match done.iter().find(|(i, _)| *i == p.partition) {
                Some((_, target)) => {
                    assignment.insert(p.partition, target.clone());
                }
                None => {
                    assignment.insert(p.partition, p.replicas.clone());
                    adding.insert(p.partition, p.adding.clone());
                    removing.insert(p.partition, p.removing.clone());
                }
            }
        }
        let op = topic_write(&t, &assignment, &adding, &removing, topic_versions.get(&t).copied().unwrap_or(-1));
        if !fenced(zk, ep, op).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The state after broker failures, or None when nothing changes. Kafka 2.5's rules:
/// a dead or shutting-down leader is replaced by the first eligible replica (replica
/// order) in the ISR; with none, by any live replica if unclean election is allowed, or
/// else leader -1 with the ISR kept; dead followers leave the ISR. Each change bumps the
/// leader epoch.
fn failover_state(
    st: &PartitionState,
    replicas: &[i32],
    eligible: &dyn Fn(&i32) -> bool,
    live: &BTreeSet<i32>,
    unclean: bool,
) -> Option<PartitionState> {
    let leader_ok = st.leader >= 0 && eligible(&st.leader);
    if leader_ok {
        let isr: Vec<i32> = st.isr.iter().copied().filter(|r| live.contains(r)).collect();
        if isr != st.isr {
            return Some(PartitionState { isr, leader_epoch: st.leader_epoch + 1, ..st.clone() });
        }
        return None;
    }
    let from_isr = replicas.iter().copied().find(|r| st.isr.contains(r) && eligible(r));
    let (leader, isr) = match from_isr {
        Some(l) => (l, st.isr.iter().copied().filter(|r| live.contains(r)).collect::<Vec<_>>()),
        None if unclean => match replicas.iter().copied().find(|r| eligible(r)) {
            Some(l) => (l, vec![l]),
            None => (-1, st.isr.clone()),
        },
        None => (-1, st.isr.clone()),
    };
    if leader == st.leader {
        return None;
    }
    let mut isr = isr;
    if leader >= 0 && !isr.contains(&leader) {
        isr.push(leader);
    }
    Some(PartitionState { controller_epoch: st.controller_epoch, leader, leader_epoch: st.leader_epoch + 1, isr })
}

/// Kafka 2.5's ZooKeeper admin paths: `/admin/reassign_partitions` (started here, deleted
/// once none of its partitions is still moving) and `/admin/preferred_replica_election`.
async fn legacy_admin_paths(broker: &Broker, ep: &Epoch, live: &BTreeSet<i32>) -> Result<bool, ZkError> {
    let zk = &broker.zk;
    if let Some((Some(data), _)) = zk.get_data("/admin/reassign_partitions", true).await? {
        match zkdata::parse_reassign_partitions(&data) {
            Some(list) => {
                let (parts, _) = read_parts(zk).await?;
                let mut changes = Vec::new();
                let mut moving = false;
                for (t, p, target) in &list {
                    let Some(cur) = parts.iter().find(|x| &x.topic == t && x.partition == *p) else { continue };
                    let cur_target: Vec<i32> = cur.replicas.iter().copied().filter(|r| !cur.removing.contains(r)).collect();
                    if &cur_target != target {
                        changes.push((t.clone(), *p, Some(target.clone())));
                        moving = true;
                    } else if !cur.adding.is_empty() || !cur.removing.is_empty() {
                        moving = true;
                    }
                }
                if !changes.is_empty() {
                    tracing::info!("starting the reassignments of /admin/reassign_partitions: {changes:?}");
                    let (ok, _) = reassign(broker, ep, live, changes).await?;
                    if !ok {
                        return Ok(false);
                    }
                }
                if !moving && !fenced(zk, ep, Op::Delete { path: "/admin/reassign_partitions".into(), version: -1 }).await? {
                    return Ok(false);
                }
            }
            None => {
                tracing::warn!("ignoring unparseable /admin/reassign_partitions");
                if !fenced(zk, ep, Op::Delete { path: "/admin/reassign_partitions".into(), version: -1 }).await? {
                    return Ok(false);
                }
            }
        }
    } else {
        zk.exists("/admin/reassign_partitions", true).await?;
    }
    if let Some((data, _)) = zk.get_data("/admin/preferred_replica_election", true).await? {
        let list = data.as_deref().and_then(zkdata::parse_preferred_election);
        let shutting = BTreeSet::new();
        let (ok, _) = elect_leaders(broker, ep, live, &shutting, false, list).await?;
        if !ok || !fenced(zk, ep, Op::Delete { path: "/admin/preferred_replica_election".into(), version: -1 }).await? {
            return Ok(false);
        }
    } else {
        zk.exists("/admin/preferred_replica_election", true).await?;
    }
    Ok(true)
}

async fn command(broker: &Broker, ep: &Epoch, ctx: &mut Ctx, c: Command) -> Result<bool, ZkError> {
    let zk = &broker.zk;
    let live = live_brokers(zk).await?;
    match c {
        Command::ControlledShutdown { broker: id, reply } => {
            tracing::info!("controlled shutdown of broker {id}");
            ctx.shutting.insert(id);
            let (parts, _) = read_parts(zk).await?;
            let mut remaining = Vec::new();
            for p in &parts {
                let Some((st, version)) = &p.state else { continue };
                if p.replicas.len() < 2 || !p.replicas.contains(&id) {
                    continue;
                }
                let ns = if st.leader == id {
                    let isr: Vec<i32> = st.isr.iter().copied().filter(|r| *r != id && live.contains(r)).collect();
                    match p.replicas.iter().copied().find(|r| isr.contains(r) && *r != id && !ctx.shutting.contains(r)) {
                        Some(l) => PartitionState { controller_epoch: ep.epoch, leader: l, leader_epoch: st.leader_epoch + 1, isr },
                        None => {
                            remaining.push((p.topic.clone(), p.partition));
                            continue;
                        }
                    }
                } else if st.isr.contains(&id) && st.leader >= 0 && st.isr.len() > 1 {
                    let isr: Vec<i32> = st.isr.iter().copied().filter(|r| *r != id).collect();
                    PartitionState { controller_epoch: ep.epoch, leader: st.leader, leader_epoch: st.leader_epoch + 1, isr }
                } else {
                    continue;
                };
                match write_state(zk, ep, p, &ns, *version).await {
                    Ok(true) => {}
                    Ok(false) => {
                        let _ = reply.send(Err(errors::NOT_CONTROLLER));
                        return Ok(false);
                    }
                    Err(e) => {
                        tracing::warn!("controlled shutdown: {}-{}: {e}", p.topic, p.partition);
                        if st.leader == id {
                            remaining.push((p.topic.clone(), p.partition));
                        }
                    }
                }
            }
            let _ = reply.send(Ok(remaining));
            Ok(true)
        }
        Command::Elect { unclean, partitions, reply } => {
            let (ok, results) = elect_leaders(broker, ep, &live, &ctx.shutting, unclean, partitions).await?;
            let _ = reply.send(if ok { Ok(results) } else { Err(errors::NOT_CONTROLLER) });
            Ok(ok)
        }
        Command::Reassign { changes, reply } => {
            let (ok, results) = reassign(broker, ep, &live, changes).await?;
            let _ = reply.send(if ok { Ok(results) } else { Err(errors::NOT_CONTROLLER) });
            Ok(ok)
        }
    }
}

/// Preferred (first replica) or unclean elections. None = every partition; then
/// partitions that need nothing are left out of the answer, as Kafka does.
async fn elect_leaders(
    broker: &Broker,
    ep: &Epoch,
    live: &BTreeSet<i32>,
    shutting: &BTreeSet<i32>,
    unclean: bool,
    partitions: Option<Vec<(String, i32)>>,
) -> Result<(bool, Vec<PartitionResult>), ZkError> {
    let zk = &broker.zk;
    let (parts, _) = read_parts(zk).await?;
    let all = partitions.is_none();
    let wanted: Vec<(String, i32)> = partitions.unwrap_or_else(|| parts.iter().map(|p| (p.topic.clone(), p.partition)).collect());
    let eligible = |r: &i32| live.contains(r) && !shutting.contains(r);
    let mut results = Vec::new();
    for (t, i) in wanted {
        let Some(p) = parts.iter().find(|p| p.topic == t && p.partition == i) else {
            results.push((t, i, errors::UNKNOWN_TOPIC_OR_PARTITION, Some("The partition does not exist.".into())));
            continue;
        };
        let Some((st, version)) = &p.state else {
            results.push((t, i, errors::UNKNOWN_TOPIC_OR_PARTITION, Some("The partition has no state yet.".into())));
            continue;
        };
        let target = if unclean {
            if st.leader >= 0 && eligible(&st.leader) {
                if !all {
                    results.push((t, i, errors::ELECTION_NOT_NEEDED, Some("Leader election not needed for topic partition.".into())));
                }
                continue;
            }
            p.replicas.iter().copied().find(|r| st.isr.contains(r) && eligible(r)).or_else(|| p.replicas.iter().copied().find(|r| eligible(r)))
        } else {
            let preferred = p.replicas.first().copied().unwrap_or(-1);
            if st.leader == preferred {
                if !all {
                    results.push((t, i, errors::ELECTION_NOT_NEEDED, Some("Leader election not needed for topic partition.".into())));
                }
                continue;
            }
            (eligible(&preferred) && st.isr.contains(&preferred)).then_some(preferred)
        };
        let Some(leader) = target else {
            let (code, msg) = if unclean {
                (errors::ELIGIBLE_LEADERS_NOT_AVAILABLE, format!("Failed to elect leader for partition {t}-{i} under strategy UncleanLeaderElectionStrategy"))
            } else {
                (errors::PREFERRED_LEADER_NOT_AVAILABLE, format!("Failed to elect leader for partition {t}-{i} under strategy PreferredReplicaPartitionLeaderElectionStrategy"))
            };
            results.push((t, i, code, Some(msg)));
            continue;
        };
        let mut isr: Vec<i32> = st.isr.iter().copied().filter(|r| live.contains(r)).collect();
        if !isr.contains(&leader) {
            isr = vec![leader];
        }
        let ns = PartitionState { controller_epoch: ep.epoch, leader, leader_epoch: st.leader_epoch + 1, isr };
        tracing::info!("{t}-{i}: {} election: leader {} -> {leader}", if unclean { "unclean" } else { "preferred" }, st.leader);
        match write_state(zk, ep, p, &ns, *version).await {
            Ok(true) => results.push((t, i, errors::NONE, None)),
            Ok(false) => return Ok((false, results)),
            Err(e) => results.push((t, i, errors::UNKNOWN_SERVER_ERROR, Some(format!("the partition state changed meanwhile: {e}")))),
        }
    }
    Ok((true, results))
}

/// `auto.leader.rebalance.enable`: per broker, when more than
/// `leader.imbalance.per.broker.percentage` of the partitions preferring it are led by
/// someone else, elect it back where it is alive and in the ISR.
async fn auto_rebalance(broker: &Broker, ep: &Epoch, ctx: &Ctx) -> Result<bool, ZkError> {
    let zk = &broker.zk;
    let live = live_brokers(zk).await?;
    let (parts, _) = read_parts(zk).await?;
    let mut by_pref: BTreeMap<i32, (usize, Vec<(String, i32)>)> = BTreeMap::new();
    for p in &parts {
        let (Some(pref), Some((st, _))) = (p.replicas.first(), &p.state) else { continue };
        if !p.adding.is_empty() || !p.removing.is_empty() {
            continue;
        }
        let e = by_pref.entry(*pref).or_default();
        e.0 += 1;
        if st.leader != *pref {
            e.1.push((p.topic.clone(), p.partition));
        }
    }
    let mut todo = Vec::new();
    for (b, (total, off)) in by_pref {
        if off.is_empty() || !live.contains(&b) || ctx.shutting.contains(&b) {
            continue;
        }
        let ratio = off.len() as f64 / total.max(1) as f64;
        if ratio * 100.0 > broker.cfg.leader_imbalance_per_broker_percentage as f64 {
            todo.extend(off);
        }
    }
    if todo.is_empty() {
        return Ok(true);
    }
    let (ok, _) = elect_leaders(broker, ep, &live, &ctx.shutting, false, Some(todo)).await?;
    Ok(ok)
}

/// Starts (target) or cancels (None) reassignments by rewriting the topic znodes.
async fn reassign(
    broker: &Broker,
    ep: &Epoch,
    live: &BTreeSet<i32>,
    changes: Vec<(String, i32, Option<Vec<i32>>)>,
) -> Result<(bool, Vec<PartitionResult>), ZkError> {
    let zk = &broker.zk;
    let (parts, versions) = read_parts(zk).await?;
    let registered: BTreeSet<i32> = live.clone();
    let mut results = Vec::new();
    let mut by_topic: BTreeMap<String, Vec<(i32, Option<Vec<i32>>)>> = BTreeMap::new();
    for (t, i, target) in changes {
        if !parts.iter().any(|p| p.topic == t && p.partition == i) {
            results.push((t, i, errors::UNKNOWN_TOPIC_OR_PARTITION, Some("The partition does not exist.".into())));
            continue;
        }
        if let Some(r) = &target {
            let mut dedup = r.clone();
            dedup.sort_unstable();
            dedup.dedup();
            if r.is_empty() || dedup.len() != r.len() {
                results.push((t, i, errors::INVALID_REPLICA_ASSIGNMENT, Some(format!("Invalid replica list {r:?}: empty or duplicated"))));
                continue;
            }
            if let Some(b) = r.iter().find(|b| !registered.contains(b)) {
                results.push((t, i, errors::INVALID_REPLICA_ASSIGNMENT, Some(format!("Unknown broker {b} in the replica list"))));
                continue;
            }
        }
        by_topic.entry(t).or_default().push((i, target));
    }
    for (t, list) in by_topic {
        let mut assignment = BTreeMap::new();
        let mut adding = BTreeMap::new();
        let mut removing = BTreeMap::new();
        let mut answers = Vec::new();
        for p in parts.iter().filter(|p| p.topic == t) {
            let original: Vec<i32> = p.replicas.iter().copied().filter(|r| !p.adding.contains(r)).collect();
            match list.iter().find(|(i, _)| *i == p.partition) {
                Some((_, Some(target))) => {
                    let current: Vec<i32> = if p.adding.is_empty() && p.removing.is_empty() { p.replicas.clone() } else { original.clone() };
                    let mut full = target.clone();
                    full.extend(current.iter().copied().filter(|r| !target.contains(r)));
                    let add: Vec<i32> = target.iter().copied().filter(|r| !current.contains(r)).collect();
                    let rm: Vec<i32> = current.iter().copied().filter(|r| !target.contains(r)).collect();
                    if add.is_empty() && rm.is_empty() && full != *target {
                        // Same set, new order: takes effect at once.
                        assignment.insert(p.partition, target.clone());
                    } else {
                        assignment.insert(p.partition, full);
                        adding.insert(p.partition, add);
                        removing.insert(p.partition, rm);
                    }
                    answers.push((t.clone(), p.partition, errors::NONE, None));
                }
                Some((_, None)) => {
                    if p.adding.is_empty() && p.removing.is_empty() {
                        answers.push((t.clone(), p.partition, errors::NO_REASSIGNMENT_IN_PROGRESS, Some("No reassignment in progress".into())));
                        assignment.insert(p.partition, p.replicas.clone());
                    } else {
                        assignment.insert(p.partition, original.clone());
                        answers.push((t.clone(), p.partition, errors::NONE, None));
                    }
                }
                None => {
                    assignment.insert(p.partition, p.replicas.clone());
                    adding.insert(p.partition, p.adding.clone());
                    removing.insert(p.partition, p.removing.clone());
                }
            }
        }
        let op = topic_write(&t, &assignment, &adding, &removing, versions.get(&t).copied().unwrap_or(-1));
        match fenced(zk, ep, op).await {
            Ok(true) => {
                tracing::info!("{t}: reassignment written: partitions {assignment:?}, adding {adding:?}, removing {removing:?}");
                results.extend(answers);
            }
            Ok(false) => return Ok((false, results)),
            Err(e) => {
                for (t, i, _, _) in answers {
                    results.push((t, i, errors::UNKNOWN_SERVER_ERROR, Some(format!("the topic changed meanwhile: {e}"))));
                }
            }
        }
    }
    // A cancelled reassignment leaves removed replicas out of the ISR on the next pass.
    Ok((true, results))
}

/// The topic znode's rewrite (assignment plus in-flight moves), conditional on its version.
fn topic_write(t: &str, assignment: &BTreeMap<i32, Vec<i32>>, adding: &BTreeMap<i32, Vec<i32>>, removing: &BTreeMap<i32, Vec<i32>>, version: i32) -> Op {
    let data = zkdata::topic_json_reassigning(assignment, adding, removing);
    Op::SetData { path: zkdata::topic_path(t), data: Some(data.into_bytes()), version }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn st(leader: i32, epoch: i32, isr: &[i32]) -> PartitionState {
        PartitionState { controller_epoch: 1, leader, leader_epoch: epoch, isr: isr.to_vec() }
    }

    #[test]
    fn failover_elects_from_the_live_isr_only() {
        let live: BTreeSet<i32> = [1, 2].into_iter().collect();
        let el = |r: &i32| live.contains(r);
        // Leader 0 died: 1 is next in replica order and in the ISR.
        let ns = failover_state(&st(0, 4, &[0, 1, 2]), &[0, 1, 2], &el, &live, false).unwrap();
        assert_eq!((ns.leader, ns.leader_epoch, ns.isr.clone()), (1, 5, vec![1, 2]));
        // Only 2 is in the ISR besides the dead leader.
        let ns = failover_state(&st(0, 4, &[0, 2]), &[0, 1, 2], &el, &live, false).unwrap();
        assert_eq!((ns.leader, ns.isr.clone()), (2, vec![2]));
        // No live ISR member: offline, ISR kept, unless unclean election is allowed.
        let ns = failover_state(&st(0, 4, &[0]), &[0, 1, 2], &el, &live, false).unwrap();
        assert_eq!((ns.leader, ns.isr.clone()), (-1, vec![0]));
        let ns = failover_state(&st(0, 4, &[0]), &[0, 1, 2], &el, &live, true).unwrap();
        assert_eq!((ns.leader, ns.isr.clone()), (1, vec![1]));
        // Already offline: nothing to write again.
        assert!(failover_state(&st(-1, 5, &[0]), &[0, 1, 2], &el, &live, false).is_none());
        // Live leader, dead follower: leaves the ISR with an epoch bump.
        let ns = failover_state(&st(1, 4, &[1, 0, 2]), &[0, 1, 2], &el, &live, false).unwrap();
        assert_eq!((ns.leader, ns.leader_epoch, ns.isr.clone()), (1, 5, vec![1, 2]));
        // Healthy: no change.
        assert!(failover_state(&st(1, 4, &[1, 2]), &[0, 1, 2], &el, &live, false).is_none());
    }

    #[test]
    fn returning_isr_member_takes_an_offline_partition_back() {
        let live: BTreeSet<i32> = [0].into_iter().collect();
        let el = |r: &i32| live.contains(r);
        let ns = failover_state(&st(-1, 5, &[0]), &[0, 1, 2], &el, &live, false).unwrap();
        assert_eq!((ns.leader, ns.leader_epoch, ns.isr.clone()), (0, 6, vec![0]));
    }

    #[test]
    fn shutting_down_leader_is_replaced() {
        let live: BTreeSet<i32> = [0, 1, 2].into_iter().collect();
        let shutting: BTreeSet<i32> = [0].into_iter().collect();
        let el = |r: &i32| live.contains(r) && !shutting.contains(r);
        let ns = failover_state(&st(0, 1, &[0, 1, 2]), &[0, 1, 2], &el, &live, false).unwrap();
        assert_eq!(ns.leader, 1);
    }
}
