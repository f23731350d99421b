//! The ZooKeeper client wire protocol (jute), bytes in and bytes out, no I/O.
//!
//! `jute` has the primitives, `codes` the numbers, `records` the request and response
//! types. The server's `connection` module frames TCP bytes and hands each frame here.

pub mod codes;
pub mod jute;
pub mod records;

pub use codes::*;
pub use jute::{DecodeError, Reader, Writer};
pub use records::*;

#[cfg(test)]
mod tests;
