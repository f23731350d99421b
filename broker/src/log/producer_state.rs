//! Idempotent-producer state of one partition: for each producer id, its epoch and the
//! metadata of its last (up to five) batches, checked on every Produce append.
//!
//! Rules (Kafka 2.5's ProducerStateManager): an older epoch is `INVALID_PRODUCER_EPOCH`; a
//! newer epoch must start at sequence 0; in the same epoch a batch equal to one of the
//! cached ones (same first and last sequence) is a duplicate — acknowledged with the
//! original offsets, not appended again; any other batch must continue at last sequence + 1
//! (wrapping at i32::MAX), else `OUT_OF_ORDER_SEQUENCE_NUMBER`; an unknown producer id that
//! does not start at 0 is `UNKNOWN_PRODUCER_ID`.
//!
//! Transactions (Kafka 2.5's ProducerAppendInfo): a producer's first transactional batch
//! opens its transaction at that batch's base offset (`current_txn_first_offset`, listed in
//! `ongoing`); a non-transactional batch while one is open is `INVALID_TXN_STATE`. An
//! end-of-transaction marker (`complete_txn`) closes it: a marker with an older producer
//! epoch is `INVALID_PRODUCER_EPOCH`, one with an older coordinator epoch
//! `TRANSACTION_COORDINATOR_FENCED` (both checked by `check_marker` on the leader only); a
//! newer epoch in the marker becomes the producer's epoch and resets its sequences. A
//! completed transaction stays *unreplicated* until the high watermark passes its marker:
//! the first unstable offset (the lowest first offset of an ongoing or unreplicated
//! transaction) bounds the last stable offset (see `partition_log::txn`).
//!
//! Snapshot files beside the segments, `<offset, 20 digits>.snapshot`, where offset is the
//! log end offset the state covers. Format (Kafka's producer snapshot, version 1, big-endian):
//! ```text
//! version i16 (=1)   crc u32 (CRC-32C of everything after this field)
//! count i32, then per producer:
//!   producer_id i64  producer_epoch i16  last_sequence i32  last_offset i64
//!   offset_delta i32 (last_offset - first offset of that batch)  timestamp i64
//!   coordinator_epoch i32  current_txn_first_offset i64 (-1: no open transaction)
//! ```
//! Only the last batch of each producer is in a snapshot (as Kafka); a producer known only
//! from a marker has last_sequence -1 and last_offset -1. Replaying the log after the
//! snapshot offset restores the rest (unreplicated transactions included). Pure logic plus `encode`/`decode`; the log does I/O.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::batch::control::Marker;
use super::batch::BatchHeader;

const CACHED_BATCHES: usize = 5;
const ENTRY_LEN: usize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    pub epoch: i16,
    pub batches: VecDeque<BatchMeta>,
    /// Broker wall-clock time of the last append or load (client timestamps can be anything).
    pub last_seen_ms: i64,
    /// Epoch of the transaction coordinator that wrote this producer's last marker (-1: none).
    pub coordinator_epoch: i32,
    /// First offset of the producer's open transaction.
    pub current_txn_first_offset: Option<i64>,
}

impl ProducerEntry {
    fn new(epoch: i16, now: i64) -> ProducerEntry {
        ProducerEntry { epoch, batches: VecDeque::new(), last_seen_ms: now, coordinator_epoch: -1, current_txn_first_offset: None }
    }
}

/// A transaction ended by a marker (Kafka's CompletedTxn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The marker's offset.
    pub last_offset: i64,
    pub aborted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProducerError {
    #[error("producer {pid} epoch {got} is older than the current epoch {current}")]
    InvalidEpoch { pid: i64, got: i16, current: i16 },
    #[error("out of order sequence number for producer {pid}: expected {expected}, got {got}")]
    OutOfOrder { pid: i64, expected: i32, got: i32 },
    #[error("unknown producer id {pid} (first sequence {got}, expected 0)")]
    UnknownProducer { pid: i64, got: i32 },
    #[error("Expected transactional write from producer {pid} at offset {offset}")]
    InvalidTxnState { pid: i64, offset: i64 },
    #[error("Invalid coordinator epoch for producerId {pid}: {got} (zombie), {current} (current)")]
    CoordinatorFenced { pid: i64, got: i32, current: i32 },
}

/// What to do with one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Not idempotent, or the next batch in sequence: append it.
    Append,
    /// A retry of a batch already in the log at these offsets.
    Duplicate { first_offset: i64, last_offset: i64 },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerState {
    pub producers: HashMap<i64, ProducerEntry>,
    /// Open transactions: first offset -> producer id.
    pub ongoing: BTreeMap<i64, i64>,
    /// Completed transactions whose marker is not yet below the high watermark:
    /// first offset -> (producer id, marker offset).
    pub unreplicated: BTreeMap<i64, (i64, i64)>,
}

fn next_seq(s: i32) -> i32 {
    if s == i32::MAX {
        0
    } else {
        s + 1
    }
}

impl ProducerState {
    pub fn check(&self, h: &BatchHeader) -> Result<Check, ProducerError> {
        if h.producer_id < 0 || h.base_sequence < 0 || h.is_control() {
            return Ok(Check::Append);
        }
        let pid = h.producer_id;
        let seq = h.base_sequence;
        let Some(e) = self.producers.get(&pid) else {
            return if seq == 0 { Ok(Check::Append) } else { Err(ProducerError::UnknownProducer { pid, got: seq }) };
        };
        if h.producer_epoch < e.epoch {
            return Err(ProducerError::InvalidEpoch { pid, got: h.producer_epoch, current: e.epoch });
        }
        if h.producer_epoch > e.epoch {
            return if seq == 0 { Ok(Check::Append) } else { Err(ProducerError::OutOfOrder { pid, expected: 0, got: seq }) };
        }
        let last = h.last_sequence();
        if !h.is_transactional() && e.current_txn_first_offset.is_some() {
            return Err(ProducerError::InvalidTxnState { pid, offset: h.base_offset });
        }
        if let Some(b) = e.batches.iter().find(|b| b.first_seq == seq && b.last_seq == last) {
            return Ok(Check::Duplicate { first_offset: b.first_offset, last_offset: b.last_offset });
        }
        let expected = e.batches.back().map(|b| next_seq(b.last_seq)).unwrap_or(0);
        if seq != expected {
            return Err(ProducerError::OutOfOrder { pid, expected, got: seq });
        }
        Ok(Check::Append)
    }

    /// Records an appended batch (header with its assigned offsets) at broker time `now`.
    pub fn update(&mut self, h: &BatchHeader, now: i64) {
        if h.producer_id < 0 || h.base_sequence < 0 || h.is_control() {
            return;
        }
        let e = self.producers.entry(h.producer_id).or_insert(ProducerEntry::new(h.producer_epoch, now));
        e.last_seen_ms = now;
        if h.is_transactional() && e.current_txn_first_offset.is_none() {
            e.current_txn_first_offset = Some(h.base_offset);
            self.ongoing.insert(h.base_offset, h.producer_id);
        }
        if h.producer_epoch != e.epoch {
            e.epoch = h.producer_epoch;
            e.batches.clear();
        }
        e.batches.push_back(BatchMeta {
            first_seq: h.base_sequence,
            last_seq: h.last_sequence(),
            first_offset: h.base_offset,
            last_offset: h.last_offset(),
            timestamp: h.max_timestamp,
        });
        while e.batches.len() > CACHED_BATCHES {
            e.batches.pop_front();
        }
    }

    /// Leader check of an end-of-transaction marker for producer `pid` at `epoch`.
    pub fn check_marker(&self, pid: i64, epoch: i16, marker: &Marker) -> Result<(), ProducerError> {
        let Some(e) = self.producers.get(&pid) else { return Ok(()) };
        if epoch < e.epoch {
            return Err(ProducerError::InvalidEpoch { pid, got: epoch, current: e.epoch });
        }
        if marker.coordinator_epoch < e.coordinator_epoch {
            return Err(ProducerError::CoordinatorFenced { pid, got: marker.coordinator_epoch, current: e.coordinator_epoch });
        }
        Ok(())
    }

    /// Records an appended marker (`h` with its offset): ends the producer's transaction
    /// (one at the marker's own offset when none was open, as Kafka). The transaction stays
    /// unreplicated until `on_high_watermark` passes the marker.
    pub fn complete_txn(&mut self, h: &BatchHeader, marker: &Marker, now: i64) -> CompletedTxn {
        let pid = h.producer_id;
        let e = self.producers.entry(pid).or_insert(ProducerEntry::new(h.producer_epoch, now));
        if h.producer_epoch != e.epoch {
            e.epoch = h.producer_epoch;
            e.batches.clear();
        }
        let first = e.current_txn_first_offset.take().unwrap_or(h.base_offset);
        e.coordinator_epoch = marker.coordinator_epoch;
        e.last_seen_ms = now;
        self.ongoing.remove(&first);
        self.unreplicated.insert(first, (pid, h.base_offset));
        CompletedTxn { producer_id: pid, first_offset: first, last_offset: h.base_offset, aborted: !marker.commit }
    }

    /// Kafka's `lastStableOffset(completedTxn)`, the value kept in the aborted-transaction
    /// index: the first offset of the oldest other open transaction, else the offset after
    /// the marker. Call before `complete_txn`.
    pub fn lso_after(&self, pid: i64, marker_offset: i64) -> i64 {
        self.ongoing.iter().find(|(_, p)| **p != pid).map(|(f, _)| *f).unwrap_or(marker_offset + 1)
    }

    /// Forgets completed transactions whose marker is below `hw` (Kafka's
    /// onHighWatermarkUpdated; also truncateHead with the log start offset).
    pub fn on_high_watermark(&mut self, hw: i64) {
        self.unreplicated.retain(|_, (_, last)| *last >= hw);
    }

    /// The lowest first offset of an open or unreplicated transaction.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        let a = self.ongoing.keys().next().copied();
        let b = self.unreplicated.keys().next().copied();
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Forgets producers whose last batch is older than `max_age_ms` (Kafka 2.5 expires them
    /// after `transactional.id.expiration.ms`), never one with an open transaction. Returns
    /// how many were removed.
    pub fn expire(&mut self, now: i64, max_age_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, e| e.current_txn_first_offset.is_some() || now - e.last_seen_ms <= max_age_ms);
        before - self.producers.len()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(4 + ENTRY_LEN * self.producers.len());
        let mut pids: Vec<&i64> = self.producers.keys().collect();
        pids.sort_unstable();
        body.extend_from_slice(&(pids.len() as i32).to_be_bytes());
        for pid in pids {
            let e = &self.producers[pid];
            let (last_seq, last_offset, delta, ts) = match e.batches.back() {
                Some(b) => (b.last_seq, b.last_offset, (b.last_offset - b.first_offset) as i32, b.timestamp),
                // Known from a marker only: no batch of its epoch yet.
                None if e.coordinator_epoch >= 0 || e.current_txn_first_offset.is_some() => (-1, -1, 0, -1),
                None => continue,
            };
            body.extend_from_slice(&pid.to_be_bytes());
            body.extend_from_slice(&e.epoch.to_be_bytes());
            body.extend_from_slice(&last_seq.to_be_bytes());
            body.extend_from_slice(&last_offset.to_be_bytes());
            body.extend_from_slice(&delta.to_be_bytes());
            body.extend_from_slice(&ts.to_be_bytes());
            body.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
            body.extend_from_slice(&e.current_txn_first_offset.unwrap_or(-1).to_be_bytes());
        }
        // Entries without batches were skipped: fix the count.
        let n = ((body.len() - 4) / ENTRY_LEN) as i32;
        body[..4].copy_from_slice(&n.to_be_bytes());
        let mut out = Vec::with_capacity(6 + body.len());
        out.extend_from_slice(&1i16.to_be_bytes());
        out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Parses a snapshot; None if it is damaged (the log is then replayed from its start).
    pub fn decode(data: &[u8], now: i64) -> Option<ProducerState> {
        if data.len() < 10 || i16::from_be_bytes([data[0], data[1]]) != 1 {
            return None;
        }
        let crc = u32::from_be_bytes([data[2], data[3], data[4], data[5]]);
        let body = &data[6..];
        if crc32c::crc32c(body) != crc {
            return None;
        }
        let n = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        if n < 0 || body.len() != 4 + n as usize * ENTRY_LEN {
            return None;
        }
        let mut st = ProducerState::default();
        for i in 0..n as usize {
            let e = &body[4 + i * ENTRY_LEN..4 + (i + 1) * ENTRY_LEN];
            let i64_at = |p: usize| i64::from_be_bytes(e[p..p + 8].try_into().unwrap_or([0; 8]));
            let i32_at = |p: usize| i32::from_be_bytes(e[p..p + 4].try_into().unwrap_or([0; 4]));
            let pid = i64_at(0);
            let epoch = i16::from_be_bytes([e[8], e[9]]);
            let last_seq = i32_at(10);
            let last_offset = i64_at(14);
            let delta = i32_at(22);
            let ts = i64_at(26);
            let first_seq = if last_seq as i64 - delta as i64 >= 0 { last_seq - delta } else { (last_seq as i64 - delta as i64 + i32::MAX as i64 + 1) as i32 };
            let coordinator_epoch = i32_at(34);
            let txn_first = i64_at(38);
            let mut batches = VecDeque::new();
            if last_seq >= 0 || last_offset >= 0 {
                batches.push_back(BatchMeta { first_seq, last_seq, first_offset: last_offset - delta as i64, last_offset, timestamp: ts });
            }
            let current_txn_first_offset = (txn_first >= 0).then_some(txn_first);
            if let Some(f) = current_txn_first_offset {
                st.ongoing.insert(f, pid);
            }
            st.producers.insert(pid, ProducerEntry { epoch, batches, last_seen_ms: now, coordinator_epoch, current_txn_first_offset });
        }
        Some(st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(pid: i64, epoch: i16, seq: i32, n: i32, base: i64) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            batch_length: 0,
            leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: n - 1,
            first_timestamp: 1,
            max_timestamp: 1,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: n,
        }
    }

    #[test]
    fn sequences_duplicates_epochs() {
        let mut s = ProducerState::default();
        assert_eq!(s.check(&hdr(7, 0, 0, 3, 0)), Ok(Check::Append));
        s.update(&hdr(7, 0, 0, 3, 10), 0);
        assert_eq!(s.check(&hdr(7, 0, 0, 3, 0)), Ok(Check::Duplicate { first_offset: 10, last_offset: 12 }));
        assert!(matches!(s.check(&hdr(7, 0, 5, 1, 0)), Err(ProducerError::OutOfOrder { expected: 3, got: 5, .. })));
        assert_eq!(s.check(&hdr(7, 0, 3, 1, 0)), Ok(Check::Append));
        s.update(&hdr(7, 1, 0, 1, 13), 0);
        assert!(matches!(s.check(&hdr(7, 0, 1, 1, 0)), Err(ProducerError::InvalidEpoch { .. })));
        assert!(matches!(s.check(&hdr(7, 2, 4, 1, 0)), Err(ProducerError::OutOfOrder { .. })));
        assert!(matches!(s.check(&hdr(8, 0, 4, 1, 0)), Err(ProducerError::UnknownProducer { .. })));
        assert_eq!(s.check(&hdr(-1, -1, -1, 1, 0)), Ok(Check::Append));
        assert_eq!(s.expire(100, 1000), 0);
        assert_eq!(s.expire(5000, 1000), 1);
        assert!(s.producers.is_empty());
    }

    #[test]
    fn snapshot_roundtrip_and_damage() {
        let mut s = ProducerState::default();
        s.update(&hdr(7, 2, 0, 3, 10), 0);
        s.update(&hdr(7, 2, 3, 2, 13), 0);
        s.update(&hdr(9, 0, i32::MAX, 2, 20), 0);
        let bytes = s.encode();
        let back = ProducerState::decode(&bytes, 0).unwrap();
        assert_eq!(back.producers[&7].epoch, 2);
        assert_eq!(*back.producers[&7].batches.back().unwrap(), BatchMeta { first_seq: 3, last_seq: 4, first_offset: 13, last_offset: 14, timestamp: 1 });
        assert_eq!(back.producers[&9].batches.back().unwrap().first_seq, i32::MAX);
        assert_eq!(back.check(&hdr(7, 2, 5, 1, 0)), Ok(Check::Append));
        let mut bad = bytes.clone();
        let n = bad.len() - 1;
        bad[n] ^= 1;
        assert!(ProducerState::decode(&bad, 0).is_none());
        assert!(ProducerState::decode(&[0, 1], 0).is_none());
    }
}
