//! Transaction markers: the control batches a partition leader writes when WriteTxnMarkers
//! ends a transaction (`server::handlers::write_txn_markers` -> `replica::append_leader`),
//! and reading them back (producer state, the log cleaner, recovery).
//!
//! Format (Kafka's ControlRecordType / EndTransactionMarker): a magic-2 batch with the
//! transactional (0x10) and control (0x20) attribute bits, the producer's id and epoch, base
//! sequence -1, holding one uncompressed record whose key is `version i16 (0), type i16
//! (0 ABORT, 1 COMMIT)` and whose value is `version i16 (0), coordinator_epoch i32`.

use super::{parse_header, put_varlong, HEADER_LEN, LOG_OVERHEAD};

/// Control record type of an end-of-transaction marker.
pub const ABORT: i16 = 0;
pub const COMMIT: i16 = 1;

/// A decoded end-of-transaction marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub commit: bool,
    pub coordinator_epoch: i32,
}

/// Builds the marker batch (offset 0, to be assigned by the append).
pub fn build_marker(producer_id: i64, producer_epoch: i16, commit: bool, coordinator_epoch: i32, timestamp: i64) -> Vec<u8> {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&(if commit { COMMIT } else { ABORT }).to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    let mut r = vec![0u8];
    put_varlong(&mut r, 0); // timestamp delta
    put_varlong(&mut r, 0); // offset delta
    put_varlong(&mut r, key.len() as i64);
    r.extend_from_slice(&key);
    put_varlong(&mut r, value.len() as i64);
    r.extend_from_slice(&value);
    put_varlong(&mut r, 0); // headers
    let mut rec = Vec::with_capacity(r.len() + 2);
    put_varlong(&mut rec, r.len() as i64);
    rec.extend_from_slice(&r);
    let mut b = Vec::with_capacity(HEADER_LEN + rec.len());
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&((HEADER_LEN - LOG_OVERHEAD + rec.len()) as i32).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch, assigned at append
    b.push(2);
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&0x30i16.to_be_bytes()); // transactional + control
    b.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
    b.extend_from_slice(&timestamp.to_be_bytes());
    b.extend_from_slice(&timestamp.to_be_bytes());
    b.extend_from_slice(&producer_id.to_be_bytes());
    b.extend_from_slice(&producer_epoch.to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    b.extend_from_slice(&1i32.to_be_bytes());
    b.extend_from_slice(&rec);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

fn varlong(b: &[u8], pos: &mut usize) -> Option<i64> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= ((byte & 0x7f) as u64) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(((v >> 1) as i64) ^ -((v & 1) as i64));
        }
    }
    None
}

/// The control record type of a control batch's first record (key `version i16, type
/// i16`), or None when the batch is not a control batch or does not parse. Control records
/// are never compressed by Kafka; a compressed one is not understood here.
pub fn control_type(batch: &[u8]) -> Option<(i16, Option<Vec<u8>>)> {
    let h = parse_header(batch)?;
    if !h.is_control() || h.compression() != 0 || h.records_count < 1 {
        return None;
    }
    let body = batch.get(HEADER_LEN..h.total_size())?;
    let mut p = 0usize;
    let len = varlong(body, &mut p)?;
    let end = p.checked_add(usize::try_from(len).ok()?)?;
    let rec = body.get(..end)?;
    p += 1; // attributes
    varlong(rec, &mut p)?;
    varlong(rec, &mut p)?;
    let kl = usize::try_from(varlong(rec, &mut p)?).ok()?;
    let key = rec.get(p..p.checked_add(kl)?)?;
    p += kl;
    if key.len() < 4 {
        return None;
    }
    let kind = i16::from_be_bytes([key[2], key[3]]);
    let vl = varlong(rec, &mut p)?;
    let value = if vl < 0 { None } else { Some(rec.get(p..p.checked_add(usize::try_from(vl).ok()?)?)?.to_vec()) };
    Some((kind, value))
}

/// The end-of-transaction marker of a control batch, None for any other batch.
pub fn parse_marker(batch: &[u8]) -> Option<Marker> {
    let (kind, value) = control_type(batch)?;
    if kind != ABORT && kind != COMMIT {
        return None;
    }
    let v = value?;
    if v.len() < 6 {
        return None;
    }
    Some(Marker { commit: kind == COMMIT, coordinator_epoch: i32::from_be_bytes([v[2], v[3], v[4], v[5]]) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_roundtrip_and_layout() {
        let b = build_marker(42, 3, false, 7, 1000);
        let h = parse_header(&b).unwrap();
        assert!(h.is_control() && h.is_transactional());
        assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence, h.records_count), (42, 3, -1, 1));
        assert!(super::super::crc_ok(&b));
        assert!(matches!(super::super::validate_produce(&b, 1 << 20), Err(super::super::BatchError::InvalidRecord(_))), "clients may not write markers");
        assert_eq!(parse_marker(&b), Some(Marker { commit: false, coordinator_epoch: 7 }));
        let c = build_marker(42, 3, true, -1, 1000);
        assert_eq!(parse_marker(&c), Some(Marker { commit: true, coordinator_epoch: -1 }));
        // The record ends with key 00 00 00 01, value 00 00 ff ff ff ff, no headers.
        let tail = &c[c.len() - 13..];
        assert_eq!(tail, &[0x08, 0, 0, 0, 1, 0x0c, 0, 0, 0xff, 0xff, 0xff, 0xff, 0]);
        let data = super::super::build(&[(Some(b"k"), Some(b"v"))], 1);
        assert_eq!(parse_marker(&data), None);
        assert_eq!(parse_marker(&b[..b.len() - 3]), None);
    }
}
