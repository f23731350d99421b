//! Coordinator tests over a real `LogManager` in a temp dir: commits, fetches, loading a
//! partition back from its records, ownership changes.

use super::*;
use crate::config::{parse_properties, BrokerConfig};
use crate::group::group::JoinParams;
use crate::topic_config::TopicConfig;

fn setup(dir: &std::path::Path, extra: &str) -> (BrokerConfig, LogManager, GroupCoordinator) {
    let text = format!("zookeeper.connect=x:1\nlog.dirs={}\noffsets.topic.num.partitions=3\ngroup.initial.rebalance.delay.ms=0\n{extra}", dir.display());
    let cfg = BrokerConfig::from_pairs(parse_properties(&text)).unwrap();
    let logs = LogManager::new(&cfg);
    logs.load_existing().unwrap();
    for p in 0..3 {
        logs.get_or_create(OFFSETS_TOPIC, p, TopicConfig::resolve(&cfg, &Default::default())).unwrap();
    }
    let gc = GroupCoordinator::new(Settings::from_config(&cfg));
    gc.update_ownership(&logs, &(0..3).collect(), Some(3));
    (cfg, logs, gc)
}

fn ov(offset: i64) -> OffsetValue {
    OffsetValue { offset, leader_epoch: -1, metadata: "m".into(), commit_timestamp: now_ms(), expire_timestamp: None }
}

#[tokio::test]
async fn state_is_rebuilt_from_the_log() {
    let d = tempfile::tempdir().unwrap();
    let member;
    {
        let (_c, logs, gc) = setup(d.path(), "");
        gc.commit(&logs, "simple", -1, "", None, vec![("t".into(), 0, ov(5)), ("t".into(), 1, ov(6))]).unwrap();
        gc.commit(&logs, "simple", -1, "", None, vec![("t".into(), 0, ov(7))]).unwrap();
        let p = |id: &str| JoinParams {
            member_id: id.into(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout: 10_000,
            rebalance_timeout: 10_000,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"sub"))],
            require_known_member_id: false,
        };
        let j = gc.join(&logs, "live", p("")).await.unwrap();
        assert_eq!((j.error, j.generation), (ErrorCode::NONE, 1));
        member = j.member_id.clone();
        let s = gc.sync(&logs, "live", &member, None, 1, vec![(member.clone(), Bytes::from_static(b"asg"))]).await.unwrap();
        assert_eq!(s.error, 0);
        gc.commit(&logs, "live", 1, &member, None, vec![("t".into(), 0, ov(3))]).unwrap();
        assert_eq!(gc.commit(&logs, "live", 2, &member, None, vec![("t".into(), 0, ov(4))]), Err(ErrorCode::ILLEGAL_GENERATION));
        gc.commit(&logs, "gone", -1, "", None, vec![("t".into(), 0, ov(1))]).unwrap();
        assert_eq!(gc.delete_group(&logs, "gone"), ErrorCode::NONE);
        assert_eq!(gc.delete_group(&logs, "live"), ErrorCode::NON_EMPTY_GROUP);
        logs.checkpoint(true);
    }
    // A new broker process on the same log dir.
    let (_c, logs, gc) = setup(d.path(), "");
    let got = gc.fetch("simple", None).unwrap();
    let offs: Vec<(i32, i64)> = got.iter().map(|(_, p, v)| (*p, v.as_ref().unwrap().offset)).collect();
    assert_eq!(offs, vec![(0, 7), (1, 6)]);
    assert_eq!(gc.fetch("live", Some(vec![("t".into(), vec![0])])).unwrap()[0].2.as_ref().unwrap().offset, 3);
    assert!(gc.fetch("gone", None).unwrap().is_empty());
    let info = gc.describe("live").unwrap();
    assert_eq!((info.state, info.members.len()), ("Stable", 1));
    assert_eq!(info.members[0].assignment, Bytes::from_static(b"asg"));
    assert_eq!(gc.heartbeat(&logs, "live", &member, None, 1), ErrorCode::NONE);
    let mut listed: Vec<String> = gc.list().into_iter().map(|(g, _, _)| g).collect();
    listed.sort();
    assert_eq!(listed, vec!["live".to_string(), "simple".to_string()]);
}

#[tokio::test]
async fn offsets_of_empty_groups_expire_and_stay_expired() {
    let d = tempfile::tempdir().unwrap();
    {
        let (_c, logs, gc) = setup(d.path(), "offsets.retention.minutes=0\noffsets.retention.check.interval.ms=1\n");
        gc.commit(&logs, "old", -1, "", None, vec![("t".into(), 0, ov(5))]).unwrap();
        gc.tick(&logs);
        assert!(gc.fetch("old", None).unwrap().is_empty());
        gc.tick(&logs);
        assert!(gc.list().is_empty(), "an empty group without offsets is removed");
    }
    let (_c, _logs, gc) = setup(d.path(), "");
    assert!(gc.fetch("old", None).unwrap().is_empty());
    assert!(gc.list().is_empty());
}

#[test]
fn not_owned_or_loading_partitions_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let (_c, logs, gc) = setup(d.path(), "");
    gc.update_ownership(&logs, &BTreeSet::new(), Some(3));
    assert_eq!(gc.fetch("x", None).unwrap_err(), ErrorCode::NOT_COORDINATOR);
    assert_eq!(gc.commit(&logs, "", -1, "", None, vec![]), Err(ErrorCode::INVALID_GROUP_ID));
}

/// A COMMIT (or ABORT) control batch of `pid`, as the partition side appends it for a
/// WriteTxnMarkers: key version 0 + type, value version 0 + coordinator epoch.
fn marker(pid: i64, commit: bool) -> Vec<u8> {
    let key = vec![0, 0, 0, commit as u8];
    let value = vec![0, 0, 0, 0, 0, 1];
    let mut b = txn_offsets::build_txn_batch(&[(key, Some(value))], now_ms(), pid, 0);
    b[21..23].copy_from_slice(&0x30i16.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

fn fetched(gc: &GroupCoordinator, group: &str) -> Vec<(String, i32, i64)> {
    let mut v: Vec<_> = gc.fetch(group, None).unwrap().into_iter().map(|(t, p, v)| (t, p, v.unwrap().offset)).collect();
    v.sort();
    v
}

#[test]
fn txn_offsets_wait_for_their_marker() {
    let d = tempfile::tempdir().unwrap();
    let (_c, logs, gc) = setup(d.path(), "");
    gc.commit(&logs, "g", -1, "", None, vec![("t".into(), 0, ov(1))]).unwrap();
    gc.txn_commit(&logs, "g", 42, 0, vec![("t".into(), 0, ov(10)), ("t".into(), 1, ov(11))]).unwrap();
    gc.txn_commit(&logs, "g", 43, 0, vec![("t".into(), 2, ov(12))]).unwrap();
    assert_eq!(fetched(&gc, "g"), vec![("t".into(), 0, 1)]);
    assert_eq!(gc.pending_txn_offsets("g").len(), 3);
    let p = gc.partition_for("g");
    // A marker on another partition of __consumer_offsets does not touch this group.
    gc.complete_txn(&logs, (p + 1) % 3, 42, true);
    assert_eq!(fetched(&gc, "g"), vec![("t".into(), 0, 1)]);
    gc.complete_txn(&logs, p, 42, true);
    assert_eq!(fetched(&gc, "g"), vec![("t".into(), 0, 10), ("t".into(), 1, 11)]);
    gc.complete_txn(&logs, p, 43, false);
    assert_eq!(fetched(&gc, "g"), vec![("t".into(), 0, 10), ("t".into(), 1, 11)]);
    assert!(gc.pending_txn_offsets("g").is_empty());
    // The batch is transactional, with the producer's id and epoch.
    let part = logs.get(OFFSETS_TOPIC, p).unwrap();
    let data = part.lock().read(0, 1 << 20).unwrap();
    let hs: Vec<_> = batch::split(&data).into_iter().map(|(h, _)| h).collect();
    assert!(!hs[0].is_transactional());
    assert!(hs[1].is_transactional() && hs[1].producer_id == 42 && hs[1].producer_epoch == 0);
    assert_eq!(gc.txn_commit(&logs, "", 1, 0, vec![]), Err(ErrorCode::INVALID_GROUP_ID));
}

#[test]
fn loading_applies_txn_offsets_only_after_a_commit_marker() {
    let d = tempfile::tempdir().unwrap();
    {
        let (_c, logs, gc) = setup(d.path(), "");
        gc.commit(&logs, "g", -1, "", None, vec![("t".into(), 0, ov(1))]).unwrap();
        gc.txn_commit(&logs, "g", 42, 0, vec![("t".into(), 0, ov(10))]).unwrap();
        gc.txn_commit(&logs, "g", 43, 0, vec![("t".into(), 1, ov(20))]).unwrap();
        gc.txn_commit(&logs, "g", 44, 0, vec![("t".into(), 2, ov(30))]).unwrap();
        let p = gc.partition_for("g");
        let part = logs.get(OFFSETS_TOPIC, p).unwrap();
        crate::replica::append_leader(&logs, &part, &mut marker(42, true)).unwrap();
        crate::replica::append_leader(&logs, &part, &mut marker(43, false)).unwrap();
        logs.checkpoint(true);
    }
    let (_c, logs, gc) = setup(d.path(), "");
    assert_eq!(fetched(&gc, "g"), vec![("t".into(), 0, 10)]);
    // 44 is still open after loading: its COMMIT marker makes it visible.
    assert_eq!(gc.pending_txn_offsets("g"), vec![(44, "t".into(), 2, 30)]);
    gc.complete_txn(&logs, gc.partition_for("g"), 44, true);
    assert_eq!(fetched(&gc, "g"), vec![("t".into(), 0, 10), ("t".into(), 2, 30)]);
    assert_eq!(txn_offsets::control_marker(&marker(1, true)), Some(true));
    assert_eq!(txn_offsets::control_marker(&marker(1, false)), Some(false));
}

#[test]
fn pending_txn_offsets_keep_an_empty_group_and_go_with_a_deleted_one() {
    let d = tempfile::tempdir().unwrap();
    let (_c, logs, gc) = setup(d.path(), "offsets.retention.check.interval.ms=1\n");
    // Group "a" exists only through a transaction's pending offsets: expiry keeps it.
    gc.txn_commit(&logs, "a", 50, 0, vec![("t".into(), 0, ov(3))]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150));
    gc.tick(&logs);
    assert_eq!(gc.pending_txn_offsets("a").len(), 1);
    gc.complete_txn(&logs, gc.partition_for("a"), 50, true);
    assert_eq!(fetched(&gc, "a"), vec![("t".into(), 0, 3)]);
    // An aborted one leaves an empty group without offsets: the next expiry removes it.
    gc.txn_commit(&logs, "b", 51, 0, vec![("t".into(), 0, ov(4))]).unwrap();
    gc.complete_txn(&logs, gc.partition_for("b"), 51, false);
    std::thread::sleep(std::time::Duration::from_millis(150));
    gc.tick(&logs);
    assert_eq!(gc.fetch("b", None).map(|v| v.len()).unwrap_or(0), 0);
    assert_eq!(gc.delete_group(&logs, "b"), ErrorCode::GROUP_ID_NOT_FOUND);
    // Deleting a group drops its pending offsets; the COMMIT marker then changes nothing.
    gc.txn_commit(&logs, "c", 52, 0, vec![("t".into(), 1, ov(9))]).unwrap();
    assert_eq!(gc.delete_group(&logs, "c"), ErrorCode::NONE);
    assert!(gc.pending_txn_offsets("c").is_empty());
    gc.complete_txn(&logs, gc.partition_for("c"), 52, true);
    assert_eq!(gc.delete_group(&logs, "c"), ErrorCode::GROUP_ID_NOT_FOUND);
}
