//! The records of `__transaction_state` as the coordinator sees them: `TxnValue` carries a
//! typed `TxnState`. The bytes (Kafka 2.5's TransactionLog, so `kafka-dump-log
//! --transaction-log-decoder` and Kafka's formatter read our log) are written and read by
//! `kafka_wire::txn_log`, where the format is documented. Pure: no I/O.

use std::collections::BTreeSet;

use kafka_wire::txn_log::{self, TxnLogValue};

use super::metadata::TxnState;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnValue {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    pub last_update_ms: i64,
    pub start_ms: i64,
}

pub use txn_log::{decode_key, encode_key};

pub fn encode_value(v: &TxnValue) -> Vec<u8> {
    txn_log::encode_value(&TxnLogValue {
        producer_id: v.producer_id,
        producer_epoch: v.producer_epoch,
        timeout_ms: v.timeout_ms,
        state: v.state.byte(),
        partitions: v.partitions.clone(),
        last_update_ms: v.last_update_ms,
        start_ms: v.start_ms,
    })
}

/// A version-0 value with a state we know; None otherwise.
pub fn decode_value(b: &[u8]) -> Option<TxnValue> {
    let v = txn_log::decode_value(b)?;
    Some(TxnValue {
        producer_id: v.producer_id,
        producer_epoch: v.producer_epoch,
        timeout_ms: v.timeout_ms,
        state: TxnState::from_byte(v.state)?,
        partitions: v.partitions,
        last_update_ms: v.last_update_ms,
        start_ms: v.start_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_values_round_trip_through_kafkas_bytes() {
        for state in (0..8).filter_map(TxnState::from_byte) {
            let partitions = if state == TxnState::Empty { BTreeSet::new() } else { [("t".to_string(), 2)].into_iter().collect() };
            let v = TxnValue { producer_id: 7, producer_epoch: 3, timeout_ms: 60_000, state, partitions, last_update_ms: 1000, start_ms: 900 };
            let b = encode_value(&v);
            assert_eq!(b[16] as i8, state.byte());
            assert_eq!(decode_value(&b), Some(v));
        }
        assert_eq!(decode_key(&encode_key("tx")).as_deref(), Some("tx"));
    }
}
