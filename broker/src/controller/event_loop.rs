//! The controller task: ZooKeeper I/O around the pure planner. While this broker is
//! controller it re-reads brokers and partitions on every relevant watch and on commands
//! from the server (`Command`), asks `planner` / `election` / `reassignment` /
//! `controlled_shutdown` what to write, and makes the writes fenced (see `fencing`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast::Receiver;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::error_code::ErrorCode;
use crate::ids::BrokerId;
use crate::zk::{ZkClient, ZkError, ZkEvent};
use crate::zkdata;

use super::fencing::{apply, elect, fenced};
use super::model::{Brokers, Epoch, Part, PartitionResult, Planned, Write};
use super::{controlled_shutdown, election, planner, reassignment, Command, Ctx};

/// Controller state kept between reconciliations.
#[derive(Default)]
struct State {
    /// Brokers in controlled shutdown: never elected, until their znode goes.
    shutting: BTreeSet<BrokerId>,
    last_rebalance: Option<Instant>,
}

pub async fn run(ctx: Arc<dyn Ctx>, mut cmds: UnboundedReceiver<Command>) {
    let ctx = &*ctx;
    let mut events = ctx.zk().subscribe();
    loop {
        if ctx.stopping() {
            return;
        }
        match elect(ctx.zk(), ctx.id()).await {
            Ok(Some(ep)) => {
                tracing::info!("broker {} is the controller (epoch {})", ctx.id(), ep.epoch);
                serve(ctx, &ep, &mut events, &mut cmds).await;
                tracing::info!("broker {} resigns as controller (epoch {})", ctx.id(), ep.epoch);
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
                            Some(c) => c.refuse(ErrorCode::NOT_CONTROLLER),
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

fn refuse_all(pending: &mut Vec<Command>) {
    for c in pending.drain(..) {
        c.refuse(ErrorCode::NOT_CONTROLLER);
    }
}

async fn serve(ctx: &dyn Ctx, ep: &Epoch, events: &mut Receiver<ZkEvent>, cmds: &mut UnboundedReceiver<Command>) {
    // Kafka's startup sequence (watches it registers), so the wire looks familiar.
    let zk = ctx.zk();
    let _ = zk.exists("/admin/preferred_replica_election", true).await;
    let _ = zk.exists("/admin/reassign_partitions", true).await;
    let _ = zk.get_children("/log_dir_event_notification", true).await;
    let _ = zk.get_children("/isr_change_notification", true).await;
    let mut state = State { last_rebalance: Some(Instant::now()), ..Default::default() };
    let mut pending: Vec<Command> = Vec::new();
    let cfg = ctx.cfg();
    loop {
        if ctx.stopping() {
            refuse_all(&mut pending);
            return;
        }
        match reconcile(ctx, ep, &mut state).await {
            Ok(true) => {}
            Ok(false) => {
                refuse_all(&mut pending);
                return;
            }
            Err(e) => {
                tracing::warn!("controller reconcile failed: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        for c in pending.drain(..) {
            match command(ctx, ep, &mut state, c).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => tracing::warn!("controller command failed: {e}"),
            }
        }
        if cfg.auto_leader_rebalance_enable
            && state.last_rebalance.map(|t| t.elapsed() >= Duration::from_millis(cfg.leader_imbalance_check_interval_ms)).unwrap_or(true)
        {
            state.last_rebalance = Some(Instant::now());
            match auto_rebalance(ctx, ep, &state).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => tracing::warn!("preferred leader election failed: {e}"),
            }
        }
        let mut session_lost = false;
        let rebalance_in = Duration::from_millis(cfg.leader_imbalance_check_interval_ms).min(Duration::from_secs(2));
        tokio::select! {
            e = events.recv() => if let Ok(ZkEvent::NewSession) = e { session_lost = true },
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
            Ok(Some((Some(d), _))) if zkdata::parse_controller(&d) == Some(ctx.id().get()) && !session_lost => {}
            Ok(_) => {
                refuse_all(&mut pending);
                return;
            }
            Err(_) => {}
        }
    }
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
            out.push(Part { topic: t.clone(), partition: p, replicas: BrokerId::wrap_all(&replicas), adding, removing, state });
        }
    }
    Ok((out, topic_versions))
}

async fn live_brokers(zk: &ZkClient) -> Result<BTreeSet<BrokerId>, ZkError> {
    Ok(zk.get_children("/brokers/ids", true).await?.unwrap_or_default().iter().filter_map(|s| s.parse().ok()).map(BrokerId).collect())
}

/// Executes planned writes in order; stops at the first failure. Ok(false) = deposed.
async fn execute(zk: &ZkClient, ep: &Epoch, plan: &[Planned]) -> Result<bool, ZkError> {
    for p in plan {
        if let Some(note) = &p.note {
            tracing::info!("{note}");
        }
        if !apply(zk, ep, &p.write).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Brings partition states in line with live brokers; handles deletions, reassignments,
/// admin znodes and ISR notifications. Ok(false) = fenced.
async fn reconcile(ctx: &dyn Ctx, ep: &Epoch, state: &mut State) -> Result<bool, ZkError> {
    let zk = ctx.zk();
    let live = live_brokers(zk).await?;
    state.shutting.retain(|b| live.contains(b));
    let deletions = zk.get_children("/admin/delete_topics", true).await?.unwrap_or_default();
    for t in &deletions {
        if !delete_topic(zk, ep, t).await? {
            return Ok(false);
        }
    }
    for n in zk.get_children("/isr_change_notification", true).await?.unwrap_or_default() {
        if !apply(zk, ep, &Write::Delete { path: format!("/isr_change_notification/{n}") }).await? {
            return Ok(false);
        }
    }
    let brokers = Brokers { live, shutting: state.shutting.clone() };
    if !legacy_admin_paths(ctx, ep, &brokers.live).await? {
        return Ok(false);
    }
    let (parts, topic_versions) = read_parts(zk).await?;
    let meta = ctx.meta();
    let unclean = |t: &str| ctx.topic_config(&meta, t).unclean_leader_election;
    let plan = planner::reconcile(&brokers, &parts, &topic_versions, &unclean);
    execute(zk, ep, &plan).await
}

/// Kafka 2.5's ZooKeeper admin paths: `/admin/reassign_partitions` (started here, deleted
/// once none of its partitions is still moving) and `/admin/preferred_replica_election`.
async fn legacy_admin_paths(ctx: &dyn Ctx, ep: &Epoch, live: &BTreeSet<BrokerId>) -> Result<bool, ZkError> {
    let zk = ctx.zk();
    let reassign_znode = Write::Delete { path: "/admin/reassign_partitions".into() };
    if let Some((Some(data), _)) = zk.get_data("/admin/reassign_partitions", true).await? {
        match zkdata::parse_reassign_partitions(&data) {
            Some(list) => {
                let list: Vec<(String, i32, Vec<BrokerId>)> = list.into_iter().map(|(t, p, r)| (t, p, BrokerId::wrap_all(&r))).collect();
                let (parts, _) = read_parts(zk).await?;
                let (changes, moving) = reassignment::legacy_changes(&parts, &list);
                if !changes.is_empty() {
                    tracing::info!("starting the reassignments of /admin/reassign_partitions: {changes:?}");
                    let (ok, _) = reassign(zk, ep, live, changes).await?;
                    if !ok {
                        return Ok(false);
                    }
                }
                if !moving && !apply(zk, ep, &reassign_znode).await? {
                    return Ok(false);
                }
            }
            None => {
                tracing::warn!("ignoring unparseable /admin/reassign_partitions");
                if !apply(zk, ep, &reassign_znode).await? {
                    return Ok(false);
                }
            }
        }
    } else {
        zk.exists("/admin/reassign_partitions", true).await?;
    }
    if let Some((data, _)) = zk.get_data("/admin/preferred_replica_election", true).await? {
        let list = data.as_deref().and_then(zkdata::parse_preferred_election);
        let brokers = Brokers { live: live.clone(), shutting: BTreeSet::new() };
        let (ok, _) = elect_leaders(zk, ep, &brokers, false, list).await?;
        if !ok || !apply(zk, ep, &Write::Delete { path: "/admin/preferred_replica_election".into() }).await? {
            return Ok(false);
        }
    } else {
        zk.exists("/admin/preferred_replica_election", true).await?;
    }
    Ok(true)
}

async fn command(ctx: &dyn Ctx, ep: &Epoch, state: &mut State, c: Command) -> Result<bool, ZkError> {
    let zk = ctx.zk();
    let live = live_brokers(zk).await?;
    match c {
        Command::ControlledShutdown { broker: id, reply } => {
            tracing::info!("controlled shutdown of broker {id}");
            state.shutting.insert(id);
            let (parts, _) = read_parts(zk).await?;
            let brokers = Brokers { live, shutting: state.shutting.clone() };
            let mut remaining = Vec::new();
            for step in controlled_shutdown::plan(&parts, &brokers, id) {
                match step {
                    controlled_shutdown::Step::Remaining(t, p) => remaining.push((t, p)),
                    controlled_shutdown::Step::Write { topic, partition, planned, was_leader } => match apply(zk, ep, &planned.write).await {
                        Ok(true) => {}
                        Ok(false) => {
                            let _ = reply.send(Err(ErrorCode::NOT_CONTROLLER));
                            return Ok(false);
                        }
                        Err(e) => {
                            tracing::warn!("controlled shutdown: {topic}-{partition}: {e}");
                            if was_leader {
                                remaining.push((topic, partition));
                            }
                        }
                    },
                }
            }
            let _ = reply.send(Ok(remaining));
            Ok(true)
        }
        Command::Elect { unclean, partitions, reply } => {
            let brokers = Brokers { live, shutting: state.shutting.clone() };
            let (ok, results) = elect_leaders(zk, ep, &brokers, unclean, partitions).await?;
            let _ = reply.send(if ok { Ok(results) } else { Err(ErrorCode::NOT_CONTROLLER) });
            Ok(ok)
        }
        Command::Reassign { changes, reply } => {
            let (ok, results) = reassign(zk, ep, &live, changes).await?;
            let _ = reply.send(if ok { Ok(results) } else { Err(ErrorCode::NOT_CONTROLLER) });
            Ok(ok)
        }
    }
}

async fn elect_leaders(
    zk: &ZkClient,
    ep: &Epoch,
    brokers: &Brokers,
    unclean: bool,
    partitions: Option<Vec<(String, i32)>>,
) -> Result<(bool, Vec<PartitionResult>), ZkError> {
    let (parts, _) = read_parts(zk).await?;
    let mut results = Vec::new();
    for step in election::plan(&parts, brokers, unclean, partitions) {
        match step {
            election::Step::Answer(r) => results.push(r),
            election::Step::Write { topic, partition, planned } => {
                if let Some(note) = &planned.note {
                    tracing::info!("{note}");
                }
                match apply(zk, ep, &planned.write).await {
                    Ok(true) => results.push((topic, partition, ErrorCode::NONE, None)),
                    Ok(false) => return Ok((false, results)),
                    Err(e) => results.push((topic, partition, ErrorCode::UNKNOWN_SERVER_ERROR, Some(format!("the partition state changed meanwhile: {e}")))),
                }
            }
        }
    }
    Ok((true, results))
}

async fn auto_rebalance(ctx: &dyn Ctx, ep: &Epoch, state: &State) -> Result<bool, ZkError> {
    let zk = ctx.zk();
    let live = live_brokers(zk).await?;
    let (parts, _) = read_parts(zk).await?;
    let brokers = Brokers { live, shutting: state.shutting.clone() };
    let todo = election::rebalance_targets(&parts, &brokers, ctx.cfg().leader_imbalance_per_broker_percentage as f64);
    if todo.is_empty() {
        return Ok(true);
    }
    let (ok, _) = elect_leaders(zk, ep, &brokers, false, Some(todo)).await?;
    Ok(ok)
}

async fn reassign(
    zk: &ZkClient,
    ep: &Epoch,
    live: &BTreeSet<BrokerId>,
    changes: Vec<(String, i32, Option<Vec<BrokerId>>)>,
) -> Result<(bool, Vec<PartitionResult>), ZkError> {
    let (parts, versions) = read_parts(zk).await?;
    let plan = reassignment::plan(&parts, &versions, live, changes);
    let mut results = plan.refused;
    for (planned, answers) in plan.topics {
        match apply(zk, ep, &planned.write).await {
            Ok(true) => {
                if let Some(note) = &planned.note {
                    tracing::info!("{note}");
                }
                results.extend(answers);
            }
            Ok(false) => return Ok((false, results)),
            Err(e) => {
                for (t, i, _, _) in answers {
                    results.push((t, i, ErrorCode::UNKNOWN_SERVER_ERROR, Some(format!("the topic changed meanwhile: {e}"))));
                }
            }
        }
    }
    // A cancelled reassignment leaves removed replicas out of the ISR on the next pass.
    Ok((true, results))
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
        if !fenced(zk, ep, crate::zk::Op::Delete { path: p, version: -1 }).await? {
            return Ok(false);
        }
    }
    if !apply(zk, ep, &Write::Delete { path: zkdata::topic_config_path(t) }).await? {
        return Ok(false);
    }
    apply(zk, ep, &Write::Delete { path: zkdata::delete_topic_path(t) }).await
}
