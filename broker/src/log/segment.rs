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
//! - A failed append (data or index write) cuts all three files back to where it started
//!   ([`Mark`] / [`Segment::rollback`]), so nothing half-written stays behind.

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
    /// Tests: fail the next append after writing this many bytes (as a full disk does).
    #[cfg(test)]
    pub(crate) fail_after: Option<usize>,
}

/// Why loaded indexes cannot be used.
enum IndexProblem {
    /// The index files are garbage.
    Garbage(String),
    /// The index points past the end of the segment file: the segment lost its tail.
    SegmentShort(String),
}

/// What a check of the bytes at one position found.
enum Check {
    Valid(BatchHeader, u64),
    /// Not a valid batch, but its length leads to a valid batch or to the end of the file.
    Skip(u64, String),
    /// Nothing readable from here to the end of the file.
    Broken(String),
}

/// A valid batch and its size, or why not: with the size when its length is plausible.
type BatchAt = Result<(BatchHeader, u64), (Option<u64>, String)>;

/// Buffered positional reads (one read per MiB while scanning, not one per batch).
struct Reader<'a> {
    file: &'a File,
    size: u64,
    buf: Vec<u8>,
    at: u64,
}

impl<'a> Reader<'a> {
    fn new(file: &'a File, size: u64) -> Reader<'a> {
        Reader { file, size, buf: Vec::new(), at: 0 }
    }

    /// Bytes [pos, pos + len) (len <= CHUNK); None when they are not all in the file.
    fn get(&mut self, pos: u64, len: usize) -> io::Result<Option<&[u8]>> {
        let Some(end) = pos.checked_add(len as u64) else { return Ok(None) };
        if end > self.size {
            return Ok(None);
        }
        if pos < self.at || end > self.at + self.buf.len() as u64 {
            // Bounded by the bytes left in the file and by CHUNK (len <= CHUNK).
            let n = (self.size - pos).min(CHUNK.max(len) as u64) as usize;
            self.buf.resize(n, 0);
            self.file.read_exact_at(&mut self.buf, pos)?;
            self.at = pos;
        }
        let off = (pos - self.at) as usize;
        Ok(self.buf.get(off..off + len))
    }

    /// CRC-32C of bytes [from, to), read in pieces.
    fn crc(&mut self, from: u64, to: u64) -> io::Result<Option<u32>> {
        let mut crc = 0u32;
        let mut p = from;
        while p < to {
            let n = (to - p).min(CHUNK as u64) as usize;
            let Some(b) = self.get(p, n)? else { return Ok(None) };
            crc = crc32c::crc32c_append(crc, b);
            p += n as u64;
        }
        Ok(Some(crc))
    }

    /// Checks the batch at `pos` (framing, offsets, and the CRC when `crc`), without the
    /// one-batch look-ahead that tells a damaged batch from broken framing.
    fn batch_at(&mut self, pos: u64, expect: i64, crc: bool) -> io::Result<BatchAt> {
        let left = self.size.saturating_sub(pos);
        if left < HEADER_LEN as u64 {
            return Ok(Err((None, format!("{left} byte(s) at the end, less than a batch header"))));
        }
        let Some(h) = self.get(pos, HEADER_LEN)?.and_then(batch::parse_header) else {
            return Ok(Err((None, "unreadable batch header".into())));
        };
        if h.batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
            return Ok(Err((None, format!("batch length {} is too small", h.batch_length))));
        }
        let total = h.total_size() as u64;
        if total > left {
            return Ok(Err((None, format!("a batch of {total} bytes runs past the end of the file ({left} bytes left)"))));
        }
        if h.magic != 2 {
            return Ok(Err((Some(total), format!("magic byte {} (expected 2)", h.magic))));
        }
        if h.base_offset < expect || h.last_offset_delta < 0 || h.records_count < 0 {
            return Ok(Err((Some(total), format!("offsets go backwards or are negative (base offset {}, expected at least {expect})", h.base_offset))));
        }
        if crc {
            match self.crc(pos + 21, pos + total)? {
                Some(c) if c == h.crc => {}
                Some(c) => return Ok(Err((Some(total), format!("CRC mismatch (stored {:#010x}, computed {c:#010x})", h.crc)))),
                None => return Ok(Err((None, "batch runs past the end of the file".into()))),
            }
        }
        Ok(Ok((h, total)))
    }

    fn check(&mut self, pos: u64, expect: i64, crc: bool) -> io::Result<Check> {
        match self.batch_at(pos, expect, crc)? {
            Ok((h, total)) => Ok(Check::Valid(h, total)),
            Err((None, why)) => Ok(Check::Broken(why)),
            Err((Some(total), why)) => {
                let next = pos + total;
                if next == self.size || self.batch_at(next, expect, crc)?.is_ok() {
                    Ok(Check::Skip(total, why))
                } else {
                    Ok(Check::Broken(why))
                }
            }
        }
    }
}

/// What a scan covered.
struct Scanned {
    end: u64,
    expect: i64,
    damage: Vec<Damage>,
}

/// Checks batches from `from` (a batch boundary whose batch starts at offset >= `expect`) on,
/// until at least `until` (whole batches, and never stopping inside damage), calling
/// `on_batch(header, position, size)` for every valid one.
fn scan(
    file: &File,
    size: u64,
    from: u64,
    expect: i64,
    until: u64,
    crc: bool,
    mut on_batch: impl FnMut(&BatchHeader, u64, u64) -> io::Result<()>,
) -> io::Result<Scanned> {
    let mut r = Reader::new(file, size);
    let mut pos = from;
    let mut expect = expect;
    let mut damage: Vec<Damage> = Vec::new();
    let mut open: Option<Damage> = None;
    while pos < size && (pos < until || open.is_some()) {
        match r.check(pos, expect, crc)? {
            Check::Valid(h, total) => {
                if let Some(mut d) = open.take() {
                    d.end = pos;
                    d.next_offset = Some(h.base_offset);
                    damage.push(d);
                }
                on_batch(&h, pos, total)?;
                expect = h.last_offset() + 1;
                pos += total;
            }
            Check::Skip(total, why) => {
                open.get_or_insert(Damage { start: pos, end: pos, first_offset: expect, next_offset: None, reason: why });
                pos += total;
            }
            Check::Broken(why) => {
                open.get_or_insert(Damage { start: pos, end: pos, first_offset: expect, next_offset: None, reason: why });
                pos = size;
            }
        }
    }
    if let Some(mut d) = open.take() {
        d.end = pos;
        damage.push(d);
    }
    Ok(Scanned { end: pos, expect, damage })
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
            Ok(files) => Ok(Segment::with_files(dir, base, now_ms, index_interval, files)),
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

    pub fn log_path(&self) -> PathBuf {
        file_name(&self.dir, self.base, "log")
    }

    /// Opens an existing segment. `recover`: scan every batch (CRC included), rebuild the
    /// indexes, and (when `last`) cut a torn tail. Otherwise the indexes and the framing of
    /// the tail are checked, and the segment is scanned whole only if a check fails.
    /// Returns the segment and its next offset.
    pub fn open(dir: &Path, base: i64, recover: bool, last: bool, index_interval: i64, now_ms: i64) -> io::Result<(Segment, i64)> {
        let mut s = Segment::with_files(dir, base, now_ms, index_interval, Segment::open_files(dir, base, false)?);
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

    /// Loads and checks both index files. Ok(Err(_)) when they must be rebuilt (naming
    /// every file that failed its checks).
    fn load_indexes(&mut self, index_interval: i64) -> io::Result<Result<(), IndexProblem>> {
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
    fn max_entries(&self) -> u64 {
        self.size / HEADER_LEN as u64 + 1
    }

    fn load_offset_index(&mut self, path: &Path, index_interval: i64) -> io::Result<Result<(), IndexProblem>> {
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

    fn load_time_index(&mut self) -> io::Result<Result<(), String>> {
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

    /// Scans the whole segment with CRCs: rebuilds the indexes and the damage list; with
    /// `cut_tail`, damage that runs to the end of the file is cut off (a torn write).
    fn scan_all(&mut self, index_interval: i64, cut_tail: bool) -> io::Result<i64> {
        self.index.clear();
        self.time_index.clear();
        self.bytes_since_index = 0;
        self.max_timestamp = -1;
        self.offset_of_max_ts = self.base;
        self.damage.clear();
        let mut next = self.base;
        let mut notes: Vec<(BatchHeader, u64, u64)> = Vec::new();
        let file = self.log.clone();
        let scanned = scan(&file, self.size, 0, self.base, self.size, true, |h, pos, total| {
            notes.push((*h, pos, total));
            Ok(())
        })?;
        for (h, pos, total) in &notes {
            self.note_batch(h, *pos, *total, index_interval, None);
            next = h.last_offset() + 1;
        }
        self.damage = scanned.damage;
        if cut_tail {
            if let Some(d) = self.damage.last().filter(|d| d.end == self.size).cloned() {
                tracing::warn!(
                    "{}: cutting {} bytes of torn or corrupt data at position {} (segment {}, offsets from {}): {}",
                    self.log_path().display(),
                    self.size - d.start,
                    d.start,
                    self.base,
                    d.first_offset,
                    d.reason
                );
                self.log.set_len(d.start)?;
                self.size = d.start;
                self.damage.pop();
            }
        }
        for d in &self.damage {
            self.report(d);
        }
        self.verified_to = self.size;
        self.verified_next = next;
        self.next_offset = next;
        self.rewrite_indexes()?;
        Ok(next)
    }

    /// Writes both index files from memory. If that fails (a full disk), they are emptied
    /// instead (an empty index is rebuilt at the next open); only if that fails too is it
    /// an error.
    fn rewrite_indexes(&mut self) -> io::Result<()> {
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

    fn report(&self, d: &Damage) {
        let upto = match d.next_offset {
            Some(n) => format!("offsets {} to {}", d.first_offset, n - 1),
            None => format!("offsets from {} to the end of the segment", d.first_offset),
        };
        tracing::error!(
            "{}: damaged data at byte {} ({} bytes, {upto}): {}; it is not served",
            self.log_path().display(),
            d.start,
            d.end - d.start,
            d.reason
        );
    }

    /// Index bookkeeping for a batch at `pos`; new entries are also added to `out`
    /// (index bytes, time index bytes) when given.
    fn note_batch(&mut self, h: &BatchHeader, pos: u64, total: u64, index_interval: i64, out: Option<(&mut Vec<u8>, &mut Vec<u8>)>) {
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

    fn index_start(&self, offset: i64) -> u64 {
        let rel = (offset - self.base).max(0);
        let i = self.index.partition_point(|(o, _)| (*o as i64) < rel);
        if i == 0 {
            0
        } else {
            self.index[i - 1].1 as u64
        }
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

    /// Checks batches from `verified_to` on until `upto` is covered or `budget` bytes were
    /// checked; damage found is recorded and logged. True when [0, upto) is checked.
    pub fn verify(&mut self, upto: u64, budget: &mut u64) -> io::Result<bool> {
        let goal = upto.min(self.size);
        if self.verified_to >= goal {
            return Ok(true);
        }
        if *budget == 0 {
            return Ok(false);
        }
        let until = self.verified_to.saturating_add(*budget).min(goal);
        let from = self.verified_to;
        let file = self.log.clone();
        let s = scan(&file, self.size, from, self.verified_next, until, true, |_, _, _| Ok(()))?;
        *budget = budget.saturating_sub(s.end - from);
        for d in s.damage {
            self.report(&d);
            self.damage.push(d);
        }
        self.verified_to = s.end;
        self.verified_next = s.expect;
        Ok(self.verified_to >= goal)
    }

    /// Where `offset` is: the checked batch holding it (or the first after it), damage, or
    /// nothing. Checks what it walks over first (within `budget`).
    pub fn locate(&mut self, offset: i64, budget: &mut u64) -> io::Result<Located> {
        let mut rebuilt = false;
        'restart: loop {
            let mut pos = self.index_start(offset);
            let mut from_index = pos > 0;
            // An index entry inside damage: walk from the start of the damage.
            if let Some(d) = self.damage.iter().find(|d| d.start < pos && pos < d.end) {
                pos = d.start;
                from_index = false;
            }
            loop {
                if pos >= self.size {
                    return Ok(Located::Beyond);
                }
                if pos >= self.verified_to {
                    if !self.verify(pos + 1, budget)? {
                        return Ok(Located::Pending);
                    }
                    continue;
                }
                if let Some(d) = self.damage.iter().find(|d| d.start <= pos && pos < d.end) {
                    if d.next_offset.is_none_or(|n| offset < n) {
                        return Ok(Located::Damaged(d.clone()));
                    }
                    pos = d.end;
                    from_index = false;
                    continue;
                }
                let h = self.header_at(pos)?.filter(|h| h.magic == 2 && h.total_size() >= HEADER_LEN);
                if from_index {
                    // The entry must name this batch; if not, the loaded index is wrong.
                    let i = self.index.partition_point(|(_, p)| (*p as u64) < pos);
                    let agrees = h.is_some_and(|h| {
                        self.index.get(i).is_some_and(|(rel, p)| *p as u64 == pos && h.last_offset() == self.base + *rel as i64)
                    });
                    if !agrees {
                        if rebuilt {
                            self.index.clear();
                        } else {
                            tracing::warn!(
                                "index file {} is damaged: entry {i} does not point at the batch holding its offset; rebuilding the index files from the segment",
                                file_name(&self.dir, self.base, "index").display()
                            );
                            self.scan_all(self.index_interval, false)?;
                            rebuilt = true;
                        }
                        continue 'restart;
                    }
                    from_index = false;
                }
                let Some(h) = h else { return Ok(Located::Beyond) };
                if h.last_offset() >= offset {
                    return Ok(Located::At(pos));
                }
                pos += h.total_size() as u64;
            }
        }
    }

    /// The first damage whose offsets reach `from` or later.
    pub fn first_damage(&self, from: i64) -> Option<&Damage> {
        self.damage.iter().find(|d| d.next_offset.is_none_or(|n| n > from))
    }

    pub fn has_unverified(&self) -> bool {
        self.verified_to < self.size
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
        self.scan_all(index_interval, true)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::tests::batch;

    const INTERVAL: i64 = 100;

    /// A segment of `n` batches of two records each, offsets from `base`; returns it and the
    /// byte position of every batch.
    fn filled(dir: &Path, base: i64, n: usize) -> (Segment, Vec<u64>) {
        let mut s = Segment::create(dir, base, 0, INTERVAL).unwrap();
        let mut positions = Vec::new();
        for i in 0..n {
            let mut b = batch(&[format!("value-{i}-a").as_bytes(), b"value-b"], 1000 + i as i64);
            batch::assign_offsets(&mut b, base + 2 * i as i64, 0, None);
            positions.push(s.size);
            s.append(&b, INTERVAL).unwrap();
        }
        s.flush().unwrap();
        (s, positions)
    }

    fn all(s: &mut Segment, offset: i64) -> Located {
        s.locate(offset, &mut u64::MAX.clone())
            .unwrap()
    }

    fn flip(path: &Path, at: u64) {
        let f = OpenOptions::new().read(true).write(true).open(path).unwrap();
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, at).unwrap();
        b[0] ^= 0x5a;
        f.write_all_at(&b, at).unwrap();
    }

    #[test]
    fn failed_append_is_cut_back_on_disk_and_in_memory() {
        let d = tempfile::tempdir().unwrap();
        let (mut s, _) = filled(d.path(), 0, 20);
        let before = (s.size, s.index.len(), s.time_index.len(), s.next_offset);
        let lens = |s: &Segment| (s.log.metadata().unwrap().len(), s.index_file.metadata().unwrap().len(), s.time_file.metadata().unwrap().len());
        let on_disk = lens(&s);
        let mut b = batch(&[b"x".as_slice(); 50], 5000);
        batch::assign_offsets(&mut b, 40, 0, None);
        s.fail_after = Some(100);
        let e = s.append(&b, INTERVAL).unwrap_err();
        assert!(matches!(&e, WriteError::Undone(io) if crate::log::dir_health::is_out_of_space(io)), "{e}");
        assert_eq!((s.size, s.index.len(), s.time_index.len(), s.next_offset), before);
        assert_eq!(lens(&s), on_disk, "nothing of the failed append stays in the files");
        // Space is back: the same append works, and a recovery finds every batch valid.
        s.append(&b, INTERVAL).unwrap();
        assert_eq!(s.next_offset, 90);
        drop(s);
        let (mut s, next) = Segment::open(d.path(), 0, true, true, INTERVAL, 0).unwrap();
        assert_eq!(next, 90);
        assert!(s.damage.is_empty());
        assert!(matches!(all(&mut s, 89), Located::At(_)));
    }

    #[test]
    fn flipped_bytes_in_an_older_segment_are_found_lazily_and_never_served() {
        let d = tempfile::tempdir().unwrap();
        let (s, pos) = filled(d.path(), 0, 30);
        let path = s.log_path();
        let size = s.size;
        drop(s);
        // A byte inside batch 10's records (its length field and header are intact).
        flip(&path, pos[10] + HEADER_LEN as u64 + 3);
        let (mut s, next) = Segment::open(d.path(), 0, false, false, INTERVAL, 0).unwrap();
        assert_eq!(next, 60, "the framing is intact, so opening does not notice");
        assert!(s.has_unverified());
        // Reading from the start stops before the damaged batch.
        let Located::At(p0) = all(&mut s, 0) else { panic!() };
        let (_, _, len) = s.slice(p0, 1 << 20, None, &mut u64::MAX.clone()).unwrap().unwrap();
        assert_eq!(p0 + len, pos[10]);
        // Its offsets are refused; the ones after it are served.
        match all(&mut s, 21) {
            Located::Damaged(d) => assert_eq!((d.start, d.end, d.first_offset, d.next_offset), (pos[10], pos[11], 20, Some(22))),
            other => panic!("{other:?}"),
        }
        assert_eq!(all(&mut s, 22), Located::At(pos[11]));
        assert_eq!(s.size, size, "nothing is cut from an older segment");
        assert_eq!(s.first_damage(0).map(|d| d.first_offset), Some(20));
        // The whole batch range is served up to the damage only.
        let data = s.read_checked(pos[9], 1 << 20).unwrap();
        assert_eq!(data.len() as u64, pos[10] - pos[9]);
    }

    #[test]
    fn a_cut_older_segment_is_reported_and_kept() {
        let d = tempfile::tempdir().unwrap();
        let (s, pos) = filled(d.path(), 0, 30);
        let path = s.log_path();
        drop(s);
        let cut = pos[15] + 20;
        OpenOptions::new().write(true).open(&path).unwrap().set_len(cut).unwrap();
        let (mut s, _) = Segment::open(d.path(), 0, false, false, INTERVAL, 0).unwrap();
        assert_eq!(s.size, cut, "not truncated further");
        let d0 = s.first_damage(0).cloned().unwrap();
        assert_eq!((d0.start, d0.end, d0.first_offset, d0.next_offset), (pos[15], cut, 30, None));
        assert!(matches!(all(&mut s, 31), Located::Damaged(_)));
        assert!(matches!(all(&mut s, 45), Located::Damaged(_)), "everything after the cut in this segment");
        assert_eq!(all(&mut s, 29), Located::At(pos[14]));
        // The last segment's torn tail is cut instead.
        drop(s);
        let (s, next) = Segment::open(d.path(), 0, true, true, INTERVAL, 0).unwrap();
        assert_eq!((s.size, next), (pos[15], 30));
        assert!(s.damage.is_empty());
    }

    #[test]
    fn a_broken_length_ends_what_can_be_read_of_an_older_segment() {
        let d = tempfile::tempdir().unwrap();
        let (s, pos) = filled(d.path(), 0, 10);
        let path = s.log_path();
        drop(s);
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&0x7fff_fff0i32.to_be_bytes(), pos[4] + 8).unwrap();
        let (mut s, _) = Segment::open(d.path(), 0, true, false, INTERVAL, 0).unwrap();
        let d0 = s.first_damage(0).cloned().unwrap();
        assert_eq!((d0.start, d0.end, d0.first_offset), (pos[4], s.size, 8));
        assert!(matches!(all(&mut s, 19), Located::Damaged(_)));
        assert_eq!(all(&mut s, 7), Located::At(pos[3]));
    }

    #[test]
    fn garbage_indexes_are_rebuilt() {
        let d = tempfile::tempdir().unwrap();
        let (s, _) = filled(d.path(), 0, 40);
        let good_index = s.index.clone();
        let good_time = s.time_index.clone();
        assert!(good_index.len() > 3);
        drop(s);
        let idx = file_name(d.path(), 0, "index");
        let tidx = file_name(d.path(), 0, "timeindex");
        // Increasing entries that point at the wrong places.
        let mut bad = Vec::new();
        for i in 0..good_index.len() as u32 {
            bad.extend_from_slice(&(i * 3 + 1).to_be_bytes());
            bad.extend_from_slice(&(i * 70 + 5).to_be_bytes());
        }
        let cases: Vec<(&Path, Vec<u8>)> = vec![
            (&idx, bad),
            (&idx, vec![0xab; 13]),
            (&idx, vec![0xff; 64]),
            (&tidx, vec![0x01; 36]),
            (&tidx, [i64::MAX.to_be_bytes().as_slice(), &1u32.to_be_bytes()].concat()),
        ];
        for (path, bytes) in cases {
            std::fs::write(path, &bytes).unwrap();
            let (mut s, next) = Segment::open(d.path(), 0, false, false, INTERVAL, 0).unwrap();
            assert_eq!(next, 80);
            assert_eq!(s.index, good_index, "{}", path.display());
            assert_eq!(s.time_index, good_time, "{}", path.display());
            assert_eq!(s.max_timestamp, 1039);
            for o in [0, 37, 79] {
                let Located::At(p) = all(&mut s, o) else { panic!() };
                let h = s.header_at(p).unwrap().unwrap();
                assert!(h.base_offset <= o && o <= h.last_offset());
            }
        }
        // A middle entry that is wrong (the load checks only the first and last): the lookup
        // notices and rebuilds.
        drop(Segment::open(d.path(), 0, true, false, INTERVAL, 0).unwrap());
        let f = OpenOptions::new().write(true).open(&idx).unwrap();
        f.write_all_at(&(good_index[1].1 + 7).to_be_bytes(), 8 + 4).unwrap();
        let (mut s, _) = Segment::open(d.path(), 0, false, false, INTERVAL, 0).unwrap();
        let target = s.base + good_index[1].0 as i64 + 1;
        let Located::At(p) = all(&mut s, target) else { panic!() };
        let h = s.header_at(p).unwrap().unwrap();
        assert!(h.base_offset <= target && target <= h.last_offset());
        assert_eq!(s.index, good_index);
    }

    #[test]
    fn a_huge_sparse_index_is_refused_before_it_is_read() {
        let d = tempfile::tempdir().unwrap();
        let (s, _) = filled(d.path(), 0, 10);
        drop(s);
        for ext in ["index", "timeindex"] {
            let f = OpenOptions::new().write(true).open(file_name(d.path(), 0, ext)).unwrap();
            f.set_len(12 << 40).unwrap();
            let (s, next) = Segment::open(d.path(), 0, false, false, INTERVAL, 0).unwrap();
            assert_eq!(next, 20);
            assert!(std::fs::metadata(file_name(d.path(), 0, ext)).unwrap().len() < 1 << 20, "rewritten");
            drop(s);
        }
    }

    /// Deterministic bytes for the hostile-input tests.
    fn noise(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn hostile_segment_bytes_never_panic() {
        let d = tempfile::tempdir().unwrap();
        let mut cases: Vec<Vec<u8>> = Vec::new();
        let good = {
            let mut b = batch(&[b"abc"], 1);
            batch::assign_offsets(&mut b, 0, 0, None);
            b
        };
        for len in [i32::MIN, -1, 0, 48, 49, i32::MAX] {
            let mut b = good.clone();
            b[8..12].copy_from_slice(&len.to_be_bytes());
            cases.push(b);
        }
        for cut in [1, 11, 12, 60, 61, good.len() - 1] {
            cases.push(good[..cut].to_vec());
        }
        let mut backwards = good.clone();
        backwards.extend_from_slice(&good);
        cases.push(backwards);
        let mut neg = good.clone();
        neg[23..27].copy_from_slice(&(-5i32).to_be_bytes());
        cases.push(neg);
        for seed in 0..40 {
            let mut v = good.clone();
            v.extend_from_slice(&noise(seed, 50 + seed as usize * 97));
            cases.push(v);
            cases.push(noise(seed + 1000, seed as usize * 13));
        }
        for (i, bytes) in cases.iter().enumerate() {
            for (recover, last) in [(true, true), (true, false), (false, false)] {
                std::fs::write(file_name(d.path(), 0, "log"), bytes).unwrap();
                std::fs::write(file_name(d.path(), 0, "index"), noise(i as u64, 24)).unwrap();
                std::fs::write(file_name(d.path(), 0, "timeindex"), noise(i as u64 + 7, 36)).unwrap();
                let (mut s, _) = Segment::open(d.path(), 0, recover, last, INTERVAL, 0).unwrap();
                for o in [-1, 0, 1, 5, 1 << 40] {
                    let mut budget = 1 << 20;
                    if let Located::At(p) = s.locate(o, &mut budget).unwrap() {
                        let _ = s.slice(p, 1 << 20, None, &mut budget).unwrap();
                        let _ = s.read_checked(p, 100).unwrap();
                    }
                    let _ = s.find_by_time(o).unwrap();
                }
                let _ = s.verify(u64::MAX, &mut u64::MAX.clone()).unwrap();
                s.for_each_header(|_| {}).unwrap();
            }
        }
    }

    #[test]
    fn lazy_checking_respects_the_budget() {
        let d = tempfile::tempdir().unwrap();
        let (s, pos) = filled(d.path(), 0, 200);
        drop(s);
        let (mut s, _) = Segment::open(d.path(), 0, false, false, INTERVAL, 0).unwrap();
        let mut budget = 500;
        assert_eq!(s.locate(399, &mut budget).unwrap(), Located::Pending);
        assert_eq!(budget, 0);
        let mut rounds = 0;
        loop {
            rounds += 1;
            let mut budget = 500;
            match s.locate(399, &mut budget).unwrap() {
                Located::Pending => continue,
                Located::At(p) => {
                    assert_eq!(p, pos[199]);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(rounds > 10, "checked a bounded amount per call ({rounds} rounds)");
        assert!(!s.has_unverified());
    }
}
