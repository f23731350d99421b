//! One log segment: `<base>.log` plus its sparse `<base>.index` and `<base>.timeindex`.
//!
//! On-disk formats (Kafka's): file names are the base offset as 20 zero-padded digits.
//! `.log` is record batches back to back. `.index` entries are 8 bytes: offset relative to
//! the base (u32 BE) and file position (u32 BE) of the batch containing it; one entry is
//! added when more than `index.interval.bytes` were appended since the last one, keyed by
//! the batch's last offset (as Kafka's LogSegment.append). `.timeindex` entries are 12
//! bytes: max timestamp so far (i64 BE) and the relative offset holding it (the last offset
//! of the batch that brought that timestamp), added beside an offset entry when the max
//! timestamp grew. Unlike Kafka we do not preallocate index files; their length is always a
//! whole number of entries. Both are sparse: any subset of correct entries is a valid index.
//!
//! Integrity (nothing read from these files is trusted before it is checked):
//! - A batch is *valid* when its magic is 2, its length lies inside the file, its base
//!   offset does not go back, and its CRC-32C matches. A batch with a wrong CRC (or magic)
//!   whose length still leads to a valid batch or to the end of the file is one damaged
//!   batch; a length that leads nowhere ends what can be read of the segment.
//! - Damage is kept as byte ranges ([`Damage`]) and is never served: a read starting inside
//!   one is refused, a read running into one stops before it.
//! - Appends are valid by construction (Produce validated them, a follower checked their
//!   CRC). `verified_to` is the prefix of the file already checked: the active segment is
//!   checked as it grows; at open, segments from the recovery point on are scanned whole;
//!   older ones get cheap checks (indexes, and the batch framing from the last index entry
//!   to the end of the file) and their CRCs are checked lazily, the first time a read goes
//!   past `verified_to` (once per segment per process; the zero-copy fetch path costs one
//!   comparison afterwards). A background scrub checks the rest (see `LogManager::scrub`).
//! - Recovery: in the last segment, damage running to the end of the file is a torn write
//!   and is cut off, as Kafka does (a failed append never leaves such bytes behind, see
//!   below, so this only follows a crash). Anywhere else damage is left on disk untouched
//!   and reported (file, byte position, offsets); the partition gets the data back from a
//!   replica (see `replica::heal`).
//! - Index files are checked when loaded: entry size, an entry count bounded by what the
//!   segment can hold (before anything is allocated), strictly increasing entries inside
//!   the file, and the first and last entries pointing at the batch that holds their offset
//!   (and, for the time index, its timestamp). A failed check logs a warning naming the file
//!   and rebuilds both indexes from the segment.
//! - `<base>.txnindex`: the aborted transactions whose ABORT marker is in the segment
//!   (format in `txn_index`), deleted and truncated with the segment.
//! - A failed append (data or index write) cuts all three files back to where it started
//!   ([`Mark`] / [`Segment::rollback`]), so nothing half-written stays behind.

mod check;
mod index;
pub mod txn_index;
#[cfg(test)]
mod tests;

use check::*;
use index::*;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::batch::{self, BatchHeader, HEADER_LEN, LOG_OVERHEAD};

/// Bytes read at a time while scanning a segment (the scan never holds more than this).
const CHUNK: usize = 1 << 20;
const INDEX_ENTRY: u64 = 8;
const TIME_ENTRY: u64 = 12;

pub fn file_name(dir: &Path, base: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

/// A byte range of the segment file that holds no valid batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub start: u64,
    pub end: u64,
    /// The first offset the range stands for (the one after the last valid batch before it).
    pub first_offset: i64,
    /// Base offset of the valid batch right after the range; None when it runs to the end of
    /// the file (the next segment's base offset then bounds it).
    pub next_offset: Option<i64>,
    pub reason: String,
}

/// Where an offset is in a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    /// The (valid) batch holding the offset, or the first one after it, starts here.
    At(u64),
    /// The offset falls in damaged data.
    Damaged(Damage),
    /// Nothing at or after the offset in this segment.
    Beyond,
    /// The checks needed to answer did not fit in the budget; ask again.
    Pending,
}

/// A write that failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The files are as they were before the write.
    #[error("{0}")]
    Undone(io::Error),
    /// Cutting the files back failed too: what is on disk is unknown.
    #[error("{cause}; cutting the files back failed too: {undo}")]
    Stuck { cause: io::Error, undo: io::Error },
}

/// The state of a segment before an append, to go back to if the append fails.
#[derive(Debug, Clone)]
pub struct Mark {
    size: u64,
    index_len: usize,
    time_len: usize,
    bytes_since_index: u64,
    max_timestamp: i64,
    offset_of_max_ts: i64,
    verified_to: u64,
    verified_next: i64,
    next_offset: i64,
    created_ms: i64,
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
    /// Bytes [0, verified_to) are checked: valid batches or recorded damage.
    verified_to: u64,
    /// The offset the batch at `verified_to` must start at or after.
    verified_next: i64,
    /// Damage found so far, in file order, all below `verified_to` (or found by open).
    damage: Vec<Damage>,
    /// The offset after the last valid batch.
    pub next_offset: i64,
    index_interval: i64,
    /// Aborted transactions whose marker is in this segment.
    pub txn: txn_index::TxnIndex,
    /// Tests: fail the next append after writing this many bytes (as a full disk does).
    #[cfg(test)]
    pub(crate) fail_after: Option<usize>,
}

impl Segment {
    fn open_files(dir: &Path, base: i64, truncate_indexes: bool) -> io::Result<(File, File, File)> {
        let open = |ext: &str, truncate: bool| -> io::Result<File> {
            let mut o = OpenOptions::new();
            o.read(true).create(true);
            if truncate {
                o.write(true).truncate(true);
            } else {
                o.append(true);
            }
            let f = o.open(file_name(dir, base, ext))?;
            if truncate {
                // Re-open for appending (truncate needs write mode, appends want O_APPEND).
                drop(f);
                return OpenOptions::new().read(true).append(true).open(file_name(dir, base, ext));
            }
            Ok(f)
        };
        let log = open("log", false)?;
        let index = open("index", truncate_indexes)?;
        let time = open("timeindex", truncate_indexes)?;
        Ok((log, index, time))
    }

    fn with_files(dir: &Path, base: i64, now_ms: i64, index_interval: i64, (log, index_file, time_file): (File, File, File)) -> Segment {
        Segment {
            base,
            log: Arc::new(log),
            size: 0,
            index: Vec::new(),
            time_index: Vec::new(),
            index_file,
            time_file,
            bytes_since_index: 0,
            max_timestamp: -1,
            offset_of_max_ts: base,
            created_ms: now_ms,
            dir: dir.to_path_buf(),
            verified_to: 0,
            verified_next: base,
            damage: Vec::new(),
            next_offset: base,
            index_interval,
            txn: txn_index::TxnIndex { path: txn_index::TxnIndex::path_of(dir, base), entries: Vec::new() },
            #[cfg(test)]
            fail_after: None,
        }
    }

    /// A new, empty segment. Stale index files of that name are emptied; an existing
    /// non-empty `.log` is refused. If any file cannot be made, the ones made are removed.
    pub fn create(dir: &Path, base: i64, now_ms: i64, index_interval: i64) -> io::Result<Segment> {
        let existed: Vec<bool> = ["log", "index", "timeindex"].iter().map(|e| file_name(dir, base, e).exists()).collect();
        let made = Segment::open_files(dir, base, true).and_then(|files| {
            let len = files.0.metadata()?.len();
            if len > 0 {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} already holds {len} bytes", file_name(dir, base, "log").display()),
                ));
            }
            Ok(files)
        });
        match made {
            Ok(files) => {
                let mut s = Segment::with_files(dir, base, now_ms, index_interval, files);
                s.txn = txn_index::TxnIndex::fresh(dir, base);
                Ok(s)
            }
            Err(e) => {
                for (ext, was) in ["log", "index", "timeindex"].iter().zip(existed) {
                    if !was {
                        let _ = std::fs::remove_file(file_name(dir, base, ext));
                    }
                }
                Err(e)
            }
        }
    }

    /// Bytes of its two index files (the cleaner's grouping bounds them).
    pub fn index_bytes(&self) -> u64 {
        self.index.len() as u64 * INDEX_ENTRY + self.time_index.len() as u64 * TIME_ENTRY
    }

    pub fn log_path(&self) -> PathBuf {
        file_name(&self.dir, self.base, "log")
    }

    /// Opens an existing segment. `recover`: scan every batch (CRC included), rebuild the
    /// indexes, and (when `last`) cut a torn tail. Otherwise the indexes and the framing of
    /// the tail are checked, and the segment is scanned whole only if a check fails.
    /// Returns the segment and its next offset.
    pub fn open(dir: &Path, base: i64, recover: bool, last: bool, index_interval: i64, now_ms: i64) -> io::Result<(Segment, i64)> {
        let mut s = Segment::with_files(dir, base, now_ms, index_interval, Segment::open_files(dir, base, false)?);
        s.txn = txn_index::TxnIndex::load(dir, base)?;
        let meta = s.log.metadata()?;
        s.size = meta.len();
        s.created_ms = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64)
            .unwrap_or(now_ms);
        if recover {
            let next = s.scan_all(index_interval, last)?;
            return Ok((s, next));
        }
        match s.load_indexes(index_interval)? {
            Ok(()) => {}
            Err(IndexProblem::Garbage(why)) => {
                tracing::warn!("{why}; rebuilding the index files of {} from the segment", s.log_path().display());
                let next = s.scan_all(index_interval, last)?;
                return Ok((s, next));
            }
            Err(IndexProblem::SegmentShort(why)) => {
                tracing::error!("{}: the segment is damaged or cut short: {why}; checking the whole segment", s.log_path().display());
                let next = s.scan_all(index_interval, last)?;
                return Ok((s, next));
            }
        }
        // The framing from the last index entry to the end of the file (no CRCs: those are
        // checked lazily). It must end exactly at the end of the file.
        let start = s.index.last().map(|e| e.1 as u64).unwrap_or(0);
        let mut max_ts = (s.max_timestamp, s.offset_of_max_ts);
        let mut next = base;
        let walked = scan(&s.log, s.size, start, base, s.size, false, |h, _, _| {
            if h.max_timestamp > max_ts.0 {
                max_ts = (h.max_timestamp, h.last_offset());
            }
            next = h.last_offset() + 1;
            Ok(())
        })?;
        if let Some(d) = walked.damage.first() {
            tracing::error!(
                "{}: the segment is damaged or cut short at byte {} ({}); checking the whole segment",
                s.log_path().display(),
                d.start,
                d.reason
            );
            let next = s.scan_all(index_interval, last)?;
            return Ok((s, next));
        }
        (s.max_timestamp, s.offset_of_max_ts) = max_ts;
        s.next_offset = next.max(base);
        let next = s.next_offset;
        Ok((s, next))
    }

    pub fn mark(&self) -> Mark {
        Mark {
            size: self.size,
            index_len: self.index.len(),
            time_len: self.time_index.len(),
            bytes_since_index: self.bytes_since_index,
            max_timestamp: self.max_timestamp,
            offset_of_max_ts: self.offset_of_max_ts,
            verified_to: self.verified_to,
            verified_next: self.verified_next,
            next_offset: self.next_offset,
            created_ms: self.created_ms,
        }
    }

    /// Cuts the files and the state back to `m` (a failed append or fsync).
    pub fn rollback(&mut self, m: &Mark) -> io::Result<()> {
        self.log.set_len(m.size)?;
        self.index_file.set_len(m.index_len as u64 * INDEX_ENTRY)?;
        self.time_file.set_len(m.time_len as u64 * TIME_ENTRY)?;
        self.size = m.size;
        self.index.truncate(m.index_len);
        self.time_index.truncate(m.time_len);
        self.bytes_since_index = m.bytes_since_index;
        self.max_timestamp = m.max_timestamp;
        self.offset_of_max_ts = m.offset_of_max_ts;
        self.verified_to = m.verified_to;
        self.verified_next = m.verified_next;
        self.next_offset = m.next_offset;
        self.created_ms = m.created_ms;
        self.damage.retain(|d| d.start < m.size);
        Ok(())
    }

    /// Appends whole batches whose offsets are assigned (and which were validated). On
    /// failure the segment is cut back to where it was.
    pub fn append(&mut self, data: &[u8], index_interval: i64) -> Result<(), WriteError> {
        let mark = self.mark();
        let start = self.size;
        let was_verified = self.verified_to == self.size;
        let mut idx = Vec::new();
        let mut time = Vec::new();
        let mut pos = 0usize;
        let mut next = self.next_offset;
        while let Some(h) = data.get(pos..).and_then(batch::parse_header) {
            let total = h.total_size();
            if total < HEADER_LEN || pos + total > data.len() {
                break;
            }
            self.note_batch(&h, start + pos as u64, total as u64, index_interval, Some((&mut idx, &mut time)));
            next = h.last_offset() + 1;
            pos += total;
        }
        let res = self.write_all(data).and_then(|_| (&self.index_file).write_all(&idx)).and_then(|_| (&self.time_file).write_all(&time));
        if let Err(cause) = res {
            return Err(match self.rollback(&mark) {
                Ok(()) => WriteError::Undone(cause),
                Err(undo) => WriteError::Stuck { cause, undo },
            });
        }
        self.size += data.len() as u64;
        self.next_offset = next;
        if was_verified {
            self.verified_to = self.size;
            self.verified_next = next;
        }
        Ok(())
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        #[cfg(test)]
        if let Some(n) = self.fail_after.take() {
            (&*self.log).write_all(&data[..n.min(data.len())])?;
            return Err(io::Error::from_raw_os_error(nix::errno::Errno::ENOSPC as i32));
        }
        (&*self.log).write_all(data)
    }

    /// The batch header at `pos` if one is there in full (not checked).
    pub fn header_at(&self, pos: u64) -> io::Result<Option<BatchHeader>> {
        if pos.checked_add(HEADER_LEN as u64).is_none_or(|e| e > self.size) {
            return Ok(None);
        }
        let mut hdr = [0u8; HEADER_LEN];
        self.log.read_exact_at(&mut hdr, pos)?;
        Ok(batch::parse_header(&hdr))
    }

    /// The header at `pos` if its framing is sound (magic 2, a length inside the file).
    fn framed_header(&self, pos: u64) -> io::Result<Option<BatchHeader>> {
        Ok(self.header_at(pos)?.filter(|h| {
            h.magic == 2 && h.batch_length >= (HEADER_LEN - LOG_OVERHEAD) as i32 && pos + h.total_size() as u64 <= self.size
        }))
    }

    /// Position of the first batch whose last offset is >= `offset`, walking headers
    /// without CRC checks and stopping at broken framing or known damage (for lookups
    /// that only need positions: index checks, timestamps).
    fn find_framed(&self, offset: i64) -> io::Result<Option<u64>> {
        let mut pos = self.index_start(offset);
        for _ in 0..self.size / HEADER_LEN as u64 + 1 {
            if let Some(d) = self.damage.iter().find(|d| d.start <= pos && pos < d.end) {
                if d.next_offset.is_none_or(|n| offset < n) {
                    return Ok(None);
                }
                pos = d.end;
                continue;
            }
            let Some(h) = self.framed_header(pos)? else { return Ok(None) };
            if h.last_offset() >= offset {
                return Ok(Some(pos));
            }
            pos += h.total_size() as u64;
        }
        Ok(None)
    }

    /// Reads up to `max` bytes of whole batches from `pos` (at least one whole batch), with
    /// one read of the file, unchecked (timestamp lookups). Never reads past the file.
    pub fn read(&self, pos: u64, max: usize) -> io::Result<Vec<u8>> {
        let Some(first) = self.header_at(pos)? else { return Ok(Vec::new()) };
        let first_len = first.total_size() as u64;
        let avail = self.size.saturating_sub(pos);
        let want = (max as u64).max(first_len).min(avail);
        let mut buf = vec![0u8; want as usize];
        self.log.read_exact_at(&mut buf, pos)?;
        let end = batch::split(&buf).iter().map(|(_, b)| b.len()).sum();
        buf.truncate(end);
        Ok(buf)
    }

    /// The end of the readable run from `pos`: the next damage start or the file's end.
    fn readable_end(&self, pos: u64) -> u64 {
        self.damage.iter().filter(|d| d.start > pos).map(|d| d.start).min().unwrap_or(self.size).min(self.size)
    }

    /// Checked whole batches from `pos` (a located batch), up to about `max` bytes, never
    /// into damage.
    pub fn read_checked(&mut self, pos: u64, max: usize) -> io::Result<Vec<u8>> {
        let Some(first) = self.header_at(pos)? else { return Ok(Vec::new()) };
        let end = self.readable_end(pos);
        let want = (max as u64).max(first.total_size() as u64).min(end.saturating_sub(pos));
        let mut unlimited = u64::MAX;
        self.verify(pos + want, &mut unlimited)?;
        let want = want.min(self.readable_end(pos).saturating_sub(pos));
        let mut buf = vec![0u8; want as usize];
        self.log.read_exact_at(&mut buf, pos)?;
        let end = batch::split(&buf).iter().map(|(_, b)| b.len()).sum();
        buf.truncate(end);
        Ok(buf)
    }

    /// The byte range a fetch sends from `pos` (a located batch): about `max` bytes (at
    /// least the first whole batch, KIP-74), never past `end` (a batch boundary, e.g. the
    /// high watermark's position), the checked part of the file, damage, or the segment's
    /// end. The range may end inside a batch, as Kafka's FileRecords slices do (that batch
    /// is checked whole); clients drop a partial last batch. None when nothing is there.
    pub fn slice(&mut self, pos: u64, max: usize, end: Option<u64>, budget: &mut u64) -> io::Result<Option<(Arc<File>, u64, u64)>> {
        let end = end.unwrap_or(self.size).min(self.readable_end(pos));
        if pos >= end {
            return Ok(None);
        }
        let Some(first) = self.header_at(pos)? else { return Ok(None) };
        let len = (max as u64).max(first.total_size() as u64).min(end - pos);
        self.verify(pos + len, budget)?;
        // Only checked bytes leave, never damage found just now.
        let len = len.min(self.verified_to.saturating_sub(pos)).min(self.readable_end(pos) - pos);
        if len == 0 {
            return Ok(None);
        }
        Ok(Some((self.log.clone(), pos, len)))
    }

    /// Cuts the segment before the batch holding `offset` (or the damage holding it) and
    /// rescans it; returns the segment's next offset afterwards.
    pub fn truncate_to(&mut self, offset: i64, index_interval: i64) -> io::Result<i64> {
        let mut unlimited = u64::MAX;
        let cut = match self.locate(offset, &mut unlimited)? {
            Located::At(p) => Some(p),
            Located::Damaged(d) => Some(d.start),
            Located::Beyond | Located::Pending => None,
        };
        if let Some(p) = cut {
            self.log.set_len(p)?;
            self.size = p;
        }
        let next = self.scan_all(index_interval, true)?;
        self.txn.truncate_to(next)?;
        Ok(next)
    }

    pub fn flush(&self) -> io::Result<()> {
        self.log.sync_data()?;
        self.index_file.sync_data()?;
        self.time_file.sync_data()
    }

    pub fn delete_files(&self) {
        for ext in ["log", "index", "timeindex", "txnindex"] {
            let _ = std::fs::remove_file(file_name(&self.dir, self.base, ext));
        }
    }

    /// Framing walk over every valid batch header (damage skipped), for rebuilding state
    /// kept elsewhere (the leader epoch cache).
    pub fn for_each_header(&self, mut f: impl FnMut(&BatchHeader)) -> io::Result<()> {
        let mut pos = 0u64;
        let mut r = Reader::new(&self.log, self.size);
        while pos < self.size {
            if let Some(d) = self.damage.iter().find(|d| d.start <= pos && pos < d.end) {
                pos = d.end;
                continue;
            }
            match r.batch_at(pos, i64::MIN, false)? {
                Ok((h, total)) => {
                    f(&h);
                    pos += total;
                }
                Err(_) => break,
            }
        }
        Ok(())
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_be_bytes(a)
}

