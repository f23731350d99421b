//! The records of `__transaction_state`, byte-compatible with Kafka 2.5's TransactionLog (so
//! `kafka-dump-log --transaction-log-decoder` and Kafka's formatter read our log). Big-endian;
//! strings are i16-length-prefixed UTF-8; arrays are i32-count-prefixed (-1 = null).
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

use super::metadata::TxnState;

/// Most partitions a stored transaction may name; a larger count is a corrupt record.
const MAX_PARTITIONS: i32 = 1 << 20;

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

pub fn encode_value(v: &TxnValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&0i16.to_be_bytes());
    out.extend_from_slice(&v.producer_id.to_be_bytes());
    out.extend_from_slice(&v.producer_epoch.to_be_bytes());
    out.extend_from_slice(&v.timeout_ms.to_be_bytes());
    out.push(v.state.byte() as u8);
    if v.state == TxnState::Empty {
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

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.b.len() - self.pos < n {
            return None;
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Some(s)
    }
    fn i8(&mut self) -> Option<i8> {
        self.take(1).map(|s| s[0] as i8)
    }
    fn i16(&mut self) -> Option<i16> {
        self.take(2).map(|s| i16::from_be_bytes([s[0], s[1]]))
    }
    fn i32(&mut self) -> Option<i32> {
        self.take(4).map(|s| i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn i64(&mut self) -> Option<i64> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Some(i64::from_be_bytes(a))
    }
    fn str(&mut self) -> Option<String> {
        let n = self.i16()?;
        if n < 0 {
            return None;
        }
        let s = self.take(n as usize)?;
        String::from_utf8(s.to_vec()).ok()
    }
}

/// The transactional id of a key, None for a key we cannot read (other version, garbage).
pub fn decode_key(b: &[u8]) -> Option<String> {
    let mut r = Reader { b, pos: 0 };
    if r.i16()? != 0 {
        return None;
    }
    r.str()
}

pub fn decode_value(b: &[u8]) -> Option<TxnValue> {
    let mut r = Reader { b, pos: 0 };
    if r.i16()? != 0 {
        return None;
    }
    let producer_id = r.i64()?;
    let producer_epoch = r.i16()?;
    let timeout_ms = r.i32()?;
    let state = TxnState::from_byte(r.i8()?)?;
    let mut partitions = BTreeSet::new();
    let topics = r.i32()?;
    if topics > MAX_PARTITIONS {
        return None;
    }
    for _ in 0..topics.max(0) {
        let t = r.str()?;
        let n = r.i32()?;
        if n > MAX_PARTITIONS {
            return None;
        }
        for _ in 0..n.max(0) {
            partitions.insert((t.clone(), r.i32()?));
        }
    }
    let last_update_ms = r.i64()?;
    let start_ms = r.i64()?;
    Some(TxnValue { producer_id, producer_epoch, timeout_ms, state, partitions, last_update_ms, start_ms })
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
        let v = TxnValue {
            producer_id: 7,
            producer_epoch: 3,
            timeout_ms: 60_000,
            state: TxnState::Ongoing,
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
    fn empty_state_has_a_null_partition_array() {
        let v = TxnValue {
            producer_id: 1,
            producer_epoch: 0,
            timeout_ms: 10,
            state: TxnState::Empty,
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
        assert_eq!(decode_value(&bad), None);
    }
}
