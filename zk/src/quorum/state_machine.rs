//! openraft's `RaftStateMachine`, backed by the core task: the DataTree lives there (so reads,
//! watches and replies need no locks), and this adapter turns openraft's calls into
//! [`SmMsg`] events (see [`super::events`]) answered through oneshot channels.
//!
//! Snapshots are the files of [`crate::storage::snapshot`], whose opaque `meta` section holds
//! openraft's `SnapshotMeta` (last log id, membership); the same bytes travel to a follower
//! that needs a snapshot.

use super::{LogId, Membership, NodeId, StorageError, TypeConfig};
use super::events::{Events, QuorumEvent, SmMsg};
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot};
use openraft::{BasicNode, OptionalSend, SnapshotMeta};
use std::io::Cursor;
use tokio::sync::oneshot;

pub type Meta = SnapshotMeta<NodeId, BasicNode>;

#[derive(Clone)]
pub struct StateMachine {
    core: Events,
}

impl StateMachine {
    pub fn new(core: Events) -> Self {
        StateMachine { core }
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> SmMsg) -> Result<T, StorageError> {
        let (tx, rx) = oneshot::channel();
        if !self.core.emit(QuorumEvent::Sm(make(tx))) {
            return Err(sm_err("the core has stopped"));
        }
        rx.await.map_err(|_| sm_err("the core has stopped"))
    }
}

fn sm_err(e: impl std::fmt::Display) -> StorageError {
    let io = super::io_err(e);
    openraft::StorageIOError::write_state_machine(openraft::AnyError::new(&io)).into()
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (meta, bytes) = self.ask(SmMsg::BuildSnapshot).await?.map_err(sm_err)?;
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(bytes)) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership), StorageError> {
        self.ask(SmMsg::AppliedState).await
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError>
    where
        I: IntoIterator<Item = super::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        let n = entries.len();
        self.ask(|tx| SmMsg::Apply(entries, tx)).await?;
        Ok(vec![(); n])
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(&mut self, meta: &Meta, snapshot: Box<Cursor<Vec<u8>>>) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let meta = meta.clone();
        self.ask(|tx| SmMsg::Install(meta, bytes, tx)).await?.map_err(sm_err)
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let cur = self.ask(SmMsg::CurrentSnapshot).await?;
        Ok(cur.map(|(meta, bytes)| Snapshot { meta, snapshot: Box::new(Cursor::new(bytes)) }))
    }
}
