//! Cleaning one partition log: the cleaner's I/O edge. Reads the frozen segments (see
//! `partition_log::cleaning`) without the log's lock, builds the offset map of the dirty
//! section, writes each group of segments through the filter into `<base>.log.cleaned`,
//! commits it as `<base>.log.swap`, and has the log swap it in under its lock.
//!
//! Everything read is checked before it is used: a batch must have magic 2, a length inside
//! the file and a matching CRC-32C; anything else stops the clean of that log with an error
//! naming the file and byte (the log is left as it was, and is not cleaned again until the
//! broker restarts, as Kafka marks such a partition uncleanable). Memory: the offset map
//! (bounded by `log.cleaner.dedupe.buffer.size` / threads), a read buffer of
//! `log.cleaner.io.buffer.size` (or one batch, if larger; a batch never exceeds its file),
//! and one batch's decompressed records.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::filter::{map_batch_txn, Filter, Outcome};
use super::txn::TxnTracker;
use super::offset_map::OffsetMap;
use super::plan::{self, Cleanable};
use crate::log::batch::{self, BatchError, HEADER_LEN, LOG_OVERHEAD};
use crate::log::partition_log::{sync_dir, Frozen, FrozenSegment};
use crate::log::{LogError, Partition};

#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    #[error("damaged data in {} at byte {pos}: {why}", file.display())]
    Damaged { file: PathBuf, pos: u64, why: String },
    #[error("the log has damaged data; it is cleaned once it is healed")]
    LogDamaged,
    #[error("{} at offset {offset}: {e}", file.display())]
    Batch { file: PathBuf, offset: i64, e: BatchError },
    #[error("the offset map ({0} keys) cannot hold even the first key of the dirty section; raise log.cleaner.dedupe.buffer.size")]
    MapTooSmall(usize),
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Log(#[from] LogError),
}

/// The figures of one clean (what Kafka's `log-cleaner.log` prints).
#[derive(Debug, Clone, Default)]
pub struct CleanStats {
    pub first_dirty: i64,
    pub end: i64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub records_read: u64,
    pub records_written: u64,
    pub map_bytes_read: u64,
    pub map_records: u64,
    pub map_duration: Duration,
    pub duration: Duration,
    pub buffer_utilization: f64,
    pub groups: usize,
    /// A change of the log (truncation, retention, deletion) stopped the clean part way.
    pub interrupted: bool,
}

impl CleanStats {
    /// One line with Kafka's figures.
    pub fn line(&self, thread: usize, name: &str) -> String {
        let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
        let secs = self.duration.as_secs_f64().max(1e-9);
        let map_secs = self.map_duration.as_secs_f64();
        let reduction = if self.bytes_read > 0 { 100.0 * (1.0 - self.bytes_written as f64 / self.bytes_read as f64) } else { 0.0 };
        let fewer = if self.records_read > 0 { 100.0 * (1.0 - self.records_written as f64 / self.records_read as f64) } else { 0.0 };
        format!(
            "Log cleaner thread {thread} cleaned log {name} (dirty section = [{}, {}]): {:.1} MB of log processed in {:.3} seconds ({:.1} MB/sec); \
             indexed {:.1} MB in {:.3} seconds ({:.1} MB/sec, {:.1}% of total time); buffer utilization: {:.1}%; \
             start size: {:.1} MB ({} messages); end size: {:.1} MB ({} messages); {:.1}% size reduction ({:.1}% fewer messages)",
            self.first_dirty,
            self.end,
            mb(self.bytes_read + self.map_bytes_read),
            secs,
            mb(self.bytes_read + self.map_bytes_read) / secs,
            mb(self.map_bytes_read),
            map_secs,
            mb(self.map_bytes_read) / map_secs.max(1e-9),
            100.0 * map_secs / secs,
            100.0 * self.buffer_utilization,
            mb(self.bytes_read),
            self.records_read,
            mb(self.bytes_written),
            self.records_written,
            reduction,
            fewer,
        )
    }
}

/// Whole checked batches of a frozen segment, read through a bounded buffer.
struct Batches<'a> {
    seg: &'a FrozenSegment,
    path: PathBuf,
    pos: u64,
    buf: Vec<u8>,
    buf_start: u64,
    chunk: usize,
}

impl<'a> Batches<'a> {
    fn new(dir: &Path, seg: &'a FrozenSegment, chunk: usize) -> Batches<'a> {
        Batches { seg, path: crate::log::segment::file_name(dir, seg.info.base, "log"), pos: 0, buf: Vec::new(), buf_start: 0, chunk: chunk.max(HEADER_LEN) }
    }

    /// Makes [pos, pos + len) available in the buffer (len within the frozen size).
    fn fill(&mut self, len: u64) -> io::Result<()> {
        let have = self.pos >= self.buf_start && self.pos + len <= self.buf_start + self.buf.len() as u64;
        if have {
            return Ok(());
        }
        let want = (len.max(self.chunk as u64)).min(self.seg.info.size - self.pos);
        self.buf.resize(want as usize, 0);
        self.seg.file.read_exact_at(&mut self.buf, self.pos)?;
        self.buf_start = self.pos;
        Ok(())
    }

    fn damaged(&self, why: impl Into<String>) -> CleanError {
        CleanError::Damaged { file: self.path.clone(), pos: self.pos, why: why.into() }
    }

    /// The next batch (header, bytes), or None at the end of the frozen size.
    fn next_batch(&mut self) -> Result<Option<(batch::BatchHeader, &[u8])>, CleanError> {
        let size = self.seg.info.size;
        if self.pos >= size {
            return Ok(None);
        }
        if size - self.pos < HEADER_LEN as u64 {
            return Err(self.damaged("a partial batch header at the end of the segment"));
        }
        self.fill(HEADER_LEN as u64)?;
        let at = (self.pos - self.buf_start) as usize;
        let Some(h) = batch::parse_header(&self.buf[at..]) else { return Err(self.damaged("a partial batch header")) };
        if h.magic != 2 {
            return Err(self.damaged(format!("magic {} (only 2 is stored)", h.magic)));
        }
        if h.batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 || self.pos + h.total_size() as u64 > size {
            return Err(self.damaged(format!("batch length {} does not fit in the segment", h.batch_length)));
        }
        let total = h.total_size();
        self.fill(total as u64)?;
        let at = (self.pos - self.buf_start) as usize;
        if !batch::crc_ok(&self.buf[at..at + total]) {
            return Err(self.damaged(format!("CRC mismatch in the batch at offset {}", h.base_offset)));
        }
        self.pos += total as u64;
        Ok(Some((h, &self.buf[at..at + total])))
    }
}

/// Memory and buffers of one cleaner thread.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub map_bytes: u64,
    pub io_buffer: usize,
}

/// Cleans the dirty section `c` of a frozen log; returns the new cleaner checkpoint (the
/// offset up to which the log is clean) and the figures. `now` is the wall clock in ms.
pub fn clean_log(part: &Partition, frozen: &Frozen, c: &Cleanable, budget: Budget, now: i64) -> Result<(i64, CleanStats), CleanError> {
    let _ = now;
    if frozen.damaged {
        return Err(CleanError::LogDamaged);
    }
    let started = Instant::now();
    let mut stats = CleanStats { first_dirty: c.first_dirty, ..Default::default() };
    let non_active = &frozen.segments[..frozen.segments.len().saturating_sub(1)];
    // 1. The offset map of the dirty section.
    let mut map = OffsetMap::with_memory(budget.map_bytes);
    let mut full = false;
    let mut map_txn: Option<TxnTracker> = None;
    for (i, seg) in non_active.iter().enumerate() {
        let end = non_active.get(i + 1).map(|n| n.info.base).unwrap_or(i64::MAX);
        if seg.info.base >= c.first_uncleanable || end <= c.first_dirty {
            continue;
        }
        let txn = map_txn.get_or_insert_with(|| TxnTracker::new(&frozen.aborted, seg.info.base, frozen.marker_only.clone()));
        let mut it = Batches::new(&frozen.dir, seg, budget.io_buffer);
        let path = it.path.clone();
        while let Some((h, bytes)) = it.next_batch()? {
            stats.map_bytes_read += bytes.len() as u64;
            stats.map_records += h.records_count.max(0) as u64;
            let ok = map_batch_txn(&mut map, bytes, c.first_dirty, txn).map_err(|e| CleanError::Batch { file: path.clone(), offset: h.base_offset, e })?;
            if !ok {
                full = true;
                break;
            }
        }
        if full {
            break;
        }
    }
    stats.map_duration = started.elapsed();
    stats.buffer_utilization = map.utilization();
    if full && map.is_empty() {
        return Err(CleanError::MapTooSmall(map.capacity()));
    }
    let end = if full { map.latest_offset() + 1 } else { c.first_uncleanable };
    stats.end = end;
    // 2. Rewrite every segment below `end`, group by group.
    let horizon = plan::delete_horizon(&frozen.view.segments, c.first_dirty, frozen.config.delete_retention_ms);
    let to_clean: Vec<&FrozenSegment> = non_active.iter().filter(|s| s.info.base < end).collect();
    let infos: Vec<_> = to_clean.iter().map(|s| s.info.clone()).collect();
    let max_index = (frozen.config.overrides.get("segment.index.bytes").and_then(|v| v.trim().parse::<u64>().ok())).unwrap_or(10 << 20);
    let groups = plan::group_by_size(&infos, frozen.config.segment_bytes.max(1) as u64, max_index, c.first_uncleanable);
    let mut txn = TxnTracker::new(&frozen.aborted, to_clean.first().map(|s| s.info.base).unwrap_or(0), frozen.marker_only.clone());
    for g in groups {
        let old: Vec<FrozenSegment> = g.iter().filter_map(|i| to_clean.get(*i).map(|s| (*s).clone())).collect();
        if !clean_group(part, frozen, &old, &map, horizon, budget, &mut stats, &mut txn)? {
            stats.interrupted = true;
            break;
        }
        stats.groups += 1;
    }
    stats.duration = started.elapsed();
    Ok((end, stats))
}

/// Writes one group through the filter and has the log swap it in. Ok(false) when the log
/// changed meanwhile.
#[allow(clippy::too_many_arguments)]
fn clean_group(
    part: &Partition,
    frozen: &Frozen,
    old: &[FrozenSegment],
    map: &OffsetMap,
    horizon: i64,
    budget: Budget,
    stats: &mut CleanStats,
    txn: &mut TxnTracker,
) -> Result<bool, CleanError> {
    let Some(first) = old.first() else { return Ok(true) };
    let base = first.info.base;
    let cleaned = frozen.dir.join(format!("{base:020}.log.cleaned"));
    let swap = frozen.dir.join(format!("{base:020}.log.swap"));
    let mut index = IndexBuilder::new(base, frozen.config.index_interval_bytes);
    let written = (|| -> Result<(), CleanError> {
        let file = File::create(&cleaned)?;
        let mut out = BufWriter::with_capacity(budget.io_buffer.max(4096), &file);
        for seg in old {
            let filter = Filter { map, retain_deletes: seg.info.last_modified_ms > horizon, producer_last: &frozen.producer_last };
            let mut it = Batches::new(&frozen.dir, seg, budget.io_buffer);
            let path = it.path.clone();
            while let Some((h, bytes)) = it.next_batch()? {
                stats.bytes_read += bytes.len() as u64;
                let (outcome, counts) = filter.batch_txn(bytes, txn).map_err(|e| CleanError::Batch { file: path.clone(), offset: h.base_offset, e })?;
                stats.records_read += counts.read;
                stats.records_written += counts.kept;
                if !matches!(outcome, Outcome::Dropped) {
                    out.write_all(outcome.bytes())?;
                    index.add(outcome.bytes());
                    stats.bytes_written += outcome.bytes().len() as u64;
                }
            }
        }
        out.flush()?;
        drop(out);
        file.sync_all()?;
        // The cleaned segment takes the last old segment's time (the delete horizon of later
        // cleans is measured from it), as Kafka does.
        if let Some(last) = old.last() {
            let t = std::time::UNIX_EPOCH + Duration::from_millis(last.info.last_modified_ms.max(0) as u64);
            let _ = file.set_modified(t);
        }
        // The indexes go first (a swap without them rebuilds them), the log file's rename
        // commits.
        let aborted: Vec<u8> = std::mem::take(&mut txn.index).iter().flat_map(|a| a.encode()).collect();
        for (ext, bytes) in [("index", &index.offsets), ("timeindex", &index.times), ("txnindex", &aborted)] {
            if ext == "txnindex" && bytes.is_empty() {
                continue;
            }
            let tmp = frozen.dir.join(format!("{base:020}.{ext}.cleaned"));
            let f = File::create(&tmp)?;
            (&f).write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, frozen.dir.join(format!("{base:020}.{ext}.swap")))?;
        }
        std::fs::rename(&cleaned, &swap)?;
        sync_dir(&frozen.dir)?;
        Ok(())
    })();
    if let Err(e) = written {
        for ext in ["log", "index", "timeindex", "txnindex"] {
            for suffix in ["cleaned", "swap"] {
                let _ = std::fs::remove_file(frozen.dir.join(format!("{base:020}.{ext}.{suffix}")));
            }
        }
        return Err(e);
    }
    Ok(part.lock().replace_with_cleaned(old, base)?)
}

/// The sparse indexes of a cleaned segment, built as it is written, by the rules of
/// `segment`'s own (an offset entry when more than `index.interval.bytes` were written since
/// the last one, keyed by the batch's last offset; a time entry beside it when the max
/// timestamp grew), so that the swap need not scan the segment under the log's lock.
struct IndexBuilder {
    base: i64,
    interval: i64,
    pos: u64,
    since: u64,
    max_ts: i64,
    offset_of_max: i64,
    last_time: Option<i64>,
    offsets: Vec<u8>,
    times: Vec<u8>,
}

impl IndexBuilder {
    fn new(base: i64, interval: i64) -> IndexBuilder {
        IndexBuilder { base, interval, pos: 0, since: 0, max_ts: -1, offset_of_max: base, last_time: None, offsets: Vec::new(), times: Vec::new() }
    }

    fn add(&mut self, bytes: &[u8]) {
        let Some(h) = batch::parse_header(bytes) else { return };
        if h.max_timestamp > self.max_ts {
            self.max_ts = h.max_timestamp;
            self.offset_of_max = h.last_offset();
        }
        // Positions and relative offsets fit a u32: a group stays within segment.bytes and an
        // i32 of offsets (plan::group_by_size).
        if self.since as i64 > self.interval && self.pos <= u32::MAX as u64 {
            self.offsets.extend_from_slice(&((h.last_offset() - self.base) as u32).to_be_bytes());
            self.offsets.extend_from_slice(&(self.pos as u32).to_be_bytes());
            if self.last_time.is_none_or(|t| self.max_ts > t) {
                self.times.extend_from_slice(&self.max_ts.to_be_bytes());
                self.times.extend_from_slice(&((self.offset_of_max - self.base) as u32).to_be_bytes());
                self.last_time = Some(self.max_ts);
            }
            self.since = 0;
        }
        self.since += bytes.len() as u64;
        self.pos += bytes.len() as u64;
    }
}
