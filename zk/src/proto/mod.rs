//! The ZooKeeper client wire protocol (jute), bytes in and bytes out, no I/O: the `jute`
//! crate, which the broker's ZooKeeper client shares. The server's `connection` module
//! frames TCP bytes and hands each frame to it.

pub use jute::*;
