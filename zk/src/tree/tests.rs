//! DataTree unit tests: Stat corner cases, ephemerals, containers/TTL, snapshot round trip.

use super::*;

fn h(zxid: i64) -> TxnHeader {
    TxnHeader { session: SessionId(7), cxid: 1, zxid: Zxid(zxid), time: 1000 + zxid }
}

fn create(t: &mut DataTree, zxid: i64, path: &str, owner: i64) -> ApplyResult {
    let pcv = t.get(parent_of(path)).map_or(0, |p| p.stat.cversion + 1);
    let txn = Txn::Create { path: path.into(), data: Some(Bytes::from_static(b"d")), acl: Acl::world_all(), ephemeral_owner: owner, parent_cversion: pcv };
    t.apply(&h(zxid), &txn, &mut Vec::new())
}

#[test]
fn fresh_tree_matches_apache() {
    let t = DataTree::new();
    assert_eq!(t.get("/").unwrap().stat.num_children, 1);
    assert_eq!(t.get("/zookeeper").unwrap().client_stat().cversion, -2);
    assert_eq!(t.get("/zookeeper/config").unwrap().stat.aversion, -1);
    assert_eq!(t.get("/").unwrap().data.as_deref(), Some(&b""[..]));
    assert_eq!(t.node_count(), 4);
}

#[test]
fn create_sets_stat_and_parent() {
    let mut t = DataTree::new();
    let r = create(&mut t, 5, "/a", 0);
    assert_eq!(r.err, ErrorCode::Ok);
    let s = r.stat.unwrap();
    assert_eq!((s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime), (5, 5, 5, 1005, 1005));
    assert_eq!((s.version, s.cversion, s.aversion, s.data_length, s.num_children), (0, 0, 0, 1, 0));
    let root = t.get("/").unwrap().client_stat();
    assert_eq!((root.cversion, root.pzxid, root.num_children), (0, 5, 2));
    assert_eq!(t.get("/").unwrap().stat.cversion, 1);
    assert_eq!(t.last_zxid, Zxid(5));
}

#[test]
fn child_set_data_does_not_touch_parent() {
    let mut t = DataTree::new();
    create(&mut t, 1, "/p", 0);
    create(&mut t, 2, "/p/c", 0);
    let before = t.get("/p").unwrap().stat;
    let mut trig = Vec::new();
    let r = t.apply(&h(3), &Txn::SetData { path: "/p/c".into(), data: None, version: 1 }, &mut trig);
    let s = r.stat.unwrap();
    assert_eq!((s.version, s.mzxid, s.czxid, s.data_length, s.mtime), (1, 3, 2, 0, 1003));
    assert_eq!(t.get("/p").unwrap().stat, before);
    let evs: Vec<_> = trig.iter().map(|(e, p, _)| (*e, p.clone())).collect();
    assert_eq!(evs, vec![(EventType::NodeDataChanged, "/p/c".to_string())]);
}

#[test]
fn delete_bumps_parent_cversion_and_pzxid() {
    let mut t = DataTree::new();
    create(&mut t, 1, "/p", 0);
    create(&mut t, 2, "/p/a", 0);
    create(&mut t, 3, "/p/b", 0);
    assert_eq!(t.get("/p").unwrap().client_stat().cversion, 2);
    let mut trig = Vec::new();
    assert_eq!(t.apply(&h(4), &Txn::Delete { path: "/p/a".into() }, &mut trig).err, ErrorCode::Ok);
    let p = t.get("/p").unwrap().client_stat();
    assert_eq!((p.cversion, p.pzxid, p.num_children, p.mzxid), (3, 4, 1, 1));
    // The stored count of creates is what sequential names use: unchanged by the delete.
    assert_eq!(t.get("/p").unwrap().stat.cversion, 2);
    let p = t.get("/p").unwrap().stat;
    let evs: Vec<_> = trig.iter().map(|(e, p, _)| (*e, p.clone())).collect();
    assert_eq!(evs, vec![(EventType::NodeDeleted, "/p/a".to_string()), (EventType::NodeChildrenChanged, "/p".to_string())]);
    // A failed write consumes the zxid but changes nothing.
    assert_eq!(t.apply(&h(5), &Txn::Error { err: -101 }, &mut trig).err, ErrorCode::NoNode);
    assert_eq!(t.last_zxid, Zxid(5));
    assert_eq!(t.get("/p").unwrap().stat, p);
}

#[test]
fn set_acl_bumps_aversion_only() {
    let mut t = DataTree::new();
    create(&mut t, 1, "/a", 0);
    let r = t.apply(&h(2), &Txn::SetAcl { path: "/a".into(), acl: vec![], version: 1 }, &mut Vec::new());
    let s = r.stat.unwrap();
    assert_eq!((s.aversion, s.mzxid, s.version), (1, 1, 0));
}

#[test]
fn close_session_deletes_its_ephemerals_only() {
    let mut t = DataTree::new();
    create(&mut t, 1, "/e1", 7);
    create(&mut t, 2, "/e2", 7);
    create(&mut t, 3, "/other", 8);
    assert_eq!(t.ephemeral_count(), 3);
    let mut trig = Vec::new();
    t.apply(&h(4), &Txn::CloseSession, &mut trig);
    assert!(t.get("/e1").is_none() && t.get("/e2").is_none());
    assert!(t.get("/other").is_some());
    assert!(t.ephemerals_of(SessionId(7)).is_none());
    assert_eq!(trig.iter().filter(|(e, _, _)| *e == EventType::NodeDeleted).count(), 2);
}

#[test]
fn containers_and_ttl_reaping() {
    let mut t = DataTree::new();
    create(&mut t, 1, "/c", CONTAINER_OWNER);
    assert!(t.reapable(i64::MAX).is_empty(), "a container that never had children stays");
    create(&mut t, 2, "/c/x", 0);
    assert!(t.reapable(i64::MAX).is_empty(), "not empty");
    t.apply(&h(3), &Txn::Delete { path: "/c/x".into() }, &mut Vec::new());
    assert_eq!(t.reapable(0), vec!["/c".to_string()]);
    let ttl_owner = EXTENDED_MASK | 500;
    create(&mut t, 4, "/t", ttl_owner);
    let mtime = t.get("/t").unwrap().stat.mtime;
    assert!(!t.reapable(mtime + 500).contains(&"/t".to_string()));
    assert!(t.reapable(mtime + 501).contains(&"/t".to_string()));
    assert_eq!(t.ephemeral_count(), 0);
    assert_eq!(t.get("/t").unwrap().client_stat().ephemeral_owner, 0, "clients see 0 for TTL");
    assert_eq!(t.get("/c").unwrap().client_stat().ephemeral_owner, 0, "and for containers");
}

#[test]
fn multi_applies_each() {
    let mut t = DataTree::new();
    let m = Txn::Multi(vec![
        Txn::Create { path: "/m".into(), data: None, acl: Acl::world_all(), ephemeral_owner: 0, parent_cversion: 1 },
        Txn::SetData { path: "/m".into(), data: Some(Bytes::from_static(b"x")), version: 1 },
    ]);
    let r = t.apply(&h(9), &m, &mut Vec::new());
    assert_eq!(r.multi.len(), 2);
    assert_eq!(r.multi[1].stat.unwrap().version, 1);
    assert_eq!(t.get("/m").unwrap().stat.czxid, 9);
}

#[test]
fn snapshot_round_trip() {
    let mut t = DataTree::new();
    create(&mut t, 1, "/a", 0);
    create(&mut t, 2, "/a/b", 99);
    create(&mut t, 3, "/c", CONTAINER_OWNER);
    t.apply(&h(4), &Txn::Delete { path: "/a/b".into() }, &mut Vec::new());
    create(&mut t, 5, "/a/b2", 99);
    let mut w = Writer::new();
    t.write_nodes(&mut w);
    let back = DataTree::read_nodes(&mut Reader::new(&w.buf), Zxid(5)).unwrap();
    assert_eq!(back.node_count(), t.node_count());
    for p in ["/", "/a", "/a/b2", "/c", "/zookeeper", "/zookeeper/config"] {
        assert_eq!(back.get(p).unwrap().stat, t.get(p).unwrap().stat, "{p}");
        assert_eq!(back.get(p).unwrap().data, t.get(p).unwrap().data);
        assert_eq!(back.get(p).unwrap().acl, t.get(p).unwrap().acl);
    }
    assert_eq!(back.ephemerals_of(SessionId(99)).unwrap().len(), 1);
    assert_eq!(back.approximate_data_size(), t.approximate_data_size());
    // Truncated snapshots are errors.
    assert!(DataTree::read_nodes(&mut Reader::new(&w.buf[..w.buf.len() - 3]), Zxid(5)).is_err());
}

#[test]
fn path_validation() {
    for good in ["/", "/a", "/a/b", "/a.b", "/a..b", "/zookeeper"] {
        assert!(validate_path(good, false), "{good}");
    }
    for bad in ["", "a", "/a/", "//a", "/a/./b", "/a/../b", "/a\u{0}b", "/a\u{1}"] {
        assert!(!validate_path(bad, false), "{bad:?}");
    }
    assert!(validate_path("/a/", true));
    assert!(validate_path("/a/b-", true));
}

#[test]
fn all_children_number_counts_descendants() {
    let mut t = DataTree::new();
    create(&mut t, 1, "/a", 0);
    create(&mut t, 2, "/a/b", 0);
    create(&mut t, 3, "/a/b/c", 0);
    assert_eq!(t.all_children_number("/a"), 2);
    assert_eq!(t.all_children_number("/"), 6);
}

/// Found by `tests/fuzz_storage.rs`: a log or snapshot holding what prep never makes (a path
/// that is not one, a delete of a node with children) must not break the tree: a node named
/// `""` under `/` made every walk from `/` loop forever, and orphaned children made every
/// later snapshot unreadable.
#[test]
fn txns_and_snapshots_prep_never_makes_leave_the_tree_whole() {
    let mut t = DataTree::new();
    for (z, p) in [(1, ""), (2, "//"), (3, "a"), (4, "/a/"), (5, "/x//y")] {
        assert_eq!(create(&mut t, z, p, 0).err, ErrorCode::BadArguments, "{p:?}");
    }
    assert_eq!(t.apply(&h(6), &Txn::Delete { path: "/zookeeper".into() }, &mut Vec::new()).err, ErrorCode::NotEmpty);
    assert_eq!(t.all_children_number("/") as usize + 1, t.node_count());
    // A snapshot node whose path is not a path is refused where it is.
    let good = DataTree::new();
    let mut w = Writer::new();
    good.write_nodes(&mut w);
    let mut b = w.buf.to_vec();
    b[..8].copy_from_slice(&5i64.to_be_bytes());
    let at = b.len();
    let mut w = Writer::new();
    w.string("").buffer(None);
    Acl::write_list(&Acl::world_all(), &mut w);
    Stat::default().write(&mut w);
    b.extend_from_slice(&w.buf);
    assert_eq!(DataTree::read_nodes(&mut Reader::new(&b), Zxid(1)).err(), Some(DecodeError::BadPath { offset: at }));
}

fn create_data(t: &mut DataTree, zxid: i64, path: &str, data: &[u8]) -> ApplyResult {
    let pcv = t.get(parent_of(path)).map_or(0, |p| p.stat.cversion + 1);
    let txn = Txn::Create { path: path.into(), data: Some(Bytes::copy_from_slice(data)), acl: Acl::world_all(), ephemeral_owner: 0, parent_cversion: pcv };
    t.apply(&h(zxid), &txn, &mut Vec::new())
}

fn text(t: &DataTree, path: &str) -> String {
    String::from_utf8_lossy(t.get(path).unwrap().data.as_deref().unwrap_or_default()).to_string()
}

#[test]
fn quota_stats_follow_the_subtree_and_hard_limits_refuse() {
    let mut t = DataTree::new();
    create_data(&mut t, 1, "/q", b"");
    create_data(&mut t, 2, "/q/a", b"x");
    // What zkCli's `setquota -N 3 /q` creates: the limits, then the stats (counted by us).
    create_data(&mut t, 3, "/zookeeper/quota/q", b"");
    create_data(&mut t, 4, "/zookeeper/quota/q/zookeeper_limits", b"count=-1,bytes=-1=;byteHardLimit=10;countHardLimit=3");
    create_data(&mut t, 5, "/zookeeper/quota/q/zookeeper_stats", b"count=0,bytes=0");
    assert_eq!(text(&t, "/zookeeper/quota/q/zookeeper_stats"), "count=2,bytes=1");
    let stats_stat = t.get("/zookeeper/quota/q/zookeeper_stats").unwrap().stat;
    create_data(&mut t, 6, "/q/b", b"yy");
    assert_eq!(text(&t, "/zookeeper/quota/q/zookeeper_stats"), "count=3,bytes=3");
    // Data changed; version and mzxid did not (as ZooKeeper's stats node).
    let after = t.get("/zookeeper/quota/q/zookeeper_stats").unwrap().stat;
    assert_eq!((after.version, after.mzxid), (stats_stat.version, stats_stat.mzxid));
    assert_eq!(t.quota_check("/q/c", 1, 0), Err(ErrorCode::QuotaExceeded), "a 4th node over countHardLimit 3");
    assert_eq!(t.quota_check("/q/b", 0, 8), Err(ErrorCode::QuotaExceeded), "11 bytes over byteHardLimit 10");
    assert_eq!(t.quota_check("/q/b", 0, 7), Ok(()));
    assert_eq!(t.quota_check("/other", 1, 100), Ok(()));
    t.apply(&h(7), &Txn::SetData { path: "/q/b".into(), data: Some(Bytes::from_static(b"12345")), version: 1 }, &mut Vec::new());
    assert_eq!(text(&t, "/zookeeper/quota/q/zookeeper_stats"), "count=3,bytes=6");
    t.apply(&h(8), &Txn::Delete { path: "/q/a".into() }, &mut Vec::new());
    assert_eq!(text(&t, "/zookeeper/quota/q/zookeeper_stats"), "count=2,bytes=5");
    // Nothing inside /zookeeper is counted; a deleted limits node ends the quota.
    t.apply(&h(9), &Txn::Delete { path: "/zookeeper/quota/q/zookeeper_limits".into() }, &mut Vec::new());
    create_data(&mut t, 10, "/q/c", b"zzz");
    assert_eq!(text(&t, "/zookeeper/quota/q/zookeeper_stats"), "count=2,bytes=5");
    assert_eq!(t.quota_check("/q/d", 100, 100), Ok(()));
}

#[test]
fn quota_roots_come_back_with_a_snapshot() {
    let mut t = DataTree::new();
    create_data(&mut t, 1, "/q", b"");
    create_data(&mut t, 2, "/zookeeper/quota/q", b"");
    create_data(&mut t, 3, "/zookeeper/quota/q/zookeeper_limits", b"count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=1");
    create_data(&mut t, 4, "/zookeeper/quota/q/zookeeper_stats", b"");
    let mut w = Writer::new();
    t.write_nodes(&mut w);
    let loaded = DataTree::read_nodes(&mut Reader::new(&w.buf), Zxid(4)).unwrap();
    assert_eq!(loaded.quota_check("/q/x", 1, 0), Err(ErrorCode::QuotaExceeded));
}
