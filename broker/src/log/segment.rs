//! One log segment: `<base>.log` plus its sparse `<base>.index` and `<base>.timeindex`.
//!
//! On-disk formats (Kafka's): file names are the base offset as 20 zero-padded digits.
//! `.log` is record batches back to back. `.index` entries are 8 bytes: offset relative to
//! the base (u32 BE) and file position (u32 BE) of the batch containing it; one entry is
//! added when more than `index.interval.bytes` were appended since the last one, keyed by
//! the batch's last offset (as Kafka's LogSegment.append). `.timeindex` entries are 12
//! bytes: max timestamp so far (i64 BE) and the relative offset holding it. Unlike Kafka we
//! do not preallocate index files; their length is always a whole number of entries.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::batch::{self, HEADER_LEN};

pub fn file_name(dir: &Path, base: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

pub struct Segment {
    pub base: i64,
    /// Shared so that a fetch can send a range of it straight to a socket (sendfile).
    pub log: Arc<File>,
    pub size: u64,
    index: Vec<(u32, u32)>,
    time_index: Vec<(i64, u32)>,
    index_file: File,
    time_file: File,
    bytes_since_index: u64,
    pub max_timestamp: i64,
    offset_of_max_ts: i64,
    /// Wall-clock ms of the first append (for segment.ms rolling).
    pub created_ms: i64,
    pub dir: PathBuf,
}

/// The batch found by a position lookup.
pub struct Found {
    pub position: u64,
}

impl Segment {
    pub fn create(dir: &Path, base: i64, now_ms: i64) -> io::Result<Segment> {
        let open = |ext| OpenOptions::new().read(true).create(true).append(true).open(file_name(dir, base, ext));
        Ok(Segment {
            base,
            log: Arc::new(open("log")?),
            size: 0,
            index: Vec::new(),
            time_index: Vec::new(),
            index_file: open("index")?,
            time_file: open("timeindex")?,
            bytes_since_index: 0,
            max_timestamp: -1,
            offset_of_max_ts: base,
            created_ms: now_ms,
            dir: dir.to_path_buf(),
        })
    }

    /// Opens an existing segment. With `recover`, every batch is checked (CRC, lengths), a
    /// torn or corrupt tail is cut off and the indexes are rebuilt; otherwise the index files
    /// are loaded as they are (rebuilt if damaged). Returns the segment and its next offset.
    pub fn open(dir: &Path, base: i64, recover: bool, index_interval: i64, now_ms: i64) -> io::Result<(Segment, i64)> {
        let mut s = Segment::create(dir, base, now_ms)?;
        s.size = s.log.metadata()?.len();
        let mtime = s
            .log
            .metadata()?
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64)
            .unwrap_or(now_ms);
        s.created_ms = mtime;
        let idx_len = s.index_file.metadata()?.len();
        let tidx_len = s.time_file.metadata()?.len();
        let damaged = idx_len % 8 != 0 || tidx_len % 12 != 0 || (s.size > 0 && idx_len == 0 && s.size as i64 > index_interval);
        if recover || damaged {
            let next = s.recover(index_interval)?;
            return Ok((s, next));
        }
        let mut buf = vec![0u8; idx_len as usize];
        s.index_file.read_exact_at(&mut buf, 0)?;
        s.index = buf.chunks_exact(8).map(|c| (be32(&c[0..4]), be32(&c[4..8]))).collect();
        let mut buf = vec![0u8; tidx_len as usize];
        s.time_file.read_exact_at(&mut buf, 0)?;
        s.time_index = buf
            .chunks_exact(12)
            .map(|c| {
                let mut a = [0u8; 8];
                a.copy_from_slice(&c[0..8]);
                (i64::from_be_bytes(a), be32(&c[8..12]))
            })
            .collect();
        if let Some((ts, rel)) = s.time_index.last() {
            s.max_timestamp = *ts;
            s.offset_of_max_ts = base + *rel as i64;
        }
        // The next offset comes from the last batch: scan from the last index entry.
        let start = s.index.last().map(|e| e.1 as u64).unwrap_or(0);
        let mut pos = start;
        let mut next = base;
        while let Some(h) = s.header_at(pos)? {
            if pos + h.total_size() as u64 > s.size {
                break;
            }
            next = h.last_offset() + 1;
            if h.max_timestamp > s.max_timestamp {
                s.max_timestamp = h.max_timestamp;
                s.offset_of_max_ts = h.last_offset();
            }
            pos += h.total_size() as u64;
        }
        if pos != s.size {
            // Unexpected tail on a segment believed clean: recover it properly.
            let next = s.recover(index_interval)?;
            return Ok((s, next));
        }
        Ok((s, next))
    }

    fn recover(&mut self, index_interval: i64) -> io::Result<i64> {
        self.index.clear();
        self.time_index.clear();
        self.bytes_since_index = 0;
        self.max_timestamp = -1;
        self.offset_of_max_ts = self.base;
        let mut pos = 0u64;
        let mut next = self.base;
        let mut hdr = vec![0u8; HEADER_LEN];
        loop {
            if self.size - pos < HEADER_LEN as u64 {
                break;
            }
            self.log.read_exact_at(&mut hdr, pos)?;
            let Some(h) = batch::parse_header(&hdr) else { break };
            let total = h.total_size() as u64;
            if h.magic != 2 || h.batch_length < (HEADER_LEN - 12) as i32 || pos + total > self.size || h.base_offset < next {
                break;
            }
            let mut whole = vec![0u8; total as usize];
            self.log.read_exact_at(&mut whole, pos)?;
            if !batch::crc_ok(&whole) {
                break;
            }
            self.note_batch(&h, pos, total, index_interval, false)?;
            next = h.last_offset() + 1;
            pos += total;
        }
        if pos != self.size {
            tracing::warn!(
                "{}: cutting {} bytes of torn or corrupt data at position {pos} (segment {})",
                self.dir.display(),
                self.size - pos,
                self.base
            );
            self.log.set_len(pos)?;
            self.size = pos;
        }
        // Rewrite both indexes from what we found.
        self.index_file.set_len(0)?;
        self.time_file.set_len(0)?;
        let mut b = Vec::with_capacity(self.index.len() * 8);
        for (o, p) in &self.index {
            b.extend_from_slice(&o.to_be_bytes());
            b.extend_from_slice(&p.to_be_bytes());
        }
        self.index_file.write_all(&b)?;
        let mut b = Vec::with_capacity(self.time_index.len() * 12);
        for (t, o) in &self.time_index {
            b.extend_from_slice(&t.to_be_bytes());
            b.extend_from_slice(&o.to_be_bytes());
        }
        self.time_file.write_all(&b)?;
        Ok(next)
    }

    /// Index bookkeeping for a batch at `pos`; `write` appends new entries to the files.
    fn note_batch(&mut self, h: &batch::BatchHeader, pos: u64, total: u64, index_interval: i64, write: bool) -> io::Result<()> {
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
            if write {
                let mut e = [0u8; 8];
                e[..4].copy_from_slice(&rel.to_be_bytes());
                e[4..].copy_from_slice(&(pos as u32).to_be_bytes());
                self.index_file.write_all(&e)?;
                if add_time {
                    let mut t = [0u8; 12];
                    t[..8].copy_from_slice(&self.max_timestamp.to_be_bytes());
                    t[8..].copy_from_slice(&ts_rel.to_be_bytes());
                    self.time_file.write_all(&t)?;
                }
            }
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += total;
        Ok(())
    }

    /// Appends batches whose offsets are already assigned.
    pub fn append(&mut self, data: &[u8], index_interval: i64) -> io::Result<()> {
        let start = self.size;
        (&*self.log).write_all(data)?;
        let mut pos = 0usize;
        while pos + HEADER_LEN <= data.len() {
            let Some(h) = batch::parse_header(&data[pos..]) else { break };
            let total = h.total_size();
            self.note_batch(&h, start + pos as u64, total as u64, index_interval, true)?;
            pos += total;
        }
        self.size += data.len() as u64;
        Ok(())
    }

    pub fn header_at(&self, pos: u64) -> io::Result<Option<batch::BatchHeader>> {
        if self.size < pos + HEADER_LEN as u64 {
            return Ok(None);
        }
        let mut hdr = [0u8; HEADER_LEN];
        self.log.read_exact_at(&mut hdr, pos)?;
        Ok(batch::parse_header(&hdr))
    }

    /// Position of the first batch whose last offset is >= `offset`, if any.
    pub fn find(&self, offset: i64) -> io::Result<Option<Found>> {
        let rel = (offset - self.base).max(0);
        // Largest index entry whose offset is < target: its batch ends before the target.
        let i = self.index.partition_point(|(o, _)| (*o as i64) < rel);
        let mut pos = if i == 0 { 0 } else { self.index[i - 1].1 as u64 };
        while let Some(h) = self.header_at(pos)? {
            if h.last_offset() >= offset {
                return Ok(Some(Found { position: pos }));
            }
            pos += h.total_size() as u64;
        }
        Ok(None)
    }

    /// Position of the first batch with max timestamp >= ts, and that batch's base offset.
    pub fn find_by_time(&self, ts: i64) -> io::Result<Option<(u64, i64)>> {
        if self.max_timestamp < ts {
            return Ok(None);
        }
        let i = self.time_index.partition_point(|(t, _)| *t < ts);
        let start_off = if i == 0 { self.base } else { self.base + self.time_index[i - 1].1 as i64 };
        let mut pos = self.find(start_off)?.map(|f| f.position).unwrap_or(0);
        while let Some(h) = self.header_at(pos)? {
            if h.max_timestamp >= ts {
                return Ok(Some((pos, h.base_offset)));
            }
            pos += h.total_size() as u64;
        }
        Ok(None)
    }

    /// Reads up to `max` bytes of whole batches from `pos` (at least one whole batch), with
    /// one read of the file: the bytes are cut after the last whole batch in memory.
    pub fn read(&self, pos: u64, max: usize) -> io::Result<Vec<u8>> {
        let Some(first) = self.header_at(pos)? else { return Ok(Vec::new()) };
        let first_len = first.total_size() as u64;
        let avail = self.size.saturating_sub(pos);
        let want = (max as u64).max(first_len).min(avail);
        let mut buf = vec![0u8; want as usize];
        self.log.read_exact_at(&mut buf, pos)?;
        let mut end = 0usize;
        while end + HEADER_LEN <= buf.len() {
            let Some(h) = batch::parse_header(&buf[end..]) else { break };
            let next = end + h.total_size();
            if h.total_size() < HEADER_LEN || next > buf.len() {
                break;
            }
            end = next;
        }
        buf.truncate(end);
        Ok(buf)
    }

    /// The byte range a fetch sends from `pos`: about `max` bytes (at least the first whole
    /// batch, KIP-74), never past `end` (a batch boundary, e.g. the high watermark's
    /// position) nor the segment's end. The range may end inside a batch, as Kafka's
    /// FileRecords slices do; clients drop a partial last batch. None when nothing is there.
    pub fn slice(&self, pos: u64, max: usize, end: Option<u64>) -> io::Result<Option<(Arc<File>, u64, u64)>> {
        let end = end.unwrap_or(self.size).min(self.size);
        if pos >= end {
            return Ok(None);
        }
        let Some(first) = self.header_at(pos)? else { return Ok(None) };
        let len = (max as u64).max(first.total_size() as u64).min(end - pos);
        Ok(Some((self.log.clone(), pos, len)))
    }

    /// Cuts the segment before the batch holding `offset` and rebuilds its indexes; returns
    /// the segment's next offset afterwards.
    pub fn truncate_to(&mut self, offset: i64, index_interval: i64) -> io::Result<i64> {
        if let Some(f) = self.find(offset)? {
            self.log.set_len(f.position)?;
            self.size = f.position;
        }
        self.recover(index_interval)
    }

    pub fn flush(&self) -> io::Result<()> {
        self.log.sync_data()?;
        self.index_file.sync_data()?;
        self.time_file.sync_data()
    }

    pub fn delete_files(&self) {
        for ext in ["log", "index", "timeindex"] {
            let _ = std::fs::remove_file(file_name(&self.dir, self.base, ext));
        }
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
