//! Startup: which snapshot the state machine starts from, checked against the Raft log
//! before openraft is started (openraft would otherwise stop on a log index it cannot find,
//! naming no file).
//!
//! Snapshots are tried newest first. A damaged one (bad header, checksum mismatch,
//! undecodable) is skipped with a warning naming the file and the byte offset of the damage,
//! as ZooKeeper falls back to an older snapshot. The snapshot chosen must be bridged by the
//! log: every entry after the last one it holds must still be in the log. The log is purged
//! only up to the snapshot before the newest one (the core asks openraft for that once a new
//! snapshot is on disk), so a damaged newest snapshot falls back to the previous one plus the
//! log. When no valid snapshot is bridged (the two newest are damaged, or log files are
//! missing), startup refuses with a message naming the damaged files, the offsets and what
//! the log lacks: the transactions in between exist nowhere else.

use crate::ids::SessionId;
use crate::quorum::state_machine::Meta;
use crate::storage::{self, snapshot};
use crate::tree::DataTree;
use anyhow::bail;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What startup found on disk for the state machine.
pub struct Loaded {
    pub tree: DataTree,
    pub sessions: BTreeMap<SessionId, i32>,
    pub snapshot: Option<(Meta, PathBuf)>,
}

impl Loaded {
    pub fn empty() -> Loaded {
        Loaded { tree: DataTree::new(), sessions: BTreeMap::new(), snapshot: None }
    }
}

/// Loads the newest valid snapshot in `snap_dir` that the log bridges. `bridges(index)` says
/// whether the log holds every entry after `index` (the last entry a snapshot holds; `None`:
/// no snapshot), and if not, what is missing.
pub fn load(snap_dir: &Path, bridges: impl Fn(Option<u64>) -> Result<(), String>) -> anyhow::Result<Loaded> {
    let mut damaged: Vec<String> = Vec::new();
    for (_, path) in storage::list(snap_dir, "snapshot")?.iter().rev() {
        let name = path.display().to_string();
        let decoded = std::fs::read(path)
            .map_err(|e| snapshot::SnapError::Io(name.clone(), e).to_string())
            .and_then(|b| snapshot::decode(&name, &b).map_err(|e| e.to_string()));
        let (tree, sessions, meta) = match decoded {
            Ok(d) => d,
            Err(why) => {
                tracing::warn!("damaged snapshot, trying an older one: {why}");
                damaged.push(why);
                continue;
            }
        };
        let meta: Meta = match bincode::deserialize(&meta) {
            Ok(m) => m,
            Err(e) => {
                let why = format!("{name}: the snapshot metadata at byte offset 16 does not decode: {e}");
                tracing::warn!("damaged snapshot, trying an older one: {why}");
                damaged.push(why);
                continue;
            }
        };
        let index = meta.last_log_id.map(|l| l.index);
        if let Err(gap) = bridges(index) {
            let upto = index.map_or_else(|| "nothing".to_string(), |i| format!("log index {i}"));
            bail!("{}the newest valid snapshot, {name}, holds the state up to {upto}, but {gap}: the transactions in between exist nowhere else; refusing to start (restore {} from a backup)",
                damaged_prefix(&damaged), if damaged.is_empty() { "the missing log files" } else { "the damaged snapshot or the missing log" });
        }
        if !damaged.is_empty() {
            tracing::warn!(file = %name, "starting from an older snapshot plus the log after it; newer snapshots are damaged: {}", damaged.join("; "));
        }
        return Ok(Loaded { tree, sessions, snapshot: Some((meta, path.clone())) });
    }
    if let Err(gap) = bridges(None) {
        bail!("{}no valid snapshot is left in {}, and {gap}: refusing to start (restore a snapshot or the log from a backup)", damaged_prefix(&damaged), snap_dir.display());
    }
    if !damaged.is_empty() {
        tracing::warn!("no valid snapshot; replaying the whole log (damaged: {})", damaged.join("; "));
    }
    Ok(Loaded::empty())
}

fn damaged_prefix(damaged: &[String]) -> String {
    if damaged.is_empty() {
        String::new()
    } else {
        format!("damaged snapshot(s): {}; ", damaged.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Zxid;
    use crate::quorum::{LogId, Membership};

    /// Writes a snapshot at `zxid` whose meta says it holds the log up to `index`.
    fn snap(dir: &Path, zxid: i64, index: u64) -> PathBuf {
        let mut tree = DataTree::new();
        tree.last_zxid = Zxid(zxid);
        let log_id = LogId::new(openraft::CommittedLeaderId::new(1, 1), index);
        let meta = Meta { last_log_id: Some(log_id), last_membership: Membership::default(), snapshot_id: format!("s{index}") };
        snapshot::write(dir, Zxid(zxid), &snapshot::encode(&tree, &BTreeMap::new(), &bincode::serialize(&meta).unwrap())).unwrap()
    }

    fn flip(p: &Path) {
        let mut b = std::fs::read(p).unwrap();
        let mid = b.len() / 2;
        b[mid] ^= 0xff;
        std::fs::write(p, b).unwrap();
    }

    /// A log purged up to `purged` holding every entry after it up to 300.
    fn log(purged: Option<u64>) -> impl Fn(Option<u64>) -> Result<(), String> {
        move |index| match (purged, index) {
            (Some(p), i) if i.is_none_or(|i| i < p) => Err(format!("the log has been purged up to index {p}")),
            _ => Ok(()),
        }
    }

    #[test]
    fn a_damaged_newest_snapshot_falls_back_to_the_previous_one() {
        let d = tempfile::tempdir().unwrap();
        snap(d.path(), 0x100, 100);
        let newest = snap(d.path(), 0x200, 200);
        flip(&newest);
        let l = load(d.path(), log(Some(100))).unwrap();
        assert_eq!(l.tree.last_zxid, Zxid(0x100));
        assert_eq!(l.snapshot.unwrap().0.last_log_id.map(|l| l.index), Some(100));
        // Cut short instead of flipped: the same.
        let b = std::fs::read(&newest).unwrap();
        std::fs::write(&newest, &b[..b.len() / 3]).unwrap();
        assert_eq!(load(d.path(), log(Some(100))).unwrap().tree.last_zxid, Zxid(0x100));
        // Nothing damaged: the newest.
        snap(d.path(), 0x200, 200);
        assert_eq!(load(d.path(), log(Some(100))).unwrap().tree.last_zxid, Zxid(0x200));
    }

    #[test]
    fn no_bridge_refuses_naming_the_damaged_file_and_offset() {
        let d = tempfile::tempdir().unwrap();
        snap(d.path(), 0x100, 100);
        let mid = snap(d.path(), 0x200, 200);
        let newest = snap(d.path(), 0x300, 300);
        flip(&newest);
        flip(&mid);
        let err = load(d.path(), log(Some(200))).err().unwrap().to_string();
        assert!(err.contains("snapshot.300") && err.contains("snapshot.200") && err.contains("byte offset"), "{err}");
        assert!(err.contains("purged up to index 200") && err.contains("refusing to start"), "{err}");
        // Every snapshot damaged and the log purged: refused too.
        let old = d.path().join("snapshot.100");
        flip(&old);
        let err = load(d.path(), log(Some(200))).err().unwrap().to_string();
        assert!(err.contains("snapshot.100") && err.contains("no valid snapshot"), "{err}");
        // Every snapshot damaged but the whole log there: replay it all.
        assert!(load(d.path(), log(None)).unwrap().snapshot.is_none());
        // A snapshot whose meta does not decode counts as damaged, with its offset.
        let d2 = tempfile::tempdir().unwrap();
        let tree = DataTree::new();
        snapshot::write(d2.path(), Zxid(5), &snapshot::encode(&tree, &BTreeMap::new(), b"not bincode")).unwrap();
        let err = load(d2.path(), log(Some(1))).err().unwrap().to_string();
        assert!(err.contains("snapshot.5") && err.contains("byte offset 16"), "{err}");
    }
}
