//! The legacy message sets (magic 0 and 1) that old clients send in Produce v0-2 and read in
//! Fetch v0-3, and their conversion to and from the magic-2 batches the log stores. Pure
//! functions on bytes; the broker's Produce path calls [`parse`] + [`to_batch`] before
//! its usual magic-2 validation and append, its Fetch path calls [`down_convert`] on the
//! bytes read from the log.
//!
//! Layout (big-endian), as Kafka's LegacyRecord:
//! ```text
//! offset i64, message_size i32, then the message (message_size bytes):
//!   crc u32 (CRC-32/IEEE of the bytes from magic to the end), magic i8 (0 or 1),
//!   attributes i8 (bits 0-2 codec: 0 none, 1 gzip, 2 snappy, 3 lz4; bit 3 LogAppendTime),
//!   timestamp i64 (magic 1 only), key bytes (i32 length, -1 = null), value bytes (likewise)
//! ```
//! A compressed message (a "wrapper") holds, as its value, a whole inner message set
//! compressed with its codec. In magic 0 the inner offsets are absolute; in magic 1 they are
//! relative (0, 1, ...) and the wrapper's offset is the absolute offset of the last inner
//! message. A wrapper's inner messages are never compressed themselves.
//!
//! Rules, as Kafka 2.5's LogValidator applies them to a produce of a magic < 2 set:
//! CRC mismatch (outer or inner), a message shorter than its minimum, a truncated set:
//! [`LegacyError::Corrupt`] (CORRUPT_MESSAGE). A compressed set with more than one
//! message, an inner message with a compression codec, an inner magic different from the
//! wrapper's, magic-1 inner offsets that are not 0, 1, 2, ...: [`LegacyError::Invalid`]
//! (INVALID_RECORD). A magic-1 message claiming LogAppendTime:
//! [`LegacyError::InvalidTimestamp`] (INVALID_TIMESTAMP).
//!
//! LZ4 in magic 0: Kafka's KafkaLZ4BlockOutputStream computes the frame header checksum over
//! the wrong bytes (the 4-byte frame magic included) for magic 0, and its reader ignores that
//! checksum for magic 0; so here a magic-0 LZ4 wrapper's header checksum is set right before
//! decompressing, and a down-converted magic-0 LZ4 wrapper gets Kafka's "broken" one.
//!
//! Nothing here trusts a length: every size is checked against the bytes present before
//! anything is sliced, decompression goes through [`crate::compression`] (bounded by
//! `MAX_DECOMPRESSED`), and there is only one level of nesting (an inner compressed message
//! is refused, not opened).

use crate::batch::{self, HEADER_LEN};
use crate::compression::{self, CodecError};

/// Bytes of offset + message_size in front of each message.
pub const LOG_OVERHEAD: usize = 12;
/// crc + magic + attributes + key length + value length.
pub const MIN_MESSAGE_V0: usize = 14;
/// ... plus the timestamp.
pub const MIN_MESSAGE_V1: usize = 22;
/// "No timestamp", as Kafka's RecordBatch.NO_TIMESTAMP.
pub const NO_TIMESTAMP: i64 = -1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegacyError {
    /// CORRUPT_MESSAGE (2).
    #[error("{0}")]
    Corrupt(String),
    /// INVALID_RECORD (87).
    #[error("{0}")]
    Invalid(String),
    /// INVALID_TIMESTAMP (32).
    #[error("{0}")]
    InvalidTimestamp(String),
    /// UNSUPPORTED_COMPRESSION_TYPE (76): e.g. zstd, which magic 0 and 1 cannot carry.
    #[error("unsupported compression codec {0}")]
    Compression(i16),
}

impl From<CodecError> for LegacyError {
    fn from(e: CodecError) -> Self {
        match e {
            CodecError::Unsupported(c) => LegacyError::Compression(c),
            CodecError::Corrupt(m) => LegacyError::Corrupt(m),
        }
    }
}

/// One message as it stands on the wire (a shallow entry, or an inner one of a wrapper).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    pub offset: i64,
    pub magic: i8,
    pub attributes: i8,
    /// NO_TIMESTAMP for magic 0.
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
}

impl Message<'_> {
    pub fn codec(&self) -> i16 {
        (self.attributes & 0x7) as i16
    }
    pub fn log_append_time(&self) -> bool {
        self.magic > 0 && self.attributes & 0x08 != 0
    }
}

/// A record taken out of a legacy set, ready for a magic-2 batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyRecord {
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

/// What a produced legacy set holds, after Kafka 2.5's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub magic: i8,
    /// The producer's codec (the wrapper's), 0 for an uncompressed set.
    pub codec: i16,
    pub records: Vec<LegacyRecord>,
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn be_i64(b: &[u8], at: usize) -> Option<i64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(i64::from_be_bytes(a))
}

/// Reads a length-prefixed byte field at `at`; returns it and the position after it.
fn bytes_field(b: &[u8], at: usize) -> Result<(Option<&[u8]>, usize), LegacyError> {
    let n = be_i32(b, at).ok_or_else(|| LegacyError::Corrupt("truncated message".into()))?;
    let start = at + 4;
    if n == -1 {
        return Ok((None, start));
    }
    if n < 0 {
        return Err(LegacyError::Corrupt(format!("negative field length {n}")));
    }
    let end = start.checked_add(n as usize).filter(|e| *e <= b.len());
    let end = end.ok_or_else(|| LegacyError::Corrupt("a field runs past its message".into()))?;
    Ok((b.get(start..end), end))
}

/// Parses one message body (crc onwards, exactly `msg.len()` bytes), checking its CRC.
fn message(offset: i64, msg: &[u8]) -> Result<Message<'_>, LegacyError> {
    let corrupt = |m: &str| LegacyError::Corrupt(m.to_string());
    if msg.len() < MIN_MESSAGE_V0 {
        return Err(corrupt("message smaller than the minimum message overhead"));
    }
    let crc = be_i32(msg, 0).ok_or_else(|| corrupt("truncated message"))? as u32;
    if crc32fast::hash(&msg[4..]) != crc {
        return Err(LegacyError::Corrupt(format!("message at offset {offset} is corrupt (CRC mismatch)")));
    }
    let magic = msg[4] as i8;
    let attributes = msg[5] as i8;
    let (timestamp, at) = match magic {
        0 => (NO_TIMESTAMP, 6),
        1 => {
            if msg.len() < MIN_MESSAGE_V1 {
                return Err(corrupt("message smaller than the minimum message overhead"));
            }
            (be_i64(msg, 6).ok_or_else(|| corrupt("truncated message"))?, 14)
        }
        m => return Err(LegacyError::Corrupt(format!("invalid magic {m} in a legacy message set"))),
    };
    let (key, at) = bytes_field(msg, at)?;
    let (value, at) = bytes_field(msg, at)?;
    if at != msg.len() {
        return Err(corrupt("message size does not match its fields"));
    }
    Ok(Message { offset, magic, attributes, timestamp, key, value })
}

/// Splits a message set into its messages (not opening wrappers). `Err` on any truncation:
/// a produced set must be whole.
pub fn shallow(data: &[u8]) -> Result<Vec<Message<'_>>, LegacyError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        let offset = be_i64(data, pos).ok_or_else(|| LegacyError::Corrupt("truncated message set".into()))?;
        let size = be_i32(data, pos + 8).ok_or_else(|| LegacyError::Corrupt("truncated message set".into()))?;
        if size < MIN_MESSAGE_V0 as i32 {
            return Err(LegacyError::Corrupt(format!("message size {size} is less than the minimum message overhead")));
        }
        let start = pos + LOG_OVERHEAD;
        let end = start.checked_add(size as usize).filter(|e| *e <= data.len());
        let end = end.ok_or_else(|| LegacyError::Corrupt("truncated message set".into()))?;
        out.push(message(offset, &data[start..end])?);
        pos = end;
    }
    Ok(out)
}

/// Parses a produced legacy set (magic 0 or 1, all messages the same magic) under Kafka
/// 2.5's rules (see the module docs). Inner CRCs are checked too.
pub fn parse(data: &[u8]) -> Result<Parsed, LegacyError> {
    let outer = shallow(data)?;
    let Some(first) = outer.first() else {
        return Err(LegacyError::Invalid("Record batch has no batches at all".into()));
    };
    let magic = first.magic;
    if let Some(m) = outer.iter().find(|m| m.magic != magic) {
        return Err(LegacyError::Invalid(format!("Batch magic {} is not the same as the first batch'es magic byte {magic}", m.magic)));
    }
    if outer.iter().any(|m| m.log_append_time()) {
        return Err(LegacyError::InvalidTimestamp(
            "Invalid timestamp type in message. Producer should not set timestamp type to LogAppendTime.".into(),
        ));
    }
    // The set's codec is the last compressed message's, as Kafka's Log.analyzeAndValidateRecords.
    let codec = outer.iter().rev().map(Message::codec).find(|c| *c != 0).unwrap_or(0);
    if codec == 0 {
        let records = outer.iter().map(|m| LegacyRecord { timestamp: m.timestamp, key: m.key.map(<[u8]>::to_vec), value: m.value.map(<[u8]>::to_vec) }).collect();
        return Ok(Parsed { magic, codec, records });
    }
    if outer.len() != 1 {
        return Err(LegacyError::Invalid("Compressed outer record has more than one batch".into()));
    }
    if codec > compression::LZ4 {
        return Err(LegacyError::Compression(codec));
    }
    let wrapper = first;
    let payload = wrapper.value.unwrap_or_default();
    let inner_bytes = if codec == compression::LZ4 && magic == 0 {
        compression::decompress(codec, &lz4_header_checksum(payload, false))?
    } else {
        compression::decompress(codec, payload)?
    };
    let inner = shallow(&inner_bytes)?;
    let mut records = Vec::with_capacity(inner.len());
    for (i, m) in inner.iter().enumerate() {
        if m.codec() != 0 {
            return Err(LegacyError::Invalid("Compressed outer record should not have an inner record with a compression attribute set".into()));
        }
        if m.magic != magic {
            return Err(LegacyError::Invalid(format!("Record's magic {} does not match outer magic {magic}", m.magic)));
        }
        if magic > 0 && m.offset != i as i64 {
            return Err(LegacyError::Invalid(format!(
                "Inner record inside the compressed record batch does not have incremental offsets, expected offset is {i}"
            )));
        }
        records.push(LegacyRecord { timestamp: m.timestamp, key: m.key.map(<[u8]>::to_vec), value: m.value.map(<[u8]>::to_vec) });
    }
    if records.is_empty() {
        return Err(LegacyError::Invalid("Compressed message set without messages".into()));
    }
    Ok(Parsed { magic, codec, records })
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Builds one magic-2 batch (base offset 0, no producer id, CreateTime) holding `records`,
/// compressed with `codec`: what a legacy produce is stored as (the log then assigns
/// offsets and, for a LogAppendTime topic, the time). A record without a timestamp keeps
/// NO_TIMESTAMP (-1), as Kafka 2.5 stores magic-0 data.
pub fn to_batch(records: &[LegacyRecord], codec: i16) -> Result<Vec<u8>, LegacyError> {
    if records.is_empty() {
        return Err(LegacyError::Invalid("no records".into()));
    }
    let first_ts = records.first().map(|r| r.timestamp).unwrap_or(NO_TIMESTAMP);
    let max_ts = records.iter().map(|r| r.timestamp).max().unwrap_or(NO_TIMESTAMP);
    let mut body = Vec::new();
    let mut rec = Vec::new();
    for (i, r) in records.iter().enumerate() {
        rec.clear();
        rec.push(0); // attributes
        put_varint(&mut rec, r.timestamp.wrapping_sub(first_ts));
        put_varint(&mut rec, i as i64);
        for f in [&r.key, &r.value] {
            match f {
                Some(b) => {
                    put_varint(&mut rec, b.len() as i64);
                    rec.extend_from_slice(b);
                }
                None => put_varint(&mut rec, -1),
            }
        }
        put_varint(&mut rec, 0); // headers
        put_varint(&mut body, rec.len() as i64);
        body.extend_from_slice(&rec);
    }
    let payload = compression::compress(codec, &body)?;
    let count = i32::try_from(records.len()).map_err(|_| LegacyError::Invalid("too many records".into()))?;
    let len = i32::try_from(HEADER_LEN - batch::LOG_OVERHEAD + payload.len()).map_err(|_| LegacyError::Invalid("batch too large".into()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&0i64.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
    out.push(2);
    out.extend_from_slice(&[0; 4]); // crc, below
    out.extend_from_slice(&(codec & 0x7).to_be_bytes());
    out.extend_from_slice(&(count - 1).to_be_bytes());
    out.extend_from_slice(&first_ts.to_be_bytes());
    out.extend_from_slice(&max_ts.to_be_bytes());
    out.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    out.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    out.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&payload);
    let crc = crc32c::crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok(out)
}

/// Rewrites an LZ4 frame's header checksum byte: the standard one (xxHash32 of the frame
/// descriptor, second byte) or, `broken`, Kafka's magic-0 one (over the frame magic too).
/// Bytes that are not an LZ4 frame header come back unchanged (decompression then fails).
pub fn lz4_header_checksum(frame: &[u8], broken: bool) -> Vec<u8> {
    let mut out = frame.to_vec();
    let Some(&flg) = frame.get(4) else { return out };
    let hc_at = 6 + if flg & 0x08 != 0 { 8 } else { 0 } + if flg & 0x01 != 0 { 4 } else { 0 };
    let from = if broken { 0 } else { 4 };
    if let (Some(desc), true) = (frame.get(from..hc_at), frame.starts_with(&[0x04, 0x22, 0x4d, 0x18])) {
        let hc = (twox_hash::XxHash32::oneshot(0, desc) >> 8) as u8;
        if let Some(b) = out.get_mut(hc_at) {
            *b = hc;
        }
    }
    out
}

/// A magic-2 record read back for down-conversion.
struct Record2 {
    offset: i64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn varint(&mut self) -> Option<i64> {
        let mut z: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.pos)?;
            self.pos += 1;
            z |= ((byte & 0x7f) as u64) << shift;
            if byte & 0x80 == 0 {
                return Some((z >> 1) as i64 ^ -((z & 1) as i64));
            }
        }
        None
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.b.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn field(&mut self) -> Option<Option<&'a [u8]>> {
        let n = self.varint()?;
        if n < 0 {
            return Some(None);
        }
        self.take(usize::try_from(n).ok()?).map(Some)
    }
}

/// The records of one whole magic-2 batch (decompressing it, bounded).
fn records2(h: &batch::BatchHeader, whole: &[u8]) -> Result<Vec<Record2>, LegacyError> {
    let payload = whole.get(HEADER_LEN..h.total_size()).ok_or_else(|| LegacyError::Corrupt("truncated batch".into()))?;
    let body = compression::decompress(h.compression(), payload)?;
    let log_append = h.attributes & 0x08 != 0;
    let mut c = Cursor { b: &body, pos: 0 };
    let bad = || LegacyError::Corrupt("malformed record in a stored batch".to_string());
    let mut out = Vec::new();
    for _ in 0..h.records_count.max(0) {
        let len = usize::try_from(c.varint().ok_or_else(bad)?).map_err(|_| bad())?;
        let rec = c.take(len).ok_or_else(bad)?;
        let mut r = Cursor { b: rec, pos: 1 };
        let ts_delta = r.varint().ok_or_else(bad)?;
        let off_delta = r.varint().ok_or_else(bad)?;
        let key = r.field().ok_or_else(bad)?.map(<[u8]>::to_vec);
        let value = r.field().ok_or_else(bad)?.map(<[u8]>::to_vec);
        let timestamp = if log_append { h.max_timestamp } else { h.first_timestamp.wrapping_add(ts_delta) };
        out.push(Record2 { offset: h.base_offset.wrapping_add(off_delta), timestamp, key, value });
    }
    Ok(out)
}

fn put_message(out: &mut Vec<u8>, offset: i64, magic: i8, attributes: i8, timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>) {
    out.extend_from_slice(&offset.to_be_bytes());
    let size_at = out.len();
    out.extend_from_slice(&[0; 8]); // size, crc: below
    let crc_from = out.len();
    out.push(magic as u8);
    out.push(attributes as u8);
    if magic > 0 {
        out.extend_from_slice(&timestamp.to_be_bytes());
    }
    for f in [key, value] {
        match f {
            Some(b) => {
                out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                out.extend_from_slice(b);
            }
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    let size = (out.len() - size_at - 4) as i32;
    out[size_at..size_at + 4].copy_from_slice(&size.to_be_bytes());
    let crc = crc32fast::hash(&out[crc_from..]);
    out[size_at + 4..size_at + 8].copy_from_slice(&crc.to_be_bytes());
}

/// Encodes messages as a legacy set: one message per record (uncompressed), or one wrapper
/// holding them all compressed with `codec` (relative inner offsets in magic 1).
pub fn encode(records: &[(i64, i64, Option<&[u8]>, Option<&[u8]>)], magic: i8, codec: i16, log_append_time: Option<i64>) -> Result<Vec<u8>, LegacyError> {
    let ts_attr: i8 = if magic > 0 && log_append_time.is_some() { 0x08 } else { 0 };
    let ts = |t: i64| log_append_time.unwrap_or(t);
    let mut out = Vec::new();
    if codec == compression::NONE {
        for (off, t, k, v) in records {
            put_message(&mut out, *off, magic, ts_attr, ts(*t), *k, *v);
        }
        return Ok(out);
    }
    if codec > compression::LZ4 {
        return Err(LegacyError::Compression(codec));
    }
    let (Some(first), Some(last)) = (records.first(), records.last()) else { return Ok(out) };
    let mut inner = Vec::new();
    for (off, t, k, v) in records {
        let o = if magic > 0 { off.wrapping_sub(first.0) } else { *off };
        put_message(&mut inner, o, magic, ts_attr, ts(*t), *k, *v);
    }
    let mut z = compression::compress(codec, &inner)?;
    if codec == compression::LZ4 && magic == 0 {
        z = lz4_header_checksum(&z, true);
    }
    let wrapper_ts = log_append_time.unwrap_or_else(|| records.iter().map(|r| r.1).max().unwrap_or(NO_TIMESTAMP));
    put_message(&mut out, last.0, magic, ts_attr | codec as i8, wrapper_ts, None, Some(&z));
    Ok(out)
}

/// Down-converts whole magic-2 batches (as the log returns them; a partial last batch is
/// dropped) to a legacy set of `magic` (0 or 1), as Kafka 2.5's RecordsUtil.downConvert:
/// control batches are dropped; records of an uncompressed batch below `first_offset` are
/// dropped (a compressed batch keeps them all, clients skip them); each batch becomes one
/// wrapper with the batch's codec (or plain messages when uncompressed); headers are lost;
/// a LogAppendTime batch's records carry its time. Batches already at or below `magic` are
/// kept as they are. A zstd batch is [`LegacyError::Compression`].
pub fn down_convert(data: &[u8], magic: i8, first_offset: i64) -> Result<Vec<u8>, LegacyError> {
    let mut out = Vec::new();
    for whole in batch::split_bytes(bytes::Bytes::copy_from_slice(data)) {
        let stored_magic = whole.get(batch::MAGIC_OFFSET).map(|m| *m as i8).unwrap_or(-1);
        if stored_magic <= magic && stored_magic >= 0 {
            out.extend_from_slice(&whole);
            continue;
        }
        let Some(h) = batch::parse_header(&whole) else { continue };
        if h.is_control() {
            continue;
        }
        let recs = records2(&h, &whole)?;
        let compressed = h.compression() != compression::NONE;
        let kept: Vec<(i64, i64, Option<&[u8]>, Option<&[u8]>)> = recs
            .iter()
            .filter(|r| compressed || r.offset >= first_offset)
            .map(|r| (r.offset, if magic > 0 { r.timestamp } else { NO_TIMESTAMP }, r.key.as_deref(), r.value.as_deref()))
            .collect();
        if kept.is_empty() {
            continue;
        }
        let lat = if h.attributes & 0x08 != 0 { Some(h.max_timestamp) } else { None };
        out.extend_from_slice(&encode(&kept, magic, h.compression(), lat)?);
    }
    Ok(out)
}

/// The end of the last whole message of a legacy set that fits in `max` bytes (0 if none).
pub fn whole_prefix(data: &[u8], max: usize) -> usize {
    let mut pos = 0usize;
    while let Some(size) = be_i32(data, pos + 8) {
        let Some(end) = (pos + LOG_OVERHEAD).checked_add(size.max(0) as usize) else { break };
        if end > data.len() || end > max {
            break;
        }
        pos = end;
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A magic-0 message set of one message, key "k", value "v", offset 0, built from the
    /// spec by hand: size 16, crc, magic 0, attributes 0, key [0,0,0,1,'k'], value [0,0,0,1,'v'].
    fn v0_kv() -> Vec<u8> {
        let mut body = vec![0u8, 0, 0, 0, 0, 1, b'k', 0, 0, 0, 1, b'v'];
        let crc = crc32fast::hash(&body);
        let mut m = 0i64.to_be_bytes().to_vec();
        m.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        m.extend_from_slice(&crc.to_be_bytes());
        m.append(&mut body);
        m
    }

    #[test]
    fn crc32_is_ieee_and_the_encoder_matches_the_spec_bytes() {
        // CRC-32/IEEE check value.
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        let mut enc = Vec::new();
        put_message(&mut enc, 0, 0, 0, NO_TIMESTAMP, Some(b"k"), Some(b"v"));
        assert_eq!(enc, v0_kv());
        // Byte-exact magic-1 message: offset 5, timestamp 1000, null key, value "ab".
        let mut m1 = Vec::new();
        put_message(&mut m1, 5, 1, 0, 1000, None, Some(b"ab"));
        let mut expect = vec![0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 24];
        let body = [1u8, 0, 0, 0, 0, 0, 0, 0, 0x03, 0xe8, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, b'a', b'b'];
        expect.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
        expect.extend_from_slice(&body);
        assert_eq!(m1, expect);
    }

    #[test]
    fn parses_uncompressed_magic0_and_magic1() {
        let p = parse(&v0_kv()).unwrap();
        assert_eq!((p.magic, p.codec), (0, 0));
        assert_eq!(p.records, vec![LegacyRecord { timestamp: -1, key: Some(b"k".to_vec()), value: Some(b"v".to_vec()) }]);
        let set = encode(&[(0, 10, None, Some(b"a")), (1, 20, Some(b"x"), None)], 1, 0, None).unwrap();
        let p = parse(&set).unwrap();
        assert_eq!(p.magic, 1);
        assert_eq!(p.records.iter().map(|r| r.timestamp).collect::<Vec<_>>(), vec![10, 20]);
        assert_eq!(p.records[1].value, None);
    }

    #[test]
    fn parses_compressed_wrappers_of_every_legacy_codec() {
        for codec in [compression::GZIP, compression::SNAPPY, compression::LZ4] {
            for magic in [0i8, 1] {
                let set = encode(&[(0, 7, Some(b"k1"), Some(b"v1")), (1, 9, Some(b"k2"), Some(b"v2"))], magic, codec, None).unwrap();
                assert_eq!(shallow(&set).unwrap().len(), 1);
                let p = parse(&set).unwrap();
                assert_eq!((p.magic, p.codec, p.records.len()), (magic, codec, 2));
                assert_eq!(p.records[1].value.as_deref(), Some(&b"v2"[..]));
            }
        }
    }

    #[test]
    fn refuses_what_kafka_refuses() {
        // Bad CRC.
        let mut bad = v0_kv();
        bad[12] ^= 1;
        assert!(matches!(parse(&bad), Err(LegacyError::Corrupt(_))));
        // Truncated set, and a trailing partial message.
        let good = v0_kv();
        assert!(matches!(parse(&good[..good.len() - 1]), Err(LegacyError::Corrupt(_))));
        let mut two = good.clone();
        two.extend_from_slice(&good[..5]);
        assert!(matches!(parse(&two), Err(LegacyError::Corrupt(_))));
        // Hostile sizes: negative, below the minimum, larger than the set.
        for size in [-1i32, 3, i32::MAX] {
            let mut h = good.clone();
            h[8..12].copy_from_slice(&size.to_be_bytes());
            assert!(matches!(parse(&h), Err(LegacyError::Corrupt(_))), "size {size}");
        }
        // A key length past the end of the message (CRC recomputed so the fields are read).
        let mut body = vec![0u8, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0];
        let mut m = 0i64.to_be_bytes().to_vec();
        m.extend_from_slice(&16i32.to_be_bytes());
        m.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
        m.append(&mut body);
        assert!(matches!(parse(&m), Err(LegacyError::Corrupt(_))));
        // Magic 2 in a legacy set.
        let mut m2 = Vec::new();
        put_message(&mut m2, 0, 2, 0, 0, None, None);
        assert!(matches!(parse(&m2), Err(LegacyError::Corrupt(_))));
        // Empty set.
        assert!(matches!(parse(&[]), Err(LegacyError::Invalid(_))));
        // LogAppendTime from a producer.
        let lat = encode(&[(0, 5, None, Some(b"a"))], 1, 0, Some(9)).unwrap();
        assert!(matches!(parse(&lat), Err(LegacyError::InvalidTimestamp(_))));
        // Two compressed wrappers.
        let w = encode(&[(0, 1, None, Some(b"a"))], 1, compression::GZIP, None).unwrap();
        let mut ww = w.clone();
        ww.extend_from_slice(&w);
        assert!(matches!(parse(&ww), Err(LegacyError::Invalid(_))));
        // Mixed magic.
        let mut mixed = v0_kv();
        mixed.extend(encode(&[(1, 1, None, Some(b"a"))], 1, 0, None).unwrap());
        assert!(matches!(parse(&mixed), Err(LegacyError::Invalid(_))));
    }

    #[test]
    fn refuses_bad_wrappers() {
        // A wrapper whose inner message is itself compressed (nesting is refused, not opened).
        let inner = encode(&[(0, 1, None, Some(b"a"))], 1, compression::GZIP, None).unwrap();
        let mut inner0 = inner.clone();
        inner0[0..8].copy_from_slice(&0i64.to_be_bytes());
        let z = compression::compress(compression::GZIP, &inner0).unwrap();
        let mut nested = Vec::new();
        put_message(&mut nested, 0, 1, compression::GZIP as i8, 1, None, Some(&z));
        assert!(matches!(parse(&nested), Err(LegacyError::Invalid(_))));
        // Magic-1 inner offsets that do not count 0, 1, ...
        let mut inner = Vec::new();
        put_message(&mut inner, 0, 1, 0, 1, None, Some(b"a"));
        put_message(&mut inner, 5, 1, 0, 1, None, Some(b"b"));
        let z = compression::compress(compression::GZIP, &inner).unwrap();
        let mut w = Vec::new();
        put_message(&mut w, 5, 1, compression::GZIP as i8, 1, None, Some(&z));
        assert!(matches!(parse(&w), Err(LegacyError::Invalid(_))));
        // Inner magic different from the wrapper's.
        let mut inner = Vec::new();
        put_message(&mut inner, 0, 0, 0, -1, None, Some(b"a"));
        let z = compression::compress(compression::GZIP, &inner).unwrap();
        let mut w = Vec::new();
        put_message(&mut w, 0, 1, compression::GZIP as i8, 1, None, Some(&z));
        assert!(matches!(parse(&w), Err(LegacyError::Invalid(_))));
        // Inner bad CRC is CORRUPT_MESSAGE.
        let mut inner = Vec::new();
        put_message(&mut inner, 0, 1, 0, 1, None, Some(b"a"));
        inner[13] ^= 0xff;
        let z = compression::compress(compression::GZIP, &inner).unwrap();
        let mut w = Vec::new();
        put_message(&mut w, 0, 1, compression::GZIP as i8, 1, None, Some(&z));
        assert!(matches!(parse(&w), Err(LegacyError::Corrupt(_))));
        // Garbage instead of gzip, and a codec magic 1 cannot carry (zstd).
        let mut w = Vec::new();
        put_message(&mut w, 0, 1, compression::GZIP as i8, 1, None, Some(b"not gzip"));
        assert!(matches!(parse(&w), Err(LegacyError::Corrupt(_))));
        let mut w = Vec::new();
        put_message(&mut w, 0, 1, compression::ZSTD as i8, 1, None, Some(b"x"));
        assert!(matches!(parse(&w), Err(LegacyError::Compression(4))));
    }

    #[test]
    fn converts_to_magic2_and_back() {
        let recs = vec![
            LegacyRecord { timestamp: 100, key: Some(b"a".to_vec()), value: Some(b"1".to_vec()) },
            LegacyRecord { timestamp: 90, key: None, value: Some(b"2".to_vec()) },
            LegacyRecord { timestamp: 120, key: Some(b"c".to_vec()), value: None },
        ];
        for codec in [compression::NONE, compression::GZIP, compression::SNAPPY, compression::LZ4] {
            let mut b = to_batch(&recs, codec).unwrap();
            assert!(batch::crc_ok(&b));
            let h = batch::parse_header(&b).unwrap();
            assert_eq!((h.magic, h.records_count, h.last_offset_delta, h.first_timestamp, h.max_timestamp), (2, 3, 2, 100, 120));
            assert_eq!((h.producer_id, h.base_sequence, h.compression()), (-1, -1, codec));
            b[0..8].copy_from_slice(&40i64.to_be_bytes());
            for magic in [0i8, 1] {
                let legacy = down_convert(&b, magic, 41).unwrap();
                let outer = shallow(&legacy).unwrap();
                let back = parse(&legacy).unwrap();
                if codec == compression::NONE {
                    // Offset 40 is below the fetch offset: dropped.
                    assert_eq!(outer.iter().map(|m| m.offset).collect::<Vec<_>>(), vec![41, 42]);
                    assert_eq!(back.records, recs[1..].iter().map(|r| LegacyRecord { timestamp: if magic == 0 { -1 } else { r.timestamp }, ..r.clone() }).collect::<Vec<_>>());
                } else {
                    assert_eq!(outer.len(), 1);
                    assert_eq!(outer[0].offset, 42);
                    assert_eq!(outer[0].codec(), codec);
                    assert_eq!(back.records.len(), 3);
                    if magic == 1 {
                        assert_eq!(outer[0].timestamp, 120);
                    }
                }
            }
        }
    }

    #[test]
    fn magic0_records_are_stored_without_timestamp() {
        let p = parse(&v0_kv()).unwrap();
        let b = to_batch(&p.records, 0).unwrap();
        let h = batch::parse_header(&b).unwrap();
        assert_eq!((h.first_timestamp, h.max_timestamp), (-1, -1));
    }

    #[test]
    fn down_convert_drops_control_batches_partial_tails_and_refuses_zstd() {
        let recs = vec![LegacyRecord { timestamp: 5, key: None, value: Some(b"x".to_vec()) }];
        let mut ctl = to_batch(&recs, 0).unwrap();
        ctl[21..23].copy_from_slice(&0x30i16.to_be_bytes());
        let data = to_batch(&recs, 0).unwrap();
        let mut all = ctl.clone();
        all.extend_from_slice(&data);
        all.extend_from_slice(&data[..20]);
        let out = down_convert(&all, 1, 0).unwrap();
        assert_eq!(shallow(&out).unwrap().len(), 1);
        let z = to_batch(&recs, compression::ZSTD).unwrap();
        assert_eq!(down_convert(&z, 1, 0), Err(LegacyError::Compression(4)));
        // LogAppendTime: the batch's time on every message, and the attribute bit.
        let mut lat = to_batch(&recs, 0).unwrap();
        lat[21..23].copy_from_slice(&0x08i16.to_be_bytes());
        lat[35..43].copy_from_slice(&777i64.to_be_bytes());
        let m = down_convert(&lat, 1, 0).unwrap();
        let s = shallow(&m).unwrap();
        assert_eq!((s[0].timestamp, s[0].attributes), (777, 0x08));
    }

    #[test]
    fn magic0_lz4_uses_kafkas_broken_header_checksum() {
        let set = encode(&[(0, -1, Some(b"k"), Some(b"v"))], 0, compression::LZ4, None).unwrap();
        let w = shallow(&set).unwrap();
        let z = w[0].value.unwrap();
        // The standard reader refuses Kafka's magic-0 checksum; parse() accepts it.
        assert!(compression::decompress(compression::LZ4, z).is_err());
        assert_eq!(compression::decompress(compression::LZ4, &lz4_header_checksum(z, false)).unwrap().len(), 28);
        assert_eq!(parse(&set).unwrap().records[0].value.as_deref(), Some(&b"v"[..]));
        // Magic 1 keeps the standard checksum.
        let set1 = encode(&[(0, 5, Some(b"k"), Some(b"v"))], 1, compression::LZ4, None).unwrap();
        assert!(compression::decompress(compression::LZ4, shallow(&set1).unwrap()[0].value.unwrap()).is_ok());
        // Not a frame: unchanged.
        assert_eq!(lz4_header_checksum(b"xy", true), b"xy".to_vec());
    }

    #[test]
    fn whole_prefix_stops_at_the_limit() {
        let mut two = v0_kv();
        two.extend(v0_kv());
        let one = v0_kv().len();
        assert_eq!(whole_prefix(&two, one * 2), one * 2);
        assert_eq!(whole_prefix(&two, one * 2 - 1), one);
        assert_eq!(whole_prefix(&two, one - 1), 0);
        assert_eq!(whole_prefix(&two[..one + 3], 1000), one);
    }
}
