//! Moving back: this server's state (its newest snapshot plus the log after it, read without
//! changing a file) written as an Apache ZooKeeper snapshot that Apache ZooKeeper 3.6-3.8
//! starts from. `zk-server --export-apache <dir> <config>`, with the server stopped: Apache's
//! files go to `<dir>/version-2/` (use it as Apache's dataDir). Sessions come along with their
//! timeouts, and their passwords are Apache's ([`crate::session::password`]), so clients
//! reconnect to Apache ZooKeeper with their sessions.
//!
//! For an ensemble, export from a member of the cleanly stopped group: its log may end in
//! entries that were never committed only if writes were in flight when it stopped.

use super::apache_snap;
use crate::config::Config;
use crate::ids::Zxid;
use crate::proto::Reader;
use crate::quorum::{log_store, next_zxid};
use crate::server::recovery;
use crate::tree::{Txn, TxnHeader};
use anyhow::{bail, Context};
use openraft::EntryPayload;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct Exported {
    pub zxid: Zxid,
    pub znodes: usize,
    pub sessions: usize,
    pub snapshot: PathBuf,
}

pub fn export(cfg: &Config, target: &Path) -> anyhow::Result<Exported> {
    let entries = log_store::read_entries(&cfg.log_dir()).context("reading the transaction log")?;
    let first = entries.first().map(|e| e.log_id.index);
    let bridges = |index: Option<u64>| match (index, first) {
        (_, None) => Ok(()),
        (None, Some(f)) if f <= 1 => Ok(()),
        (Some(i), Some(f)) if f <= i + 1 => Ok(()),
        (_, Some(f)) => Err(format!("the log starts at index {f}")),
    };
    let loaded = recovery::load(&cfg.snap_dir(), bridges).context("loading the newest valid snapshot")?;
    let (mut tree, mut sessions) = (loaded.tree, loaded.sessions);
    let after = loaded.snapshot.as_ref().and_then(|(m, _)| m.last_log_id.map(|l| l.index));
    let mut triggers = Vec::new();
    for e in entries {
        if after.is_some_and(|a| e.log_id.index <= a) {
            continue;
        }
        let EntryPayload::Normal(batch) = e.payload else { continue };
        for ze in batch.0 {
            if ze.txn.is_empty() {
                continue; // a sync barrier
            }
            let txn = Txn::read(&mut Reader::new(&ze.txn)).with_context(|| format!("log entry {} does not decode", e.log_id.index))?;
            let h = TxnHeader { session: ze.session, cxid: ze.cxid, zxid: next_zxid(tree.last_zxid, e.log_id.leader_id.term), time: ze.time };
            match &txn {
                Txn::CreateSession { timeout } => {
                    sessions.insert(ze.session, *timeout);
                }
                Txn::CloseSession => {
                    sessions.remove(&ze.session);
                }
                _ => {}
            }
            tree.apply(&h, &txn, &mut triggers);
            triggers.clear();
        }
    }
    let dir = target.join("version-2");
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} is not empty: export into an empty directory", dir.display());
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("snapshot.{:x}", tree.last_zxid.0));
    let bytes = apache_snap::encode(&tree, &sessions);
    let tmp = dir.join(".snapshot.tmp");
    std::fs::write(&tmp, &bytes).and_then(|_| std::fs::File::open(&tmp)?.sync_all()).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(Exported { zxid: tree.last_zxid, znodes: tree.node_count(), sessions: sessions.len(), snapshot: path })
}
