//! A segment's sparse indexes (`.index`, `.timeindex`; formats in `segment`'s docs):
//! loading them with their checks, rebuilding them, adding entries as batches are
//! appended, and lookups by offset and by time. Below `partition_log`, beside `check`.

use super::*;

/// Why loaded indexes cannot be used.
pub(super) enum IndexProblem {
    /// The index files are garbage.
    Garbage(String),
    /// The index points past the end of the segment file: the segment lost its tail.
    SegmentShort(String),
}

impl Segment {
    /// Loads and checks both index files. Ok(Err(_)) when they must be rebuilt (naming
    /// every file that failed its checks).
    pub(super) fn load_indexes(&mut self, index_interval: i64) -> io::Result<Result<(), IndexProblem>> {
        let idx_path = file_name(&self.dir, self.base, "index");
        let time_path = file_name(&self.dir, self.base, "timeindex");
        let mut problems = Vec::new();
        match self.load_offset_index(&idx_path, index_interval)? {
            Ok(()) => {}
            Err(IndexProblem::SegmentShort(why)) => return Ok(Err(IndexProblem::SegmentShort(why))),
            Err(IndexProblem::Garbage(why)) => {
                problems.push(format!("index file {} is damaged: {why}", idx_path.display()));
                // The time index is checked by walking from the segment's start instead.
                self.index.clear();
            }
        }
        if let Err(why) = self.load_time_index()? {
            problems.push(format!("index file {} is damaged: {why}", time_path.display()));
        }
        if problems.is_empty() {
            Ok(Ok(()))
        } else {
            self.index.clear();
            self.time_index.clear();
            Ok(Err(IndexProblem::Garbage(problems.join("; "))))
        }
    }

    /// One entry per batch at most: this bounds what is read before anything is trusted.
    pub(super) fn max_entries(&self) -> u64 {
        self.size / HEADER_LEN as u64 + 1
    }

    pub(super) fn load_offset_index(&mut self, path: &Path, index_interval: i64) -> io::Result<Result<(), IndexProblem>> {
        let garbage = |why: String| Ok(Err(IndexProblem::Garbage(why)));
        let len = self.index_file.metadata()?.len();
        if len % INDEX_ENTRY != 0 {
            return garbage(format!("its length {len} is not a multiple of {INDEX_ENTRY}"));
        }
        if len / INDEX_ENTRY > self.max_entries() {
            return garbage(format!("{} entries for a segment of {} bytes", len / INDEX_ENTRY, self.size));
        }
        let mut buf = vec![0u8; len as usize];
        self.index_file.read_exact_at(&mut buf, 0)?;
        let index: Vec<(u32, u32)> = buf.chunks_exact(8).map(|c| (be32(&c[0..4]), be32(&c[4..8]))).collect();
        for (i, w) in index.windows(2).enumerate() {
            if w[1].0 <= w[0].0 || w[1].1 <= w[0].1 {
                return garbage(format!("entry {} ({}, {}) does not follow entry {i} ({}, {})", i + 1, w[1].0, w[1].1, w[0].0, w[0].1));
            }
        }
        if let Some((i, e)) = index.iter().enumerate().find(|(_, e)| e.1 as u64 >= self.size) {
            return Ok(Err(IndexProblem::SegmentShort(format!("it has {} bytes but entry {i} of {} points at byte {}", self.size, path.display(), e.1))));
        }
        if index.is_empty() && self.size as i64 > index_interval.max(0) + 1024 * 1024 {
            return garbage(format!("it is empty but the segment holds {} bytes", self.size));
        }
        // The first and last entries must point at the batch holding their offset.
        for i in [0, index.len().saturating_sub(1)] {
            let Some(&(rel, pos)) = index.get(i) else { continue };
            let ok = self.framed_header(pos as u64)?.is_some_and(|h| h.last_offset() == self.base + rel as i64);
            if !ok {
                return garbage(format!("entry {i} (offset {}, byte {pos}) does not point at the batch holding that offset", self.base + rel as i64));
            }
        }
        self.index = index;
        Ok(Ok(()))
    }

    pub(super) fn load_time_index(&mut self) -> io::Result<Result<(), String>> {
        let len = self.time_file.metadata()?.len();
        if len % TIME_ENTRY != 0 {
            return Ok(Err(format!("its length {len} is not a multiple of {TIME_ENTRY}")));
        }
        if len / TIME_ENTRY > self.max_entries() {
            return Ok(Err(format!("{} entries for a segment of {} bytes", len / TIME_ENTRY, self.size)));
        }
        let mut buf = vec![0u8; len as usize];
        self.time_file.read_exact_at(&mut buf, 0)?;
        let time_index: Vec<(i64, u32)> = buf.chunks_exact(12).map(|c| (be64(&c[0..8]), be32(&c[8..12]))).collect();
        for (i, w) in time_index.windows(2).enumerate() {
            if w[1].0 <= w[0].0 || w[1].1 < w[0].1 {
                return Ok(Err(format!("entry {} ({}, {}) does not follow entry {i} ({}, {})", i + 1, w[1].0, w[1].1, w[0].0, w[0].1)));
            }
        }
        // The first and last entries must name a batch with that max timestamp.
        for i in [0, time_index.len().saturating_sub(1)] {
            let Some(&(ts, rel)) = time_index.get(i) else { continue };
            let target = self.base + rel as i64;
            let ok = match self.find_framed(target)? {
                Some(pos) => self.framed_header(pos)?.is_some_and(|h| h.last_offset() == target && h.max_timestamp == ts),
                None => false,
            };
            if !ok {
                return Ok(Err(format!("entry {i} (timestamp {ts}, offset {target}) does not match the batch holding that offset")));
            }
        }
        if let Some((ts, rel)) = time_index.last() {
            self.max_timestamp = *ts;
            self.offset_of_max_ts = self.base + *rel as i64;
        }
        self.time_index = time_index;
        Ok(Ok(()))
    }

    /// Writes both index files from memory. If that fails (a full disk), they are emptied
    /// instead (an empty index is rebuilt at the next open); only if that fails too is it
    /// an error.
    pub(super) fn rewrite_indexes(&mut self) -> io::Result<()> {
        let mut b = Vec::with_capacity(self.index.len() * 8);
        for (o, p) in &self.index {
            b.extend_from_slice(&o.to_be_bytes());
            b.extend_from_slice(&p.to_be_bytes());
        }
        let mut t = Vec::with_capacity(self.time_index.len() * 12);
        for (ts, o) in &self.time_index {
            t.extend_from_slice(&ts.to_be_bytes());
            t.extend_from_slice(&o.to_be_bytes());
        }
        let res = (|| {
            self.index_file.set_len(0)?;
            self.time_file.set_len(0)?;
            self.index_file.write_all(&b)?;
            self.time_file.write_all(&t)
        })();
        if let Err(e) = res {
            tracing::warn!("{}: cannot write its index files ({e}); they are rebuilt at the next start", self.log_path().display());
            self.index_file.set_len(0)?;
            self.time_file.set_len(0)?;
        }
        Ok(())
    }

    /// Index bookkeeping for a batch at `pos`; new entries are also added to `out`
    /// (index bytes, time index bytes) when given.
    pub(super) fn note_batch(&mut self, h: &BatchHeader, pos: u64, total: u64, index_interval: i64, out: Option<(&mut Vec<u8>, &mut Vec<u8>)>) {
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.offset_of_max_ts = h.last_offset();
        }
        if self.bytes_since_index as i64 > index_interval {
            let rel = (h.last_offset() - self.base) as u32;
            self.index.push((rel, pos as u32));
            let ts_rel = (self.offset_of_max_ts - self.base) as u32;
            let add_time = self.time_index.last().map(|(t, _)| self.max_timestamp > *t).unwrap_or(true);
            if add_time {
                self.time_index.push((self.max_timestamp, ts_rel));
            }
            if let Some((idx, time)) = out {
                idx.extend_from_slice(&rel.to_be_bytes());
                idx.extend_from_slice(&(pos as u32).to_be_bytes());
                if add_time {
                    time.extend_from_slice(&self.max_timestamp.to_be_bytes());
                    time.extend_from_slice(&ts_rel.to_be_bytes());
                }
            }
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += total;
    }

    pub(super) fn index_start(&self, offset: i64) -> u64 {
        let rel = (offset - self.base).max(0);
        let i = self.index.partition_point(|(o, _)| (*o as i64) < rel);
        if i == 0 {
            0
        } else {
            self.index[i - 1].1 as u64
        }
    }

    /// Position of the first batch with max timestamp >= ts, and that batch's base offset
    /// (framing walk; damaged ranges are skipped).
    pub fn find_by_time(&self, ts: i64) -> io::Result<Option<(u64, i64)>> {
        if self.max_timestamp < ts {
            return Ok(None);
        }
        let i = self.time_index.partition_point(|(t, _)| *t < ts);
        let start_off = if i == 0 { self.base } else { self.base + self.time_index[i - 1].1 as i64 };
        let mut pos = self.find_framed(start_off)?.unwrap_or(0);
        for _ in 0..self.size / HEADER_LEN as u64 + 1 {
            if let Some(d) = self.damage.iter().find(|d| d.start <= pos && pos < d.end) {
                pos = d.end;
                continue;
            }
            let Some(h) = self.framed_header(pos)? else { return Ok(None) };
            if h.max_timestamp >= ts {
                return Ok(Some((pos, h.base_offset)));
            }
            pos += h.total_size() as u64;
        }
        Ok(None)
    }
}
