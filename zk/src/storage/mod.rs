//! Durable state on disk: the record log format ([`log`], used by the Raft log in
//! `quorum::log_store`), snapshots ([`snapshot`]) and snapshot retention ([`purge`]).
//!
//! Files live under a `version-2` directory, as in ZooKeeper: snapshots in `dataDir`, the
//! log in `dataLogDir` (the same directory unless configured otherwise). Startup loads the
//! newest snapshot that verifies and that the log still reaches back to
//! (`server::recovery`); openraft then replays the committed log entries after it.

pub mod log;
pub mod snapshot;

use std::path::{Path, PathBuf};

/// Files named `<prefix>.<hex number>` in `dir`, sorted by that number.
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

/// Keeps the newest `retain` snapshots (at least 3, as ZooKeeper insists) and deletes older
/// ones. The log's old files are removed by the log store when openraft purges entries, which
/// the core asks for up to the snapshot before the newest one. Returns what it deleted.
pub fn purge(snap_dir: &Path, _log_dir: &Path, retain: usize) -> std::io::Result<Vec<PathBuf>> {
    let retain = retain.max(3);
    let snaps = list(snap_dir, "snapshot")?;
    let mut deleted = Vec::new();
    if snaps.len() <= retain {
        return Ok(deleted);
    }
    for (_, p) in &snaps[..snaps.len() - retain] {
        std::fs::remove_file(p)?;
        deleted.push(p.clone());
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Zxid;
    use crate::tree::DataTree;
    use std::collections::BTreeMap;

    #[test]
    fn purge_keeps_the_newest_snapshots() {
        let d = tempfile::tempdir().unwrap();
        let mut tree = DataTree::new();
        for z in 1..=6 {
            tree.last_zxid = Zxid(z);
            snapshot::write(d.path(), Zxid(z), &snapshot::encode(&tree, &BTreeMap::new(), b"")).unwrap();
        }
        std::fs::write(d.path().join("unrelated"), b"x").unwrap();
        let deleted = purge(d.path(), d.path(), 3).unwrap();
        assert_eq!(deleted.len(), 3);
        let left: Vec<i64> = list(d.path(), "snapshot").unwrap().into_iter().map(|(z, _)| z).collect();
        assert_eq!(left, vec![4, 5, 6]);
        // retain below 3 still keeps 3
        assert!(purge(d.path(), d.path(), 1).unwrap().is_empty());
        assert!(d.path().join("unrelated").exists());
    }
}
