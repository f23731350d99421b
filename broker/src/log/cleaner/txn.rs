//! Transactions in the cleaner (Kafka 2.5's `CleanedTransactionMetadata`): which batches
//! belong to aborted transactions (dropped, and kept out of the offset map), which markers
//! may go, and which aborted-transaction entries the cleaned segment's `.txnindex` keeps.
//! Used by `cleaner::clean` beside `filter`, pure: headers and marker types in, decisions
//! out. Batches must be fed in offset order.
//!
//! - The aborted transactions the clean may meet (those whose marker is at or after the
//!   first offset read) are consumed by first offset as batches go by: a producer's
//!   transactional batch at or after the first offset of one of its aborted transactions,
//!   before that transaction's ABORT marker, is aborted data.
//! - An ABORT marker can go when no batch of its transaction was read in this clean (the
//!   batches go in one clean, the marker in a later one); otherwise the marker stays and
//!   its index entry is written again. A COMMIT marker can go when no batch of
//!   its transaction was read in this clean. Either goes only once its segment is past the
//!   delete horizon (`delete.retention.ms`, as tombstones), and never when it is the last
//!   thing the partition knows of a producer that has no data batch (its epoch fences).

use std::collections::{HashMap, HashSet};

use crate::log::batch::control;
use crate::log::batch::BatchHeader;
use crate::log::segment::txn_index::AbortedTxn;

#[derive(Debug, Default)]
pub struct TxnTracker {
    /// Aborted transactions not yet reached, sorted by first offset, next one at `next`.
    pending: Vec<AbortedTxn>,
    next: usize,
    /// Producers in an aborted transaction: the entry and whether a batch of it was read.
    aborted: HashMap<i64, (AbortedTxn, bool)>,
    /// Producers with a (not aborted) transactional batch read since their last marker.
    committed: HashSet<i64>,
    /// Producers whose state has no data batch: their marker of this epoch stays.
    marker_only: HashMap<i64, i16>,
    /// Entries for the cleaned segment's `.txnindex` (taken per group).
    pub index: Vec<AbortedTxn>,
}

impl TxnTracker {
    /// `aborted`: the log's aborted transactions; those whose marker is before `start` (the
    /// first offset this pass reads) are left out.
    pub fn new(aborted: &[AbortedTxn], start: i64, marker_only: HashMap<i64, i16>) -> TxnTracker {
        let mut pending: Vec<AbortedTxn> = aborted.iter().filter(|a| a.last_offset >= start).copied().collect();
        pending.sort_by_key(|a| (a.first_offset, a.last_offset));
        TxnTracker { pending, marker_only, ..Default::default() }
    }

    fn consume_up_to(&mut self, offset: i64) {
        while let Some(a) = self.pending.get(self.next).filter(|a| a.first_offset <= offset).copied() {
            self.aborted.entry(a.producer_id).or_insert((a, false));
            self.next += 1;
        }
    }

    /// A data batch: true when it belongs to an aborted transaction (drop its records).
    pub fn on_batch(&mut self, h: &BatchHeader) -> bool {
        self.consume_up_to(h.last_offset());
        if !h.is_transactional() {
            return false;
        }
        if let Some(e) = self.aborted.get_mut(&h.producer_id) {
            // Kafka's lastObservedBatchOffset: data of it was seen in this clean.
            e.1 = true;
            return true;
        }
        self.committed.insert(h.producer_id);
        false
    }

    /// A control batch (whole bytes): true when it may be dropped (before the delete
    /// horizon check).
    pub fn on_control(&mut self, h: &BatchHeader, bytes: &[u8]) -> bool {
        self.consume_up_to(h.last_offset());
        match control::control_type(bytes).map(|(k, _)| k) {
            Some(control::ABORT) => match self.aborted.remove(&h.producer_id) {
                Some((entry, true)) => {
                    self.index.push(entry);
                    false
                }
                _ => true,
            },
            Some(control::COMMIT) => !self.committed.remove(&h.producer_id),
            Some(_) => false,
            // An empty control batch was already cleaned.
            None => h.records_count == 0,
        }
    }

    /// Whether a marker must stay for fencing (its producer has no data batch left).
    pub fn fencing_marker(&self, h: &BatchHeader) -> bool {
        self.marker_only.get(&h.producer_id) == Some(&h.producer_epoch)
    }
}
