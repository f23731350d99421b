//! Transaction tests of the partition log on real directories: the last stable offset,
//! the aborted-transaction index (bytes, recovery, truncation), marker checks.

use super::*;
use crate::config::{parse_properties, BrokerConfig};
use crate::log::batch::control::build_marker;
use crate::log::segment::txn_index::AbortedTxn;

fn cfg(seg: i64) -> TopicConfig {
    let b = BrokerConfig::from_pairs(parse_properties(&format!("zookeeper.connect=x:1\nlog.segment.bytes={seg}\nlog.index.interval.bytes=100\n"))).unwrap();
    TopicConfig::resolve(&b, &Default::default())
}

/// A batch of `n` keyed records from producer `pid` (transactional when `txn`).
pub fn txn_batch(pid: i64, epoch: i16, seq: i32, n: usize, txn: bool) -> Vec<u8> {
    let keys: Vec<Vec<u8>> = (0..n).map(|i| format!("k{i}").into_bytes()).collect();
    let recs: Vec<(Option<&[u8]>, Option<&[u8]>)> = keys.iter().map(|k| (Some(&k[..]), Some(&b"v"[..]))).collect();
    let mut b = batch::build(&recs, 1000);
    if txn {
        b[22] |= 0x10;
    }
    b[43..51].copy_from_slice(&pid.to_be_bytes());
    b[51..53].copy_from_slice(&epoch.to_be_bytes());
    b[53..57].copy_from_slice(&seq.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

fn marker(pid: i64, epoch: i16, commit: bool, coordinator_epoch: i32) -> Vec<u8> {
    build_marker(pid, epoch, commit, coordinator_epoch, 1000)
}

fn txn_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).filter(|n| n.ends_with(".txnindex")).collect();
    v.sort();
    v
}

#[test]
fn lso_aborted_index_recovery_and_truncation() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("t-0");
    let mut log = Log::open(&dir, "t", 0, cfg(1 << 20), 0, 0).unwrap();
    log.append(&mut txn_batch(-1, -1, -1, 1, false), 0).unwrap(); // 0
    log.append(&mut txn_batch(7, 0, 0, 2, true), 0).unwrap(); // 1-2
    log.append(&mut txn_batch(8, 0, 0, 1, true), 0).unwrap(); // 3
    assert_eq!(log.last_stable_offset(), 0, "nothing replicated yet");
    log.set_high_watermark(4);
    assert_eq!(log.last_stable_offset(), 1, "pid 7's open transaction");
    let a = log.append(&mut marker(7, 0, false, 5), 0).unwrap(); // 4: ABORT
    assert_eq!(a.base_offset, 4);
    assert_eq!(log.last_stable_offset(), 1, "the marker is not replicated yet");
    log.set_high_watermark(5);
    assert_eq!(log.last_stable_offset(), 3, "pid 8's open transaction now bounds it");
    let entry = AbortedTxn { producer_id: 7, first_offset: 1, last_offset: 4, last_stable_offset: 3 };
    let bytes = std::fs::read(dir.join("00000000000000000000.txnindex")).unwrap();
    assert_eq!(bytes, entry.encode().to_vec());
    assert_eq!(bytes.len(), 34);
    log.append(&mut marker(8, 0, true, 5), 0).unwrap(); // 5: COMMIT
    log.set_high_watermark(6);
    assert_eq!(log.last_stable_offset(), 6);
    assert_eq!(log.aborted_between(0, 6), vec![entry]);
    assert_eq!(log.aborted_between(2, 6), vec![entry]);
    assert_eq!(log.aborted_between(5, 6), vec![], "the marker is before the fetch offset");
    assert_eq!(log.aborted_between(0, 1), vec![], "the transaction starts after the range");
    // A new open transaction, then a roll (a snapshot), then another one.
    log.append(&mut txn_batch(9, 0, 0, 1, true), 0).unwrap(); // 6
    log.roll_now().unwrap();
    log.append(&mut txn_batch(10, 0, 0, 1, true), 0).unwrap(); // 7
    log.append(&mut marker(10, 0, false, 1), 0).unwrap(); // 8: ABORT in segment 7
    log.set_high_watermark(9);
    assert_eq!(log.last_stable_offset(), 6);
    let lso_entry = AbortedTxn { producer_id: 10, first_offset: 7, last_offset: 8, last_stable_offset: 6 };
    assert_eq!(log.aborted_between(7, 9), vec![lso_entry]);
    assert_eq!(txn_files(&dir), vec!["00000000000000000000.txnindex", "00000000000000000007.txnindex"]);
    log.flush().unwrap();
    drop(log);

    // Restart: open transactions from the snapshot + replay, the index from its files.
    let mut log = Log::open(&dir, "t", 0, cfg(1 << 20), 9, 0).unwrap();
    log.set_high_watermark(9);
    assert_eq!(log.last_stable_offset(), 6);
    assert_eq!(log.producers.producers[&9].current_txn_first_offset, Some(6));
    assert_eq!(log.producers.producers[&7].coordinator_epoch, 5);
    assert_eq!(log.aborted_txns(), vec![entry, lso_entry]);
    drop(log);

    // Lost index files and snapshots (kill -9 before they were written): rebuilt by replay.
    for f in std::fs::read_dir(&dir).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "txnindex" || e == "snapshot") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let mut log = Log::open(&dir, "t", 0, cfg(1 << 20), 9, 0).unwrap();
    log.set_high_watermark(9);
    assert_eq!(log.aborted_txns(), vec![entry, lso_entry]);
    assert_eq!(std::fs::read(dir.join("00000000000000000000.txnindex")).unwrap(), entry.encode().to_vec());
    assert_eq!(log.last_stable_offset(), 6);

    // Truncation below the second abort marker: its entry goes, pid 10 is open again.
    log.truncate_to(8).unwrap();
    assert_eq!(log.aborted_txns(), vec![entry]);
    assert_eq!(std::fs::metadata(dir.join("00000000000000000007.txnindex")).unwrap().len(), 0);
    assert_eq!(log.producers.producers[&10].current_txn_first_offset, Some(7));
    // Below the first one: pid 7's transaction is open again from offset 1.
    log.truncate_to(4).unwrap();
    assert_eq!(log.aborted_txns(), vec![]);
    assert_eq!(log.last_stable_offset(), 1);
    assert!(txn_files(&dir).iter().all(|f| std::fs::metadata(dir.join(f)).unwrap().len() == 0));
}

#[test]
fn marker_checks_epochs_and_txn_state() {
    let d = tempfile::tempdir().unwrap();
    let mut log = Log::open(&d.path().join("t-0"), "t", 0, cfg(1 << 20), 0, 0).unwrap();
    log.append(&mut txn_batch(7, 2, 0, 1, true), 0).unwrap();
    // A non-transactional batch while the transaction is open.
    let e = log.append(&mut txn_batch(7, 2, 1, 1, false), 0).unwrap_err();
    assert_eq!(e.error_code(), crate::error_code::ErrorCode::INVALID_TXN_STATE);
    let e = log.append(&mut marker(7, 1, true, 0), 0).unwrap_err();
    assert_eq!(e.error_code(), crate::error_code::ErrorCode::INVALID_PRODUCER_EPOCH);
    log.append(&mut marker(7, 2, true, 3), 0).unwrap();
    let e = log.append(&mut marker(7, 2, true, 2), 0).unwrap_err();
    assert_eq!(e.error_code(), crate::error_code::ErrorCode::TRANSACTION_COORDINATOR_FENCED);
    // A marker with a bumped epoch resets the sequences: the next batch starts at 0.
    log.append(&mut marker(7, 3, false, 3), 0).unwrap();
    assert_eq!(log.producers.producers[&7].epoch, 3);
    log.append(&mut txn_batch(7, 3, 0, 1, true), 0).unwrap();
    assert_eq!(log.producers.producers[&7].current_txn_first_offset, Some(3), "markers at 1 and 2, the batch at 3");
    // The snapshot keeps the coordinator epoch and the open transaction.
    let back = ProducerState::decode(&log.producers.encode(), 0).unwrap();
    assert_eq!(back.producers[&7].coordinator_epoch, 3);
    assert_eq!(back.producers[&7].current_txn_first_offset, Some(3));
    assert_eq!(back.first_unstable_offset(), Some(3));
    // Producers with an open transaction do not expire.
    let mut st = log.producers.clone();
    assert_eq!(st.expire(i64::MAX, 0), 0);
}
