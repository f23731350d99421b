//! openraft's own compliance suite for storage implementations, run against our Raft log
//! (`quorum::log_store`) and our state machine (this core task behind
//! `quorum::state_machine`): log state, append/truncate/purge, vote, membership tracking,
//! apply and snapshots. It lives in `server` because it needs both layers.

use super::core::{events_to, Core, Loaded};
use crate::config::Config;
use crate::quorum::log_store::{self, LogStore};
use crate::quorum::network::MemberAddr;
use crate::quorum::state_machine::StateMachine;
use crate::quorum::{write_err, StorageError, TypeConfig};
use openraft::testing::{StoreBuilder, Suite};
use std::collections::BTreeMap;
use std::sync::Arc;

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().map_err(write_err)?;
        let cfg = Config::from_str(&format!("dataDir={}\n", dir.path().display())).map_err(write_err)?;
        std::fs::create_dir_all(cfg.snap_dir()).map_err(write_err)?;
        let log = log_store::open(&cfg.log_dir(), true).map_err(write_err)?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let members = BTreeMap::from([(1, MemberAddr { peer: String::new(), election: String::new() })]);
        let loaded = Loaded::empty();
        let core = Core::new(Arc::new(cfg), 1, members, loaded, tx.clone());
        tokio::spawn(core.run(rx));
        Ok((dir, log, StateMachine::new(events_to(tx))))
    }
}

#[test]
fn openraft_storage_suite() {
    Suite::test_all(Builder).expect("openraft's storage suite");
}
