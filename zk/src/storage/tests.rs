//! Recovery and purge over real files in a temp dir.

use super::log::{log_name, LogWriter};
use super::*;
use crate::proto::{Acl, Writer};

fn payload(zxid: i64, txn: &Txn) -> Vec<u8> {
    let mut w = Writer::new();
    TxnHeader { session: 9, cxid: 0, zxid, time: 100 }.write(&mut w);
    txn.write(&mut w);
    w.buf.to_vec()
}

fn create(path: &str, pcv: i32) -> Txn {
    Txn::Create { path: path.into(), data: None, acl: Acl::world_all(), ephemeral_owner: 0, parent_cversion: pcv }
}

fn write_log(dir: &Path, first: i64, txns: &[Txn]) {
    let mut w = LogWriter::new(dir, true);
    let mut buf = Vec::new();
    for (i, t) in txns.iter().enumerate() {
        w.append(first + i as i64, &payload(first + i as i64, t), &mut buf).unwrap();
    }
    w.sync(&mut buf).unwrap();
}

#[test]
fn recover_snapshot_plus_logs() {
    let d = tempfile::tempdir().unwrap();
    write_log(d.path(), 1, &[Txn::CreateSession { timeout: 4000 }, create("/a", 1), Txn::Error { err: -101 }]);
    // Snapshot at zxid 3.
    let r = recover(d.path(), d.path()).unwrap();
    assert_eq!((r.tree.last_zxid, r.replayed), (3, 3));
    assert_eq!(r.sessions.get(&9), Some(&4000));
    let bytes = snapshot::encode(&r.tree, &r.sessions);
    snapshot::write(d.path(), 3, &bytes).unwrap();
    write_log(d.path(), 4, &[create("/b", 2), Txn::CloseSession]);
    let r = recover(d.path(), d.path()).unwrap();
    assert_eq!((r.snapshot_zxid, r.replayed, r.tree.last_zxid), (3, 2, 5));
    assert!(r.tree.get("/a").is_some() && r.tree.get("/b").is_some());
    assert!(r.sessions.is_empty());
}

#[test]
fn damaged_newest_snapshot_falls_back() {
    let d = tempfile::tempdir().unwrap();
    write_log(d.path(), 1, &[create("/a", 1), create("/b", 2)]);
    let r = recover(d.path(), d.path()).unwrap();
    snapshot::write(d.path(), 2, &snapshot::encode(&r.tree, &r.sessions)).unwrap();
    std::fs::write(d.path().join(snapshot::snap_name(5)), b"RZKS\0\0\0\x01garbage-garbage").unwrap();
    let r = recover(d.path(), d.path()).unwrap();
    assert_eq!(r.snapshot_zxid, 2);
    assert!(r.tree.get("/b").is_some());
}

#[test]
fn gap_and_torn_tail() {
    let d = tempfile::tempdir().unwrap();
    write_log(d.path(), 1, &[create("/a", 1), create("/b", 2)]);
    write_log(d.path(), 4, &[create("/c", 3)]);
    match recover(d.path(), d.path()) {
        Err(RecoverError::Gap { got, want, .. }) => assert_eq!((got, want), (4, 3)),
        other => panic!("expected a gap, got {:?}", other.map(|r| r.replayed)),
    }
    std::fs::remove_file(d.path().join(log_name(4))).unwrap();
    // Tear the last record of the only log.
    let p = d.path().join(log_name(1));
    let (recs, _) = log::scan(&p).unwrap();
    let mut bytes = std::fs::read(&p).unwrap();
    let at = recs[1].offset as usize;
    for b in &mut bytes[at + 12..at + 20] {
        *b = 0;
    }
    std::fs::write(&p, &bytes).unwrap();
    let r = recover(d.path(), d.path()).unwrap();
    assert_eq!(r.tree.last_zxid, 1);
    assert!(r.truncated.is_some());
    // Recovering again is clean and the cut stays cut.
    let r = recover(d.path(), d.path()).unwrap();
    assert!(r.truncated.is_none() && r.tree.last_zxid == 1);
}

#[test]
fn purge_keeps_what_recovery_needs() {
    let d = tempfile::tempdir().unwrap();
    let mut z = 1;
    for _ in 0..5 {
        write_log(d.path(), z, &[create(&format!("/n{z}"), 0), create(&format!("/m{z}"), 0)]);
        z += 2;
        let r = recover(d.path(), d.path()).unwrap();
        snapshot::write(d.path(), r.tree.last_zxid, &snapshot::encode(&r.tree, &r.sessions)).unwrap();
    }
    write_log(d.path(), z, &[create("/last", 0)]);
    let before = recover(d.path(), d.path()).unwrap();
    let deleted = purge(d.path(), d.path(), 3).unwrap();
    assert_eq!(list(d.path(), "snapshot").unwrap().len(), 3);
    assert!(deleted.iter().any(|p| p.to_string_lossy().contains("log.")));
    let after = recover(d.path(), d.path()).unwrap();
    assert_eq!(after.tree.last_zxid, before.tree.last_zxid);
    assert_eq!(after.tree.node_count(), before.tree.node_count());
}

#[test]
fn a_log_file_left_empty_by_a_crash_is_replaced() {
    let d = tempfile::tempdir().unwrap();
    // A crash right after the file for zxid 1 was created, before its record was durable.
    let mut header = LOG_HEADER_FOR_TEST.to_vec();
    header.extend_from_slice(&[0u8; 64]);
    std::fs::write(d.path().join(log_name(1)), &header).unwrap();
    let r = recover(d.path(), d.path()).unwrap();
    assert_eq!(r.tree.last_zxid, 0);
    write_log(d.path(), 1, &[create("/a", 1)]);
    let r = recover(d.path(), d.path()).unwrap();
    assert_eq!(r.tree.last_zxid, 1);
    // But a file that holds records is never replaced.
    let mut w = LogWriter::new(d.path(), true);
    let mut buf = Vec::new();
    assert!(w.append(1, b"x", &mut buf).is_err());
}

const LOG_HEADER_FOR_TEST: &[u8] = b"RZKL\0\0\0\x01\0\0\0\0\0\0\0\0";
