//! `zk`: a ZooKeeper-compatible coordination service.
//!
//! Request flow (see `../shared/DESIGN.md`):
//! socket -> [`server::connection`] (framing) -> [`server::core`] (sessions, prep, ordering)
//! -> [`storage`] (txn log, fsync, group commit) -> [`tree::DataTree::apply`] -> [`watch`]
//! -> reply in xid order.

pub mod proto;
pub mod storage;
pub mod tree;
