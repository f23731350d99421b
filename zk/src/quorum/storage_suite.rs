//! openraft's own compliance suite for storage implementations, run against our Raft log
//! (`log_store`) and our state machine (the core task behind `state_machine`): log state,
//! append/truncate/purge, vote, membership tracking, apply and snapshots.

use super::log_store::{self, LogStore};
use super::network::MemberAddr;
use super::state_machine::StateMachine;
use super::{StorageError, TypeConfig};
use crate::config::Config;
use crate::server::core::{Core, Loaded};
use openraft::testing::{StoreBuilder, Suite};
use std::collections::BTreeMap;
use std::sync::Arc;

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().map_err(super::write_err)?;
        let cfg = Config::from_str(&format!("dataDir={}\n", dir.path().display())).map_err(super::write_err)?;
        std::fs::create_dir_all(cfg.snap_dir()).map_err(super::write_err)?;
        let log = log_store::open(&cfg.log_dir(), true).map_err(super::write_err)?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let members = BTreeMap::from([(1, MemberAddr { peer: String::new(), election: String::new() })]);
        let loaded = Loaded::empty();
        let core = Core::new(Arc::new(cfg), 1, members, loaded, tx.clone());
        tokio::spawn(core.run(rx));
        Ok((dir, log, StateMachine::new(tx)))
    }
}

#[test]
fn openraft_storage_suite() {
    Suite::test_all(Builder).expect("openraft's storage suite");
}
