//! The server process: checks the directories, recovers state, binds the client port,
//! starts the transaction-log thread and the core, accepts connections, and shuts down
//! cleanly on SIGTERM/SIGINT (stops accepting, drains in-flight writes to disk, exits 0).
//! Sessions survive a restart: they live in the log and snapshots, as in ZooKeeper.

pub mod connection;
pub mod core;
pub mod fourlw;
pub mod prep;
pub mod reads;

use crate::config::Config;
use crate::storage;
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

/// Reads `dataDir/myid` when `server.N` lines are present; standalone otherwise.
fn server_id(cfg: &Config) -> anyhow::Result<u8> {
    if cfg.servers.is_empty() {
        return Ok(0);
    }
    let path = cfg.data_dir.join("myid");
    let text = std::fs::read_to_string(&path).map_err(|e| anyhow!("{}: cannot read myid ({e}); it must hold this server's N from server.N", path.display()))?;
    let id: u64 = text.trim().parse().map_err(|_| anyhow!("{}: myid {:?} is not a number", path.display(), text.trim()))?;
    if !cfg.servers.contains_key(&id) {
        bail!("{}: myid {id} has no matching server.{id} line in the config", path.display());
    }
    if cfg.servers.len() > 1 {
        bail!(
            "server.N lines name {} servers: ensemble mode is not implemented yet in this build; \
             remove the server.N lines to run standalone",
            cfg.servers.len()
        );
    }
    if id > 254 {
        bail!("{}: myid {id} must be at most 254", path.display());
    }
    Ok(id as u8)
}

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    ensure_writable(&cfg.data_dir, "dataDir")?;
    ensure_writable(&cfg.data_log_dir, "dataLogDir")?;
    let _id = server_id(&cfg)?;
    let snap_dir = cfg.snap_dir();
    let log_dir = cfg.log_dir();
    ensure_writable(&snap_dir, "dataDir")?;
    ensure_writable(&log_dir, "dataLogDir")?;
    let started = std::time::Instant::now();
    let recovered = storage::recover(&snap_dir, &log_dir).context("recovering the data directory")?;
    tracing::info!(
        zxid = format!("{:#x}", recovered.tree.last_zxid),
        snapshot_zxid = format!("{:#x}", recovered.snapshot_zxid),
        replayed = recovered.replayed,
        znodes = recovered.tree.node_count(),
        sessions = recovered.sessions.len(),
        ms = started.elapsed().as_millis() as u64,
        "recovered"
    );
    if cfg.autopurge_purge_interval > 0 {
        if let Err(e) = storage::purge(&snap_dir, &log_dir, cfg.autopurge_snap_retain_count) {
            tracing::warn!(error = %e, "autopurge at startup failed");
        }
    }
    let addr = format!("{}:{}", cfg.client_port_address, cfg.client_port);
    let listener = TcpListener::bind(&addr).await.map_err(|e| anyhow!("clientPort {}: cannot listen on {addr}: {e}", cfg.client_port))?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;

    let (log_tx, log_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let persister = storage::log::spawn_persister(log_dir.clone(), log_rx, done_tx, cfg.force_sync).context("starting the transaction log thread")?;
    let cfg = Arc::new(cfg);
    let core = core::Core::new(cfg.clone(), recovered, log_tx);
    let (core_tx, core_rx) = mpsc::unbounded_channel();
    let mut core_task = tokio::spawn(core.run(core_rx, done_rx));
    tracing::info!(address = %addr, data_dir = %cfg.data_dir.display(), "binding to port {addr}; serving clients (standalone)");

    let per_ip: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::new(Mutex::new(HashMap::new()));
    let allow_cfg = cfg.clone();
    let allowed: Arc<dyn Fn(&str) -> bool + Send + Sync> = Arc::new(move |c: &str| allow_cfg.allows_4lw(c));
    let mut next_conn = 1u64;
    let outcome: anyhow::Result<()> = loop {
        tokio::select! {
            _ = term.recv() => break Ok(()),
            _ = int.recv() => break Ok(()),
            r = &mut core_task => {
                break match r {
                    Ok(Err(e)) => Err(anyhow!("stopping: {e}")),
                    Ok(Ok(())) => Ok(()),
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
                let ctx = connection::ConnCtx { id: next_conn, addr: peer, core: core_tx.clone(), max_frame: cfg.max_frame(), four_letter_allowed: allowed.clone() };
                next_conn += 1;
                let per_ip = per_ip.clone();
                let limited = cfg.max_client_cnxns > 0;
                tokio::spawn(async move {
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
    tracing::info!("shutting down: draining in-flight writes");
    drop(listener);
    let _ = core_tx.send(core::CoreMsg::Shutdown);
    if !core_task.is_finished() {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(15), &mut core_task).await;
    }
    drop(core_tx);
    let _ = tokio::task::spawn_blocking(move || persister.join()).await;
    tracing::info!("stopped");
    outcome
}
