//! ZooKeeper's client wire protocol (the records of `zookeeper.jute` that cross the client
//! port), bytes in and bytes out, no I/O: one codec for both directions, shared by the
//! server (`zk`, which decodes requests and encodes replies), the broker's ZooKeeper client
//! (`broker::zk`, the opposite directions) and the load generator.
//!
//! `primitive` has the byte-level encoding (every length and count checked against what
//! remains before anything is allocated), `codes` the numbers, `records` the request and
//! response types. Independent clients (kazoo, zkCli, the C client, stock Kafka brokers)
//! test this codec from outside through the server.

pub mod codes;
pub mod primitive;
pub mod quota;
pub mod records;

pub use codes::*;
pub use primitive::{DecodeError, Reader, Writer};
pub use records::*;

#[cfg(test)]
mod tests;
