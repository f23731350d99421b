//! `zk`: a ZooKeeper-compatible coordination service.
//!
//! Request flow (see `../shared/DESIGN.md`):
//! socket -> [`server::connection`] (framing, four-letter words) -> [`server::core`]
//! ([`server::clients`], [`server::ordering`], [`server::propose`] with [`server::prep`])
//! -> [`quorum`] ([`quorum::proposer`], openraft, [`storage::log`]: fsync, group commit)
//! -> [`server::apply`] ([`tree::DataTree::apply`], [`watch`]) -> reply in xid order.
//!
//! Layers, lowest first: [`ids`], [`proto`] -> [`tree`], [`watch`], [`session`], [`storage`]
//! -> [`quorum`] -> [`server`]. `quorum` reports upward through [`quorum::events`] and imports
//! nothing of `server` (`zk/tools/deps.sh` checks it).

pub mod config;
/// Fuzzing inputs (tests and examples only; not on any server path).
pub mod fuzzgen;
pub mod ids;
pub mod migrate;
pub mod proto;
pub mod quorum;
pub mod server;
pub mod session;
pub mod storage;
pub mod tree;
pub mod watch;
