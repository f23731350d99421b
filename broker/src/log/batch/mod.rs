//! Record batches (magic 2), the unit the log stores, validates and serves.
//!
//! The layout, the header parser, splitting and the codecs live in the `kafka-wire` crate
//! (`kafka_wire::batch`, `kafka_wire::compression`), shared with the tools; this module
//! adds what only the broker does, as pure functions on bytes: validation for Produce and
//! for recovery, offset assignment, recompression, reading records back (group loading)
//! and building the batches the broker writes itself.

use std::io::Read;

mod compression;
pub mod control;
pub mod rewrite;
#[cfg(test)]
pub mod tests;

pub use compression::{compress, decompress, recompress};
use kafka_wire::compression::MAX_DECOMPRESSED;
pub use kafka_wire::batch::{crc_ok, parse_header, split, BatchHeader, HEADER_LEN, LOG_OVERHEAD};

/// Why a batch is refused; maps to Kafka error codes in the Produce handler.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// CORRUPT_MESSAGE (2): bad CRC, bad lengths, truncated data.
    #[error("corrupt record batch: {0}")]
    Corrupt(String),
    /// MESSAGE_TOO_LARGE (10).
    #[error("record batch of {0} bytes exceeds the maximum {1}")]
    TooLarge(usize, i64),
    /// INVALID_RECORD (87): well-formed but inconsistent records.
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// A magic other than 2. UNSUPPORTED_FOR_MESSAGE_FORMAT (43) where the log meets it; the
    /// Produce handler answers INVALID_RECORD for it, as Kafka 2.5's validateRecords.
    #[error("unsupported magic {0}")]
    Magic(i8),
    /// UNSUPPORTED_COMPRESSION_TYPE (76).
    #[error("unsupported compression codec {0}")]
    Compression(i16),
}

/// Summary of a validated Produce payload.
#[derive(Debug, Clone, Default)]
pub struct Validated {
    /// Number of offsets the payload occupies (sum of lastOffsetDelta + 1).
    pub offsets: i64,
    pub batches: usize,
    pub max_timestamp: i64,
    pub records: i64,
}

/// Validates a Produce request's records field: whole magic-2 batches, CRCs, sizes, record
/// structure (decompressing when needed).
pub fn validate_produce(records: &[u8], max_batch_bytes: i64) -> Result<Validated, BatchError> {
    let mut v = Validated { max_timestamp: -1, ..Default::default() };
    let mut pos = 0usize;
    if records.is_empty() {
        return Err(BatchError::Corrupt("empty record set".into()));
    }
    while pos < records.len() {
        let rest = &records[pos..];
        if rest.len() < 17 {
            return Err(BatchError::Corrupt("truncated batch header".into()));
        }
        let magic = rest[16] as i8;
        if magic != 2 {
            return Err(BatchError::Magic(magic));
        }
        let h = parse_header(rest).ok_or_else(|| BatchError::Corrupt("truncated batch header".into()))?;
        if h.batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
            return Err(BatchError::Corrupt(format!("batch length {} too small", h.batch_length)));
        }
        let size = h.total_size();
        if size > rest.len() {
            return Err(BatchError::Corrupt(format!("batch of {size} bytes but only {} left", rest.len())));
        }
        if max_batch_bytes >= 0 && size as i64 > max_batch_bytes {
            return Err(BatchError::TooLarge(size, max_batch_bytes));
        }
        let batch = &rest[..size];
        if crc32c::crc32c(&batch[21..]) != h.crc {
            return Err(BatchError::Corrupt("CRC mismatch".into()));
        }
        if h.records_count < 0 || h.last_offset_delta < 0 {
            return Err(BatchError::InvalidRecord("negative record count or offset delta".into()));
        }
        // Kafka 2.5's LogValidator: markers come from the coordinator only, and a
        // transactional batch needs the producer id its transaction belongs to.
        if h.is_control() {
            return Err(BatchError::InvalidRecord("Clients are not allowed to write control records".into()));
        }
        if h.is_transactional() && h.producer_id < 0 {
            return Err(BatchError::InvalidRecord("A transactional record batch must have a producer id".into()));
        }
        let n = validate_records(&h, &batch[HEADER_LEN..])?;
        if !h.is_control() && n == 0 {
            return Err(BatchError::InvalidRecord("batch without records".into()));
        }
        v.offsets += h.last_offset_delta as i64 + 1;
        v.records += n;
        v.batches += 1;
        v.max_timestamp = v.max_timestamp.max(h.max_timestamp);
        pos += size;
    }
    Ok(v)
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn varlong(&mut self) -> Option<i64> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let byte = *self.b.get(self.pos)?;
            self.pos += 1;
            v |= ((byte & 0x7f) as u64) << (7 * i);
            if byte & 0x80 == 0 {
                return Some(((v >> 1) as i64) ^ -((v & 1) as i64));
            }
        }
        None
    }
    fn skip(&mut self, n: i64) -> Option<()> {
        if n < 0 {
            return Some(());
        }
        let n = usize::try_from(n).ok()?;
        if self.b.len() - self.pos < n {
            return None;
        }
        self.pos += n;
        Some(())
    }
}

/// Walks the records of one batch; returns how many there are.
fn validate_records(h: &BatchHeader, payload: &[u8]) -> Result<i64, BatchError> {
    // gzip, lz4 and zstd are validated as they stream out of the decoder: a batch that
    // expands to hundreds of megabytes is never held in memory (Kafka streams them too).
    // Snappy blocks are bounded by 32 times their size and are decompressed whole.
    if let Some(reader) = kafka_wire::compression::stream(h.compression(), payload)? {
        return validate_stream(h, reader);
    }
    let data;
    let body: &[u8] = if h.compression() == 0 {
        payload
    } else {
        data = decompress(h.compression(), payload)?;
        &data
    };
    let bad = |m: &str| BatchError::InvalidRecord(m.to_string());
    let mut c = Cursor { b: body, pos: 0 };
    let mut n: i64 = 0;
    while c.pos < body.len() {
        let len = c.varlong().ok_or_else(|| bad("bad record length"))?;
        if len < 0 || (body.len() - c.pos) < len as usize {
            return Err(bad("record length beyond batch"));
        }
        let end = c.pos + len as usize;
        let mut r = Cursor { b: &body[..end], pos: c.pos };
        let parse = (|| -> Option<i64> {
            r.skip(1)?; // attributes
            r.varlong()?; // timestamp delta
            let od = r.varlong()?;
            let kl = r.varlong()?;
            r.skip(kl)?;
            let vl = r.varlong()?;
            r.skip(vl)?;
            let hc = r.varlong()?;
            if hc < 0 {
                return None;
            }
            for _ in 0..hc {
                let hk = r.varlong()?;
                if hk < 0 {
                    return None;
                }
                r.skip(hk)?;
                let hv = r.varlong()?;
                r.skip(hv)?;
            }
            Some(od)
        })();
        let od = parse.ok_or_else(|| bad("malformed record"))?;
        if r.pos != end {
            return Err(bad("record has trailing bytes"));
        }
        if od != n {
            return Err(bad("offset deltas are not sequential"));
        }
        n += 1;
        c.pos = end;
    }
    if n != h.records_count as i64 {
        return Err(bad(&format!("batch says {} records, found {n}", h.records_count)));
    }
    if n > 0 && h.last_offset_delta as i64 != n - 1 {
        return Err(bad("lastOffsetDelta does not match the records"));
    }
    Ok(n)
}

/// `validate_records` for a decompressing reader: the same checks, record by record, with
/// no more than a read buffer in memory. At most `MAX_DECOMPRESSED` bytes are read (a bound
/// on the CPU a batch may cost).
fn validate_stream<R: Read>(h: &BatchHeader, reader: R) -> Result<i64, BatchError> {
    let bad = |m: &str| BatchError::InvalidRecord(m.to_string());
    let mut src = std::io::BufReader::with_capacity(64 * 1024, reader.take(MAX_DECOMPRESSED));
    let mut n: i64 = 0;
    loop {
        let len = match read_varlong(&mut src, true) {
            Ok(Some(v)) => v,
            Ok(None) => break, // the end, at a record boundary
            Err(e) => return Err(e),
        };
        if len < 0 {
            return Err(bad("record length beyond batch"));
        }
        let mut r = (&mut src).take(len as u64);
        let parse = (|| -> Result<i64, BatchError> {
            skip(&mut r, 1)?; // attributes
            need(read_varlong(&mut r, false)?)?; // timestamp delta
            let od = need(read_varlong(&mut r, false)?)?;
            let kl = need(read_varlong(&mut r, false)?)?;
            skip(&mut r, kl)?;
            let vl = need(read_varlong(&mut r, false)?)?;
            skip(&mut r, vl)?;
            let hc = need(read_varlong(&mut r, false)?)?;
            if hc < 0 {
                return Err(bad("malformed record"));
            }
            for _ in 0..hc {
                let hk = need(read_varlong(&mut r, false)?)?;
                if hk < 0 {
                    return Err(bad("malformed record"));
                }
                skip(&mut r, hk)?;
                let hv = need(read_varlong(&mut r, false)?)?;
                skip(&mut r, hv)?;
            }
            Ok(od)
        })();
        let od = parse?;
        if r.limit() != 0 {
            return Err(bad("record has trailing bytes"));
        }
        if od != n {
            return Err(bad("offset deltas are not sequential"));
        }
        n += 1;
    }
    if n != h.records_count as i64 {
        return Err(bad(&format!("batch says {} records, found {n}", h.records_count)));
    }
    if n > 0 && h.last_offset_delta as i64 != n - 1 {
        return Err(bad("lastOffsetDelta does not match the records"));
    }
    Ok(n)
}

fn need(v: Option<i64>) -> Result<i64, BatchError> {
    v.ok_or_else(|| BatchError::InvalidRecord("malformed record".into()))
}

/// A zigzag varlong from a reader. `Ok(None)` at a clean end of input when `eof_ok`.
fn read_varlong<R: Read>(r: &mut R, eof_ok: bool) -> Result<Option<i64>, BatchError> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let mut byte = [0u8; 1];
        match r.read(&mut byte) {
            Ok(0) if i == 0 && eof_ok => return Ok(None),
            Ok(0) => return Err(BatchError::InvalidRecord("record length beyond batch".into())),
            Ok(_) => {}
            Err(e) => return Err(BatchError::Corrupt(format!("cannot decompress: {e}"))),
        }
        v |= u64::from(byte[0] & 0x7f) << (7 * i);
        if byte[0] & 0x80 == 0 {
            return Ok(Some(((v >> 1) as i64) ^ -((v & 1) as i64)));
        }
    }
    Err(BatchError::InvalidRecord("bad record length".into()))
}

/// Skips exactly `n` bytes (a negative `n` is a null key or value: nothing).
fn skip<R: Read>(r: &mut R, n: i64) -> Result<(), BatchError> {
    if n <= 0 {
        return Ok(());
    }
    let copied = std::io::copy(&mut r.take(n as u64), &mut std::io::sink())
        .map_err(|e| BatchError::Corrupt(format!("cannot decompress: {e}")))?;
    if copied != n as u64 {
        return Err(BatchError::InvalidRecord("malformed record".into()));
    }
    Ok(())
}

/// Assigns offsets: rewrites baseOffset and partitionLeaderEpoch (outside the CRC) of every
/// batch; with LogAppendTime also the timestamp type and maxTimestamp (and the CRC).
/// Returns the next offset.
pub fn assign_offsets(buf: &mut [u8], mut next: i64, leader_epoch: i32, log_append_time: Option<i64>) -> i64 {
    let mut pos = 0;
    while pos + HEADER_LEN <= buf.len() {
        let Some(h) = parse_header(&buf[pos..]) else { break };
        let size = h.total_size();
        if pos + size > buf.len() {
            break;
        }
        buf[pos..pos + 8].copy_from_slice(&next.to_be_bytes());
        buf[pos + 12..pos + 16].copy_from_slice(&leader_epoch.to_be_bytes());
        if let Some(now) = log_append_time {
            let attrs = h.attributes | 0x08;
            buf[pos + 21..pos + 23].copy_from_slice(&attrs.to_be_bytes());
            buf[pos + 35..pos + 43].copy_from_slice(&now.to_be_bytes());
            let crc = crc32c::crc32c(&buf[pos + 21..pos + size]);
            buf[pos + 17..pos + 21].copy_from_slice(&crc.to_be_bytes());
        }
        next += h.last_offset_delta as i64 + 1;
        pos += size;
    }
    next
}

/// One record of a batch, as read back (the group coordinator loads its state this way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

/// The records of one whole batch (decompressed as needed). Control batches give none.
pub fn records(batch: &[u8]) -> Result<Vec<Record>, BatchError> {
    let h = parse_header(batch).ok_or_else(|| BatchError::Corrupt("truncated batch header".into()))?;
    if h.total_size() > batch.len() || h.total_size() < HEADER_LEN {
        return Err(BatchError::Corrupt("truncated batch".into()));
    }
    if h.is_control() {
        return Ok(Vec::new());
    }
    let body = decompress(h.compression(), &batch[HEADER_LEN..h.total_size()])?;
    let bad = || BatchError::InvalidRecord("malformed record".into());
    let mut out = Vec::new();
    let mut c = Cursor { b: &body, pos: 0 };
    while c.pos < body.len() {
        let len = c.varlong().ok_or_else(bad)?;
        if len < 0 || (body.len() - c.pos) < len as usize {
            return Err(bad());
        }
        let end = c.pos + len as usize;
        let mut r = Cursor { b: &body[..end], pos: c.pos };
        let bytes = |r: &mut Cursor| -> Option<Option<Vec<u8>>> {
            let n = r.varlong()?;
            if n < 0 {
                return Some(None);
            }
            let start = r.pos;
            r.skip(n)?;
            Some(Some(r.b[start..r.pos].to_vec()))
        };
        let rec = (|| -> Option<Record> {
            r.skip(1)?;
            let td = r.varlong()?;
            let od = r.varlong()?;
            let key = bytes(&mut r)?;
            let value = bytes(&mut r)?;
            Some(Record { offset: h.base_offset + od, timestamp: h.first_timestamp + td, key, value })
        })()
        .ok_or_else(bad)?;
        out.push(rec);
        c.pos = end;
    }
    Ok(out)
}

fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        if z < 0x80 {
            out.push(z as u8);
            return;
        }
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
}

/// Builds an uncompressed magic-2 batch of (key, value) records, all at `timestamp`, without
/// producer id (what the broker itself writes, e.g. to `__consumer_offsets`).
pub fn build(records: &[(Option<&[u8]>, Option<&[u8]>)], timestamp: i64) -> Vec<u8> {
    let mut recs = Vec::new();
    for (i, (k, v)) in records.iter().enumerate() {
        let mut r = vec![0u8];
        put_varlong(&mut r, 0);
        put_varlong(&mut r, i as i64);
        for f in [k, v] {
            match f {
                Some(b) => {
                    put_varlong(&mut r, b.len() as i64);
                    r.extend_from_slice(b);
                }
                None => put_varlong(&mut r, -1),
            }
        }
        put_varlong(&mut r, 0);
        put_varlong(&mut recs, r.len() as i64);
        recs.extend_from_slice(&r);
    }
    let n = records.len() as i32;
    let mut b = Vec::with_capacity(HEADER_LEN + recs.len());
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&((HEADER_LEN - LOG_OVERHEAD + recs.len()) as i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    b.push(2);
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&0i16.to_be_bytes());
    b.extend_from_slice(&(n - 1).max(0).to_be_bytes());
    b.extend_from_slice(&timestamp.to_be_bytes());
    b.extend_from_slice(&timestamp.to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes());
    b.extend_from_slice(&(-1i16).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.extend_from_slice(&n.to_be_bytes());
    b.extend_from_slice(&recs);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}
