//! Batch codec tests: headers, CRCs, validation of hostile batches, codecs.

use super::*;

#[test]
fn recompression_keeps_records_and_fixes_crc() {
    let b = batch(&[b"alpha", b"beta", b"gamma"], 1234);
    for codec in [1i16, 2, 3, 4, 0] {
        let r = recompress(&b, codec).unwrap();
        let h = parse_header(&r).unwrap();
        assert_eq!(h.compression(), codec);
        assert!(crc_ok(&r), "codec {codec}");
        assert_eq!(h.total_size(), r.len());
        let vals: Vec<Vec<u8>> = records(&r).unwrap().into_iter().filter_map(|x| x.value).collect();
        assert_eq!(vals, vec![b"alpha".to_vec(), b"beta".to_vec(), b"gamma".to_vec()]);
        // And back to the producer's form.
        let back = recompress(&r, 0).unwrap();
        assert_eq!(back, b);
    }
}

/// Builds an uncompressed batch of `values` (test helper, also used by log tests).
pub fn batch(values: &[&[u8]], ts: i64) -> Vec<u8> {
    let mut recs = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let mut r = Vec::new();
        r.push(0);
        put_varlong(&mut r, 0);
        put_varlong(&mut r, i as i64);
        put_varlong(&mut r, -1);
        put_varlong(&mut r, v.len() as i64);
        r.extend_from_slice(v);
        put_varlong(&mut r, 0);
        put_varlong(&mut recs, r.len() as i64);
        recs.extend_from_slice(&r);
    }
    let mut b = Vec::new();
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&((HEADER_LEN - 12 + recs.len()) as i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    b.push(2);
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&0i16.to_be_bytes());
    b.extend_from_slice(&(values.len() as i32 - 1).to_be_bytes());
    b.extend_from_slice(&ts.to_be_bytes());
    b.extend_from_slice(&ts.to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes());
    b.extend_from_slice(&(-1i16).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.extend_from_slice(&(values.len() as i32).to_be_bytes());
    b.extend_from_slice(&recs);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

#[test]
fn validates_and_assigns() {
    let mut b = batch(&[b"a", b"bb", b"ccc"], 1000);
    let v = validate_produce(&b, 1 << 20).unwrap();
    assert_eq!((v.offsets, v.records), (3, 3));
    assert_eq!(assign_offsets(&mut b, 10, 0, None), 13);
    assert_eq!(parse_header(&b).unwrap().base_offset, 10);
    assert!(crc_ok(&b));
    assign_offsets(&mut b, 10, 0, Some(5));
    assert!(crc_ok(&b));
    assert_eq!(parse_header(&b).unwrap().max_timestamp, 5);
}

#[test]
fn build_and_read_back() {
    let b = build(&[(Some(b"k"), Some(b"v")), (Some(b"k2"), None)], 77);
    assert!(validate_produce(&b, 1 << 20).is_ok());
    let r = records(&b).unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0], Record { offset: 0, timestamp: 77, key: Some(b"k".to_vec()), value: Some(b"v".to_vec()) });
    assert_eq!(r[1].value, None);
    let mut two = b.clone();
    two.extend_from_slice(&b);
    assert_eq!(split(&two).len(), 2);
    let h = parse_header(&b).unwrap();
    assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence, h.last_sequence()), (-1, -1, -1, -1));
}

#[test]
fn rejects_corruption() {
    let mut b = batch(&[b"a"], 1);
    let last = b.len() - 2;
    b[last] ^= 0xff;
    assert!(matches!(validate_produce(&b, 1 << 20), Err(BatchError::Corrupt(_))));
    let b = batch(&[b"a"], 1);
    assert!(matches!(validate_produce(&b[..b.len() - 1], 1 << 20), Err(BatchError::Corrupt(_))));
    assert!(matches!(validate_produce(&b, 10), Err(BatchError::TooLarge(..))));
    let mut m = b.clone();
    m[16] = 1;
    assert!(matches!(validate_produce(&m, 1 << 20), Err(BatchError::Magic(1))));
    assert!(validate_produce(&[0u8; 5], 100).is_err());
}
