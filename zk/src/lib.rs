//! `zk`: a ZooKeeper-compatible coordination service.
//!
//! Request flow (see `../shared/DESIGN.md`):
//! socket -> [`server::connection`] (framing, four-letter words) -> [`server::core`]
//! (sessions, [`server::prep`], ordering) -> [`storage::log`] (fsync, group commit)
//! -> [`tree::DataTree::apply`] -> [`watch`] -> reply in xid order.

pub mod config;
/// Fuzzing inputs (tests and examples only; not on any server path).
pub mod fuzzgen;
pub mod proto;
pub mod quorum;
pub mod server;
pub mod session;
pub mod storage;
pub mod tree;
pub mod watch;
