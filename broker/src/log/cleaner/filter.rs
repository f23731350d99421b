//! Which records of a batch the cleaner keeps, and the batch bytes it writes for them
//! (Kafka 2.5's `LogCleaner.shouldRetainRecord` / `checkBatchRetention` over
//! `MemoryRecords.filterTo`). Below `cleaner::clean`, pure: batches and values in, bytes out.
//!
//! A record is kept when
//! - its offset is past the offset map's latest offset (the map filled up before it: it
//!   was not looked at, so nothing is known to supersede it), or
//! - it has a key, no later offset of that key is in the map, and it is not a tombstone
//!   whose delete horizon has passed (`retain_deletes` false for its segment).
//! Records without a key are dropped (a compacted topic refuses them at produce; older data
//! may hold some). A batch whose records are all kept is written as it was, byte for byte.
//! One that keeps some is rewritten (`batch::rewrite`: same base offset, offsets, codec,
//! producer fields; new CRC). One that keeps none is dropped, unless it is the last batch of
//! a producer the partition still tracks: that one stays as an empty batch, so that the
//! producer's sequence survives a restart (an idempotent producer goes on without
//! OUT_OF_ORDER_SEQUENCE). Transactions (`batch_txn`, with `cleaner::txn`): a batch of
//! an aborted transaction loses all its records (kept empty if it is a producer's last); a
//! marker goes when `txn` says its transaction is gone and the segment is past the delete
//! horizon, else it is written as it is.

use std::collections::HashMap;

use super::offset_map::OffsetMap;
use crate::log::batch::{self, rewrite, BatchError, BatchHeader};

/// What the filter needs besides the batch.
pub struct Filter<'a> {
    pub map: &'a OffsetMap,
    /// Tombstones of this segment are still within `delete.retention.ms`.
    pub retain_deletes: bool,
    /// Producer id -> last offset of its last batch, for the producers the partition tracks.
    pub producer_last: &'a HashMap<i64, i64>,
}

/// What becomes of one batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome<'b> {
    /// Written as it was.
    Kept(&'b [u8]),
    /// Written with fewer records.
    Rewritten(Vec<u8>),
    /// No record left, written as an empty batch (a producer's last).
    Empty(Vec<u8>),
    Dropped,
}

impl Outcome<'_> {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Outcome::Kept(b) => b,
            Outcome::Rewritten(b) | Outcome::Empty(b) => b,
            Outcome::Dropped => &[],
        }
    }
}

/// Record counts of one filtered batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub read: u64,
    pub kept: u64,
}

/// Kafka's `shouldRetainRecord` for one record.
pub fn retain(map: &OffsetMap, retain_deletes: bool, offset: i64, key: Option<&[u8]>, has_value: bool) -> bool {
    if offset > map.latest_offset() {
        return true;
    }
    let Some(key) = key else { return false };
    let redundant = map.get(key).is_some_and(|latest| offset < latest);
    let obsolete_delete = !retain_deletes && !has_value;
    !redundant && !obsolete_delete
}

impl Filter<'_> {
    fn last_of_producer(&self, h: &BatchHeader) -> bool {
        h.producer_id >= 0 && self.producer_last.get(&h.producer_id) == Some(&h.last_offset())
    }

    /// Filters one whole batch (whose CRC was checked).
    pub fn batch<'b>(&self, bytes: &'b [u8]) -> Result<(Outcome<'b>, Counts), BatchError> {
        let (h, body) = rewrite::body(bytes)?;
        let bytes = &bytes[..h.total_size()];
        if h.is_control() {
            // Transactions: markers are to be dropped once their transaction is cleaned.
            return Ok((Outcome::Kept(bytes), Counts::default()));
        }
        let records = rewrite::raw_records(&h, &body)?;
        let kept: Vec<_> = records
            .iter()
            .filter(|r| retain(self.map, self.retain_deletes, r.offset(&h), r.key, r.value.is_some()))
            .cloned()
            .collect();
        let counts = Counts { read: records.len() as u64, kept: kept.len() as u64 };
        let outcome = if kept.len() == records.len() {
            Outcome::Kept(bytes)
        } else if !kept.is_empty() {
            Outcome::Rewritten(rewrite::rebuild(&h, &kept)?)
        } else if self.last_of_producer(&h) {
            Outcome::Empty(rewrite::empty_batch(&h))
        } else {
            Outcome::Dropped
        };
        Ok((outcome, counts))
    }
}

impl Filter<'_> {
    /// `batch` with transactions: aborted data and obsolete markers go (see `cleaner::txn`).
    pub fn batch_txn<'b>(&self, bytes: &'b [u8], txn: &mut super::txn::TxnTracker) -> Result<(Outcome<'b>, Counts), BatchError> {
        let h = batch::parse_header(bytes).ok_or_else(|| BatchError::Corrupt("truncated batch header".into()))?;
        let bytes = bytes.get(..h.total_size()).ok_or_else(|| BatchError::Corrupt("truncated batch".into()))?;
        if h.is_control() {
            let can_go = txn.on_control(&h, bytes);
            if can_go && !self.retain_deletes && !txn.fencing_marker(&h) {
                return Ok((Outcome::Dropped, Counts::default()));
            }
            return Ok((Outcome::Kept(bytes), Counts::default()));
        }
        if txn.on_batch(&h) {
            let read = h.records_count.max(0) as u64;
            if self.last_of_producer(&h) {
                return Ok((Outcome::Empty(rewrite::empty_batch(&h)), Counts { read, kept: 0 }));
            }
            return Ok((Outcome::Dropped, Counts { read, kept: 0 }));
        }
        self.batch(bytes)
    }
}

/// `map_batch` with transactions: aborted data and markers are not mapped.
pub fn map_batch_txn(map: &mut OffsetMap, bytes: &[u8], start: i64, txn: &mut super::txn::TxnTracker) -> Result<bool, BatchError> {
    let h = batch::parse_header(bytes).ok_or_else(|| BatchError::Corrupt("truncated batch header".into()))?;
    if h.is_control() {
        txn.on_control(&h, bytes.get(..h.total_size()).unwrap_or(bytes));
        return Ok(true);
    }
    if txn.on_batch(&h) {
        return Ok(true);
    }
    map_batch(map, bytes, start)
}

/// Maps the keyed records of one batch at or after `start` into `map`. Ok(false) when the
/// map filled up before a record (mapping stops there).
pub fn map_batch(map: &mut OffsetMap, bytes: &[u8], start: i64) -> Result<bool, BatchError> {
    let h = batch::parse_header(bytes).ok_or_else(|| BatchError::Corrupt("truncated batch header".into()))?;
    if h.is_control() || h.last_offset() < start {
        return Ok(true);
    }
    let (h, body) = rewrite::body(bytes)?;
    for r in rewrite::raw_records(&h, &body)? {
        let offset = r.offset(&h);
        if offset < start {
            continue;
        }
        if let Some(k) = r.key {
            if !map.put(k, offset) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}
