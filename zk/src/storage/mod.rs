//! Durable state: the transaction log ([`log`]), snapshots ([`snapshot`]), startup
//! recovery ([`recover`]) and retention ([`purge`]).
//!
//! Both live under a `version-2` directory: snapshots in `dataDir`, logs in `dataLogDir`
//! (the same directory unless configured otherwise), as ZooKeeper lays them out.
//! Recovery = the newest snapshot that verifies + replay of every later log record, in
//! zxid order, with no gaps (every zxid, even a failed request's, is logged).

pub mod log;
pub mod snapshot;

use crate::proto::Reader;
use crate::tree::{DataTree, Txn, TxnHeader};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What startup recovered.
pub struct Recovered {
    pub tree: DataTree,
    /// Live sessions: id -> negotiated timeout.
    pub sessions: BTreeMap<i64, i32>,
    pub snapshot_zxid: i64,
    pub replayed: usize,
    pub truncated: Option<(PathBuf, u64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error(transparent)]
    Scan(#[from] log::ScanError),
    #[error("{path}: record at offset {offset} does not decode: {why}")]
    BadRecord { path: String, offset: u64, why: String },
    #[error("{path}: record at offset {offset} has zxid {got:#x}, expected {want:#x}: transactions are missing; refusing to start")]
    Gap { path: String, offset: u64, got: i64, want: i64 },
    #[error("no valid snapshot and the logs do not start at the first transaction: {0}")]
    NoBase(String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// Files named `<prefix>.<hex zxid>` in `dir`, sorted by zxid.
pub fn list(dir: &Path, prefix: &str) -> std::io::Result<Vec<(i64, PathBuf)>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(hex) = name.strip_prefix(prefix).and_then(|s| s.strip_prefix('.')) {
            if let Ok(z) = i64::from_str_radix(hex, 16) {
                out.push((z, e.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Loads the newest valid snapshot and replays the logs after it.
pub fn recover(snap_dir: &Path, log_dir: &Path) -> Result<Recovered, RecoverError> {
    let ioe = |p: &Path| {
        let s = p.display().to_string();
        move |e| RecoverError::Io(s, e)
    };
    let snaps = list(snap_dir, "snapshot").map_err(ioe(snap_dir))?;
    let mut base: Option<(DataTree, BTreeMap<i64, i32>)> = None;
    for (_, path) in snaps.iter().rev() {
        let bytes = std::fs::read(path).map_err(ioe(path))?;
        match snapshot::decode(&path.display().to_string(), &bytes) {
            Ok(s) => {
                base = Some(s);
                break;
            }
            Err(e) => tracing::warn!(error = %e, "skipping unusable snapshot, trying an older one"),
        }
    }
    let had_snapshots = !snaps.is_empty();
    let (mut tree, mut sessions) = base.unwrap_or_else(|| (DataTree::new(), BTreeMap::new()));
    let snapshot_zxid = tree.last_zxid;
    let logs = list(log_dir, "log").map_err(ioe(log_dir))?;
    let mut replayed = 0usize;
    let mut truncated = None;
    let mut triggers = Vec::new();
    let last_index = logs.len().saturating_sub(1);
    for (i, (_, path)) in logs.iter().enumerate() {
        let name = path.display().to_string();
        let (records, tail) = log::scan(path)?;
        if let log::Tail::Torn { offset } = tail {
            if i != last_index {
                return Err(RecoverError::Scan(log::ScanError::Corrupt {
                    path: name,
                    offset,
                    why: "damaged record in a log that is not the newest".into(),
                }));
            }
            tracing::warn!(file = %name, offset, "cutting off a torn last record (an unacknowledged write)");
            log::truncate(path, offset).map_err(ioe(path))?;
            truncated = Some((path.clone(), offset));
        }
        for rec in records {
            let bad = |why: String| RecoverError::BadRecord { path: name.clone(), offset: rec.offset, why };
            let mut r = Reader::new(&rec.payload);
            let h = TxnHeader::read(&mut r).map_err(|e| bad(e.to_string()))?;
            let txn = Txn::read(&mut r).map_err(|e| bad(e.to_string()))?;
            if h.zxid <= tree.last_zxid {
                continue;
            }
            if h.zxid != tree.last_zxid + 1 {
                if replayed == 0 && had_snapshots && tree.last_zxid == 0 {
                    return Err(RecoverError::NoBase(name));
                }
                return Err(RecoverError::Gap { path: name, offset: rec.offset, got: h.zxid, want: tree.last_zxid + 1 });
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
            triggers.clear();
            tree.apply(&h, &txn, &mut triggers);
            replayed += 1;
        }
    }
    Ok(Recovered { tree, sessions, snapshot_zxid, replayed, truncated })
}

/// Keeps the newest `retain` snapshots (at least 3, as ZooKeeper insists) and deletes the
/// logs whose every record is older than the oldest kept snapshot. Returns what it deleted.
pub fn purge(snap_dir: &Path, log_dir: &Path, retain: usize) -> std::io::Result<Vec<PathBuf>> {
    let retain = retain.max(3);
    let snaps = list(snap_dir, "snapshot")?;
    let mut deleted = Vec::new();
    if snaps.len() <= retain {
        return Ok(deleted);
    }
    let oldest_kept = snaps[snaps.len() - retain].0;
    for (_, p) in &snaps[..snaps.len() - retain] {
        std::fs::remove_file(p)?;
        deleted.push(p.clone());
    }
    let logs = list(log_dir, "log")?;
    // log i holds zxids [start_i, start_{i+1}); it is needed unless start_{i+1} <= oldest_kept + 1.
    for w in logs.windows(2) {
        if w[1].0 <= oldest_kept + 1 {
            std::fs::remove_file(&w[0].1)?;
            deleted.push(w[0].1.clone());
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests;
