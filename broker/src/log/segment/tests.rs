//! Segment tests on real files in a temp dir: appends, recovery of torn and damaged
//! data, index checks and rebuilds, lazy verification.

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
