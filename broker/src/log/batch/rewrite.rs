//! Rewriting a stored batch with a subset of its records, as the log cleaner does (Kafka's
//! `MemoryRecords.filterTo`): below `log::cleaner::filter`, pure functions on bytes.
//!
//! A rewritten batch keeps the original's base offset, lastOffsetDelta (so the offsets of
//! the kept records and the batch's offset range are unchanged: consumers see gaps),
//! partition leader epoch, attributes (codec, timestamp type, transactional, control),
//! producer id, epoch and base sequence; its records count, length, timestamps and CRC are
//! recomputed. Its first timestamp is the first kept record's (a LogAppendTime batch's
//! records all read as its max timestamp, as Kafka's readers see them). An *empty* batch
//! (no records, codec none, as Kafka's `writeEmptyHeader`) keeps a producer's last batch
//! when all its records are gone, so producer state can be rebuilt from the log.

use std::borrow::Cow;

use super::*;

/// One record of a batch, borrowed from the (decompressed) records body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord<'a> {
    pub attributes: u8,
    /// Absolute timestamp, as a reader of the batch sees it.
    pub timestamp: i64,
    pub offset_delta: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// The header count and the headers, as stored.
    pub headers: &'a [u8],
}

impl RawRecord<'_> {
    pub fn offset(&self, h: &BatchHeader) -> i64 {
        h.base_offset + self.offset_delta
    }
}

/// The records body of a whole batch, decompressed when needed (bounded by the codec's
/// `MAX_DECOMPRESSED`).
pub fn body(batch: &[u8]) -> Result<(BatchHeader, Cow<'_, [u8]>), BatchError> {
    let h = parse_header(batch).ok_or_else(|| BatchError::Corrupt("truncated batch header".into()))?;
    if h.total_size() > batch.len() || h.total_size() < HEADER_LEN {
        return Err(BatchError::Corrupt("truncated batch".into()));
    }
    let payload = &batch[HEADER_LEN..h.total_size()];
    if h.compression() == 0 {
        return Ok((h, Cow::Borrowed(payload)));
    }
    Ok((h, Cow::Owned(decompress(h.compression(), payload)?)))
}

/// Parses every record of a decompressed body; at most `records_count` of them.
pub fn raw_records<'a>(h: &BatchHeader, body: &'a [u8]) -> Result<Vec<RawRecord<'a>>, BatchError> {
    let bad = || BatchError::InvalidRecord("malformed record".into());
    let log_append = h.attributes & 0x08 != 0;
    // The count bounds what is allocated up front; each record takes at least 7 bytes.
    let mut out = Vec::with_capacity((h.records_count.max(0) as usize).min(body.len() / 7 + 1));
    let mut c = Cursor { b: body, pos: 0 };
    while c.pos < body.len() {
        let len = c.varlong().ok_or_else(bad)?;
        if len < 0 || (body.len() - c.pos) < len as usize {
            return Err(bad());
        }
        let end = c.pos + len as usize;
        let mut r = Cursor { b: &body[..end], pos: c.pos };
        let field = |r: &mut Cursor<'a>| -> Option<Option<&'a [u8]>> {
            let n = r.varlong()?;
            if n < 0 {
                return Some(None);
            }
            let start = r.pos;
            r.skip(n)?;
            Some(Some(&r.b[start..r.pos]))
        };
        let rec = (|| -> Option<RawRecord<'a>> {
            let attributes = *r.b.get(r.pos)?;
            r.pos += 1;
            let td = r.varlong()?;
            let od = r.varlong()?;
            let key = field(&mut r)?;
            let value = field(&mut r)?;
            let headers = &r.b[r.pos..end];
            let timestamp = if log_append { h.max_timestamp } else { h.first_timestamp.wrapping_add(td) };
            Some(RawRecord { attributes, timestamp, offset_delta: od, key, value, headers })
        })()
        .ok_or_else(bad)?;
        if out.len() >= h.records_count.max(0) as usize {
            return Err(BatchError::InvalidRecord(format!("batch says {} records, found more", h.records_count)));
        }
        out.push(rec);
        c.pos = end;
    }
    Ok(out)
}

/// Whether any record of a whole (validated) batch has a null key. Control batches have
/// keys by construction and are not looked at.
pub fn has_keyless_record(batch: &[u8]) -> Result<bool, BatchError> {
    let (h, body) = body(batch)?;
    if h.is_control() {
        return Ok(false);
    }
    Ok(raw_records(&h, &body)?.iter().any(|r| r.key.is_none()))
}

/// The batch `h` rewritten with only `kept` (records of that batch, in order, at least
/// one). See the module docs for what is kept and what is recomputed.
pub fn rebuild(h: &BatchHeader, kept: &[RawRecord]) -> Result<Vec<u8>, BatchError> {
    let Some(first) = kept.first() else { return Ok(empty_batch(h)) };
    let log_append = h.attributes & 0x08 != 0;
    let first_ts = first.timestamp;
    let mut recs = Vec::new();
    let mut max_ts = i64::MIN;
    for k in kept {
        let mut r = vec![k.attributes];
        put_varlong(&mut r, k.timestamp.wrapping_sub(first_ts));
        put_varlong(&mut r, k.offset_delta);
        for f in [k.key, k.value] {
            match f {
                Some(b) => {
                    put_varlong(&mut r, b.len() as i64);
                    r.extend_from_slice(b);
                }
                None => put_varlong(&mut r, -1),
            }
        }
        r.extend_from_slice(k.headers);
        put_varlong(&mut recs, r.len() as i64);
        recs.extend_from_slice(&r);
        max_ts = max_ts.max(k.timestamp);
    }
    let max_ts = if log_append { h.max_timestamp } else { max_ts };
    let payload = if h.compression() == 0 { recs } else { compress(h.compression(), &recs)? };
    Ok(header_and(h, first_ts, max_ts, kept.len() as i32, h.attributes, &payload))
}

/// A batch with no records standing for `h`'s offset range and producer fields (Kafka keeps
/// one for a producer's last batch): codec none, both timestamps the batch's max timestamp.
pub fn empty_batch(h: &BatchHeader) -> Vec<u8> {
    header_and(h, h.max_timestamp, h.max_timestamp, 0, h.attributes & !0x7, &[])
}

fn header_and(h: &BatchHeader, first_ts: i64, max_ts: i64, count: i32, attributes: i16, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER_LEN + payload.len());
    b.extend_from_slice(&h.base_offset.to_be_bytes());
    b.extend_from_slice(&((HEADER_LEN - LOG_OVERHEAD + payload.len()) as i32).to_be_bytes());
    b.extend_from_slice(&h.leader_epoch.to_be_bytes());
    b.push(2);
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&attributes.to_be_bytes());
    b.extend_from_slice(&h.last_offset_delta.to_be_bytes());
    b.extend_from_slice(&first_ts.to_be_bytes());
    b.extend_from_slice(&max_ts.to_be_bytes());
    b.extend_from_slice(&h.producer_id.to_be_bytes());
    b.extend_from_slice(&h.producer_epoch.to_be_bytes());
    b.extend_from_slice(&h.base_sequence.to_be_bytes());
    b.extend_from_slice(&count.to_be_bytes());
    b.extend_from_slice(payload);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}
