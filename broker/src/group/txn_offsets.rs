//! Transactional offset commits (TxnOffsetCommit, `send_offsets_to_transaction`), beside the
//! group handlers. The offsets are written to the group's `__consumer_offsets` partition as
//! ordinary offset-commit records, but in a transactional batch (the producer's id and
//! epoch, attribute bit 0x10), and kept pending per producer id: OffsetFetch does not see
//! them until the transaction coordinator's COMMIT marker lands on that partition
//! (`complete_txn`, called by the WriteTxnMarkers handler); an ABORT marker drops them.
//! Loading the partition replays the same rule: offsets of a transactional batch count only
//! once a COMMIT control batch of that producer follows (see `Replay`).
//!
//! Kafka writes these batches with base sequence 0 and skips sequence checks for coordinator
//! appends; our log checks every producer batch with a sequence (a second TxnOffsetCommit of
//! the same producer epoch would look like a retry of the first), so we write base sequence
//! -1 (no sequence), which readers of the batch do not use.

use super::*;
use crate::log::batch::{parse_header, rewrite};

/// Transactional attribute bit of a batch, and the control bit.
const TRANSACTIONAL: i16 = 0x10;

/// Pending transactional offsets: producer id -> group -> (topic, partition) -> offset.
pub type Pending = HashMap<i64, HashMap<String, BTreeMap<(String, i32), OffsetValue>>>;

/// An offsets batch as Kafka's GroupMetadataManager writes it for TxnOffsetCommit.
pub fn build_txn_batch(recs: &[(Vec<u8>, Option<Vec<u8>>)], timestamp: i64, producer_id: i64, producer_epoch: i16) -> Vec<u8> {
    let refs: Vec<(Option<&[u8]>, Option<&[u8]>)> = recs.iter().map(|(k, v)| (Some(k.as_slice()), v.as_deref())).collect();
    let mut b = batch::build(&refs, timestamp);
    // Header layout (magic 2): attributes at 21, producer id at 43, epoch at 51, base
    // sequence at 53; the CRC (at 17) covers everything from the attributes on.
    b[21..23].copy_from_slice(&TRANSACTIONAL.to_be_bytes());
    b[43..51].copy_from_slice(&producer_id.to_be_bytes());
    b[51..53].copy_from_slice(&producer_epoch.to_be_bytes());
    b[53..57].copy_from_slice(&(-1i32).to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// A control batch's marker: Some(true) = COMMIT, Some(false) = ABORT (key: version i16,
/// type i16 with 0 = ABORT, 1 = COMMIT).
pub fn control_marker(batch_bytes: &[u8]) -> Option<bool> {
    let h = parse_header(batch_bytes)?;
    if !h.is_control() {
        return None;
    }
    let (h, body) = rewrite::body(batch_bytes).ok()?;
    let recs = rewrite::raw_records(&h, &body).ok()?;
    let key = recs.first()?.key?;
    if key.len() < 4 {
        return None;
    }
    match i16::from_be_bytes([key[2], key[3]]) {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

/// Loading: transactional offsets wait for their producer's marker.
#[derive(Default)]
pub struct Replay {
    pub pending: Pending,
}

impl Replay {
    /// An offset record of a transactional batch.
    pub fn offset(&mut self, producer_id: i64, group: String, tp: (String, i32), v: OffsetValue) {
        self.pending.entry(producer_id).or_default().entry(group).or_default().insert(tp, v);
    }

    /// A marker: the producer's pending offsets, to apply (COMMIT) or forget (ABORT).
    pub fn marker(&mut self, producer_id: i64, commit: bool) -> Option<HashMap<String, BTreeMap<(String, i32), OffsetValue>>> {
        let p = self.pending.remove(&producer_id)?;
        commit.then_some(p)
    }
}

impl GroupCoordinator {
    /// TxnOffsetCommit: stores the offsets in a transactional batch and keeps them pending
    /// until the transaction's marker. Ok(()) = all stored.
    pub fn txn_commit(&self, logs: &LogManager, group_id: &str, producer_id: i64, producer_epoch: i16, commits: Vec<Commit>) -> Result<(), ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::INVALID_GROUP_ID);
        }
        let mut inner = self.lock();
        let partition = self.check(&inner, group_id)?;
        match inner.groups.get(group_id) {
            Some(g) if g.state == GroupState::Dead => return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE),
            Some(_) => {}
            None => {
                inner.groups.insert(group_id.to_string(), Group::new(group_id, now_ms()));
            }
        }
        if commits.is_empty() {
            return Ok(());
        }
        let recs: Vec<(Vec<u8>, Option<Vec<u8>>)> = commits
            .iter()
            .map(|(t, p, v)| {
                let k = Key::Offset { group: group_id.to_string(), topic: t.clone(), partition: *p };
                (records::encode_key(&k), Some(records::encode_offset(v)))
            })
            .collect();
        let mut b = build_txn_batch(&recs, now_ms(), producer_id, producer_epoch);
        let Some(part) = logs.get(OFFSETS_TOPIC, partition) else { return Err(ErrorCode::NOT_COORDINATOR) };
        if let Err(e) = crate::replica::append_leader(logs, &part, &mut b) {
            tracing::error!("cannot write transactional offsets to {OFFSETS_TOPIC}-{partition}: {e}");
            return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
        }
        let slot = inner.txn_pending.entry(producer_id).or_default().entry(group_id.to_string()).or_default();
        for (t, p, v) in commits {
            slot.insert((t, p), v);
        }
        Ok(())
    }

    /// A transaction marker of `producer_id` was written to `partition` of
    /// `__consumer_offsets`: its pending offsets of the groups there become committed
    /// (COMMIT) or are dropped (ABORT). Called by the WriteTxnMarkers handler after the
    /// marker is appended; nothing is written here (the marker is the record).
    pub fn complete_txn(&self, logs: &LogManager, partition: i32, producer_id: i64, commit: bool) {
        let _ = logs;
        let mut inner = self.lock();
        let Some(mut by_group) = inner.txn_pending.remove(&producer_id) else { return };
        let here: Vec<String> = by_group.keys().filter(|g| self.partition_for(g) == partition).cloned().collect();
        for group in here {
            let Some(offs) = by_group.remove(&group) else { continue };
            if !commit {
                continue;
            }
            // TxnOffsetCommit created the group; if it is gone since (deleted), the offsets
            // go with it, as in Kafka 2.5.
            let Some(g) = inner.groups.get_mut(&group) else {
                tracing::info!("COMMIT marker of producer {producer_id}: group {group} no longer exists; its transactional offsets are dropped");
                continue;
            };
            for (tp, v) in offs {
                g.offsets.insert(tp, v);
            }
        }
        if !by_group.is_empty() {
            inner.txn_pending.insert(producer_id, by_group);
        }
    }

    /// Pending transactional offsets of a group (for tests and tools).
    pub fn pending_txn_offsets(&self, group_id: &str) -> Vec<(i64, String, i32, i64)> {
        let inner = self.lock();
        let mut out = Vec::new();
        for (pid, by_group) in &inner.txn_pending {
            if let Some(offs) = by_group.get(group_id) {
                for ((t, p), v) in offs {
                    out.push((*pid, t.clone(), *p, v.offset));
                }
            }
        }
        out.sort();
        out
    }
}
