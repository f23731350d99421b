//! Replication: every write becomes an entry of a Raft log (openraft), is committed when a
//! majority has it durably, and is then applied by every member's core in log order.
//!
//! A standalone server is a one-member group on the same code path. Pieces:
//! - [`log_store`]: the durable Raft log (fsync, group commit, torn-tail recovery), the vote;
//! - [`state_machine`]: openraft's state machine interface, backed by the core task that owns
//!   the DataTree (apply, snapshot build and install go to it as messages);
//! - [`events`]: what quorum reports to the server above it (it imports nothing of it);
//! - [`proposer`]: the leader's group-commit path from prepped writes into the log;
//! - [`network`]: Raft RPCs between members (append/snapshot on the peer port, votes on the
//!   election port) and the forwarding of client writes, syncs and session liveness from
//!   followers to the leader.
//!
//! zxids are computed at apply, as ZooKeeper numbers its transactions: `term << 32 | n`,
//! where n counts the transactions applied in that term (from 1). Every member applies the same
//! log, so every member computes the same zxids.
//!
//! One Raft entry carries a [`ZkBatch`]: the leader's proposer sends everything that queued
//! up while the previous batch was being made durable, so concurrent writes share one fsync.

pub mod detector;
pub mod events;
pub mod log_store;
pub mod network;
pub mod proposer;
pub mod state_machine;

use crate::ids::Zxid;
use serde::{Deserialize, Serialize};
use std::io::Cursor;

/// One replicated write: a jute-encoded [`crate::tree::Txn`] plus who is waiting for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZkEntry {
    /// The member whose client waits for this entry (0: nobody, e.g. expiry or reaping).
    pub origin: u64,
    /// The origin's request id, to find the waiting client.
    pub req: crate::ids::ReqId,
    /// The member that prepped it and its prep id, to retire in-flight change records.
    pub prep_node: u64,
    pub prep_id: u64,
    pub session: crate::ids::SessionId,
    pub cxid: i32,
    /// Leader's wall clock (ms) when prepped: ctime/mtime of the change.
    pub time: i64,
    pub txn: Vec<u8>,
}

/// What one Raft entry carries: writes in the order the leader prepped them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZkBatch(pub Vec<ZkEntry>);

openraft::declare_raft_types!(
    /// openraft's type configuration for the coordination service.
    pub TypeConfig:
        D = ZkBatch,
        R = (),
        NodeId = u64,
        Node = openraft::BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

pub type NodeId = u64;
pub type LogId = openraft::LogId<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type Raft = openraft::Raft<TypeConfig>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type Membership = openraft::StoredMembership<NodeId, openraft::BasicNode>;

/// The zxid of the next transaction after `last`, in an entry of `term`.
pub fn next_zxid(last: Zxid, term: u64) -> Zxid {
    let term = (term as i64) & 0x7fff_ffff;
    if (last.0 >> 32) < term {
        Zxid((term << 32) | 1)
    } else {
        Zxid(last.0 + 1)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn zxids_count_within_a_term_and_restart_with_a_new_one() {
        use crate::ids::Zxid;
        assert_eq!(super::next_zxid(Zxid(0), 1), Zxid(0x1_0000_0001));
        assert_eq!(super::next_zxid(Zxid(0x1_0000_0001), 1), Zxid(0x1_0000_0002));
        assert_eq!(super::next_zxid(Zxid(0x1_0000_0002), 3), Zxid(0x3_0000_0001));
    }
}

pub(crate) fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

pub(crate) fn write_err(e: impl std::fmt::Display) -> StorageError {
    let io = io_err(e);
    openraft::StorageIOError::write_logs(openraft::AnyError::new(&io)).into()
}


