//! What to clean, decided from values (Kafka 2.5's `LogCleanerManager.cleanableOffsets`,
//! `grabFilthiestCompactedLog`, `LogCleaner.groupSegmentsBySize` and the delete horizon of
//! `doClean`). Above `cleaner::clean`, pure: segment summaries in, offsets and groups out.
//!
//! - The dirty section starts at the cleaner checkpoint (the log start offset when there is
//!   none, or when it is below the log start or past the log end) and ends at the first
//!   uncleanable offset: the lowest of the active segment's base offset, the base offset of
//!   the segment holding the high watermark (nothing that not every in-sync replica has is
//!   mapped, so a follower's truncation never removes what superseded a cleaned record) and, with `min.compaction.lag.ms` > 0, the base offset of the first dirty
//!   segment whose largest timestamp is within the lag.
//! - With `max.compaction.lag.ms`, a log whose earliest dirty segment's first batch is older
//!   than the lag must be cleaned now, whatever its dirty ratio.
//! - The dirty ratio is cleanable bytes / (clean + cleanable bytes), counting whole segments
//!   that overlap each section; the cleaner takes the log with the highest ratio among those
//!   above their `min.cleanable.dirty.ratio` or due by `max.compaction.lag.ms`.
//! - Segments are rewritten in groups of consecutive segments whose sizes sum to at most
//!   `segment.bytes` (and index sizes to `segment.index.bytes`, and offsets within an i32 of
//!   the group's base), so that cleaned segments do not stay tiny.
//! - Tombstones in a segment are kept while the segment's last modification time is after
//!   the delete horizon: the last clean segment's modification time minus
//!   `delete.retention.ms` (0 when nothing is clean yet: everything is kept).

/// What the planner knows of one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    pub base: i64,
    /// The offset after its last batch (its base when empty).
    pub next_offset: i64,
    pub size: u64,
    /// Bytes of its offset and time indexes.
    pub index_bytes: u64,
    /// Largest record timestamp (-1 when none).
    pub largest_timestamp: i64,
    /// The first batch's max timestamp (-1 when none), for `max.compaction.lag.ms`.
    pub first_batch_timestamp: i64,
    pub last_modified_ms: i64,
}

/// A compacted log as the planner sees it. `segments` are in offset order; the last one is
/// the active segment.
#[derive(Debug, Clone)]
pub struct LogView {
    pub segments: Vec<SegmentInfo>,
    pub log_start: i64,
    pub log_end: i64,
    pub high_watermark: i64,
    /// The cleaner checkpoint of this log, if any.
    pub checkpoint: Option<i64>,
    pub min_compaction_lag_ms: i64,
    pub max_compaction_lag_ms: i64,
    pub min_cleanable_ratio: f64,
}

/// The sections of one log and how dirty it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Cleanable {
    pub first_dirty: i64,
    pub first_uncleanable: i64,
    pub clean_bytes: u64,
    pub cleanable_bytes: u64,
    /// > 0 when `max.compaction.lag.ms` is overdue by that much.
    pub compaction_delay_ms: i64,
}

impl Cleanable {
    pub fn total_bytes(&self) -> u64 {
        self.clean_bytes + self.cleanable_bytes
    }
    pub fn ratio(&self) -> f64 {
        if self.total_bytes() == 0 {
            return 0.0;
        }
        self.cleanable_bytes as f64 / self.total_bytes() as f64
    }
    pub fn need_now(&self) -> bool {
        self.compaction_delay_ms > 0
    }
    /// Whether this log is worth a clean at `min_ratio`.
    pub fn worth_it(&self, min_ratio: f64) -> bool {
        self.total_bytes() > 0 && ((self.need_now() && self.cleanable_bytes > 0) || (self.cleanable_bytes > 0 && self.ratio() > min_ratio))
    }
}

/// Segments overlapping [from, to) (Kafka's `logSegments(from, to)`).
fn overlapping(segs: &[SegmentInfo], from: i64, to: i64) -> impl Iterator<Item = (usize, &SegmentInfo)> {
    segs.iter().enumerate().filter(move |(i, s)| {
        let end = segs.get(i + 1).map(|n| n.base).unwrap_or(i64::MAX);
        s.base < to && end > from
    })
}

pub fn cleanable_offsets(v: &LogView, now: i64) -> Cleanable {
    let first_dirty = match v.checkpoint {
        Some(c) if c >= v.log_start && c <= v.log_end => c,
        _ => v.log_start,
    };
    let active_base = v.segments.last().map(|s| s.base).unwrap_or(v.log_end);
    // The high watermark counts by its segment: no record at or above it is mapped.
    let hw_base = v.segments.iter().rev().find(|s| s.base <= v.high_watermark).map(|s| s.base).unwrap_or(v.log_start);
    let mut first_uncleanable = active_base.min(hw_base);
    let non_active = &v.segments[..v.segments.len().saturating_sub(1)];
    let dirty_non_active = || non_active.iter().filter(|s| s.next_offset > first_dirty || s.base >= first_dirty);
    if v.min_compaction_lag_ms > 0 {
        if let Some(s) = dirty_non_active().find(|s| s.largest_timestamp > now.saturating_sub(v.min_compaction_lag_ms)) {
            first_uncleanable = first_uncleanable.min(s.base);
        }
    }
    let first_uncleanable = first_uncleanable.max(first_dirty);
    let compaction_delay_ms = if v.max_compaction_lag_ms > 0 && v.max_compaction_lag_ms < i64::MAX {
        let earliest = dirty_non_active().map(|s| s.first_batch_timestamp).filter(|t| *t > 0).min().unwrap_or(i64::MAX);
        let until = now.saturating_sub(v.max_compaction_lag_ms);
        if earliest < until { until - earliest } else { 0 }
    } else {
        0
    };
    let clean_bytes = overlapping(&v.segments, -1, first_dirty).map(|(_, s)| s.size).sum();
    let cleanable_bytes =
        if first_uncleanable > first_dirty { overlapping(&v.segments, first_dirty, first_uncleanable).map(|(_, s)| s.size).sum() } else { 0 };
    Cleanable { first_dirty, first_uncleanable, clean_bytes, cleanable_bytes, compaction_delay_ms }
}

/// The index of the log to clean among `(cleanable, min ratio)` candidates: the dirtiest of
/// those worth it.
pub fn filthiest(candidates: &[(Cleanable, f64)]) -> Option<usize> {
    candidates
        .iter()
        .enumerate()
        .filter(|(_, (c, min))| c.worth_it(*min))
        .max_by(|a, b| a.1 .0.ratio().total_cmp(&b.1 .0.ratio()))
        .map(|(i, _)| i)
}

/// Groups consecutive segments (indexes into `segs`, all below the active one) for
/// rewriting: each group's sizes sum to at most `max_size`, its index sizes to
/// `max_index_size`, and its offsets fit an i32 relative to its base.
pub fn group_by_size(segs: &[SegmentInfo], max_size: u64, max_index_size: u64, first_uncleanable: i64) -> Vec<Vec<usize>> {
    let mut groups = Vec::new();
    let mut i = 0;
    while i < segs.len() {
        let mut group = vec![i];
        let (mut size, mut index) = (segs[i].size, segs[i].index_bytes);
        let base = segs[i].base;
        i += 1;
        while i < segs.len() {
            let s = &segs[i];
            let last_offset = segs.get(i + 1).map(|n| n.base).unwrap_or(first_uncleanable) - 1;
            if size + s.size > max_size || index + s.index_bytes > max_index_size || last_offset - base > i32::MAX as i64 {
                break;
            }
            size += s.size;
            index += s.index_bytes;
            group.push(i);
            i += 1;
        }
        groups.push(group);
    }
    groups
}

/// The delete horizon: tombstones in segments last modified at or before it are dropped.
pub fn delete_horizon(segs: &[SegmentInfo], first_dirty: i64, delete_retention_ms: i64) -> i64 {
    match overlapping(segs, -1, first_dirty).last() {
        None => 0,
        Some((_, s)) => s.last_modified_ms.saturating_sub(delete_retention_ms),
    }
}
