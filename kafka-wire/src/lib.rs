//! Kafka's wire pieces that both sides of a connection need, shared by the broker
//! (`broker`: its log, its produce path, its follower fetchers and controlled shutdown) and
//! the tools (`shell`: the console producer/consumer and the admin tools).
//!
//! - [`batch`]: the magic-2 record-batch layout: header parsing, splitting fetched bytes
//!   into whole batches.
//! - [`compression`]: Kafka's codecs as the Java client frames them (gzip, xerial snappy,
//!   LZ4 frames with independent blocks, zstd), with decompression bounded in size.
//! - [`read`]: a checked big-endian reader for the fixed-width formats the codec crate
//!   does not cover.
//! - [`txn_log`]: the records of `__transaction_state` (Kafka 2.5's TransactionLog).
//! - [`legacy`]: the magic-0/1 message sets of Produce v0-2 and Fetch v0-3, converted to
//!   and from magic-2 batches (Kafka 2.5's LogValidator and down-conversion rules).
//! - [`conn`]: one outgoing connection to a broker: size-prefixed frames, one request in
//!   flight, every call bounded by a timeout, response frames bounded in size.
//!
//! Pure functions on bytes except [`conn`], which owns a socket.

pub mod batch;
pub mod compression;
pub mod conn;
pub mod legacy;
pub mod read;
pub mod txn_log;

pub use conn::{Conn, WireError};
