//! Snapshots of the state machine, for openraft: building one from the tree (written in the
//! background in the format of [`crate::storage::snapshot`], the log purged up to the previous
//! one once it is durable) and installing one received from the leader (decoded, made
//! durable, then swapped in for the tree). Reached through [`SmMsg`](crate::quorum::events::SmMsg)
//! calls dispatched by [`super::apply`].

use super::core::{now_ms, Core, CoreMsg};
use super::prep::Pending;
use crate::ids::{ReqId, SessionId, Zxid};
use crate::quorum::state_machine::Meta;
use crate::session::SessionTracker;
use crate::storage::{self, snapshot};
use crate::tree::DataTree;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::time::{Duration, Instant};

/// A received snapshot, decoded and durable, and openraft waiting for the install.
pub struct Installed {
    meta: Meta,
    tree: DataTree,
    sessions: BTreeMap<SessionId, i32>,
    path: PathBuf,
    done: oneshot::Sender<Result<(), String>>,
}

/// Writes a snapshot file, retrying (backoff up to 2 s) while it cannot be written, e.g. on a
/// full disk; gives up only when `abandoned()` (openraft stopped waiting) or the blocking
/// task fails. An error reported to openraft would stop it for good.
async fn write_snapshot_retrying(dir: PathBuf, zxid: Zxid, bytes: Arc<Vec<u8>>, abandoned: impl Fn() -> bool) -> Result<PathBuf, String> {
    let mut backoff = Duration::from_millis(100);
    let mut warned = false;
    loop {
        let (d, b) = (dir.clone(), bytes.clone());
        match tokio::task::spawn_blocking(move || snapshot::write(&d, zxid, &b)).await {
            Ok(Ok(p)) => {
                if warned {
                    tracing::info!(file = %p.display(), "the snapshot could be written after all");
                }
                return Ok(p);
            }
            Ok(Err(e)) if !warned => {
                tracing::error!(error = %e, "snapshot cannot be written; retrying until it can");
                warned = true;
            }
            Ok(Err(_)) => {}
            Err(e) => return Err(e.to_string()),
        }
        if abandoned() {
            return Err("abandoned".into());
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

impl Core {
    fn snapshot_meta(&self) -> Meta {
        let id = self.last_applied.map_or_else(|| "0-0".to_string(), |l| format!("{}-{}", l.leader_id.term, l.index));
        Meta { last_log_id: self.last_applied, last_membership: self.membership.clone(), snapshot_id: format!("{id}-{}", now_ms()) }
    }

    pub(super) fn build_snapshot(&mut self, tx: oneshot::Sender<Result<(Meta, Vec<u8>), String>>) {
        let meta = self.snapshot_meta();
        let meta_bytes = match bincode::serialize(&meta) {
            Ok(b) => b,
            Err(e) => {
                let _ = tx.send(Err(e.to_string()));
                return;
            }
        };
        let bytes = Arc::new(snapshot::encode(&self.tree, &self.sessions.table(), &meta_bytes));
        let zxid = self.tree.last_zxid;
        let snap_dir = self.cfg.snap_dir();
        let log_dir = self.cfg.log_dir();
        let retain = self.cfg.autopurge_snap_retain_count;
        let purge = self.cfg.autopurge_purge_interval > 0;
        let core = self.self_tx.clone();
        // Written in the background. openraft counts a snapshot once this answers (and the
        // log before the previous one is purged once the file is here, SnapshotWritten), so it
        // answers only when the file is durable: a write that fails (full disk) is retried
        // until it succeeds or openraft stops waiting. An error here would stop openraft for
        // good.
        tokio::spawn(async move {
            let path = match write_snapshot_retrying(snap_dir.clone(), zxid, bytes.clone(), || tx.is_closed()).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            tracing::info!(file = %path.display(), bytes = bytes.len(), "snapshot written");
            if purge {
                let (s, l) = (snap_dir.clone(), log_dir.clone());
                match tokio::task::spawn_blocking(move || storage::purge(&s, &l, retain)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "autopurge failed"),
                    Err(e) => tracing::warn!(error = %e, "autopurge failed"),
                }
            }
            let _ = core.send(CoreMsg::SnapshotWritten(meta.clone(), path));
            let bytes = Arc::try_unwrap(bytes).unwrap_or_else(|b| (*b).clone());
            let _ = tx.send(Ok((meta, bytes)));
        });
    }

    /// A snapshot file is durable: it becomes the current one, and the log before the
    /// previous one may go.
    pub(super) fn snapshot_written(&mut self, meta: Meta, path: PathBuf) {
        let newer = self.current_snapshot.as_ref().is_none_or(|(m, _)| m.last_log_id <= meta.last_log_id);
        if newer {
            // The log is kept from the previous snapshot on (openraft purges nothing by
            // itself): if this new one is ever damaged, the previous one plus the log
            // still rebuild everything (see `recovery`).
            let previous = self.current_snapshot.replace((meta, path)).and_then(|(m, _)| m.last_log_id);
            if let (Some(prev), Some(raft)) = (previous, self.raft.clone()) {
                tokio::spawn(async move {
                    if let Err(e) = raft.trigger().purge_log(prev.index).await {
                        tracing::debug!(error = %e, "log purge not scheduled");
                    }
                });
            }
        }
    }

    /// A snapshot from the leader: decoded now, made durable in the background (retried
    /// while the disk cannot take it, the old tree serving reads meanwhile), then installed.
    pub(super) fn install_snapshot(&mut self, meta: Meta, bytes: Vec<u8>, done: oneshot::Sender<Result<(), String>>) {
        let (tree, sessions, _) = match snapshot::decode("received snapshot", &bytes) {
            Ok(d) => d,
            Err(e) => {
                let _ = done.send(Err(e.to_string()));
                return;
            }
        };
        let zxid = tree.last_zxid;
        let dir = self.cfg.snap_dir();
        let core = self.self_tx.clone();
        tokio::spawn(async move {
            let path = match write_snapshot_retrying(dir, zxid, Arc::new(bytes), || done.is_closed()).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = done.send(Err(e));
                    return;
                }
            };
            let _ = core.send(CoreMsg::Installed(Box::new(Installed { meta, tree, sessions, path, done })));
        });
    }

    pub(super) fn finish_install(&mut self, i: Installed) {
        let Installed { meta, tree, sessions, path, done } = i;
        tracing::info!(zxid = format!("{:#x}", tree.last_zxid), znodes = tree.node_count(), "installed a snapshot from the leader");
        self.tree = tree;
        let now = Instant::now();
        let mut tracker = SessionTracker::new(self.my_id as u8, now_ms());
        for (id, timeout) in &sessions {
            tracker.add(*id, *timeout, now);
        }
        self.sessions = tracker;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.current_snapshot = Some((meta, path));
        self.pending = Pending::default();
        self.prep_touched.clear();
        // Writes of ours that the snapshot covers will never be applied one by one here: fail
        // them (their clients reconnect and see the outcome in the data).
        let reqs: Vec<ReqId> = self.local.keys().copied().collect();
        for r in reqs {
            self.fail_local(r);
        }
        let _ = done.send(Ok(()));
    }
}
