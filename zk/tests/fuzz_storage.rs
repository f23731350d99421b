//! Fuzz target: the readers of what the server keeps on disk, in process.
//!
//! - snapshots (`storage::snapshot`): trees built by random writes (`zk::fuzzgen::history`,
//!   prepped and applied as the server does) are written with `snapshot::write`, then
//!   damaged; `snapshot::decode` (and now and then `server::recovery::load` on the file) must
//!   refuse them or give a tree that is whole (every node reachable, encodes and decodes again);
//! - the record log (`storage::log`): records written with `LogWriter`, then damaged; `scan`
//!   must refuse or return a valid prefix (every record before the first damaged byte, intact),
//!   and the transactions in the records decode or are refused;
//! - the Raft log (`quorum::log_store`): entries, truncations and purges written with the
//!   store's own writer (`log_store::write_records`), then a file or the vote damaged;
//!   `log_store::open` must refuse or load entries that are what their records say, whose
//!   transactions apply to a tree without breaking it.
//!
//! Damage is `zk::fuzzgen::mutate` (hostile lengths and counts, cut-offs, flipped bits,
//! repeated slices), with the checksums recomputed half the time so that the decoders behind
//! them are reached, plus records of hostile transactions (paths that are not paths, deletes of
//! nodes with children, nested multis) sealed with correct checksums, as a bug or an editor
//! could write them. Nothing may panic or hang (a watchdog fails the run after 10 s on one
//! case) and the peak RSS of this process stays bounded.
//!
//! `FUZZ_CASES` (default 20,000) and `FUZZ_SEED`; `FUZZ_ONLY=snapshot|record|raft` runs one
//! kind of file only. The long run is in FUZZING.md. Files go to
//! a temporary directory under /dev/shm when there is one (no disk I/O per case).

use openraft::storage::RaftLogReader;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zk::fuzzgen;
use zk::ids::{SessionId, Zxid};
use zk::proto::{Acl, Reader, Writer};
use zk::quorum::log_store::{self, Rec};
use zk::quorum::state_machine::Meta;
use zk::quorum::{Entry, LogId, Membership, ZkBatch, ZkEntry};
use zk::server::recovery;
use zk::storage::log::{self as txlog, LogWriter};
use zk::storage::snapshot;
use zk::tree::{DataTree, Txn, TxnHeader};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn peak_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().expect("tempdir")
}

/// Fails the process if the case counter stops moving for 10 s.
fn watchdog(name: &'static str, seed: u64) -> Arc<AtomicU64> {
    let counter = Arc::new(AtomicU64::new(0));
    let c = counter.clone();
    std::thread::spawn(move || {
        let mut last = u64::MAX;
        loop {
            std::thread::sleep(Duration::from_secs(10));
            let now = c.load(Ordering::Relaxed);
            if now == u64::MAX {
                return;
            }
            if now == last {
                eprintln!("{name}: case {now} (seed {seed}) has run for more than 10 s: a hang");
                std::process::exit(3);
            }
            last = now;
        }
    });
    counter
}

/// A tree is whole: every node is reachable from `/` and it survives a snapshot round trip.
fn check_tree(tree: &DataTree, sessions: &BTreeMap<SessionId, i32>) {
    assert_eq!(tree.all_children_number("/") as usize + 1, tree.node_count(), "nodes not reachable from /");
    let bytes = snapshot::encode(tree, sessions, b"m");
    let (t2, s2, _) = snapshot::decode("re-encoded", &bytes).expect("a loaded tree encodes to a snapshot that decodes");
    assert_eq!(t2.node_count(), tree.node_count());
    assert_eq!(&s2, sessions);
}

fn meta(index: u64) -> Vec<u8> {
    let m = Meta {
        last_log_id: Some(LogId::new(openraft::CommittedLeaderId::new(1, 1), index)),
        last_membership: Membership::default(),
        snapshot_id: format!("1-{index}"),
    };
    bincode::serialize(&m).expect("meta")
}

fn txn_bytes(h: &TxnHeader, t: &Txn) -> Vec<u8> {
    let mut w = Writer::new();
    h.write(&mut w);
    t.write(&mut w);
    w.buf.to_vec()
}

/// A transaction no prep would make: odd paths, deletes of anything, nested multis.
fn hostile_txn(rng: &mut StdRng, depth: u32) -> Txn {
    let path = |rng: &mut StdRng| -> String {
        ["", "/", "//", "a", "/a", "/a/", "/a/b", "/zookeeper", "/zookeeper/quota", "/a//b", "/./x", "/\u{0}", "/s0000000001"][rng.gen_range(0..13)].to_string()
    };
    match rng.gen_range(0..8) {
        0 => Txn::Create {
            path: path(rng),
            data: if rng.gen_bool(0.5) { None } else { Some(bytes::Bytes::from(vec![7u8; rng.gen_range(0..64)])) },
            acl: if rng.gen_bool(0.8) { Acl::world_all() } else { Vec::new() },
            ephemeral_owner: [0, 1, i64::MIN, -1, 0xff00_0000_0000_0005u64 as i64][rng.gen_range(0..5)],
            parent_cversion: rng.gen(),
        },
        1 => Txn::Delete { path: path(rng) },
        2 => Txn::SetData { path: path(rng), data: Some(bytes::Bytes::from_static(b"x")), version: rng.gen() },
        3 => Txn::SetAcl { path: path(rng), acl: Vec::new(), version: rng.gen() },
        4 => Txn::Check { path: path(rng), version: rng.gen() },
        5 if depth == 0 => Txn::Multi((0..rng.gen_range(0..5)).map(|_| hostile_txn(rng, depth + 1)).collect()),
        6 => Txn::CloseSession,
        _ => Txn::Error { err: rng.gen() },
    }
}

/// Recomputes the CRC of every record in a record-log file whose length fits.
fn reseal_records(b: &mut [u8]) {
    let mut at = txlog::HEADER_LEN as usize;
    while at + 8 <= b.len() {
        let len = u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize;
        if len == 0 || at + 8 + len > b.len() {
            return;
        }
        let crc = crc32c::crc32c(&b[at + 8..at + 8 + len]);
        b[at + 4..at + 8].copy_from_slice(&crc.to_be_bytes());
        at += 8 + len;
    }
}

fn reseal_snapshot(b: &mut [u8]) {
    if b.len() >= 4 {
        let n = b.len() - 4;
        let crc = crc32c::crc32c(&b[..n]);
        b[n..].copy_from_slice(&crc.to_be_bytes());
    }
}

/// Where two byte strings first differ.
fn first_diff(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()))
}

/// Applies the transactions in a record payload (header + txn) to `tree`, if they decode.
fn apply_payload(tree: &mut DataTree, payload: &[u8]) -> bool {
    let mut r = Reader::new(payload);
    let (Ok(h), Ok(t)) = (TxnHeader::read(&mut r), Txn::read(&mut r)) else { return false };
    tree.apply(&h, &t, &mut Vec::new());
    true
}

// ---- bases: valid files written by the real writers --------------------------------------

struct SnapBase {
    bytes: Vec<u8>,
}

struct RecordBase {
    bytes: Vec<u8>,
    /// (offset, payload) of each record.
    records: Vec<(u64, Vec<u8>)>,
}

struct RaftBase {
    /// File name -> bytes.
    files: Vec<(String, Vec<u8>)>,
    entries: Vec<u64>,
}

fn snap_base(rng: &mut StdRng, dir: &Path, i: usize) -> SnapBase {
    let n = rng.gen_range(1..120);
    let h = fuzzgen::history(rng, n);
    let bytes = snapshot::encode(&h.tree, &h.sessions, &meta(i as u64 + 1));
    let path = snapshot::write(dir, h.tree.last_zxid, &bytes).expect("snapshot::write");
    let on_disk = std::fs::read(&path).expect("read back");
    assert_eq!(on_disk, bytes);
    let (tree, sessions, m) = snapshot::decode("base", &on_disk).expect("a valid snapshot decodes");
    assert_eq!((tree.node_count(), tree.last_zxid), (h.tree.node_count(), h.tree.last_zxid));
    assert_eq!(sessions, h.sessions);
    assert_eq!(m, meta(i as u64 + 1));
    // The round trip is exact: decoding then encoding gives the same bytes.
    assert_eq!(snapshot::encode(&tree, &sessions, &m), bytes);
    check_tree(&tree, &sessions);
    std::fs::remove_file(&path).expect("rm");
    SnapBase { bytes }
}

fn record_base(rng: &mut StdRng, dir: &Path) -> RecordBase {
    let n = rng.gen_range(1..60);
    let h = fuzzgen::history(rng, n);
    let prealloc = rng.gen_bool(0.2);
    let mut w = LogWriter::new(dir, prealloc);
    let mut buf = Vec::new();
    let payloads: Vec<Vec<u8>> = h.txns.iter().map(|(hd, t)| txn_bytes(hd, t)).collect();
    for p in &payloads {
        w.append(1, p, &mut buf).expect("append");
    }
    w.sync(&mut buf).expect("sync");
    let path = dir.join(txlog::log_name(1));
    let (recs, tail) = txlog::scan(&path).expect("a valid log scans");
    assert_eq!(tail, txlog::Tail::Clean);
    assert_eq!(recs.iter().map(|r| &r.payload).collect::<Vec<_>>(), payloads.iter().collect::<Vec<_>>());
    let mut tree = DataTree::new();
    for r in &recs {
        assert!(apply_payload(&mut tree, &r.payload), "a valid record's txn decodes");
    }
    assert_eq!(tree.node_count(), h.tree.node_count());
    let mut bytes = std::fs::read(&path).expect("read");
    std::fs::remove_file(&path).expect("rm");
    // Preallocated zeros are padding: keep a few of them (the file stays valid), not 4 MiB.
    let end = recs.last().map_or(txlog::HEADER_LEN as usize, |r| r.offset as usize + 8 + r.payload.len());
    bytes.truncate(end + rng.gen_range(0..64));
    bytes.shrink_to_fit();
    RecordBase { bytes, records: recs.into_iter().map(|r| (r.offset, r.payload)).collect() }
}

fn entry(index: u64, txns: Vec<Vec<u8>>) -> Entry {
    let batch = txns
        .into_iter()
        .enumerate()
        .map(|(i, txn)| ZkEntry { origin: 1, req: zk::ids::ReqId(i as u64), prep_node: 1, prep_id: index, session: SessionId(1), cxid: i as i32, time: 1, txn })
        .collect();
    Entry { log_id: LogId::new(openraft::CommittedLeaderId::new(1, 1), index), payload: openraft::EntryPayload::Normal(ZkBatch(batch)) }
}

fn raft_base(rng: &mut StdRng, dir: &Path, rt: &tokio::runtime::Runtime) -> RaftBase {
    let n = rng.gen_range(1..60);
    let h = fuzzgen::history(rng, n);
    let mut txns = h.txns.iter().map(|(_, t)| {
        let mut w = Writer::new();
        t.write(&mut w);
        w.buf.to_vec()
    });
    let mut recs = Vec::new();
    let mut expect: BTreeMap<u64, ()> = BTreeMap::new();
    let mut next = 1u64;
    for _ in 0..rng.gen_range(1..25) {
        match rng.gen_range(0..12) {
            0 if next > 2 => {
                let ix = rng.gen_range(1..next);
                expect.split_off(&ix);
                recs.push(Rec::Truncate(ix));
                next = ix;
            }
            1 if next > 2 => {
                let ix = rng.gen_range(1..next);
                expect = expect.split_off(&(ix + 1));
                recs.push(Rec::Purge(LogId::new(openraft::CommittedLeaderId::new(1, 1), ix)));
            }
            _ => {
                let batch: Vec<Vec<u8>> = (0..rng.gen_range(1..4)).filter_map(|_| txns.next()).collect();
                recs.push(Rec::Entry(entry(next, batch)));
                expect.insert(next, ());
                next += 1;
            }
        }
    }
    log_store::write_records(dir, &recs).expect("write_records");
    let entries: Vec<u64> = expect.keys().copied().collect();
    let got = load_entries(dir, rt).expect("a valid log opens");
    assert_eq!(got.iter().map(|e| e.log_id.index).collect::<Vec<_>>(), entries, "the store loads what was written");
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).expect("ls").flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let mut b = std::fs::read(e.path()).expect("read");
        if name.starts_with("log.") {
            let (recs, _) = txlog::scan(&e.path()).expect("scan");
            let end = recs.last().map_or(txlog::HEADER_LEN as usize, |r| r.offset as usize + 8 + r.payload.len());
            b.truncate(end + 16);
            b.shrink_to_fit();
        }
        files.push((name, b));
        std::fs::remove_file(e.path()).expect("rm");
    }
    files.sort();
    RaftBase { files, entries }
}

fn load_entries(dir: &Path, rt: &tokio::runtime::Runtime) -> anyhow::Result<Vec<Entry>> {
    let mut store = log_store::open(dir, true)?;
    let entries = rt.block_on(store.try_get_log_entries(..)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let _ = store.bridges(None);
    Ok(entries)
}

fn clear(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

// ---- the cases -------------------------------------------------------------------------

#[derive(Default, Debug)]
struct Tally {
    snap_refused: u64,
    snap_loaded: u64,
    rec_refused: u64,
    rec_prefix: u64,
    rec_txns_applied: u64,
    raft_refused: u64,
    raft_loaded: u64,
    raft_entries: u64,
}

fn snapshot_case(rng: &mut StdRng, base: &SnapBase, dir: &Path, t: &mut Tally, on_disk: bool) {
    let mut b = base.bytes.clone();
    fuzzgen::mutate(&mut b, rng);
    if rng.gen_bool(0.5) {
        reseal_snapshot(&mut b);
    }
    match snapshot::decode("fuzz", &b) {
        Ok((tree, sessions, _)) => {
            t.snap_loaded += 1;
            check_tree(&tree, &sessions);
        }
        Err(_) => t.snap_refused += 1,
    }
    if on_disk {
        clear(dir);
        std::fs::write(dir.join(snapshot::snap_name(Zxid(1))), &b).expect("write");
        if let Ok(l) = recovery::load(dir, |_| Ok(())) {
            check_tree(&l.tree, &l.sessions);
        }
    }
}

fn record_case(rng: &mut StdRng, base: &RecordBase, dir: &Path, t: &mut Tally) {
    let mut b = base.bytes.clone();
    if rng.gen_range(0..10) == 0 {
        // Hostile transactions in well-formed records.
        b.truncate(txlog::HEADER_LEN as usize);
        for i in 0..rng.gen_range(1..8) {
            let p = txn_bytes(&TxnHeader { session: SessionId(1), cxid: i, zxid: Zxid(i as i64 + 1), time: 1 }, &hostile_txn(rng, 0));
            b.extend_from_slice(&(p.len() as u32).to_be_bytes());
            b.extend_from_slice(&crc32c::crc32c(&p).to_be_bytes());
            b.extend_from_slice(&p);
        }
    } else {
        let mut body = b.split_off(if rng.gen_bool(0.9) { txlog::HEADER_LEN as usize } else { 0 });
        fuzzgen::mutate(&mut body, rng);
        b.extend(body);
        if rng.gen_bool(0.5) {
            reseal_records(&mut b);
        }
    }
    let path = dir.join(txlog::log_name(1));
    std::fs::write(&path, &b).expect("write");
    match txlog::scan(&path) {
        Ok((recs, _)) => {
            t.rec_prefix += 1;
            // Every record that ends before the first damaged byte comes back intact.
            let d = first_diff(&base.bytes, &b);
            let intact: Vec<&(u64, Vec<u8>)> = base.records.iter().filter(|(o, p)| *o as usize + 8 + p.len() <= d).collect();
            assert!(recs.len() >= intact.len(), "{} records lost before the first damaged byte {d}", intact.len() - recs.len());
            for (r, (o, p)) in recs.iter().zip(intact) {
                assert_eq!((&r.offset, &r.payload), (o, p));
            }
            let mut tree = DataTree::new();
            for r in &recs {
                if apply_payload(&mut tree, &r.payload) {
                    t.rec_txns_applied += 1;
                }
            }
            check_tree(&tree, &BTreeMap::new());
        }
        Err(_) => t.rec_refused += 1,
    }
}

fn raft_case(rng: &mut StdRng, base: &RaftBase, dir: &Path, rt: &tokio::runtime::Runtime, t: &mut Tally) {
    clear(dir);
    let victim = rng.gen_range(0..base.files.len() + 1);
    for (i, (name, bytes)) in base.files.iter().enumerate() {
        let mut b = bytes.clone();
        if i == victim {
            let is_log = name.starts_with("log.");
            let mut body = b.split_off(if is_log && rng.gen_bool(0.9) { txlog::HEADER_LEN as usize } else { 0 });
            fuzzgen::mutate(&mut body, rng);
            b.extend(body);
            if is_log && rng.gen_bool(0.7) {
                reseal_records(&mut b);
            }
        }
        std::fs::write(dir.join(name), &b).expect("write");
    }
    if victim == base.files.len() {
        // A vote file of junk.
        let mut v: Vec<u8> = (0..rng.gen_range(0..40)).map(|_| rng.gen()).collect();
        fuzzgen::mutate(&mut v, rng);
        std::fs::write(dir.join("raft-vote"), &v).expect("write");
    }
    match load_entries(dir, rt) {
        Ok(entries) => {
            t.raft_loaded += 1;
            t.raft_entries += entries.len() as u64;
            let mut tree = DataTree::new();
            let mut zxid = Zxid(1i64 << 32);
            for e in &entries {
                if let openraft::EntryPayload::Normal(batch) = &e.payload {
                    for ze in &batch.0 {
                        if let Ok(txn) = Txn::read(&mut Reader::new(&ze.txn)) {
                            zxid.0 += 1;
                            tree.apply(&TxnHeader { session: ze.session, cxid: ze.cxid, zxid, time: ze.time }, &txn, &mut Vec::new());
                        }
                    }
                }
            }
            check_tree(&tree, &BTreeMap::new());
            // Undamaged: exactly what was written.
            if victim == base.files.len() {
                assert_eq!(entries.iter().map(|e| e.log_id.index).collect::<Vec<_>>(), base.entries);
            }
        }
        Err(_) => t.raft_refused += 1,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

#[test]
fn valid_files_are_read_back_exactly() {
    let mut rng = StdRng::seed_from_u64(env_u64("FUZZ_SEED", 3));
    let d = scratch();
    let rt = runtime();
    for i in 0..100 {
        snap_base(&mut rng, d.path(), i);
        record_base(&mut rng, d.path());
        raft_base(&mut rng, d.path(), &rt);
    }
    println!("300 valid files (100 snapshots, 100 record logs, 100 Raft logs) written and read back exactly");
}

#[test]
fn damaged_files_are_refused_or_read_as_a_valid_prefix_within_bounds() {
    let cases = env_u64("FUZZ_CASES", 20_000);
    let seed = env_u64("FUZZ_SEED", 4);
    let mut rng = StdRng::seed_from_u64(seed);
    let progress = watchdog("fuzz_storage", seed);
    let started = Instant::now();
    let d = scratch();
    let base_dir = d.path().join("base");
    let case_dir = d.path().join("case");
    for p in [&base_dir, &case_dir] {
        std::fs::create_dir_all(p).expect("mkdir");
    }
    let rt = runtime();
    let snaps: Vec<SnapBase> = (0..24).map(|i| snap_base(&mut rng, &base_dir, i)).collect();
    let logs: Vec<RecordBase> = (0..24).map(|_| record_base(&mut rng, &base_dir)).collect();
    let rafts: Vec<RaftBase> = (0..24).map(|_| raft_base(&mut rng, &base_dir, &rt)).collect();
    let mut t = Tally::default();
    // FUZZ_ONLY=snapshot|record|raft runs one kind of file only.
    let only = std::env::var("FUZZ_ONLY").ok();
    let mut kinds: HashMap<&str, u64> = HashMap::new();
    for case in 0..cases {
        progress.store(case, Ordering::Relaxed);
        let kind = match only.as_deref() {
            Some("snapshot") => 0,
            Some("record") => 1,
            Some("raft") => 2,
            _ => case % 3,
        };
        match kind {
            0 => {
                let b = &snaps[rng.gen_range(0..snaps.len())];
                snapshot_case(&mut rng, b, &case_dir, &mut t, case % 300 == 0);
                *kinds.entry("snapshot").or_default() += 1;
            }
            1 => {
                let b = &logs[rng.gen_range(0..logs.len())];
                record_case(&mut rng, b, &case_dir, &mut t);
                *kinds.entry("record log").or_default() += 1;
            }
            _ => {
                let b = &rafts[rng.gen_range(0..rafts.len())];
                raft_case(&mut rng, b, &case_dir, &rt, &mut t);
                *kinds.entry("raft log").or_default() += 1;
            }
        }
    }
    progress.store(u64::MAX, Ordering::Relaxed);
    let rss = peak_rss_kib();
    println!("{cases} damaged files (seed {seed}) in {:.1} s: {kinds:?}; {t:?}; peak RSS {rss} KiB", started.elapsed().as_secs_f64());
    assert!(rss < 256 * 1024, "peak RSS {rss} KiB");
}
