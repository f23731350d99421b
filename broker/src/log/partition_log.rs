//! The log of one partition: `<log.dir>/<topic>-<partition>/`, a sorted set of segments.
//!
//! Appends go to the active (last) segment, which rolls on `segment.bytes` / `segment.ms`.
//! Retention deletes whole segments by time and size; DeleteRecords moves the log start
//! offset. `leader-epoch-checkpoint` in the directory holds `0\n<count>\n<epoch> <offset>`
//! lines, as Kafka's. The high watermark (the offset below which every in-sync replica has
//! the data) is kept here but moved by `replica` (the leader from its followers' fetch
//! offsets, a follower from its leader's answers); consumers read only below it. Followers
//! append the leader's batches as they are (`append_replica`) and cut divergent tails with
//! `truncate_to` after asking the leader where their last leader epoch ended.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use super::batch;
use super::producer_state::{Check, ProducerError, ProducerState};
use super::segment::Segment;
use crate::topic_config::TopicConfig;

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
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
}

/// A byte range of a segment file, sent to a socket as it is.
#[derive(Clone)]
pub struct FileSlice {
    pub file: std::sync::Arc<std::fs::File>,
    pub pos: u64,
    pub len: u64,
}

/// Result of an append.
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
        std::fs::create_dir_all(dir)?;
        let now = now_ms();
        let mut bases: Vec<i64> = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let name = e?.file_name().to_string_lossy().to_string();
            if let Some(stem) = name.strip_suffix(".log") {
                if stem.len() == 20 {
                    if let Ok(b) = stem.parse::<i64>() {
                        bases.push(b);
                    }
                }
            }
            // Leftovers of an interrupted deletion or swap: Kafka deletes them at startup too.
            if name.ends_with(".deleted") || name.ends_with(".cleaned") || name.ends_with(".swap") {
                let _ = std::fs::remove_file(dir.join(&name));
            }
        }
        bases.sort_unstable();
        let mut segments = BTreeMap::new();
        let mut next = 0;
        let last = bases.last().copied();
        for b in &bases {
            let next_base = bases.iter().find(|x| *x > b).copied();
            // Recover every segment that may hold data past the recovery point.
            let recover = Some(*b) == last || next_base.map(|n| n > recovery_point).unwrap_or(true);
            let (seg, n) = Segment::open(dir, *b, recover, config.index_interval_bytes, now)?;
            next = n.max(*b);
            segments.insert(*b, seg);
        }
        if segments.is_empty() {
            let start = log_start.max(0);
            segments.insert(start, Segment::create(dir, start, now)?);
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
        };
        log.epochs = log.read_epochs();
        log.load_producer_state()?;
        Ok(log)
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
            match std::fs::read(self.snapshot_path(off)).ok().and_then(|d| ProducerState::decode(&d, now_ms())) {
                Some(st) => {
                    self.producers = st;
                    from = off.max(self.log_start_offset);
                    break;
                }
                None => tracing::warn!("ignoring damaged producer snapshot {}", self.snapshot_path(off).display()),
            }
        }
        while from < self.log_end_offset {
            let data = self.read(from, 1 << 20)?;
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

    fn read_epochs(&self) -> Vec<(i32, i64)> {
        let Ok(text) = std::fs::read_to_string(self.epochs_path()) else { return Vec::new() };
        text.lines()
            .skip(2)
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
            })
            .filter(|(_, o): &(i32, i64)| *o <= self.log_end_offset)
            .collect()
    }

    fn write_epochs(&self) -> io::Result<()> {
        let mut s = format!("0\n{}\n", self.epochs.len());
        for (e, o) in &self.epochs {
            s.push_str(&format!("{e} {o}\n"));
        }
        super::write_atomically(&self.epochs_path(), s.as_bytes())
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
    pub fn assign_epoch(&mut self, epoch: i32) -> io::Result<()> {
        if self.epochs.last().map(|(e, _)| *e < epoch).unwrap_or(true) {
            let start = self.log_end_offset;
            self.epochs.retain(|(_, o)| *o < start);
            self.epochs.push((epoch, start));
            self.write_epochs()?;
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

    /// Cuts the log back to `offset` (a follower removing a divergent tail). A cut inside a
    /// batch removes the whole batch, as segments hold whole batches. Indexes, the epoch
    /// cache and the producer state follow.
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
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
        let interval = self.config.index_interval_bytes;
        let next = match self.segments.range_mut(..=offset).next_back() {
            Some((_, seg)) => seg.truncate_to(offset, interval)?,
            None => offset,
        };
        self.after_truncation(next)
    }

    /// Drops every segment and starts empty at `offset` (a follower far behind a leader whose
    /// log now starts later, or a truncation below the first segment).
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), LogError> {
        let bases: Vec<i64> = self.segments.keys().copied().collect();
        for b in bases {
            if let Some(seg) = self.segments.remove(&b) {
                seg.delete_files();
            }
        }
        self.segments.insert(offset, Segment::create(&self.dir, offset, now_ms())?);
        self.log_start_offset = offset;
        self.after_truncation(offset)
    }

    fn after_truncation(&mut self, next: i64) -> Result<(), LogError> {
        self.log_end_offset = next;
        self.log_start_offset = self.log_start_offset.min(next);
        self.recovery_point = self.recovery_point.min(next);
        self.high_watermark = self.high_watermark.min(next);
        self.epochs.retain(|(_, o)| *o < next);
        self.write_epochs()?;
        for off in self.snapshot_offsets() {
            if off > next {
                let _ = std::fs::remove_file(self.snapshot_path(off));
            }
        }
        self.producers = ProducerState::default();
        self.load_producer_state()?;
        Ok(())
    }

    /// Follower append: the leader's batches, offsets and epochs kept as they are. Batches
    /// wholly below our log end (a re-sent range) are skipped; a gap is an error.
    pub fn append_replica(&mut self, data: &[u8]) -> Result<usize, LogError> {
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
            let (roll_ms, seg_bytes) = (self.config.segment_ms, self.config.segment_bytes as u64);
            let size = bytes.len() as u64;
            let active = self.active();
            let too_big = active.size > 0 && active.size + size > seg_bytes;
            let too_old = active.size > 0 && now - active.created_ms > roll_ms;
            if too_big || too_old || size + active.size > u32::MAX as u64 {
                self.roll()?;
            }
            let interval = self.config.index_interval_bytes;
            let active = self.active();
            if active.size == 0 {
                active.created_ms = now;
            }
            active.append(bytes, interval)?;
            self.log_end_offset = h.last_offset() + 1;
            self.producers.update(&h, now);
            if h.leader_epoch >= 0 && self.epochs.last().map(|(e, _)| *e < h.leader_epoch).unwrap_or(true) {
                self.epochs.push((h.leader_epoch, h.base_offset));
                self.write_epochs()?;
            }
            self.unflushed += h.last_offset() + 1 - h.base_offset;
            appended += bytes.len();
        }
        if self.unflushed >= self.config.flush_messages {
            self.flush()?;
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

    /// A fetch's byte range (see `Segment::slice`): from the batch holding `offset`, about
    /// `max` bytes, only batches below `limit` (the high watermark for consumers, the log end
    /// for followers), never across a segment boundary. None when there is nothing to send.
    pub fn slice(&self, offset: i64, max: usize, limit: i64) -> Result<Option<FileSlice>, LogError> {
        if offset < self.log_start_offset || offset > self.log_end_offset {
            return Err(LogError::OffsetOutOfRange(offset));
        }
        if offset >= limit || offset == self.log_end_offset {
            return Ok(None);
        }
        for (_, seg) in self.segments.range(..=offset).next_back().into_iter().chain(self.segments.range(offset + 1..)) {
            if let Some(f) = seg.find(offset)? {
                let end = if limit >= self.log_end_offset { None } else { seg.find(limit)?.map(|e| e.position) };
                return Ok(seg.slice(f.position, max, end)?.map(|(file, pos, len)| FileSlice { file, pos, len }));
            }
        }
        Ok(None)
    }

    fn active(&mut self) -> &mut Segment {
        // Never empty: open() always leaves at least one segment and roll() adds before removing.
        let Some((_, s)) = self.segments.iter_mut().next_back() else { unreachable!("a log always has a segment") };
        s
    }

    fn roll(&mut self) -> io::Result<()> {
        let base = self.log_end_offset;
        if self.segments.contains_key(&base) {
            return Ok(());
        }
        self.active().flush()?;
        let seg = Segment::create(&self.dir, base, now_ms())?;
        self.segments.insert(base, seg);
        self.recovery_point = base;
        // As Kafka: a producer snapshot at every roll bounds the replay after a crash.
        self.write_producer_snapshot()?;
        Ok(())
    }

    /// Appends a validated Produce payload, assigning offsets. `data` is rewritten in place.
    pub fn append(&mut self, data: &mut [u8], leader_epoch: i32) -> Result<Appended, LogError> {
        if let Some(first) = self.check_producers(data)? {
            let count: i64 = batch::split(data).iter().map(|(h, _)| h.last_offset_delta as i64 + 1).sum();
            let next_offset = first + count.max(1);
            return Ok(Appended { base_offset: first, next_offset, log_append_time: -1, duplicate: true });
        }
        let now = now_ms();
        let append_time = if self.config.log_append_time { Some(now) } else { None };
        let base = self.log_end_offset;
        let (size, roll_ms, seg_bytes) = {
            let cfg = &self.config;
            (data.len() as u64, cfg.segment_ms, cfg.segment_bytes as u64)
        };
        let active = self.active();
        let too_big = active.size > 0 && active.size + size > seg_bytes;
        let too_old = active.size > 0 && now - active.created_ms > roll_ms;
        if too_big || too_old || size as u64 + active.size > u32::MAX as u64 {
            self.roll()?;
        }
        let next = batch::assign_offsets(data, base, leader_epoch, append_time);
        let interval = self.config.index_interval_bytes;
        let active = self.active();
        if active.size == 0 {
            active.created_ms = now;
        }
        active.append(data, interval)?;
        self.log_end_offset = next;
        for (h, _) in batch::split(data) {
            self.producers.update(&h, now);
        }
        if self.epochs.last().map(|(e, _)| *e < leader_epoch).unwrap_or(true) {
            self.epochs.push((leader_epoch, base));
            self.write_epochs()?;
        }
        self.unflushed += next - base;
        if self.unflushed >= self.config.flush_messages {
            self.flush()?;
        }
        Ok(Appended { base_offset: base, next_offset: next, log_append_time: append_time.unwrap_or(-1), duplicate: false })
    }

    pub fn flush(&mut self) -> io::Result<()> {
        if let Some((_, s)) = self.segments.iter().next_back() {
            s.flush()?;
        }
        self.unflushed = 0;
        self.recovery_point = self.log_end_offset;
        Ok(())
    }

    /// Reads whole batches starting with the one holding `offset`, up to about `max` bytes.
    pub fn read(&self, offset: i64, max: usize) -> Result<Vec<u8>, LogError> {
        if offset < self.log_start_offset || offset > self.log_end_offset {
            return Err(LogError::OffsetOutOfRange(offset));
        }
        if offset == self.log_end_offset {
            return Ok(Vec::new());
        }
        for (_, seg) in self.segments.range(..=offset).next_back().into_iter().chain(self.segments.range(offset + 1..)) {
            if let Some(f) = seg.find(offset)? {
                return Ok(seg.read(f.position, max)?);
            }
        }
        Ok(Vec::new())
    }

    /// ListOffsets by timestamp: first offset whose batch has a timestamp >= ts.
    pub fn offset_for_time(&self, ts: i64) -> Result<Option<(i64, i64)>, LogError> {
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
    pub fn apply_retention(&mut self, now: i64) -> io::Result<usize> {
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
        let log = Log::open(&dir, "t", 0, cfg(1000), 0, 0).unwrap();
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
}
