//! The leader-epoch cache of a partition log (`leader-epoch-checkpoint`, format in
//! `partition_log`'s docs): which epoch started at which offset, kept for followers'
//! truncation (`end_offset_for_epoch`, Kafka's OffsetsForLeaderEpoch), and the truncations
//! themselves (`truncate_to`, `truncate_fully_and_start_at`). Below `replica`.

use super::*;

pub(super) fn epochs_text(epochs: &[(i32, i64)]) -> String {
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

impl Log {
    pub(super) fn epochs_path(&self) -> PathBuf {
        self.dir.join("leader-epoch-checkpoint")
    }

    /// The epoch cache from `leader-epoch-checkpoint`, or rebuilt from the batches when the
    /// file does not parse (or is missing beside data).
    pub(super) fn load_epochs(&self) -> Vec<(i32, i64)> {
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
                if let Err(e) = crate::log::write_atomically(&path, text.as_bytes()) {
                    tracing::warn!("cannot write {}: {e}", path.display());
                }
                v
            }
        };
        epochs.into_iter().filter(|(_, o)| *o <= self.log_end_offset).collect()
    }

    pub(super) fn epochs_from_batches(&self) -> Vec<(i32, i64)> {
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

    pub(super) fn write_epochs(&self) -> io::Result<()> {
        crate::log::write_atomically(&self.epochs_path(), epochs_text(&self.epochs).as_bytes())
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
    pub(super) fn note_epoch(&mut self, epoch: i32, start: i64) -> Result<(), LogError> {
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
}

/// Follower truncation (by leader epoch, or whole when the leader's log starts past ours).
impl Log {
    /// Cuts the log back to `offset` (a follower removing a divergent tail, or damaged data
    /// it fetches again). A cut inside a batch removes the whole batch, as segments hold
    /// whole batches. Indexes, the epoch cache and the producer state follow.
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        self.online()?;
        if offset >= self.log_end_offset {
            return Ok(());
        }
        let offset = offset.max(0);
        self.note_truncation(offset);
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
        self.note_truncation(offset.max(0));
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

    pub(super) fn after_truncation(&mut self, next: i64) -> Result<(), LogError> {
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
        let hw = self.high_watermark();
        self.producers.on_high_watermark(hw);
        Ok(())
    }
}
