//! The records of `__transaction_state`, byte-compatible with Kafka 2.5's TransactionLog:
//! the broker's transaction coordinator writes and reloads them (`broker/src/txn/records.rs`
//! gives them typed states), `kafka-dump-log --transaction-log-decoder` prints them.
//! Big-endian; strings are i16-length-prefixed UTF-8; arrays are i32-count-prefixed
//! (-1 = null).
//!
//! ```text
//! key   version 0: version i16 (0), transactional_id string
//! value version 0: version i16 (0), producer_id i64, producer_epoch i16,
//!                  transaction_timeout i32, transaction_status i8,
//!                  transaction_partitions nullable array of [topic string, partition_ids [i32]],
//!                  transaction_entry_timestamp i64 (last update), transaction_start_timestamp i64
//! ```
//! The partitions array is null in state Empty (as Kafka writes it), one entry per topic
//! otherwise. A null value is a tombstone (the transactional id expired). Pure: no I/O.

use std::collections::BTreeSet;

use crate::read::Reader;

/// Kafka's TransactionState names by status byte (Empty = 0 ... PrepareEpochFence = 7).
pub const STATE_NAMES: [&str; 8] =
    ["Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"];

/// The status byte of state Empty, whose partitions array is written as null.
const EMPTY: i8 = 0;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnLogValue {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    /// Kafka's status byte, one of `STATE_NAMES`' indexes (checked when decoding).
    pub state: i8,
    pub partitions: BTreeSet<(String, i32)>,
    pub last_update_ms: i64,
    pub start_ms: i64,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    let n = b.len().min(i16::MAX as usize);
    out.extend_from_slice(&(n as i16).to_be_bytes());
    out.extend_from_slice(&b[..n]);
}

pub fn encode_key(transactional_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + transactional_id.len());
    out.extend_from_slice(&0i16.to_be_bytes());
    put_str(&mut out, transactional_id);
    out
}

pub fn encode_value(v: &TxnLogValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&0i16.to_be_bytes());
    out.extend_from_slice(&v.producer_id.to_be_bytes());
    out.extend_from_slice(&v.producer_epoch.to_be_bytes());
    out.extend_from_slice(&v.timeout_ms.to_be_bytes());
    out.push(v.state as u8);
    if v.state == EMPTY {
        out.extend_from_slice(&(-1i32).to_be_bytes());
    } else {
        let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
        for (t, p) in &v.partitions {
            match topics.last_mut() {
                Some((last, ps)) if *last == t.as_str() => ps.push(*p),
                _ => topics.push((t.as_str(), vec![*p])),
            }
        }
        out.extend_from_slice(&(topics.len() as i32).to_be_bytes());
        for (t, ps) in topics {
            put_str(&mut out, t);
            out.extend_from_slice(&(ps.len() as i32).to_be_bytes());
            for p in ps {
                out.extend_from_slice(&p.to_be_bytes());
            }
        }
    }
    out.extend_from_slice(&v.last_update_ms.to_be_bytes());
    out.extend_from_slice(&v.start_ms.to_be_bytes());
    out
}

/// The transactional id of a key, None for a key we cannot read (other version, garbage).
pub fn decode_key(b: &[u8]) -> Option<String> {
    let mut r = Reader::new(b);
    if r.i16()? != 0 {
        return None;
    }
    r.str()
}

/// A version-0 value, None when it is another version, malformed or names an unknown state.
pub fn decode_value(b: &[u8]) -> Option<TxnLogValue> {
    let mut r = Reader::new(b);
    if r.i16()? != 0 {
        return None;
    }
    let producer_id = r.i64()?;
    let producer_epoch = r.i16()?;
    let timeout_ms = r.i32()?;
    let state = r.i8()?;
    STATE_NAMES.get(usize::try_from(state).ok()?)?;
    let mut partitions = BTreeSet::new();
    // A topic entry is at least a string length and a count: 6 bytes; a partition 4.
    for _ in 0..r.ncount(6)?.unwrap_or(0) {
        let t = r.str()?;
        for _ in 0..r.count(4)? {
            partitions.insert((t.clone(), r.i32()?));
        }
    }
    let last_update_ms = r.i64()?;
    let start_ms = r.i64()?;
    Some(TxnLogValue { producer_id, producer_epoch, timeout_ms, state, partitions, last_update_ms, start_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_bytes_match_kafka() {
        // TransactionLog.keyToBytes("tx"): version 0, string "tx".
        assert_eq!(encode_key("tx"), vec![0, 0, 0, 2, b't', b'x']);
        assert_eq!(decode_key(&encode_key("tx")).as_deref(), Some("tx"));
        assert_eq!(decode_key(&[0, 1, 0, 0]), None);
        assert_eq!(decode_key(&[0, 0, 0, 9, b'a']), None);
    }

    #[test]
    fn value_bytes_match_kafka() {
        // An Ongoing transaction on t-0, t-2, u-1: what TransactionLog.valueToBytes writes
        // (fields in schema order; topics grouped; partition ids as i32s).
        let v = TxnLogValue {
            producer_id: 7,
            producer_epoch: 3,
            timeout_ms: 60_000,
            state: 1,
            partitions: [("t".to_string(), 0), ("t".to_string(), 2), ("u".to_string(), 1)].into_iter().collect(),
            last_update_ms: 1000,
            start_ms: 900,
        };
        let mut want = vec![0, 0];
        want.extend_from_slice(&7i64.to_be_bytes());
        want.extend_from_slice(&3i16.to_be_bytes());
        want.extend_from_slice(&60_000i32.to_be_bytes());
        want.push(1);
        want.extend_from_slice(&2i32.to_be_bytes());
        want.extend_from_slice(&[0, 1, b't']);
        want.extend_from_slice(&2i32.to_be_bytes());
        want.extend_from_slice(&0i32.to_be_bytes());
        want.extend_from_slice(&2i32.to_be_bytes());
        want.extend_from_slice(&[0, 1, b'u']);
        want.extend_from_slice(&1i32.to_be_bytes());
        want.extend_from_slice(&1i32.to_be_bytes());
        want.extend_from_slice(&1000i64.to_be_bytes());
        want.extend_from_slice(&900i64.to_be_bytes());
        assert_eq!(encode_value(&v), want);
        assert_eq!(decode_value(&want), Some(v));
    }

    #[test]
    fn empty_state_has_a_null_partition_array_and_bad_values_are_refused() {
        let v = TxnLogValue {
            producer_id: 1,
            producer_epoch: 0,
            timeout_ms: 10,
            state: 0,
            partitions: BTreeSet::new(),
            last_update_ms: 5,
            start_ms: -1,
        };
        let b = encode_value(&v);
        assert_eq!(&b[17..21], &(-1i32).to_be_bytes());
        assert_eq!(b.len(), 2 + 8 + 2 + 4 + 1 + 4 + 8 + 8);
        assert_eq!(decode_value(&b), Some(v));
        assert_eq!(decode_value(&b[..10]), None);
        let mut bad = b.clone();
        bad[16] = 9;
        assert_eq!(decode_value(&bad), None, "no state 9");
        let mut huge = b.clone();
        huge[17..21].copy_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(decode_value(&huge), None, "a count the bytes cannot hold");
    }
}
