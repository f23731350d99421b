//! The log's side of compaction (the cleaner itself is `log::cleaner`): a frozen view of
//! the segments for the cleaner to read without holding the log, the swap of cleaned
//! segments in place of the old ones, and the completion of a swap a crash interrupted.
//!
//! Files of a clean, as Kafka names them: the cleaner writes a group's records to
//! `<base>.log.cleaned` (base = the group's first segment), fsyncs it and renames it to
//! `<base>.log.swap` — that rename is the commit point (its indexes, built as it was
//! written, are renamed to `<base>.index.swap` / `.timeindex.swap` / `.txnindex.swap` (the
//! aborted transactions it keeps, when there are any) just before). The swap
//! (under the log's lock) renames the group's old files to `.deleted`, renames the `.swap`
//! files to their live names, opens the segment with its indexes checked as at any open
//! (not rescanning it: the data was written and checked by the cleaner), and deletes the
//! `.deleted` files; the directory is fsynced after
//! each step. At open, `.cleaned` and `.deleted` files are deleted (an uncommitted clean, or
//! old files already replaced) and a `<base>.log.swap` is completed as Kafka's `Log` does:
//! live segments whose base offset lies in the swap's offset range are deleted, then the
//! swap file becomes `<base>.log`, and its indexes are rebuilt (index `.swap` files are
//! deleted, as Kafka does). A clean whose trailing old
//! segments lost every record leaves, after a crash at that point, those segments live:
//! they hold only records that later ones supersede, in offset order after the swap, and
//! the next clean removes them again (Kafka has the same window).

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

use super::*;
use crate::log::cleaner::plan::{LogView, SegmentInfo};

/// One segment of a frozen view: its file (kept open) and its size when frozen.
#[derive(Clone)]
pub struct FrozenSegment {
    pub info: SegmentInfo,
    pub file: Arc<File>,
}

/// What the cleaner reads a log from, without its lock.
pub struct Frozen {
    pub dir: PathBuf,
    pub view: LogView,
    pub segments: Vec<FrozenSegment>,
    /// Producer id -> last offset of its last batch.
    pub producer_last: HashMap<i64, i64>,
    /// Producers whose state holds no data batch (known from a marker): id -> epoch.
    pub marker_only: HashMap<i64, i16>,
    /// The aborted transactions of the log (every segment's `.txnindex`).
    pub aborted: Vec<crate::log::segment::txn_index::AbortedTxn>,
    pub config: TopicConfig,
    /// The log has damaged data somewhere: it is not cleaned until it is healed.
    pub damaged: bool,
}

fn mtime_ms(f: &File) -> i64 {
    f.metadata()
        .ok()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Log {
    pub(super) fn note_truncation(&mut self, offset: i64) {
        self.truncated_to = Some(self.truncated_to.map_or(offset, |t| t.min(offset)));
    }

    /// The lowest offset the log was truncated to since the last call (the cleaner lowers
    /// its checkpoint to it).
    pub fn take_truncation(&mut self) -> Option<i64> {
        self.truncated_to.take()
    }

    /// The segments as they are now, for the cleaner (call with the log locked).
    pub fn freeze_for_cleaning(&self, checkpoint: Option<i64>, min_cleanable_ratio: f64) -> Frozen {
        let mut segments = Vec::with_capacity(self.segments.len());
        for (base, s) in &self.segments {
            let first_batch_timestamp = s.header_at(0).ok().flatten().map(|h| h.max_timestamp).unwrap_or(-1);
            let info = SegmentInfo {
                base: *base,
                next_offset: s.next_offset,
                size: s.size,
                index_bytes: s.index_bytes(),
                largest_timestamp: s.max_timestamp,
                first_batch_timestamp,
                last_modified_ms: mtime_ms(&s.log),
            };
            segments.push(FrozenSegment { info, file: s.log.clone() });
        }
        let view = LogView {
            segments: segments.iter().map(|s| s.info.clone()).collect(),
            log_start: self.log_start_offset,
            log_end: self.log_end_offset,
            // Never past the first unstable offset (Kafka's firstUncleanableDirtyOffset):
            // an open transaction may still be aborted, and its marker must meet its data.
            high_watermark: self.last_stable_offset(),
            checkpoint,
            min_compaction_lag_ms: self.config.min_compaction_lag_ms,
            max_compaction_lag_ms: self.config.max_compaction_lag_ms,
            min_cleanable_ratio,
        };
        let producer_last = self
            .producers
            .producers
            .iter()
            .filter_map(|(pid, e)| e.batches.back().map(|b| (*pid, b.last_offset)))
            .collect();
        let marker_only = self.producers.producers.iter().filter(|(_, e)| e.batches.is_empty()).map(|(pid, e)| (*pid, e.epoch)).collect();
        Frozen {
            dir: self.dir.clone(),
            view,
            segments,
            producer_last,
            marker_only,
            aborted: self.aborted_txns(),
            config: self.config.clone(),
            damaged: self.first_damage().is_some(),
        }
    }

    /// The base offsets of the segments, the active one last.
    pub fn segment_bases(&self) -> Vec<i64> {
        self.segments.keys().copied().collect()
    }

    /// Per segment: (base offset, size in bytes, file modification time in ms), the active
    /// one last (ListOffsets v0 answers by them, as Kafka 2.5's legacyFetchOffsetsBefore).
    pub fn segment_times(&self) -> Vec<(i64, u64, i64)> {
        self.segments
            .values()
            .map(|s| {
                let mtime = s
                    .log
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0);
                (s.base, s.size, mtime)
            })
            .collect()
    }

    /// Rolls the active segment now (tests and the cleaner benchmark: to make data
    /// cleanable).
    pub fn roll_now(&mut self) -> Result<(), LogError> {
        self.roll()
    }

    /// Replaces the group `old` (base offsets, files and sizes when frozen) with the committed
    /// `<base>.log.swap`. Ok(false) when the log changed meanwhile (a truncation, retention,
    /// a deleted log): the swap file is removed and nothing else is touched.
    pub fn replace_with_cleaned(&mut self, old: &[FrozenSegment], base: i64) -> Result<bool, LogError> {
        self.online()?;
        let swap = self.dir.join(format!("{base:020}.log.swap"));
        let active = self.segments.keys().next_back().copied();
        let unchanged = !old.is_empty()
            && old.first().map(|s| s.info.base) == Some(base)
            && old.iter().all(|o| {
                Some(o.info.base) != active
                    && self.segments.get(&o.info.base).is_some_and(|s| Arc::ptr_eq(&s.log, &o.file) && s.size == o.info.size)
            });
        let index_swaps = ["index", "timeindex", "txnindex"].map(|ext| (ext, self.dir.join(format!("{base:020}.{ext}.swap"))));
        if !unchanged {
            let _ = std::fs::remove_file(&swap);
            for (_, f) in &index_swaps {
                let _ = std::fs::remove_file(f);
            }
            return Ok(false);
        }
        let res = (|| -> io::Result<Option<Segment>> {
            let mut deleted = Vec::new();
            for o in old {
                self.segments.remove(&o.info.base);
                for ext in ["log", "index", "timeindex", "txnindex"] {
                    let live = super::super::segment::file_name(&self.dir, o.info.base, ext);
                    let gone = self.dir.join(format!("{:020}.{ext}.deleted", o.info.base));
                    match std::fs::rename(&live, &gone) {
                        Ok(()) => deleted.push(gone),
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            sync_dir(&self.dir)?;
            std::fs::rename(&swap, super::super::segment::file_name(&self.dir, base, "log"))?;
            for (ext, f) in &index_swaps {
                match std::fs::rename(f, super::super::segment::file_name(&self.dir, base, ext)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            sync_dir(&self.dir)?;
            let live = super::super::segment::file_name(&self.dir, base, "log");
            let seg = if std::fs::metadata(&live)?.len() == 0 {
                // Every record of the group went: no segment (an empty one would stop
                // retention, and open() drops such a segment anyway). Reads skip the gap.
                for ext in ["log", "index", "timeindex", "txnindex"] {
                    let _ = std::fs::remove_file(super::super::segment::file_name(&self.dir, base, ext));
                }
                None
            } else {
                // The indexes the cleaner wrote are checked as any loaded index (a failed
                // check rebuilds them); the data is checked lazily, as an old segment's.
                Some(Segment::open(&self.dir, base, false, false, self.config.index_interval_bytes, now_ms())?.0)
            };
            for d in deleted {
                let _ = std::fs::remove_file(d);
            }
            Ok(seg)
        })();
        match res {
            Ok(seg) => {
                if let Some(seg) = seg {
                    self.segments.insert(base, seg);
                }
                Ok(true)
            }
            Err(e) => {
                // The files are half swapped: what a restart completes. Until then the log
                // cannot be served from here.
                let what = format!("swapping cleaned segment {base} of {}-{}", self.topic, self.partition);
                self.health.fail(&what, &e.to_string());
                Err(LogError::Offline(self.health.path.clone()))
            }
        }
    }
}

/// The offset after the last whole batch of a segment file (framing only), or None when
/// it holds none.
fn next_offset_of(path: &Path) -> io::Result<Option<i64>> {
    let f = File::open(path)?;
    let size = f.metadata()?.len();
    let mut pos = 0u64;
    let mut next = None;
    let mut hdr = [0u8; batch::HEADER_LEN];
    while pos + batch::HEADER_LEN as u64 <= size {
        f.read_exact_at(&mut hdr, pos)?;
        let Some(h) = batch::parse_header(&hdr) else { break };
        if h.magic != 2 || h.batch_length < (batch::HEADER_LEN - batch::LOG_OVERHEAD) as i32 || pos + h.total_size() as u64 > size {
            break;
        }
        next = Some(h.next_offset());
        pos += h.total_size() as u64;
    }
    Ok(next)
}

/// Completes the swaps a crash interrupted (see the module docs); returns the base offsets
/// of the segments it put in place, whose indexes must be rebuilt.
pub(super) fn complete_swaps(dir: &Path) -> io::Result<Vec<i64>> {
    let mut names: Vec<String> = Vec::new();
    for e in std::fs::read_dir(dir)? {
        names.push(e?.file_name().to_string_lossy().to_string());
    }
    let mut done = Vec::new();
    let mut swaps: Vec<i64> = names
        .iter()
        .filter_map(|n| n.strip_suffix(".log.swap").filter(|s| s.len() == 20).and_then(|s| s.parse().ok()))
        .collect();
    swaps.sort_unstable();
    for base in swaps {
        let swap = dir.join(format!("{base:020}.log.swap"));
        let end = next_offset_of(&swap)?.unwrap_or(base).max(base.saturating_add(1));
        tracing::info!("Found log file {} from interrupted swap operation, repairing.", swap.display());
        for n in &names {
            let Some(b) = n.strip_suffix(".log").filter(|s| s.len() == 20).and_then(|s| s.parse::<i64>().ok()) else { continue };
            if b >= base && b < end {
                for ext in ["log", "index", "timeindex", "txnindex"] {
                    let _ = std::fs::remove_file(super::super::segment::file_name(dir, b, ext));
                }
            }
        }
        for ext in ["index", "timeindex"] {
            let _ = std::fs::remove_file(super::super::segment::file_name(dir, base, ext));
        }
        // The cleaned segment's aborted-transaction entries, when the clean wrote some.
        let txn_swap = dir.join(format!("{base:020}.txnindex.swap"));
        if txn_swap.exists() {
            std::fs::rename(&txn_swap, super::super::segment::file_name(dir, base, "txnindex"))?;
        }
        std::fs::rename(&swap, super::super::segment::file_name(dir, base, "log"))?;
        done.push(base);
    }
    if !done.is_empty() {
        sync_dir(dir)?;
    }
    Ok(done)
}
