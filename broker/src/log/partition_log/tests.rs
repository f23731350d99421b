//! Partition log tests on real directories: appends, rolls, recovery, epochs, producer
//! snapshots, retention, damaged data and failing disks.

use super::*;
use crate::config::{parse_properties, BrokerConfig};
use std::os::unix::fs::FileExt;
use crate::log::batch::tests::batch;

fn cfg(seg: i64) -> TopicConfig {
    let b = BrokerConfig::from_pairs(parse_properties(&format!("zookeeper.connect=x:1\nlog.segment.bytes={seg}\nlog.index.interval.bytes=100\n"))).unwrap();
    TopicConfig::resolve(&b, &Default::default())
}

#[test]
fn append_read_roll_recover() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("t-0");
    let mut log = Log::open(&dir, "t", 0, cfg(1000), 0, 0).unwrap();
    for i in 0..50 {
        let mut b = batch(&[format!("value-{i}").as_bytes(), b"x"], 1000 + i);
        log.append(&mut b, 0).unwrap();
    }
    assert_eq!(log.log_end_offset, 100);
    assert!(log.segments.len() > 1, "rolled by size");
    let data = log.read(57, 1 << 20).unwrap();
    let h = batch::parse_header(&data).unwrap();
    assert_eq!(h.base_offset, 56);
    assert_eq!(log.offset_for_time(1030).unwrap().unwrap().0, 60);
    // Tear the tail like a kill -9 in the middle of a write.
    let last = *log.segments.keys().next_back().unwrap();
    drop(log);
    let p = crate::log::segment::file_name(&dir, last, "log");
    let len = std::fs::metadata(&p).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.set_len(len - 5).unwrap();
    let mut log = Log::open(&dir, "t", 0, cfg(1000), 0, 0).unwrap();
    assert_eq!(log.log_end_offset, 98);
    assert!(log.read(97, 100).is_ok());
    assert!(matches!(log.read(99, 100), Err(LogError::OffsetOutOfRange(99))));
}

#[test]
fn retention_and_delete_records() {
    let d = tempfile::tempdir().unwrap();
    let mut log = Log::open(&d.path().join("t-0"), "t", 0, cfg(200), 0, 0).unwrap();
    for i in 0..20 {
        let mut b = batch(&[b"abcdefghij"], i);
        log.append(&mut b, 0).unwrap();
    }
    // Nothing is replicated yet: neither DeleteRecords nor retention may pass the high
    // watermark.
    assert!(log.delete_records_before(5).is_err());
    log.config.retention_ms = 10;
    assert_eq!(log.apply_retention(now_ms()).unwrap(), 0);
    log.config.retention_ms = 7 * 24 * 3600 * 1000;
    log.set_high_watermark(log.log_end_offset);
    assert_eq!(log.delete_records_before(5).unwrap(), 5);
    assert!(log.read(4, 100).is_err());
    log.config.retention_ms = 10;
    log.apply_retention(now_ms()).unwrap();
    assert_eq!(log.log_start_offset, 20);
    assert_eq!(log.log_end_offset, 20);
}

fn values(log: &mut Log, from: i64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = from;
    while at < log.log_end_offset {
        let data = log.read(at, 1 << 20).unwrap();
        let batches = batch::split(&data);
        assert!(!batches.is_empty());
        for (h, b) in batches {
            out.extend(batch::records(b).unwrap().into_iter().filter_map(|r| r.value));
            at = h.last_offset() + 1;
        }
    }
    out
}

#[test]
fn a_failed_append_leaves_nothing_and_the_log_goes_on() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("t-0");
    let mut log = Log::open(&dir, "t", 0, cfg(1000), 0, 0).unwrap();
    let mut expected = Vec::new();
    for i in 0..30 {
        let v = format!("v{i}");
        let mut b = batch(&[v.as_bytes()], i);
        if i % 7 == 3 {
            // The disk is full in the middle of this write.
            log.active().unwrap().fail_after = Some(17);
            let e = log.append(&mut b, 0).unwrap_err();
            assert!(matches!(&e, LogError::Io(io) if crate::log::dir_health::is_out_of_space(io)), "{e}");
            assert!(!log.health.is_offline());
            assert_eq!(e.error_code(), crate::error_code::ErrorCode::KAFKA_STORAGE_ERROR);
            continue;
        }
        log.append(&mut b, 0).unwrap();
        expected.push(v.into_bytes());
    }
    assert_eq!(log.log_end_offset, expected.len() as i64);
    assert_eq!(values(&mut log, 0), expected);
    drop(log);
    let mut log = Log::open(&dir, "t", 0, cfg(1000), 0, 0).unwrap();
    assert_eq!(values(&mut log, 0), expected, "recovery keeps every acknowledged record");
}

#[test]
fn an_undo_that_fails_takes_the_dir_offline() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("t-0");
    let mut log = Log::open(&dir, "t", 0, cfg(100_000), 0, 0).unwrap();
    log.append(&mut batch(&[b"a"], 1), 0).unwrap();
    // A handle that can neither write nor truncate.
    let path = log.active().unwrap().log_path();
    log.active().unwrap().log = Arc::new(std::fs::File::open(&path).unwrap());
    let e = log.append(&mut batch(&[b"b"], 2), 0).unwrap_err();
    assert!(matches!(e, LogError::Offline(_)), "{e}");
    assert!(log.health.is_offline());
    assert!(matches!(log.append(&mut batch(&[b"c"], 3), 0), Err(LogError::Offline(_))));
    assert!(matches!(log.slice(0, 100, 1), Err(LogError::Offline(_))));
}

#[test]
fn damaged_data_is_reported_and_healed_by_truncation() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("t-0");
    let mut log = Log::open(&dir, "t", 0, cfg(1000), 0, 0).unwrap();
    for i in 0..60 {
        log.append(&mut batch(&[format!("value-{i}").as_bytes(), b"x"], 1000 + i), 0).unwrap();
    }
    log.flush().unwrap();
    let leo = log.log_end_offset;
    let bases: Vec<i64> = log.segments.keys().copied().collect();
    assert!(bases.len() > 3);
    drop(log);
    // Flip a byte in the second segment's first batch's records.
    let p = crate::log::segment::file_name(&dir, bases[1], "log");
    let f = std::fs::OpenOptions::new().read(true).write(true).open(&p).unwrap();
    f.write_all_at(b"\xee", batch::HEADER_LEN as u64 + 4).unwrap();
    let mut log = Log::open(&dir, "t", 0, cfg(1000), leo, 0).unwrap();
    log.set_high_watermark(leo);
    assert_eq!(log.first_damage(), None, "older segments are checked lazily");
    assert!(matches!(log.slice(bases[1], 1 << 20, leo), Err(LogError::Damaged { .. })));
    let info = log.first_damage().unwrap();
    assert_eq!((info.file.clone(), info.position, info.first_offset, info.end_offset), (p.clone(), 0, bases[1], bases[1] + 2));
    // Reads before it stop at it; reads after it go on.
    let Sliced::Data(s) = log.slice(bases[1] - 1, 1 << 20, leo).unwrap() else { panic!() };
    assert!(s.len > 0);
    assert!(matches!(log.slice(bases[1] + 2, 1 << 20, leo), Ok(Sliced::Data(_))));
    // Healing: cut to the damage and append the data again (as fetched from a leader).
    log.truncate_to(info.first_offset).unwrap();
    assert_eq!(log.first_damage(), None);
    assert_eq!(log.log_end_offset, bases[1]);
    let mut i = bases[1] / 2;
    while log.log_end_offset < leo {
        let mut b = batch(&[format!("value-{i}").as_bytes(), b"x"], 1000 + i);
        batch::assign_offsets(&mut b, log.log_end_offset, 0, None);
        log.append_replica(&b).unwrap();
        i += 1;
    }
    let all = values(&mut log, 0);
    assert_eq!(all.len() as i64, leo);
}

#[test]
fn a_garbage_epoch_checkpoint_is_rebuilt_from_the_batches() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("t-0");
    let mut log = Log::open(&dir, "t", 0, cfg(1000), 0, 0).unwrap();
    for (i, epoch) in [(0, 0), (1, 0), (2, 3), (3, 3), (4, 7)] {
        log.append(&mut batch(&[b"v"], i), epoch).unwrap();
    }
    let good = log.epochs.clone();
    assert_eq!(good, vec![(0, 0), (3, 2), (7, 4)]);
    drop(log);
    for garbage in [&b"\x00\xff garbage"[..], b"0\n99999999999999999999\n", b"0\n2\n3 2\n0 0\n", b"1\n0\n", b"0\n1\n", b""] {
        std::fs::write(dir.join("leader-epoch-checkpoint"), garbage).unwrap();
        let log = Log::open(&dir, "t", 0, cfg(1000), 0, 0).unwrap();
        assert_eq!(log.epochs, good, "{garbage:?}");
        drop(log);
        assert_eq!(parse_epochs(&std::fs::read(dir.join("leader-epoch-checkpoint")).unwrap()).unwrap(), good, "rewritten");
    }
    std::fs::remove_file(dir.join("leader-epoch-checkpoint")).unwrap();
    assert_eq!(Log::open(&dir, "t", 0, cfg(1000), 0, 0).unwrap().epochs, good, "missing beside data");
}

#[test]
fn hostile_small_files_are_refused() {
    assert!(parse_epochs(b"0\n18446744073709551615\n").is_err());
    assert!(parse_epochs(b"0\n1\n-1 0\n").is_err());
    assert!(parse_epochs(b"0\n1\n1 2 3\n").is_err());
    assert_eq!(parse_epochs(b"0\n0\n").unwrap(), vec![]);
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("big");
    std::fs::File::create(&p).unwrap().set_len(MAX_SMALL_FILE + 1).unwrap();
    assert!(read_small(&p).is_err(), "not read at all");
    // A huge, damaged producer snapshot is ignored (and the log still opens).
    let dir = d.path().join("t-0");
    let mut log = Log::open(&dir, "t", 0, cfg(1000), 0, 0).unwrap();
    log.append(&mut batch(&[b"v"], 1), 0).unwrap();
    drop(log);
    std::fs::File::create(dir.join(format!("{:020}.snapshot", 1))).unwrap().set_len(1 << 40).unwrap();
    std::fs::write(dir.join(format!("{:020}.snapshot", 0)), [0, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]).unwrap();
    assert_eq!(Log::open(&dir, "t", 0, cfg(1000), 0, 0).unwrap().log_end_offset, 1);
}
