//! The Kafka-compatible broker (issue 5): Kafka 2.5's ZooKeeper layout, Kafka's on-disk log
//! format, and the produce/fetch/admin APIs through the `kafka-protocol` codec.
//!
//! Flow: `server` (frames, dispatch) -> `server::handlers` (one per API) -> `log`
//! (segments) and `admin` / `zkdata` (ZooKeeper writes) ; `controller` elects leaders and
//! writes partition state; `metadata` keeps each broker's view of the cluster from the znodes.
//! `group` is the group coordinator on `__consumer_offsets`; `producer_ids` hands out
//! idempotent producer ids (the per-partition sequence checks live in `log::producer_state`).
//! `replica` is replication: followers fetch from leaders, the ISR and high watermark,
//! acks=all, truncation by leader epoch. `fuzzgen` makes request frames for the fuzz tests.
//! `metrics` counts requests, bytes and ISR changes and serves them to Prometheus.
//! Not here: transactions.

pub mod admin;
pub mod broker;
pub mod config;
pub mod controller;
pub mod dynamic_config;
pub mod error_code;
pub mod fuzzgen;
pub mod group;
pub mod ids;
pub mod lifecycle;
pub mod log;
pub mod log4j;
pub mod metadata;
pub mod metrics;
pub mod producer_ids;
pub mod replica;
pub mod server;
pub mod topic_config;
pub mod txn;
pub mod zk;
pub mod zkdata;
