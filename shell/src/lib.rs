//! Command-line tools that ship beside the ZooKeeper-compatible server and the Kafka-compatible
//! broker.
//!
//! `zookeeper_shell` is the `zookeeper-shell` binary: a client of any ZooKeeper-compatible
//! server that behaves like Apache ZooKeeper's zkCli (and so like Kafka's
//! `zookeeper-shell.sh`). The `kafka-*` tools will live beside it.

pub mod zookeeper_shell;
