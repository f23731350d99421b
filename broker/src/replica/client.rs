//! A broker's outgoing Kafka connection to another broker (follower fetches,
//! OffsetsForLeaderEpoch, controlled shutdown): the tools' connection too, from the
//! `kafka-wire` crate (one request at a time, every call bounded by a timeout).

pub use kafka_wire::conn::{split_correlation, Conn as BrokerConn, WireError as ClientError};
