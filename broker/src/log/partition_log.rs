//! The log of one partition: `<log.dir>/<topic>-<partition>/`, a sorted set of segments.
//!
//! Appends go to the active (last) segment, which rolls on `segment.bytes` / `segment.ms`.
//! Retention deletes whole segments by time and size; DeleteRecords moves the log start
//! offset. The high watermark (the offset below which every in-sync replica has the data)
//! is kept here but moved by `replica` (the leader from its followers' fetch offsets, a
//! follower from its leader's answers); consumers read only below it. Followers append the
//! leader's batches as they are (`append_replica`) and cut divergent tails with
//! `truncate_to` after asking the leader where their last leader epoch ended.
//!
//! Files of the directory besides the segments (see `segment` for those):
//! - `leader-epoch-checkpoint`: `0\n<count>\n` then `<epoch> <start offset>` lines, epochs
//!   increasing, as Kafka's. Written (temp file + rename) before the first batch of a new
//!   epoch. A file that does not parse, or is missing beside data, is rebuilt from the
//!   batches' partitionLeaderEpoch fields with a warning naming it.
//! - `<offset>.snapshot`: producer state (format in `producer_state`); a damaged one is
//!   ignored with a warning and the state is replayed from the log instead.
//! - Leftovers — index files without their `.log`, `*.tmp` of an interrupted checkpoint,
//!   `.deleted` / `.cleaned` / `.swap` — are deleted at open, as Kafka does.
//!
//! Failures. An append is all or nothing on disk: a failed write (or the fsync that
//! `flush.messages` asks for) cuts the segment and its indexes back to where the append
//! began, a new epoch is recorded before its first batch is written, and a roll that fails
//! removes what it created. Out-of-space errors leave the log usable (the client gets
//! KAFKA_STORAGE_ERROR and may retry); other errors, or an undo that fails, take the log
//! dir offline (see `dir_health`). Damaged data found in a segment is never served: reads
//! that start in it get [`LogError::Damaged`] (KAFKA_STORAGE_ERROR), reads that reach it
//! stop before it, and `first_damage` tells `replica::heal` what to fetch again.

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
            let stem = name.strip_suffix(".index").or_else(|| name.strip_suffix(".timeindex"));
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
                for ext in ["log", "index", "timeindex"] {
                    let _ = std::fs::remove_file(super::segment::file_name(dir, *b, ext));
                }
                continue;
            }
            // Recover every segment that may hold data past the recovery point.
            let recover = is_last || next_base.map(|n| n > recovery_point).unwrap_or(true);
            let (seg, n) = Segment::open(dir, *b, recover, is_last, interval, now)?;
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

    fn snapshot_path(&self, offset: i64) -> PathBuf {
        self.dir.join(format!("{offset:020}.snapshot"))
    }

    fn snapshot_offsets(&self) -> Vec<i64> {
        let mut v: Vec<i64> = std::fs::read_dir(&self.dir)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().to_string();
                        let stem = name.strip_suffix(".snapshot")?;
                        if stem.len() == 20 { stem.parse().ok() } else { None }
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    /// Producer state: the newest snapshot at or below the log end (newer ones are stale,
    /// e.g. after a torn tail was cut), then the batches after it replayed from the log.
    fn load_producer_state(&mut self) -> Result<(), LogError> {
        let mut from = self.log_start_offset;
        for off in self.snapshot_offsets().into_iter().rev() {
            if off > self.log_end_offset {
                let _ = std::fs::remove_file(self.snapshot_path(off));
                continue;
            }
            let path = self.snapshot_path(off);
            match read_small(&path).ok().and_then(|d| ProducerState::decode(&d, now_ms())) {
                Some(st) => {
                    self.producers = st;
                    from = off.max(self.log_start_offset);
                    break;
                }
                None => tracing::warn!("ignoring damaged producer snapshot {}; replaying the log instead", path.display()),
            }
        }
        while from < self.log_end_offset {
            let data = match self.read(from, 1 << 20) {
                Ok(d) => d,
                Err(LogError::Damaged { first_offset, .. }) => {
                    // Producer state cannot be rebuilt across damage; go on after it.
                    match self.offset_after_damage(first_offset) {
                        Some(n) if n > from => {
                            from = n;
                            continue;
                        }
                        _ => break,
                    }
                }
                Err(e) => return Err(e),
            };
            let batches = batch::split(&data);
            if batches.is_empty() {
                break;
            }
            let now = now_ms();
            for (h, _) in batches {
                self.producers.update(&h, now);
                from = h.last_offset() + 1;
            }
        }
        Ok(())
    }

    /// Writes `<log end offset>.snapshot` and keeps the two newest snapshots.
    pub fn write_producer_snapshot(&self) -> io::Result<()> {
        super::write_atomically(&self.snapshot_path(self.log_end_offset), &self.producers.encode())?;
        let offs = self.snapshot_offsets();
        if offs.len() > 2 {
            for off in &offs[..offs.len() - 2] {
                let _ = std::fs::remove_file(self.snapshot_path(*off));
            }
        }
        Ok(())
    }

    /// Idempotence check of a validated payload: Some(first offset) when every batch is a
    /// retry of one already in the log.
    fn check_producers(&self, data: &[u8]) -> Result<Option<i64>, ProducerError> {
        let batches = batch::split(data);
        if batches.iter().all(|(h, _)| h.producer_id < 0) {
            return Ok(None);
        }
        let mut scratch: Option<ProducerState> = None;
        let mut dup_first = None;
        let mut appends = 0;
        for (h, _) in &batches {
            let st = scratch.as_ref().unwrap_or(&self.producers);
            match st.check(h)? {
                Check::Duplicate { first_offset, .. } => {
                    dup_first.get_or_insert(first_offset);
                }
                Check::Append => appends += 1,
            }
            if batches.len() > 1 {
                let mut s = scratch.take().unwrap_or_else(|| self.producers.clone());
                s.update(h, 0);
                scratch = Some(s);
            }
        }
        match (dup_first, appends) {
            (Some(first), 0) => Ok(Some(first)),
            (Some(_), _) => {
                let (h, _) = &batches[0];
                Err(ProducerError::OutOfOrder { pid: h.producer_id, expected: -1, got: h.base_sequence })
            }
            (None, _) => Ok(None),
        }
    }

    fn epochs_path(&self) -> PathBuf {
        self.dir.join("leader-epoch-checkpoint")
    }

    /// The epoch cache from `leader-epoch-checkpoint`, or rebuilt from the batches when the
    /// file does not parse (or is missing beside data).
    fn load_epochs(&self) -> Vec<(i32, i64)> {
        let path = self.epochs_path();
        let parsed = match read_small(&path) {
            Ok(bytes) => parse_epochs(&bytes).map_err(|why| format!("leader epoch checkpoint {} is damaged: {why}", path.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if self.log_end_offset > self.log_start_offset && self.segments.values().any(|s| s.size > 0) {
                    Err(format!("leader epoch checkpoint {} is missing", path.display()))
                } else {
                    Ok(Vec::new())
                }
            }
            Err(e) => Err(format!("cannot read leader epoch checkpoint {}: {e}", path.display())),
        };
        let epochs = match parsed {
            Ok(v) => v,
            Err(why) => {
                tracing::warn!("{why}; rebuilding it from the leader epochs of the batches");
                let v = self.epochs_from_batches();
                let text = epochs_text(&v);
                if let Err(e) = super::write_atomically(&path, text.as_bytes()) {
                    tracing::warn!("cannot write {}: {e}", path.display());
                }
                v
            }
        };
        epochs.into_iter().filter(|(_, o)| *o <= self.log_end_offset).collect()
    }

    fn epochs_from_batches(&self) -> Vec<(i32, i64)> {
        let mut v: Vec<(i32, i64)> = Vec::new();
        for seg in self.segments.values() {
            let res = seg.for_each_header(|h| {
                if h.leader_epoch >= 0 && v.last().is_none_or(|(e, _)| h.leader_epoch > *e) {
                    v.push((h.leader_epoch, h.base_offset));
                }
            });
            if let Err(e) = res {
                tracing::warn!("{}: {e}", seg.log_path().display());
            }
        }
        v
    }

    fn write_epochs(&self) -> io::Result<()> {
        super::write_atomically(&self.epochs_path(), epochs_text(&self.epochs).as_bytes())
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.clamp(self.log_start_offset, self.log_end_offset)
    }

    /// Moves the high watermark (clamped to the log); returns whether it moved forward.
    pub fn set_high_watermark(&mut self, hw: i64) -> bool {
        let hw = hw.clamp(self.log_start_offset, self.log_end_offset);
        let old = self.high_watermark();
        self.high_watermark = hw;
        hw > old
    }

    /// The newest leader epoch in the epoch cache.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.last().map(|(e, _)| *e)
    }

    /// Start offset of the newest epoch in the cache (Kafka's leaderEpochStartOffset).
    pub fn latest_epoch_start(&self) -> Option<i64> {
        self.epochs.last().map(|(_, o)| *o)
    }

    /// Records that `epoch` starts at the current log end (a new leader does this at once,
    /// before its first append, as Kafka's makeLeader).
    pub fn assign_epoch(&mut self, epoch: i32) -> Result<(), LogError> {
        self.online()?;
        if self.epochs.last().map(|(e, _)| *e < epoch).unwrap_or(true) {
            let old = self.epochs.clone();
            let start = self.log_end_offset;
            self.epochs.retain(|(_, o)| *o < start);
            self.epochs.push((epoch, start));
            if let Err(e) = self.write_epochs() {
                self.epochs = old;
                return Err(self.storage("writing the leader epoch checkpoint", e));
            }
        }
        Ok(())
    }

    /// Records a new epoch starting at `start` before its first batch is written.
    fn note_epoch(&mut self, epoch: i32, start: i64) -> Result<(), LogError> {
        if epoch >= 0 && self.epochs.last().map(|(e, _)| *e < epoch).unwrap_or(true) {
            self.epochs.push((epoch, start));
            if let Err(e) = self.write_epochs() {
                self.epochs.pop();
                return Err(self.storage("writing the leader epoch checkpoint", e));
            }
        }
        Ok(())
    }

    /// OffsetsForLeaderEpoch, as Kafka's LeaderEpochFileCache.endOffsetFor: the largest
    /// epoch <= `requested` this log knows and the offset where it ended (the start of the
    /// next epoch, or the log end for the newest). (-1, -1) when the epoch is unknown.
    pub fn end_offset_for_epoch(&self, requested: i32) -> (i32, i64) {
        if requested < 0 {
            return (-1, -1);
        }
        match self.epochs.last() {
            None => (-1, -1),
            Some((latest, _)) if *latest == requested => (requested, self.log_end_offset),
            Some(_) => {
                let above = self.epochs.iter().find(|(e, _)| *e > requested);
                let below = self.epochs.iter().rev().find(|(e, _)| *e <= requested);
                match (below, above) {
                    // Older than anything we have: the first epoch's start bounds it.
                    (None, Some((_, start))) => (-1, *start),
                    (Some((e, _)), Some((_, start))) => (*e, *start),
                    (Some((e, _)), None) => (*e, self.log_end_offset),
                    (None, None) => (-1, -1),
                }
            }
        }
    }

    /// Cuts the log back to `offset` (a follower removing a divergent tail, or damaged data
    /// it fetches again). A cut inside a batch removes the whole batch, as segments hold
    /// whole batches. Indexes, the epoch cache and the producer state follow.
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        self.online()?;
        if offset >= self.log_end_offset {
            return Ok(());
        }
        let offset = offset.max(0);
        tracing::info!("truncating {}-{} from {} to offset {offset}", self.topic, self.partition, self.log_end_offset);
        if offset <= self.segments.keys().next().copied().unwrap_or(0) {
            return self.truncate_fully_and_start_at(offset);
        }
        let doomed: Vec<i64> = self.segments.range(offset + 1..).map(|(b, _)| *b).collect();
        for b in doomed {
            if let Some(seg) = self.segments.remove(&b) {
                seg.delete_files();
            }
        }
        let next = match self.segments.range_mut(..=offset).next_back() {
            Some((_, seg)) => seg.truncate_to(offset, self.config.index_interval_bytes),
            None => Ok(offset),
        };
        let next = next.map_err(|e| self.storage("truncating", e))?;
        self.after_truncation(next)
    }

    /// Drops every segment and starts empty at `offset` (a follower far behind a leader whose
    /// log now starts later, or a truncation below the first segment).
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), LogError> {
        self.online()?;
        let bases: Vec<i64> = self.segments.keys().copied().collect();
        for b in bases {
            if let Some(seg) = self.segments.remove(&b) {
                seg.delete_files();
            }
        }
        match Segment::create(&self.dir, offset, now_ms(), self.config.index_interval_bytes) {
            Ok(seg) => {
                self.segments.insert(offset, seg);
            }
            Err(e) => {
                // No segment left: this log cannot go on.
                self.health.fail(&format!("creating a segment for {}-{}", self.topic, self.partition), &e);
                return Err(LogError::Offline(self.health.path.clone()));
            }
        }
        self.log_start_offset = offset;
        self.after_truncation(offset)
    }

    fn after_truncation(&mut self, next: i64) -> Result<(), LogError> {
        self.log_end_offset = next;
        self.log_start_offset = self.log_start_offset.min(next);
        self.recovery_point = self.recovery_point.min(next);
        self.high_watermark = self.high_watermark.min(next);
        self.epochs.retain(|(_, o)| *o < next);
        if let Err(e) = self.write_epochs() {
            return Err(self.storage("writing the leader epoch checkpoint", e));
        }
        for off in self.snapshot_offsets() {
            if off > next {
                let _ = std::fs::remove_file(self.snapshot_path(off));
            }
        }
        self.producers = ProducerState::default();
        self.load_producer_state()?;
        Ok(())
    }

    /// Rolls when the active segment cannot take `size` more bytes (or is too old).
    fn maybe_roll(&mut self, size: u64, now: i64) -> Result<(), LogError> {
        let (roll_ms, seg_bytes) = (self.config.segment_ms, self.config.segment_bytes as u64);
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
            if h.base_offset != self.log_end_offset || h.magic != 2 || !batch::crc_ok(bytes) {
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
            self.producers.update(&h, now);
            appended += bytes.len();
        }
        Ok(appended)
    }

    /// Moves the log start offset up to the leader's (a follower following DeleteRecords).
    pub fn advance_log_start(&mut self, offset: i64) -> Result<(), LogError> {
        let offset = offset.min(self.high_watermark());
        if offset > self.log_start_offset {
            self.log_start_offset = offset;
            self.drop_segments_below_start()?;
        }
        Ok(())
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
        if let Some(first) = self.check_producers(data)? {
            let count: i64 = batch::split(data).iter().map(|(h, _)| h.last_offset_delta as i64 + 1).sum();
            let next_offset = first + count.max(1);
            return Ok(Appended { base_offset: first, next_offset, log_append_time: -1, duplicate: true });
        }
        let now = now_ms();
        let append_time = if self.config.log_append_time { Some(now) } else { None };
        let base = self.log_end_offset;
        self.maybe_roll(data.len() as u64, now)?;
        let next = batch::assign_offsets(data, base, leader_epoch, append_time);
        self.note_epoch(leader_epoch, base)?;
        self.write_batches(data, next - base, now)?;
        self.log_end_offset = next;
        for (h, _) in batch::split(data) {
            self.producers.update(&h, now);
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

    /// ListOffsets by timestamp: first offset whose batch has a timestamp >= ts.
    pub fn offset_for_time(&self, ts: i64) -> Result<Option<(i64, i64)>, LogError> {
        self.online()?;
        for seg in self.segments.values() {
            if let Some((pos, base)) = seg.find_by_time(ts)? {
                // Find the exact record offset inside the batch: scan its records' timestamps.
                let data = seg.read(pos, 0)?;
                let off = first_record_at_or_after(&data, ts).unwrap_or(base).max(self.log_start_offset);
                let h = batch::parse_header(&data);
                return Ok(Some((off, h.map(|h| h.max_timestamp).unwrap_or(ts))));
            }
        }
        Ok(None)
    }

    /// DeleteRecords: moves the log start offset and drops segments wholly below it.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, LogError> {
        self.online()?;
        if offset > self.high_watermark() || offset < 0 {
            return Err(LogError::OffsetOutOfRange(offset));
        }
        if offset > self.log_start_offset {
            self.log_start_offset = offset;
        }
        self.drop_segments_below_start()?;
        Ok(self.log_start_offset)
    }

    fn drop_segments_below_start(&mut self) -> io::Result<()> {
        loop {
            let bases: Vec<i64> = self.segments.keys().copied().take(2).collect();
            if bases.len() < 2 || bases[1] > self.log_start_offset {
                break;
            }
            if let Some(seg) = self.segments.remove(&bases[0]) {
                seg.delete_files();
            }
        }
        Ok(())
    }

    /// Applies retention.ms / retention.bytes; returns how many segments were deleted.
    pub fn apply_retention(&mut self, now: i64) -> Result<usize, LogError> {
        self.online()?;
        if !self.config.delete {
            return Ok(0);
        }
        let mut deleted = 0;
        let retention_ms = self.config.retention_ms;
        let retention_bytes = self.config.retention_bytes;
        loop {
            let total: u64 = self.segments.values().map(|s| s.size).sum();
            let Some((&base, first)) = self.segments.iter().next() else { break };
            if first.size == 0 {
                break;
            }
            // Records without timestamps age by the segment's file time, as Kafka's.
            let newest = if first.max_timestamp >= 0 { first.max_timestamp } else { first.created_ms };
            let by_time = retention_ms >= 0 && now - newest > retention_ms;
            let by_size = retention_bytes >= 0 && total.saturating_sub(first.size) >= retention_bytes as u64;
            if !by_time && !by_size {
                break;
            }
            // Never what the ISR does not all have yet: the segment must end at or below the
            // high watermark.
            let end = self.segments.keys().nth(1).copied().unwrap_or(self.log_end_offset);
            if end > self.high_watermark() {
                break;
            }
            if self.segments.len() == 1 {
                // Kafka rolls the active segment so that it can be deleted.
                self.roll()?;
            }
            if let Some(seg) = self.segments.remove(&base) {
                seg.delete_files();
                deleted += 1;
            }
            let new_first = self.segments.keys().next().copied().unwrap_or(self.log_end_offset);
            self.log_start_offset = self.log_start_offset.max(new_first);
        }
        Ok(deleted)
    }

    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.size).sum()
    }

    pub fn delete_dir(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn epochs_text(epochs: &[(i32, i64)]) -> String {
    let mut s = format!("0\n{}\n", epochs.len());
    for (e, o) in epochs {
        s.push_str(&format!("{e} {o}\n"));
    }
    s
}

/// Parses `leader-epoch-checkpoint` strictly: version 0, a count matching the entries,
/// epochs increasing, offsets never going back.
pub fn parse_epochs(bytes: &[u8]) -> Result<Vec<(i32, i64)>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not text".to_string())?;
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("0") {
        return Err("the first line is not version 0".into());
    }
    let count: usize = lines.next().and_then(|l| l.trim().parse().ok()).ok_or("the second line is not an entry count")?;
    let mut out: Vec<(i32, i64)> = Vec::new();
    for (i, l) in lines.enumerate() {
        if i >= count {
            if l.trim().is_empty() {
                continue;
            }
            return Err(format!("more entries than the count {count}"));
        }
        let mut it = l.split_whitespace();
        let (Some(e), Some(o), None) = (it.next(), it.next(), it.next()) else { return Err(format!("malformed line {:?}", l)) };
        let (Ok(e), Ok(o)) = (e.parse::<i32>(), o.parse::<i64>()) else { return Err(format!("malformed line {:?}", l)) };
        if e < 0 || o < 0 || out.last().is_some_and(|(pe, po)| e <= *pe || o < *po) {
            return Err(format!("entry {:?} does not follow the one before", l));
        }
        out.push((e, o));
    }
    if out.len() != count {
        return Err(format!("{} entries but the count says {count}", out.len()));
    }
    Ok(out)
}

/// Offset of the first record with timestamp >= ts in one batch (decompressing if needed).
fn first_record_at_or_after(b: &[u8], ts: i64) -> Option<i64> {
    let h = batch::parse_header(b)?;
    let payload = b.get(batch::HEADER_LEN..h.total_size())?;
    let body = batch::decompress(h.compression(), payload).ok()?;
    let log_append = h.attributes & 0x08 != 0;
    if log_append {
        return Some(h.base_offset);
    }
    let mut pos = 0usize;
    let read = |pos: &mut usize| -> Option<i64> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let byte = *body.get(*pos)?;
            *pos += 1;
            v |= ((byte & 0x7f) as u64) << (7 * i);
            if byte & 0x80 == 0 {
                return Some(((v >> 1) as i64) ^ -((v & 1) as i64));
            }
        }
        None
    };
    while pos < body.len() {
        let len = read(&mut pos)?;
        let end = pos + usize::try_from(len).ok()?;
        let mut p = pos + 1;
        let td = read(&mut p)?;
        let od = read(&mut p)?;
        if h.first_timestamp + td >= ts {
            return Some(h.base_offset + od);
        }
        pos = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_properties, BrokerConfig};
    use std::os::unix::fs::FileExt;
    use crate::log::batch::tests::batch;

    fn cfg(seg: i64) -> TopicConfig {
        let b = BrokerConfig::from_pairs(parse_properties(&format!("zookeeper.connect=x:1\nlog.segment.bytes={seg}\nlog.index.interval.bytes=100\n"))).unwrap();
        TopicConfig::resolve(&b, &Default::default())
    }

    #[test]
    fn append_read_roll_recover() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("t-0");
        let mut log = Log::open(&dir, "t", 0, cfg(1000), 0, 0).unwrap();
        for i in 0..50 {
            let mut b = batch(&[format!("value-{i}").as_bytes(), b"x"], 1000 + i);
            log.append(&mut b, 0).unwrap();
        }
        assert_eq!(log.log_end_offset, 100);
        assert!(log.segments.len() > 1, "rolled by size");
        let data = log.read(57, 1 << 20).unwrap();
        let h = batch::parse_header(&data).unwrap();
        assert_eq!(h.base_offset, 56);
        assert_eq!(log.offset_for_time(1030).unwrap().unwrap().0, 60);
        // Tear the tail like a kill -9 in the middle of a write.
        let last = *log.segments.keys().next_back().unwrap();
        drop(log);
        let p = crate::log::segment::file_name(&dir, last, "log");
        let len = std::fs::metadata(&p).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(len - 5).unwrap();
        let mut log = Log::open(&dir, "t", 0, cfg(1000), 0, 0).unwrap();
        assert_eq!(log.log_end_offset, 98);
        assert!(log.read(97, 100).is_ok());
        assert!(matches!(log.read(99, 100), Err(LogError::OffsetOutOfRange(99))));
    }

    #[test]
    fn retention_and_delete_records() {
        let d = tempfile::tempdir().unwrap();
        let mut log = Log::open(&d.path().join("t-0"), "t", 0, cfg(200), 0, 0).unwrap();
        for i in 0..20 {
            let mut b = batch(&[b"abcdefghij"], i);
            log.append(&mut b, 0).unwrap();
        }
        // Nothing is replicated yet: neither DeleteRecords nor retention may pass the high
        // watermark.
        assert!(log.delete_records_before(5).is_err());
        log.config.retention_ms = 10;
        assert_eq!(log.apply_retention(now_ms()).unwrap(), 0);
        log.config.retention_ms = 7 * 24 * 3600 * 1000;
        log.set_high_watermark(log.log_end_offset);
        assert_eq!(log.delete_records_before(5).unwrap(), 5);
        assert!(log.read(4, 100).is_err());
        log.config.retention_ms = 10;
        log.apply_retention(now_ms()).unwrap();
        assert_eq!(log.log_start_offset, 20);
        assert_eq!(log.log_end_offset, 20);
    }

    fn values(log: &mut Log, from: i64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut at = from;
        while at < log.log_end_offset {
            let data = log.read(at, 1 << 20).unwrap();
            let batches = batch::split(&data);
            assert!(!batches.is_empty());
            for (h, b) in batches {
                out.extend(batch::records(b).unwrap().into_iter().filter_map(|r| r.value));
                at = h.last_offset() + 1;
            }
        }
        out
    }

    #[test]
    fn a_failed_append_leaves_nothing_and_the_log_goes_on() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("t-0");
        let mut log = Log::open(&dir, "t", 0, cfg(1000), 0, 0).unwrap();
        let mut expected = Vec::new();
        for i in 0..30 {
            let v = format!("v{i}");
            let mut b = batch(&[v.as_bytes()], i);
            if i % 7 == 3 {
                // The disk is full in the middle of this write.
                log.active().unwrap().fail_after = Some(17);
                let e = log.append(&mut b, 0).unwrap_err();
                assert!(matches!(&e, LogError::Io(io) if crate::log::dir_health::is_out_of_space(io)), "{e}");
                assert!(!log.health.is_offline());
                assert_eq!(e.error_code(), crate::error_code::ErrorCode::KAFKA_STORAGE_ERROR);
                continue;
            }
            log.append(&mut b, 0).unwrap();
            expected.push(v.into_bytes());
        }
        assert_eq!(log.log_end_offset, expected.len() as i64);
        assert_eq!(values(&mut log, 0), expected);
        drop(log);
        let mut log = Log::open(&dir, "t", 0, cfg(1000), 0, 0).unwrap();
        assert_eq!(values(&mut log, 0), expected, "recovery keeps every acknowledged record");
    }

    #[test]
    fn an_undo_that_fails_takes_the_dir_offline() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("t-0");
        let mut log = Log::open(&dir, "t", 0, cfg(100_000), 0, 0).unwrap();
        log.append(&mut batch(&[b"a"], 1), 0).unwrap();
        // A handle that can neither write nor truncate.
        let path = log.active().unwrap().log_path();
        log.active().unwrap().log = Arc::new(std::fs::File::open(&path).unwrap());
        let e = log.append(&mut batch(&[b"b"], 2), 0).unwrap_err();
        assert!(matches!(e, LogError::Offline(_)), "{e}");
        assert!(log.health.is_offline());
        assert!(matches!(log.append(&mut batch(&[b"c"], 3), 0), Err(LogError::Offline(_))));
        assert!(matches!(log.slice(0, 100, 1), Err(LogError::Offline(_))));
    }

    #[test]
    fn damaged_data_is_reported_and_healed_by_truncation() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("t-0");
        let mut log = Log::open(&dir, "t", 0, cfg(1000), 0, 0).unwrap();
        for i in 0..60 {
            log.append(&mut batch(&[format!("value-{i}").as_bytes(), b"x"], 1000 + i), 0).unwrap();
        }
        log.flush().unwrap();
        let leo = log.log_end_offset;
        let bases: Vec<i64> = log.segments.keys().copied().collect();
        assert!(bases.len() > 3);
        drop(log);
        // Flip a byte in the second segment's first batch's records.
        let p = crate::log::segment::file_name(&dir, bases[1], "log");
        let f = std::fs::OpenOptions::new().read(true).write(true).open(&p).unwrap();
        f.write_all_at(b"\xee", batch::HEADER_LEN as u64 + 4).unwrap();
        let mut log = Log::open(&dir, "t", 0, cfg(1000), leo, 0).unwrap();
        log.set_high_watermark(leo);
        assert_eq!(log.first_damage(), None, "older segments are checked lazily");
        assert!(matches!(log.slice(bases[1], 1 << 20, leo), Err(LogError::Damaged { .. })));
        let info = log.first_damage().unwrap();
        assert_eq!((info.file.clone(), info.position, info.first_offset, info.end_offset), (p.clone(), 0, bases[1], bases[1] + 2));
        // Reads before it stop at it; reads after it go on.
        let Sliced::Data(s) = log.slice(bases[1] - 1, 1 << 20, leo).unwrap() else { panic!() };
        assert!(s.len > 0);
        assert!(matches!(log.slice(bases[1] + 2, 1 << 20, leo), Ok(Sliced::Data(_))));
        // Healing: cut to the damage and append the data again (as fetched from a leader).
        log.truncate_to(info.first_offset).unwrap();
        assert_eq!(log.first_damage(), None);
        assert_eq!(log.log_end_offset, bases[1]);
        let mut i = bases[1] / 2;
        while log.log_end_offset < leo {
            let mut b = batch(&[format!("value-{i}").as_bytes(), b"x"], 1000 + i);
            batch::assign_offsets(&mut b, log.log_end_offset, 0, None);
            log.append_replica(&b).unwrap();
            i += 1;
        }
        let all = values(&mut log, 0);
        assert_eq!(all.len() as i64, leo);
    }

    #[test]
    fn a_garbage_epoch_checkpoint_is_rebuilt_from_the_batches() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("t-0");
        let mut log = Log::open(&dir, "t", 0, cfg(1000), 0, 0).unwrap();
        for (i, epoch) in [(0, 0), (1, 0), (2, 3), (3, 3), (4, 7)] {
            log.append(&mut batch(&[b"v"], i), epoch).unwrap();
        }
        let good = log.epochs.clone();
        assert_eq!(good, vec![(0, 0), (3, 2), (7, 4)]);
        drop(log);
        for garbage in [&b"\x00\xff garbage"[..], b"0\n99999999999999999999\n", b"0\n2\n3 2\n0 0\n", b"1\n0\n", b"0\n1\n", b""] {
            std::fs::write(dir.join("leader-epoch-checkpoint"), garbage).unwrap();
            let log = Log::open(&dir, "t", 0, cfg(1000), 0, 0).unwrap();
            assert_eq!(log.epochs, good, "{garbage:?}");
            drop(log);
            assert_eq!(parse_epochs(&std::fs::read(dir.join("leader-epoch-checkpoint")).unwrap()).unwrap(), good, "rewritten");
        }
        std::fs::remove_file(dir.join("leader-epoch-checkpoint")).unwrap();
        assert_eq!(Log::open(&dir, "t", 0, cfg(1000), 0, 0).unwrap().epochs, good, "missing beside data");
    }

    #[test]
    fn hostile_small_files_are_refused() {
        assert!(parse_epochs(b"0\n18446744073709551615\n").is_err());
        assert!(parse_epochs(b"0\n1\n-1 0\n").is_err());
        assert!(parse_epochs(b"0\n1\n1 2 3\n").is_err());
        assert_eq!(parse_epochs(b"0\n0\n").unwrap(), vec![]);
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("big");
        std::fs::File::create(&p).unwrap().set_len(MAX_SMALL_FILE + 1).unwrap();
        assert!(read_small(&p).is_err(), "not read at all");
        // A huge, damaged producer snapshot is ignored (and the log still opens).
        let dir = d.path().join("t-0");
        let mut log = Log::open(&dir, "t", 0, cfg(1000), 0, 0).unwrap();
        log.append(&mut batch(&[b"v"], 1), 0).unwrap();
        drop(log);
        std::fs::File::create(dir.join(format!("{:020}.snapshot", 1))).unwrap().set_len(1 << 40).unwrap();
        std::fs::write(dir.join(format!("{:020}.snapshot", 0)), [0, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]).unwrap();
        assert_eq!(Log::open(&dir, "t", 0, cfg(1000), 0, 0).unwrap().log_end_offset, 1);
    }
}
