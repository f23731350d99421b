//! Integrity checks of a segment's bytes (rules in `segment`'s docs): the buffered scanner
//! behind recovery, lazy verification and scrubbing, and locating a batch by offset
//! without serving damage. Below `partition_log`, beside `index`.

use super::*;

/// What a check of the bytes at one position found.
pub(super) enum Check {
    Valid(BatchHeader, u64),
    /// Not a valid batch, but its length leads to a valid batch or to the end of the file.
    Skip(u64, String),
    /// Nothing readable from here to the end of the file.
    Broken(String),
}

/// A valid batch and its size, or why not: with the size when its length is plausible.
pub(super) type BatchAt = Result<(BatchHeader, u64), (Option<u64>, String)>;

/// Buffered positional reads (one read per MiB while scanning, not one per batch).
pub(super) struct Reader<'a> {
    file: &'a File,
    size: u64,
    buf: Vec<u8>,
    at: u64,
}

impl<'a> Reader<'a> {
    pub(super) fn new(file: &'a File, size: u64) -> Reader<'a> {
        Reader { file, size, buf: Vec::new(), at: 0 }
    }

    /// Bytes [pos, pos + len) (len <= CHUNK); None when they are not all in the file.
    pub(super) fn get(&mut self, pos: u64, len: usize) -> io::Result<Option<&[u8]>> {
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
    pub(super) fn crc(&mut self, from: u64, to: u64) -> io::Result<Option<u32>> {
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
    pub(super) fn batch_at(&mut self, pos: u64, expect: i64, crc: bool) -> io::Result<BatchAt> {
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

    pub(super) fn check(&mut self, pos: u64, expect: i64, crc: bool) -> io::Result<Check> {
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
pub(super) struct Scanned {
    pub(super) end: u64,
    pub(super) expect: i64,
    pub(super) damage: Vec<Damage>,
}

/// Checks batches from `from` (a batch boundary whose batch starts at offset >= `expect`) on,
/// until at least `until` (whole batches, and never stopping inside damage), calling
/// `on_batch(header, position, size)` for every valid one.
pub(super) fn scan(
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
    /// Scans the whole segment with CRCs: rebuilds the indexes and the damage list; with
    /// `cut_tail`, damage that runs to the end of the file is cut off (a torn write).
    pub(super) fn scan_all(&mut self, index_interval: i64, cut_tail: bool) -> io::Result<i64> {
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

    pub(super) fn report(&self, d: &Damage) {
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
}
