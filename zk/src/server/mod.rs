//! The server process: checks the directories and `myid`, loads the newest snapshot and the
//! Raft log, binds the client, peer and election ports, starts the core and openraft, accepts
//! connections, and shuts down cleanly on SIGTERM/SIGINT. Sessions survive a restart: they
//! live in the log and snapshots, as in ZooKeeper.
//!
//! Shutdown drains, as mini-redis does, and logs each step: stop accepting connections; let
//! the requests in flight finish (up to [`DRAIN_BOUND`]: their writes commit, are applied and
//! answered); the log then holds every acknowledged write (each was fsynced before it was
//! acknowledged); flush and close the client connections (up to [`CLOSE_BOUND`]); stop
//! replication; stop the core.
//!
//! Modules, in request order: [`connection`] (framing) -> [`clients`] (intake) ->
//! [`ordering`] / [`reads`] or [`propose`] -> `quorum` -> [`apply`] -> reply; beside them
//! [`core`] (the task), [`roles`], [`snapshots`], [`stats`], [`fourlw`], [`prep`],
//! [`recovery`], [`outbox`]; and the HTTP listeners [`http`] (AdminServer: [`admin`],
//! Prometheus: [`prometheus`]), which ask the core as the four-letter words do.

pub mod admin;
pub mod apply;
pub mod auth;
pub mod clients;
pub mod connection;
pub mod core;
pub mod fourlw;
pub mod http;
pub mod ordering;
pub mod outbox;
pub mod prep;
pub mod prometheus;
pub mod propose;
pub mod reads;
pub mod recovery;
pub mod roles;
pub mod snapshots;
pub mod stats;
#[cfg(test)]
mod storage_suite;

/// How long the requests in flight may take to finish at shutdown.
pub const DRAIN_BOUND: std::time::Duration = std::time::Duration::from_secs(5);
/// How long the client connections may take to flush and close at shutdown.
pub const CLOSE_BOUND: std::time::Duration = std::time::Duration::from_secs(3);

use crate::config::Config;
use crate::ids::ConnId;
use crate::quorum::log_store;
use crate::quorum::network::{self, MemberAddr, Network};
use crate::quorum::state_machine::StateMachine;
use crate::quorum::{NodeId, Raft};
use crate::storage;
use std::collections::BTreeMap;
use anyhow::{anyhow, bail, Context};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

fn ensure_writable(dir: &Path, key: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| anyhow!("{key} {}: cannot create directory: {e}", dir.display()))?;
    let probe = dir.join(".write-probe");
    std::fs::write(&probe, b"probe").map_err(|e| anyhow!("{key} {}: directory is not writable: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// This member's id and every member's addresses. With no `server.N` lines the server is a
/// one-member group (id 1) on the same code path; otherwise `dataDir/myid` names this member.
fn membership(cfg: &Config) -> anyhow::Result<(NodeId, BTreeMap<NodeId, MemberAddr>)> {
    if cfg.servers.is_empty() {
        let me = MemberAddr { peer: String::new(), election: String::new() };
        return Ok((1, BTreeMap::from([(1, me)])));
    }
    let path = cfg.data_dir.join("myid");
    let text = std::fs::read_to_string(&path).map_err(|e| anyhow!("{}: cannot read myid ({e}); it must hold this server's N from its server.N line", path.display()))?;
    let id: u64 = text.trim().parse().map_err(|_| anyhow!("{}: myid {:?} is not a number", path.display(), text.trim()))?;
    if !cfg.servers.contains_key(&id) {
        bail!("{}: myid {id} has no matching server.{id} line in the config", path.display());
    }
    if id == 0 || id > 254 {
        bail!("{}: myid {id} must be between 1 and 254", path.display());
    }
    let members = cfg
        .servers
        .iter()
        .map(|(n, p)| (*n, MemberAddr { peer: format!("{}:{}", p.host, p.peer_port), election: format!("{}:{}", p.host, p.election_port) }))
        .collect();
    Ok((id, members))
}

/// openraft's timing from `tickTime`: heartbeats every tick/20 (20..50 ms), elections after
/// 3..6 heartbeats without a leader. openraft also holds a leader lease of the maximum
/// election timeout before voting, so a dead leader is replaced after lease + timeout
/// (300 + 150..300 ms at the default tickTime); snapshots every `snapCount` entries, the log
/// kept from the snapshot before the newest on.
fn raft_config(cfg: &Config) -> anyhow::Result<openraft::Config> {
    let hb = (cfg.tick_time as u64 / 20).clamp(20, 50);
    let c = openraft::Config {
        cluster_name: "zk".into(),
        heartbeat_interval: hb,
        election_timeout_min: hb * 3,
        election_timeout_max: hb * 6,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(cfg.snap_count),
        // openraft purges nothing by itself: the core purges up to the previous snapshot once a
        // new one is on disk, so a damaged newest snapshot can fall back to the previous one.
        max_in_snapshot_log_to_keep: u64::MAX,
        // Entries are batches of up to 256 KiB, one per AppendEntries: openraft times an
        // AppendEntries out after one heartbeat interval (20..50 ms), and the follower's
        // fsync of the payload must fit in it even on a loaded machine.
        max_payload_entries: 1,
        ..Default::default()
    };
    Ok(c.validate()?)
}

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    ensure_writable(&cfg.data_dir, "dataDir")?;
    ensure_writable(&cfg.data_log_dir, "dataLogDir")?;
    let (my_id, members) = membership(&cfg)?;
    let snap_dir = cfg.snap_dir();
    let log_dir = cfg.log_dir();
    ensure_writable(&snap_dir, "dataDir")?;
    ensure_writable(&log_dir, "dataLogDir")?;
    let started = std::time::Instant::now();
    // Apache ZooKeeper's files in place of ours: import them first (crate::migrate).
    if let Some(i) = crate::migrate::import_if_apache(&snap_dir, &log_dir).context("importing Apache ZooKeeper's data")? {
        tracing::info!(
            zxid = format!("{:#x}", i.zxid.0),
            znodes = i.znodes,
            sessions = i.sessions,
            from_snapshot = %i.from_snapshot.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "none".into()),
            transactions = i.txns,
            logs = i.logs,
            "imported Apache ZooKeeper's data into {}; its files were moved to {}",
            i.snapshot.display(),
            crate::migrate::IMPORT_DIR
        );
    }
    let log_store = log_store::open(&log_dir, cfg.force_sync).context("opening the transaction log")?;
    let loaded = recovery::load(&snap_dir, |index| log_store.bridges(index)).context("loading the newest valid snapshot")?;
    tracing::info!(
        snapshot_zxid = format!("{:#x}", loaded.tree.last_zxid),
        znodes = loaded.tree.node_count(),
        sessions = loaded.sessions.len(),
        ms = started.elapsed().as_millis() as u64,
        "loaded; replaying the log after the snapshot"
    );
    if cfg.autopurge_purge_interval > 0 {
        if let Err(e) = storage::purge(&snap_dir, &log_dir, cfg.autopurge_snap_retain_count) {
            tracing::warn!(error = %e, "autopurge at startup failed");
        }
    }
    let addr = format!("{}:{}", cfg.client_port_address, cfg.client_port);
    let listener = TcpListener::bind(&addr).await.map_err(|e| anyhow!("clientPort {}: cannot listen on {addr}: {e}", cfg.client_port))?;
    let standalone = members.len() == 1;
    let mut peer_listeners = Vec::new();
    if !standalone {
        let me = &cfg.servers[&my_id];
        for (port, what, streams) in [(me.peer_port, "peer", true), (me.election_port, "election", false)] {
            let a = format!("{}:{}", me.host, port);
            let l = TcpListener::bind(&a).await.map_err(|e| anyhow!("server.{my_id}: cannot listen on {what} port {a}: {e}"))?;
            peer_listeners.push((l, streams));
        }
    }
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;

    let cfg = Arc::new(cfg);
    let (core_tx, core_rx) = mpsc::unbounded_channel();
    let core = core::Core::new(cfg.clone(), my_id, members.clone(), loaded, core_tx.clone());
    let mut core_task = tokio::spawn(core.run(core_rx));
    // The core learns when the log cannot be written (and serves reads only until it can).
    let mut health = log_store.health();
    let health_tx = core_tx.clone();
    tokio::spawn(async move {
        while health.changed().await.is_ok() {
            let blocked = health.borrow_and_update().blocked();
            if health_tx.send(core::CoreMsg::LogBlocked(blocked)).is_err() {
                return;
            }
        }
    });
    let network = Network { members: members.clone() };
    let events = core::events_to(core_tx.clone());
    let raft_cfg = raft_config(&cfg)?;
    let lease = std::time::Duration::from_millis(raft_cfg.election_timeout_max);
    let raft = Raft::new(my_id, Arc::new(raft_cfg), network, log_store, StateMachine::new(events.clone()))
        .await
        .map_err(|e| anyhow!("starting replication: {e}"))?;
    let _ = core_tx.send(core::CoreMsg::Started(raft.clone()));
    if !raft.is_initialized().await.map_err(|e| anyhow!("{e}"))? {
        let nodes: BTreeMap<NodeId, openraft::BasicNode> = members.iter().map(|(id, a)| (*id, openraft::BasicNode { addr: a.peer.clone() })).collect();
        if let Err(e) = raft.initialize(nodes).await {
            tracing::debug!(error = %e, "group already initialized");
        }
    }
    let contact = crate::quorum::detector::LastContact::default();
    for (l, streams) in peer_listeners {
        tokio::spawn(network::serve(l, raft.clone(), events.clone(), streams, contact.clone()));
    }
    if !standalone {
        tokio::spawn(crate::quorum::detector::run(raft.clone(), my_id, members.clone(), contact, lease));
    }
    let idle = std::time::Duration::from_millis(cfg.admin_idle_timeout_ms);
    if cfg.admin_enable_server {
        let a = http::join(&cfg.admin_server_address, cfg.admin_server_port);
        let base = cfg.admin_command_url.clone();
        http::start(a, "admin.serverAddress/admin.serverPort", http::Endpoint::Admin { base }, core_tx.clone(), idle).await;
    }
    if cfg.prometheus_enabled() {
        let a = http::join(&cfg.metrics_http_host, cfg.metrics_http_port);
        http::start(a, "metricsProvider.httpHost/metricsProvider.httpPort", http::Endpoint::Metrics, core_tx.clone(), idle).await;
    }
    let mode = if standalone { "standalone".to_string() } else { format!("member {my_id} of {}", members.len()) };
    tracing::info!(address = %addr, data_dir = %cfg.data_dir.display(), "binding to port {addr}; serving clients ({mode})");

    let per_ip: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::new(Mutex::new(HashMap::new()));
    let allow_cfg = cfg.clone();
    let allowed: Arc<dyn Fn(&str) -> bool + Send + Sync> = Arc::new(move |c: &str| allow_cfg.allows_4lw(c));
    let mut next_conn = 1u64;
    let mut conn_tasks = tokio::task::JoinSet::new();
    let outcome: anyhow::Result<()> = loop {
        tokio::select! {
            _ = term.recv() => {
                tracing::info!("SIGTERM received");
                break Ok(());
            }
            _ = int.recv() => {
                tracing::info!("SIGINT received");
                break Ok(());
            }
            Some(_) = conn_tasks.join_next(), if !conn_tasks.is_empty() => {}
            r = &mut core_task => {
                break match r {
                    Ok(()) => Err(anyhow!("the core stopped")),
                    Err(e) => Err(anyhow!("core task failed: {e}")),
                };
            }
            acc = listener.accept() => {
                let (stream, peer) = match acc {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let ip = peer.ip();
                if cfg.max_client_cnxns > 0 {
                    let mut m = per_ip.lock().unwrap_or_else(|p| p.into_inner());
                    let n = m.entry(ip).or_insert(0);
                    if *n >= cfg.max_client_cnxns {
                        tracing::warn!(client = %peer, limit = cfg.max_client_cnxns, "too many connections from this address (maxClientCnxns); closing");
                        continue;
                    }
                    *n += 1;
                }
                let ctx = connection::ConnCtx { id: ConnId(next_conn), addr: peer, core: core_tx.clone(), max_frame: cfg.max_frame(), four_letter_allowed: allowed.clone() };
                next_conn += 1;
                let per_ip = per_ip.clone();
                let limited = cfg.max_client_cnxns > 0;
                conn_tasks.spawn(async move {
                    connection::handle(stream, ctx).await;
                    if limited {
                        let mut m = per_ip.lock().unwrap_or_else(|p| p.into_inner());
                        if let Some(n) = m.get_mut(&ip) {
                            *n = n.saturating_sub(1);
                        }
                    }
                });
            }
        }
    };
    shutdown(listener, &core_tx, &mut core_task, conn_tasks, raft).await;
    outcome
}

/// The draining shutdown (see the module doc), each step bounded and logged.
async fn shutdown(listener: TcpListener, core_tx: &mpsc::UnboundedSender<core::CoreMsg>, core_task: &mut tokio::task::JoinHandle<()>, mut conns: tokio::task::JoinSet<()>, raft: crate::quorum::Raft) {
    let started = std::time::Instant::now();
    drop(listener);
    tracing::info!(connections = conns.len(), "shutting down: no longer accepting connections");
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    if core_tx.send(core::CoreMsg::Drain { done: done_tx }).is_ok() {
        match tokio::time::timeout(DRAIN_BOUND, done_rx).await {
            Ok(Ok(_)) => tracing::info!(ms = started.elapsed().as_millis() as u64, "drained: no request in flight"),
            Ok(Err(_)) => tracing::warn!("drain: the core stopped"),
            Err(_) => tracing::warn!(bound_s = DRAIN_BOUND.as_secs(), "drain bound reached with requests still in flight; they lose their connection"),
        }
    }
    // Every write answered so far was fsynced before its answer: nothing is left to flush.
    tracing::info!("log flushed: every acknowledged write is durable");
    let _ = core_tx.send(core::CoreMsg::CloseAll);
    let closing = async {
        while conns.join_next().await.is_some() {}
    };
    match tokio::time::timeout(CLOSE_BOUND, closing).await {
        Ok(()) => tracing::info!("client connections closed"),
        Err(_) => {
            tracing::warn!(left = conns.len(), bound_s = CLOSE_BOUND.as_secs(), "connections still open after the bound; dropping them");
            conns.abort_all();
        }
    }
    match tokio::time::timeout(std::time::Duration::from_secs(10), raft.shutdown()).await {
        Ok(_) => tracing::info!("replication stopped"),
        Err(_) => tracing::warn!("replication did not stop within 10 s"),
    }
    let _ = core_tx.send(core::CoreMsg::Shutdown);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), core_task).await;
    tracing::info!(ms = started.elapsed().as_millis() as u64, "stopped");
}
