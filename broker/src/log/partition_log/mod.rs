//! The log of one partition: `<log.dir>/<topic>-<partition>/`, a sorted set of segments.
//!
//! Appends go to the active (last) segment, which rolls on `segment.bytes` / `segment.ms`.
//! Retention deletes whole segments by time and size; DeleteRecords moves the log start
//! offset. The high watermark (the offset below which every in-sync replica has the data)
//! is kept here but moved by `replica` (the leader from its followers' fetch offsets, a
//! follower from its leader's answers); consumers read only below it. Followers append the
//! leader's batches as they are (`append_replica`; offset gaps, as a compacted leader has,
//! are kept) and cut divergent tails with
//! `truncate_to` after asking the leader where their last leader epoch ended.
//!
//! Files of the directory besides the segments (see `segment` for those):
//! - `leader-epoch-checkpoint`: `0\n<count>\n` then `<epoch> <start offset>` lines, epochs
//!   increasing, as Kafka's. Written (temp file + rename) before the first batch of a new
//!   epoch. A file that does not parse, or is missing beside data, is rebuilt from the
//!   batches' partitionLeaderEpoch fields with a warning naming it.
//! - `<base>.txnindex`: aborted transactions per segment (see `txn` and
//!   `segment::txn_index`); the last stable offset for read_committed consumers is `txn`'s.
//! - `<offset>.snapshot`: producer state (format in `producer_state`); a damaged one is
//!   ignored with a warning and the state is replayed from the log instead.
//! - Leftovers — index files without their `.log`, `*.tmp` of an interrupted checkpoint,
//!   `.deleted` / `.cleaned` — are deleted at open, as Kafka does; a `<base>.log.swap` (a
//!   clean committed but not swapped in) is completed first (see `cleaning`).
//! - Compacted topics (`cleanup.policy` with `compact`) refuse records without a key at
//!   append (CORRUPT_MESSAGE), and their active segment also rolls on
//!   `max.compaction.lag.ms`; the cleaner is `log::cleaner`.
//!
//! Failures. An append is all or nothing on disk: a failed write (or the fsync that
//! `flush.messages` asks for) cuts the segment and its indexes back to where the append
//! began, a new epoch is recorded before its first batch is written, and a roll that fails
//! removes what it created. Out-of-space errors leave the log usable (the client gets
//! KAFKA_STORAGE_ERROR and may retry); other errors, or an undo that fails, take the log
//! dir offline (see `dir_health`). Damaged data found in a segment is never served: reads
//! that start in it get [`LogError::Damaged`] (KAFKA_STORAGE_ERROR), reads that reach it
//! stop before it, and `first_damage` tells `replica::heal` what to fetch again.

mod cleaning;
mod epochs;
mod producers;
mod retention;
#[cfg(test)]
mod tests;
mod txn;
#[cfg(test)]
mod txn_tests;

pub use cleaning::{sync_dir, Frozen, FrozenSegment};
pub use epochs::parse_epochs;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::batch;
use super::dir_health::DirHealth;
use super::producer_state::{Check, ProducerError, ProducerState};
use super::segment::{Located, Segment, WriteError};
use crate::topic_config::TopicConfig;

/// Bytes of unchecked segment data one fetch of a partition checks at most (the rest is
/// checked by the next fetch); bounds how long a fetch holds the partition.
pub const VERIFY_BUDGET: u64 = 32 << 20;
/// The largest checkpoint or snapshot file read (anything bigger is not one of ours).
pub const MAX_SMALL_FILE: u64 = 256 << 20;

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Reads a small file whole, refusing one larger than [`MAX_SMALL_FILE`] before allocating.
pub fn read_small(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len > MAX_SMALL_FILE {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{len} bytes, more than such a file can hold")));
    }
    let mut out = Vec::with_capacity(len as usize);
    f.take(MAX_SMALL_FILE).read_to_end(&mut out)?;
    Ok(out)
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("offset {0} out of range")]
    OffsetOutOfRange(i64),
    #[error(transparent)]
    Batch(#[from] batch::BatchError),
    #[error(transparent)]
    Producer(#[from] ProducerError),
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("log dir {} is offline", .0.display())]
    Offline(PathBuf),
    #[error("damaged data in {} at byte {position} (offsets from {first_offset}): {reason}", file.display())]
    Damaged { file: PathBuf, position: u64, first_offset: i64, reason: String },
}

/// Damaged data of a log, as `replica::heal` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamageInfo {
    pub file: PathBuf,
    pub position: u64,
    /// The first offset lost and the first one after the damage.
    pub first_offset: i64,
    pub end_offset: i64,
}

pub struct Log {
    pub dir: PathBuf,
    pub topic: String,
    pub partition: i32,
    segments: BTreeMap<i64, Segment>,
    pub log_end_offset: i64,
    pub log_start_offset: i64,
    pub recovery_point: i64,
    /// Replicated to every in-sync replica below this offset (see `replica`).
    high_watermark: i64,
    pub config: TopicConfig,
    epochs: Vec<(i32, i64)>,
    unflushed: i64,
    /// Idempotent producers' sequence state (see producer_state).
    pub producers: ProducerState,
    /// The log dir's health (shared by every log of the dir).
    pub health: Arc<DirHealth>,
    /// The lowest offset truncated to since the cleaner last looked (its checkpoint must
    /// not stay above it, as Kafka's maybeTruncateCheckpoint).
    truncated_to: Option<i64>,
}

/// A byte range of a segment file, sent to a socket as it is.
#[derive(Clone)]
pub struct FileSlice {
    pub file: std::sync::Arc<std::fs::File>,
    pub pos: u64,
    pub len: u64,
}

/// What a fetch gets from `Log::slice`.
pub enum Sliced {
    Data(FileSlice),
    Empty,
    /// The data is not checked yet (an old segment read for the first time): ask again.
    Checking,
}

/// Result of an append.
#[derive(Debug)]
pub struct Appended {
    pub base_offset: i64,
    /// The log end offset after the append (for a duplicate: the retried batch's end).
    pub next_offset: i64,
    pub log_append_time: i64,
    /// A producer's retry of batches already in the log: acknowledged, not appended again.
    pub duplicate: bool,
}

impl Log {
    /// Opens (recovering the segments from the recovery point on) or creates a log.
    pub fn open(dir: &Path, topic: &str, partition: i32, config: TopicConfig, recovery_point: i64, log_start: i64) -> Result<Log, LogError> {
        let health = DirHealth::standalone(dir.parent().unwrap_or(dir));
        Log::open_in(dir, topic, partition, config, recovery_point, log_start, health)
    }

    /// As `open`, in a log dir whose health is shared.
    pub fn open_in(
        dir: &Path,
        topic: &str,
        partition: i32,
        config: TopicConfig,
        recovery_point: i64,
        log_start: i64,
        health: Arc<DirHealth>,
    ) -> Result<Log, LogError> {
        std::fs::create_dir_all(dir)?;
        // A clean that a crash interrupted after its commit point is completed first.
        let swapped = cleaning::complete_swaps(dir)?;
        let now = now_ms();
        let mut bases: Vec<i64> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for e in std::fs::read_dir(dir)? {
            names.push(e?.file_name().to_string_lossy().to_string());
        }
        for name in &names {
            if let Some(stem) = name.strip_suffix(".log") {
                if stem.len() == 20 {
                    if let Ok(b) = stem.parse::<i64>() {
                        bases.push(b);
                    }
                }
            }
            // Leftovers of an interrupted deletion, swap or checkpoint: Kafka deletes them too.
            if name.ends_with(".deleted") || name.ends_with(".cleaned") || name.ends_with(".swap") || name.ends_with(".tmp") {
                let _ = std::fs::remove_file(dir.join(name));
            }
        }
        for name in &names {
            let stem = name.strip_suffix(".index").or_else(|| name.strip_suffix(".timeindex")).or_else(|| name.strip_suffix(".txnindex"));
            if let Some(stem) = stem.filter(|s| s.len() == 20) {
                if !names.iter().any(|n| n.strip_suffix(".log") == Some(stem)) {
                    tracing::warn!("Found an orphaned index file {}, with no corresponding log file; deleting it", dir.join(name).display());
                    let _ = std::fs::remove_file(dir.join(name));
                }
            }
        }
        bases.sort_unstable();
        let mut segments = BTreeMap::new();
        let mut next = 0;
        let last = bases.last().copied();
        let interval = config.index_interval_bytes;
        for b in &bases {
            let is_last = Some(*b) == last;
            let next_base = bases.iter().find(|x| *x > b).copied();
            // An empty segment that is not the last one is the leftover of a failed roll.
            if !is_last && std::fs::metadata(super::segment::file_name(dir, *b, "log")).map(|m| m.len() == 0).unwrap_or(false) {
                tracing::info!("{}-{partition}: removing empty segment {b} that is not the last one", topic);
                for ext in ["log", "index", "timeindex", "txnindex"] {
                    let _ = std::fs::remove_file(super::segment::file_name(dir, *b, ext));
                }
                continue;
            }
            // Recover every segment that may hold data past the recovery point.
            let recover = is_last || swapped.contains(b) || next_base.map(|n| n > recovery_point).unwrap_or(true);
            let (mut seg, n) = Segment::open(dir, *b, recover, is_last, interval, now)?;
            // Entries of markers a torn tail took away.
            seg.txn.truncate_to(n.max(*b))?;
            next = n.max(*b);
            segments.insert(*b, seg);
        }
        if segments.is_empty() {
            let start = log_start.max(0);
            segments.insert(start, Segment::create(dir, start, now, interval)?);
            next = start;
        }
        let first_base = segments.keys().next().copied().unwrap_or(0);
        let mut log = Log {
            dir: dir.to_path_buf(),
            topic: topic.to_string(),
            partition,
            segments,
            log_end_offset: next,
            log_start_offset: log_start.max(first_base).min(next),
            recovery_point: next,
            high_watermark: 0,
            config,
            epochs: Vec::new(),
            unflushed: 0,
            producers: ProducerState::default(),
            health,
            truncated_to: None,
        };
        log.epochs = log.load_epochs();
        if let Some(d) = log.first_damage() {
            tracing::error!(
                "{}-{}: offsets {} to {} are unreadable on this broker (damaged data in {} at byte {}); they are fetched again from another replica where there is one",
                log.topic,
                log.partition,
                d.first_offset,
                d.end_offset - 1,
                d.file.display(),
                d.position
            );
        }
        log.load_producer_state()?;
        Ok(log)
    }

    fn online(&self) -> Result<(), LogError> {
        if self.health.is_offline() {
            return Err(LogError::Offline(self.health.path.clone()));
        }
        Ok(())
    }

    /// Sorts a storage error (see `dir_health`): out of space stays an I/O error; anything
    /// else takes the dir offline.
    fn storage(&self, what: &str, e: io::Error) -> LogError {
        let what = format!("{what} for {}-{}", self.topic, self.partition);
        if self.health.check(&what, &e) {
            LogError::Io(e)
        } else {
            LogError::Offline(self.health.path.clone())
        }
    }

    fn write_failed(&self, what: &str, e: WriteError) -> LogError {
        match e {
            WriteError::Undone(e) => self.storage(what, e),
            WriteError::Stuck { cause, undo } => {
                self.health.fail(&format!("{what} for {}-{}", self.topic, self.partition), &format!("{cause}; cutting the files back failed too: {undo}"));
                LogError::Offline(self.health.path.clone())
            }
        }
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.clamp(self.log_start_offset, self.log_end_offset)
    }

    /// Moves the high watermark (clamped to the log); returns whether it moved forward.
    pub fn set_high_watermark(&mut self, hw: i64) -> bool {
        let hw = hw.clamp(self.log_start_offset, self.log_end_offset);
        let old = self.high_watermark();
        self.high_watermark = hw;
        self.producers.on_high_watermark(hw);
        hw > old
    }

    /// Rolls when the active segment cannot take `size` more bytes (or is too old).
    fn maybe_roll(&mut self, size: u64, now: i64) -> Result<(), LogError> {
        let (roll_ms, seg_bytes) = (self.config.max_segment_ms(), self.config.segment_bytes as u64);
        let active = self.active()?;
        let too_big = active.size > 0 && active.size + size > seg_bytes;
        let too_old = active.size > 0 && now - active.created_ms > roll_ms;
        if too_big || too_old || size + active.size > u32::MAX as u64 {
            self.roll()?;
        }
        Ok(())
    }

    /// Appends whole batches to the active segment, and fsyncs when `flush.messages` says
    /// so; on failure nothing of them stays on disk.
    fn write_batches(&mut self, data: &[u8], count: i64, now: i64) -> Result<(), LogError> {
        let interval = self.config.index_interval_bytes;
        let active = self.active()?;
        let mark = active.mark();
        if active.size == 0 {
            active.created_ms = now;
        }
        if let Err(e) = active.append(data, interval) {
            return Err(self.write_failed("appending to the log", e));
        }
        if self.unflushed + count >= self.config.flush_messages {
            let active = self.active()?;
            if let Err(e) = active.flush() {
                // Not durable: undo it rather than acknowledge it.
                let undone = match active.rollback(&mark) {
                    Ok(()) => WriteError::Undone(e),
                    Err(undo) => WriteError::Stuck { cause: e, undo },
                };
                return Err(self.write_failed("flushing the log", undone));
            }
            self.unflushed = 0;
            self.recovery_point = self.active()?.next_offset;
        } else {
            self.unflushed += count;
        }
        Ok(())
    }

    /// Follower append: the leader's batches, offsets and epochs kept as they are. Batches
    /// wholly below our log end (a re-sent range) are skipped; a gap is an error.
    pub fn append_replica(&mut self, data: &[u8]) -> Result<usize, LogError> {
        self.online()?;
        let mut appended = 0;
        for (h, bytes) in batch::split(data) {
            if h.last_offset() < self.log_end_offset {
                continue;
            }
            // A gap is fine (a compacted leader's cleaned segments have them, as Kafka's
            // appendAsFollower allows); an overlap with our tail is not.
            if h.base_offset < self.log_end_offset || h.magic != 2 || !batch::crc_ok(bytes) {
                return Err(LogError::Batch(batch::BatchError::Corrupt(format!(
                    "replica batch at offset {} does not continue the log at {} or fails its CRC",
                    h.base_offset, self.log_end_offset
                ))));
            }
            let now = now_ms();
            self.maybe_roll(bytes.len() as u64, now)?;
            self.note_epoch(h.leader_epoch, h.base_offset)?;
            self.write_batches(bytes, h.last_offset() + 1 - h.base_offset, now)?;
            self.log_end_offset = h.last_offset() + 1;
            self.track(&h, bytes, now)?;
            appended += bytes.len();
        }
        Ok(appended)
    }

    /// The segment to look in first for `offset`: the one holding it, else the first.
    fn base_for(&self, offset: i64) -> Option<i64> {
        self.segments.range(..=offset).next_back().or_else(|| self.segments.iter().next()).map(|(b, _)| *b)
    }

    fn base_after(&self, base: i64) -> Option<i64> {
        self.segments.range(base + 1..).next().map(|(b, _)| *b)
    }

    fn damaged(&self, base: i64, d: &super::segment::Damage) -> LogError {
        LogError::Damaged {
            file: super::segment::file_name(&self.dir, base, "log"),
            position: d.start,
            first_offset: d.first_offset,
            reason: d.reason.clone(),
        }
    }

    /// A fetch's byte range (see `Segment::slice`): from the batch holding `offset`, about
    /// `max` bytes, only batches below `limit` (the high watermark for consumers, the log end
    /// for followers), never across a segment boundary nor into damaged data. Data not yet
    /// checked is checked first (a bounded amount per call: `Checking` asks to come back).
    pub fn slice(&mut self, offset: i64, max: usize, limit: i64) -> Result<Sliced, LogError> {
        self.online()?;
        if offset < self.log_start_offset || offset > self.log_end_offset {
            return Err(LogError::OffsetOutOfRange(offset));
        }
        if offset >= limit || offset == self.log_end_offset {
            return Ok(Sliced::Empty);
        }
        let mut budget = VERIFY_BUDGET;
        let leo = self.log_end_offset;
        let mut next = self.base_for(offset);
        while let Some(b) = next {
            next = self.base_after(b);
            let Some(seg) = self.segments.get_mut(&b) else { continue };
            let found = seg.locate(offset, &mut budget).map_err(|e| self.storage("reading", e))?;
            let seg = self.segments.get_mut(&b).ok_or(LogError::OffsetOutOfRange(offset))?;
            match found {
                Located::Beyond => continue,
                Located::Pending => return Ok(Sliced::Checking),
                Located::Damaged(d) => return Err(self.damaged(b, &d)),
                Located::At(pos) => {
                    let end = if limit >= leo {
                        Ok(None)
                    } else {
                        match seg.locate(limit, &mut budget) {
                            Ok(Located::At(q)) => Ok(Some(q)),
                            Ok(Located::Damaged(d)) => Ok(Some(d.start)),
                            Ok(Located::Beyond) => Ok(None),
                            Ok(Located::Pending) => return Ok(Sliced::Checking),
                            Err(e) => Err(e),
                        }
                    };
                    let sliced = end.and_then(|end| seg.slice(pos, max, end, &mut budget));
                    return match sliced.map_err(|e| self.storage("reading", e))? {
                        Some((file, pos, len)) => Ok(Sliced::Data(FileSlice { file, pos, len })),
                        None => Ok(Sliced::Empty),
                    };
                }
            }
        }
        Ok(Sliced::Empty)
    }

    /// The last segment. There always is one (open() leaves one, roll() adds before anything
    /// is removed) except after a truncation that could not create its new segment, which
    /// took the dir offline.
    fn active(&mut self) -> Result<&mut Segment, LogError> {
        let dir = self.health.path.clone();
        self.segments.iter_mut().next_back().map(|(_, s)| s).ok_or(LogError::Offline(dir))
    }

    fn roll(&mut self) -> Result<(), LogError> {
        let base = self.log_end_offset;
        if self.segments.contains_key(&base) {
            return Ok(());
        }
        if let Err(e) = self.active()?.flush() {
            return Err(self.storage("flushing the log before a roll", e));
        }
        let seg = match Segment::create(&self.dir, base, now_ms(), self.config.index_interval_bytes) {
            Ok(s) => s,
            Err(e) => return Err(self.storage("rolling a new segment", e)),
        };
        self.segments.insert(base, seg);
        self.recovery_point = base;
        self.unflushed = 0;
        // As Kafka: a producer snapshot at every roll bounds the replay after a crash. A
        // missing snapshot only means a longer replay.
        if let Err(e) = self.write_producer_snapshot() {
            if !self.health.check(&format!("writing a producer snapshot for {}-{}", self.topic, self.partition), &e) {
                return Err(LogError::Offline(self.health.path.clone()));
            }
            tracing::warn!("{}-{}: cannot write a producer snapshot: {e}", self.topic, self.partition);
        }
        Ok(())
    }

    /// Appends a validated Produce payload, assigning offsets. `data` is rewritten in place.
    pub fn append(&mut self, data: &mut [u8], leader_epoch: i32) -> Result<Appended, LogError> {
        self.online()?;
        self.check_markers(data)?;
        if let Some(first) = self.check_producers(data)? {
            let count: i64 = batch::split(data).iter().map(|(h, _)| h.last_offset_delta as i64 + 1).sum();
            let next_offset = first + count.max(1);
            return Ok(Appended { base_offset: first, next_offset, log_append_time: -1, duplicate: true });
        }
        if self.config.compact {
            crate::log::cleaner::refuse_keyless(data, &self.topic, self.partition)?;
        }
        let now = now_ms();
        let append_time = if self.config.log_append_time { Some(now) } else { None };
        let base = self.log_end_offset;
        self.maybe_roll(data.len() as u64, now)?;
        let next = batch::assign_offsets(data, base, leader_epoch, append_time);
        self.note_epoch(leader_epoch, base)?;
        self.write_batches(data, next - base, now)?;
        self.log_end_offset = next;
        for (h, b) in batch::split(data) {
            self.track(&h, b, now)?;
        }
        Ok(Appended { base_offset: base, next_offset: next, log_append_time: append_time.unwrap_or(-1), duplicate: false })
    }

    /// Fsyncs the active segment; the recovery point moves to the log end on success.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.health.is_offline() {
            return Ok(());
        }
        if let Some((_, s)) = self.segments.iter().next_back() {
            s.flush()?;
        }
        self.unflushed = 0;
        self.recovery_point = self.log_end_offset;
        Ok(())
    }

    /// Reads checked whole batches starting with the one holding `offset`, up to about
    /// `max` bytes, stopping before damaged data (an error when `offset` is in it).
    pub fn read(&mut self, offset: i64, max: usize) -> Result<Vec<u8>, LogError> {
        self.online()?;
        if offset < self.log_start_offset || offset > self.log_end_offset {
            return Err(LogError::OffsetOutOfRange(offset));
        }
        if offset == self.log_end_offset {
            return Ok(Vec::new());
        }
        let mut next = self.base_for(offset);
        while let Some(b) = next {
            next = self.base_after(b);
            let Some(seg) = self.segments.get_mut(&b) else { continue };
            let mut unlimited = u64::MAX;
            let found = seg.locate(offset, &mut unlimited).map_err(|e| self.storage("reading", e))?;
            match found {
                Located::Beyond | Located::Pending => continue,
                Located::Damaged(d) => return Err(self.damaged(b, &d)),
                Located::At(pos) => {
                    let seg = self.segments.get_mut(&b).ok_or(LogError::OffsetOutOfRange(offset))?;
                    let data = seg.read_checked(pos, max);
                    return data.map_err(|e| self.storage("reading", e));
                }
            }
        }
        Ok(Vec::new())
    }

    /// The first offset after the damage holding `offset` (the next valid batch or segment).
    fn offset_after_damage(&self, offset: i64) -> Option<i64> {
        let (base, seg) = self.segments.range(..=offset).next_back()?;
        let d = seg.first_damage(offset)?;
        d.next_offset.or_else(|| self.segments.range(base + 1..).next().map(|(b, _)| *b)).or(Some(self.log_end_offset))
    }

    /// The lowest damaged range at or above the log start, if any.
    pub fn first_damage(&self) -> Option<DamageInfo> {
        let mut it = self.segments.iter().peekable();
        while let Some((base, seg)) = it.next() {
            if let Some(d) = seg.first_damage(self.log_start_offset) {
                let end = d.next_offset.or_else(|| it.peek().map(|(b, _)| **b)).unwrap_or(self.log_end_offset);
                if end <= self.log_start_offset {
                    continue;
                }
                return Some(DamageInfo {
                    file: super::segment::file_name(&self.dir, *base, "log"),
                    position: d.start,
                    first_offset: d.first_offset.max(self.log_start_offset),
                    end_offset: end,
                });
            }
        }
        None
    }

    /// Checks up to `budget` bytes of not yet checked data (oldest segments first), so that
    /// damage is found even where nobody reads (a follower). Returns the bytes checked.
    pub fn scrub(&mut self, budget: u64) -> Result<u64, LogError> {
        self.online()?;
        let mut left = budget;
        let bases: Vec<i64> = self.segments.iter().filter(|(_, s)| s.has_unverified()).map(|(b, _)| *b).collect();
        for b in bases {
            if left == 0 {
                break;
            }
            let Some(seg) = self.segments.get_mut(&b) else { continue };
            let size = seg.size;
            let res = seg.verify(size, &mut left);
            res.map_err(|e| self.storage("checking", e))?;
        }
        Ok(budget - left)
    }

}

