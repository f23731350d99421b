//! Moving in from Apache ZooKeeper: at startup, before the log and the snapshots are opened,
//! a dataDir (and dataLogDir) that holds Apache ZooKeeper 3.4–3.8 files instead of ours is
//! imported: its newest readable snapshot ([`apache_snap`]) plus the transactions of its logs
//! after it ([`apache_log`]) are applied to a tree, which becomes our first snapshot. Every
//! znode keeps its data, ACL and Stat (zxids, versions, times, ephemeral owner); the session
//! table comes along, so ephemerals of sessions that do not come back expire as in ZooKeeper.
//!
//! Apache's files are moved, not deleted, to `apache-zookeeper-import/version-2/` next to
//! `version-2/` (in dataDir for snapshots, dataLogDir for logs): a way back. The move happens
//! before our snapshot is written; if the process dies in between, the next start finds the
//! files there without the `IMPORTED` mark and imports them again. After the mark is written
//! the directory is never read again.
//!
//! An ensemble: every member imports its own dataDir and must hold the same data, so stop the
//! Apache ensemble, copy the dataDir of the member with the highest zxid to every member, and
//! start ours on them.

pub mod apache_log;
pub mod apache_snap;
pub mod export;

use crate::ids::{SessionId, Zxid};
use crate::proto::ErrorCode;
use crate::quorum::state_machine::Meta;
use crate::quorum::Membership;
use crate::storage::{self, snapshot};
use crate::tree::{DataTree, Txn};
use anyhow::{anyhow, bail, Context};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where Apache's files go, beside `version-2/`.
pub const IMPORT_DIR: &str = "apache-zookeeper-import";
const DONE_MARK: &str = "IMPORTED";

/// What an import did.
#[derive(Debug)]
pub struct Imported {
    pub zxid: Zxid,
    pub znodes: usize,
    pub sessions: usize,
    pub from_snapshot: Option<PathBuf>,
    pub txns: usize,
    pub logs: usize,
    pub snapshot: PathBuf,
}

#[derive(Default)]
struct Found {
    apache_snaps: Vec<(i64, PathBuf)>,
    apache_logs: Vec<(i64, PathBuf)>,
    ours: Vec<PathBuf>,
}

fn head(path: &Path) -> std::io::Result<[u8; 4]> {
    let mut b = [0u8; 4];
    let mut f = std::fs::File::open(path)?;
    let mut got = 0;
    while got < 4 {
        let n = f.read(&mut b[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(b)
}

fn scan(snap_dir: &Path, log_dir: &Path) -> anyhow::Result<Found> {
    let mut f = Found::default();
    for (z, p) in storage::list(snap_dir, "snapshot")? {
        let h = head(&p).with_context(|| format!("reading {}", p.display()))?;
        if apache_snap::is_apache(&h) {
            f.apache_snaps.push((z, p));
        } else {
            f.ours.push(p);
        }
    }
    for (z, p) in storage::list(log_dir, "log")? {
        let h = head(&p).with_context(|| format!("reading {}", p.display()))?;
        if apache_log::is_apache(&h) {
            f.apache_logs.push((z, p));
        } else {
            f.ours.push(p);
        }
    }
    Ok(f)
}

fn import_dir(version2: &Path) -> PathBuf {
    version2.parent().unwrap_or(version2).join(IMPORT_DIR).join("version-2")
}

/// Imports Apache ZooKeeper's files if `snap_dir`/`log_dir` (the `version-2` directories)
/// hold them and none of ours. Returns what was imported, or None when there was nothing.
pub fn import_if_apache(snap_dir: &Path, log_dir: &Path) -> anyhow::Result<Option<Imported>> {
    let mut found = scan(snap_dir, log_dir)?;
    let (snap_import, log_import) = (import_dir(snap_dir), import_dir(log_dir));
    if found.apache_snaps.is_empty() && found.apache_logs.is_empty() {
        // A crash between moving Apache's files and writing our snapshot leaves them in the
        // import directory without the mark: finish that import.
        let pending = found.ours.is_empty() && snap_import.exists() && !snap_import.join(DONE_MARK).exists();
        if !pending {
            return Ok(None);
        }
        found = scan(&snap_import, &log_import)?;
        if found.apache_snaps.is_empty() && found.apache_logs.is_empty() {
            return Ok(None);
        }
    } else if !found.ours.is_empty() {
        bail!(
            "{} holds both Apache ZooKeeper's files ({}) and this server's ({}): move one set away before starting",
            snap_dir.display(),
            found.apache_snaps.iter().chain(&found.apache_logs).map(|(_, p)| p.display().to_string()).collect::<Vec<_>>().join(", "),
            found.ours.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    for (_, p) in &found.apache_snaps {
        if let Some(name) = p.file_name().and_then(|n| n.to_str()) {
            if name.ends_with(".gz") || name.ends_with(".snappy") {
                bail!("{}: compressed Apache snapshots are not read; start Apache ZooKeeper once with zookeeper.snapshot.compression.method unset so it writes an uncompressed snapshot", p.display());
            }
        }
    }
    let (tree, sessions, from, txns, logs) = rebuild(&found)?;
    // Move Apache's files aside first: our snapshot may take the name of one of theirs.
    let snaps = move_all(&found.apache_snaps, &snap_import)?;
    let _ = move_all(&found.apache_logs, &log_import)?;
    let from = from.and_then(|p| snaps.into_iter().find(|q| q.file_name() == p.file_name()));
    let meta = Meta { last_log_id: None, last_membership: Membership::default(), snapshot_id: format!("apache-import-{:x}", tree.last_zxid.0) };
    let meta = bincode::serialize(&meta).map_err(|e| anyhow!("encoding the snapshot metadata: {e}"))?;
    let path = snapshot::write(snap_dir, tree.last_zxid, &snapshot::encode(&tree, &sessions, &meta)).map_err(|e| anyhow!("writing the imported snapshot: {e}"))?;
    std::fs::write(snap_import.join(DONE_MARK), format!("imported into {} at zxid {:#x}\n", path.display(), tree.last_zxid.0))
        .with_context(|| format!("marking {} imported", snap_import.display()))?;
    Ok(Some(Imported { zxid: tree.last_zxid, znodes: tree.node_count(), sessions: sessions.len(), from_snapshot: from, txns, logs, snapshot: path }))
}

type Rebuilt = (DataTree, BTreeMap<SessionId, i32>, Option<PathBuf>, usize, usize);

/// The newest readable snapshot plus every logged transaction after it.
fn rebuild(found: &Found) -> anyhow::Result<Rebuilt> {
    let mut base = None;
    for (z, p) in found.apache_snaps.iter().rev() {
        let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        match apache_snap::decode(&bytes, Zxid(*z)) {
            Ok(s) => {
                base = Some((s, *z, p.clone()));
                break;
            }
            // As ZooKeeper does: an unreadable newest snapshot falls back to an older one.
            Err(e) => tracing::warn!(file = %p.display(), "Apache snapshot unreadable, trying an older one: {e}"),
        }
    }
    if base.is_none() && !found.apache_snaps.is_empty() {
        bail!("no Apache snapshot in {} is readable; nothing was imported", found.apache_snaps[0].1.parent().map(|d| d.display().to_string()).unwrap_or_default());
    }
    let (mut tree, mut sessions, snap_zxid, from) = match base {
        Some((s, z, p)) => (s.tree, s.sessions, z, Some(p)),
        None => (DataTree::new(), BTreeMap::new(), 0, None),
    };
    // The newest log starting at or before the snapshot's zxid, and every later one.
    let first = found.apache_logs.iter().rposition(|(start, _)| *start <= snap_zxid).unwrap_or(0);
    let (mut txns, mut logs) = (0, 0);
    let mut triggers = Vec::new();
    for (_, p) in &found.apache_logs[first..] {
        let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        let entries = apache_log::decode(&bytes).map_err(|e| anyhow!("{}: {e}", p.display()))?;
        logs += 1;
        for (h, txn) in entries {
            // The snapshot holds these already (logs overlap the fuzzy snapshot's start).
            if h.zxid.0 <= snap_zxid {
                continue;
            }
            match &txn {
                Txn::CreateSession { timeout } => {
                    sessions.insert(h.session, *timeout);
                }
                Txn::CloseSession => {
                    sessions.remove(&h.session);
                }
                _ => {}
            }
            let r = tree.apply(&h, &txn, &mut triggers);
            if let Txn::Create { path, parent_cversion, .. } = &txn {
                if r.err == ErrorCode::NodeExists {
                    tree.settle_replayed_create(path, *parent_cversion, h.zxid);
                }
            }
            triggers.clear();
            txns += 1;
        }
    }
    Ok((tree, sessions, from, txns, logs))
}

fn move_all(files: &[(i64, PathBuf)], to: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let mut out = Vec::new();
    for (_, p) in files {
        let Some(name) = p.file_name() else { continue };
        let dest = to.join(name);
        if p.parent() != Some(to) {
            std::fs::rename(p, &dest).with_context(|| format!("moving {} to {}", p.display(), dest.display()))?;
        }
        out.push(dest);
    }
    std::fs::File::open(to).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", to.display()))?;
    Ok(out)
}

#[cfg(test)]
mod tests;
