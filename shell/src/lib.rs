//! Command-line tools that ship beside the ZooKeeper-compatible server and the Kafka-compatible
//! broker.
//!
//! `zookeeper_shell` is the `zookeeper-shell` binary: a client of any ZooKeeper-compatible
//! server that behaves like Apache ZooKeeper's zkCli (and so like Kafka's
//! `zookeeper-shell.sh`). `kafka` is the `kafka-tools` binary behind the `scripts/kafka-*.sh` tools (Kafka 2.5 flags and
//! output formats) with its own small client on the `kafka-protocol` codec.

pub mod kafka;
pub mod zookeeper_shell;
