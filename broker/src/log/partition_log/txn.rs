//! Transactions in a partition log (Kafka 2.5's Log + ProducerStateManager + LogSegment
//! txn index): every appended or replayed batch goes through [`Log::track`], which keeps
//! the producer state's open transactions and, for an ABORT marker, appends the aborted
//! transaction to the `.txnindex` of the segment holding the marker. Read by Fetch
//! (`last_stable_offset`, `aborted_between` for read_committed consumers), ListOffsets and
//! the cleaner (which never cleans past the first unstable offset).
//!
//! Last stable offset (LSO) = min(first unstable offset, high watermark), never below the
//! log start; the first unstable offset is the lowest first offset of a transaction that is
//! open, or completed with its marker not yet below the high watermark. Followers keep the
//! same state from the leader's batches, so their LSO follows the same rules.

use super::*;
use crate::log::batch::control;
use crate::log::batch::BatchHeader;
use crate::log::segment::txn_index::AbortedTxn;

impl Log {
    /// Producer state and transaction bookkeeping of one batch now in the log (`bytes` is
    /// the whole batch, for a marker's type).
    pub(super) fn track(&mut self, h: &BatchHeader, bytes: &[u8], now: i64) -> Result<(), LogError> {
        if !h.is_control() {
            self.producers.update(h, now);
            return Ok(());
        }
        let Some(marker) = control::parse_marker(bytes) else { return Ok(()) };
        if h.producer_id < 0 {
            return Ok(());
        }
        let lso = self.producers.lso_after(h.producer_id, h.base_offset);
        let done = self.producers.complete_txn(h, &marker, now);
        if !done.aborted {
            return Ok(());
        }
        let entry = AbortedTxn { producer_id: done.producer_id, first_offset: done.first_offset, last_offset: done.last_offset, last_stable_offset: lso };
        let Some(base) = self.segments.range(..=h.base_offset).next_back().map(|(b, _)| *b) else { return Ok(()) };
        let Some(seg) = self.segments.get_mut(&base) else { return Ok(()) };
        if seg.txn.has(entry.last_offset) {
            return Ok(());
        }
        if let Err(e) = seg.txn.append(entry) {
            return Err(self.storage("writing the transaction index", e));
        }
        Ok(())
    }

    /// The last stable offset: read_committed consumers read below it.
    pub fn last_stable_offset(&self) -> i64 {
        let hw = self.high_watermark();
        let lso = match self.producers.first_unstable_offset() {
            Some(f) if f < hw => f,
            _ => hw,
        };
        lso.max(self.log_start_offset)
    }

    /// The first offset of an open or unreplicated transaction (the cleaner stops there).
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.producers.first_unstable_offset()
    }

    /// Aborted transactions overlapping a read_committed fetch from `from`: those whose
    /// marker is at or after `from` and whose first offset is below the upper bound (the
    /// end of the segment holding `from`, at most `limit`), as Kafka's Log.read collects
    /// them for one fetch.
    pub fn aborted_between(&self, from: i64, limit: i64) -> Vec<AbortedTxn> {
        let Some(base) = self.base_for(from) else { return Vec::new() };
        let upper = self.base_after(base).unwrap_or(self.log_end_offset).min(limit);
        let mut out = Vec::new();
        for seg in self.segments.range(base..).map(|(_, s)| s) {
            out.extend(seg.txn.overlapping(from, upper).copied());
        }
        out
    }

    /// Every aborted transaction of the log (the cleaner's view).
    pub fn aborted_txns(&self) -> Vec<AbortedTxn> {
        self.segments.values().flat_map(|s| s.txn.entries.iter().copied()).collect()
    }

    /// Leader check of the markers in a payload before they are appended.
    pub(super) fn check_markers(&self, data: &[u8]) -> Result<(), LogError> {
        // Markers come alone (WriteTxnMarkers); Produce payloads never hold one.
        if !batch::parse_header(data).is_some_and(|h| h.is_control()) {
            return Ok(());
        }
        for (h, b) in batch::split(data) {
            if let Some(m) = h.is_control().then(|| control::parse_marker(b)).flatten() {
                self.producers.check_marker(h.producer_id, h.producer_epoch, &m)?;
            }
        }
        Ok(())
    }
}
