//! Fuzz target: the jute request decoder and the request handling behind it, in process.
//!
//! Drives what the server runs for each frame after the connection has cut it:
//! `RequestFrame::read` (the decoder), then for writes `Pending::prep` (validation against the
//! tree and the changes in flight) -> the `Txn` encoding the log stores -> `Txn::read` ->
//! `DataTree::apply` -> watch triggers, and for reads `server::reads::serve` on a real `Core`'s state
//! (ACL checks, watch registration, setWatches) -> the reply frame, which the client-side
//! decoder must read back. The connect handshake's `ConnectRequest::read` is driven too.
//!
//! - valid requests for every opcode a 3.8 client sends (`zk::fuzzgen`, written from the jute
//!   field lists independently of the server's writer) must decode to exactly the generated
//!   value and re-encode to the same bytes;
//! - hostile mutations of them, and random bytes, must decode or be refused (never panic),
//!   and whatever decodes must be handled without panicking;
//! - the peak RSS of this process stays bounded (a count or length trusted for an
//!   allocation would show within a few cases).
//!
//! `FUZZ_CASES` (default 20,000) and `FUZZ_SEED` choose the run; the long runs are in
//! FUZZING.md, e.g. `FUZZ_CASES=1000000 cargo test --release -p zk --test fuzz_requests --
//! --nocapture`. A failing case prints its seed and number. A watchdog fails the run if one
//! case takes more than 10 s (a hang is a finding too).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};

use zk::config::Config;
use zk::fuzzgen;
use zk::proto::*;
use zk::quorum::network::MemberAddr;
use zk::ids::{ConnId, SessionId, Zxid};
use zk::server::core::{Conn, Core, CoreMsg, Loaded, Out};
use zk::server::propose::WriteOp;
use zk::server::stats::ConnStats;
use zk::server::prep::{Asker, Pending};
use zk::server::reads;
use zk::tree::acl::AuthInfo;
use zk::tree::{Txn, TxnHeader};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn peak_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
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

/// Opcodes whose reply body the client decoder reads completely.
fn reply_is_exact(op: OpCode) -> bool {
    use OpCode as O;
    matches!(
        op,
        O::Exists | O::GetData | O::GetAcl | O::GetChildren | O::GetChildren2 | O::GetEphemerals | O::GetAllChildrenNumber | O::WhoAmI | O::MultiRead | O::Ping
    )
}

/// A core with one connected session, and the server's prep state beside it.
struct Harness {
    core: Core,
    pending: Pending,
    cfg: Arc<Config>,
    conn: ConnId,
    session: SessionId,
    zxid: i64,
    out: mpsc::UnboundedReceiver<Out>,
    _self_rx: mpsc::UnboundedReceiver<CoreMsg>,
    tally: Tally,
}

/// What the handled requests came to.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    writes_applied: u64,
    writes_refused: u64,
    reads_answered: u64,
    reads_refused: u64,
    events: u64,
}

impl Harness {
    fn new() -> Harness {
        let text = "dataDir=/nonexistent\nextendedTypesEnabled=true\nsuperDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=\n";
        let cfg = Arc::new(Config::from_str(text).expect("config"));
        let (self_tx, self_rx) = mpsc::unbounded_channel();
        let members = BTreeMap::from([(1, MemberAddr { peer: String::new(), election: String::new() })]);
        let mut core = Core::new(cfg.clone(), 1, members, Loaded::empty(), self_tx);
        let (out_tx, out) = mpsc::unbounded_channel();
        let session = SessionId(0x0100_0000_0000_0001);
        let addr = "127.0.0.1:40000".parse().expect("addr");
        let conn = Conn {
            out: out_tx.into(),
            closer: Arc::new(Notify::new()),
            addr,
            session,
            auth: AuthInfo::from_ip("127.0.0.1"),
            stats: ConnStats::new(),
            read_only_flag: true,
            answered: None,
            sasl: None,
        };
        core.conns.insert(ConnId(1), conn);
        core.session_conn.insert(session, ConnId(1));
        core.sessions.add(session, 30_000, tokio::time::Instant::now());
        Harness { core, pending: Pending::default(), cfg, conn: ConnId(1), session, zxid: 1 << 32, out, _self_rx: self_rx, tally: Tally::default() }
    }

    /// Handles one decoded request as the core does; checks the replies and events it sends.
    fn handle(&mut self, f: RequestFrame, _raw: &[u8]) {
        let session = self.session;
        match &f.req {
            Request::Auth { scheme, auth, .. } => {
                let sd = self.cfg.super_digest.clone();
                if let Some(c) = self.core.conns.get_mut(&self.conn) {
                    c.auth.add(scheme, auth, sd.as_deref());
                }
            }
            Request::Sync { .. } => {}
            Request::CloseSession => {
                self.zxid += 1;
                let (txn, touched) = self.pending.prep_close(&self.core.tree, session, self.zxid as u64);
                self.apply(txn, &touched, f.xid);
            }
            _ if fuzzgen::WRITE_OPS.contains(&f.op) => {
                // A follower forwards the decoded request re-encoded: the leader must read back
                // exactly the same request (even from a hostile frame that decoded).
                let fwd = WriteOp::Request(f.clone()).into_forward();
                assert_eq!(WriteOp::from_forward(fwd).expect("a forwarded frame decodes"), WriteOp::Request(f.clone()));
                self.zxid += 1;
                let auth = self.core.conns.get(&self.conn).map(|c| c.auth.clone()).unwrap_or_default();
                let who = Asker { session, auth: &auth };
                let (txn, touched) = self.pending.prep(&self.core.tree, &self.cfg, &who, f.op, &f.req, self.zxid as u64, 1_700_000_000_000);
                self.apply(txn, &touched, f.xid);
            }
            _ => {
                let (xid, op) = (f.xid, f.op);
                let c = self.core.conns.get(&self.conn).expect("the harness's connection");
                let ctx = reads::ReadCtx { tree: &self.core.tree, watches: &mut self.core.watches, auth: &c.auth, session: c.session };
                let served = reads::serve(ctx, f);
                for e in served.events {
                    self.core.send(self.conn, e);
                }
                let (err, resp) = (served.err, served.resp);
                if err == ErrorCode::Ok {
                    self.tally.reads_answered += 1;
                } else {
                    self.tally.reads_refused += 1;
                }
                let frame = reply_frame(xid, self.core.tree.last_zxid.0, err, &resp);
                check_reply(&frame, xid, op, err);
            }
        }
        self.drain_events();
    }

    /// The log's round trip (encode, decode) then apply, as every member does.
    fn apply(&mut self, txn: Txn, touched: &[String], xid: i32) {
        let header = TxnHeader { session: self.session, cxid: xid, zxid: Zxid(self.zxid), time: 1_700_000_000_000 };
        let mut w = Writer::new();
        header.write(&mut w);
        txn.write(&mut w);
        let mut r = Reader::new(&w.buf);
        assert_eq!(TxnHeader::read(&mut r).expect("header"), header);
        let back = Txn::read(&mut r).expect("a txn prep made decodes");
        assert_eq!(back, txn);
        assert_eq!(r.remaining(), 0);
        let mut triggers = Vec::new();
        let res = self.core.tree.apply(&header, &back, &mut triggers);
        let failed = matches!(back, Txn::Error { .. }) || res.err != ErrorCode::Ok || res.multi.iter().any(|m| m.err != ErrorCode::Ok);
        if failed {
            self.tally.writes_refused += 1;
        } else {
            self.tally.writes_applied += 1;
        }
        self.pending.committed(self.zxid as u64, touched, self.session);
        for (ev, path, _) in triggers {
            for s in self.core.watches.trigger(ev, &path) {
                assert_eq!(s, self.session);
                let f = event_frame(self.zxid, &WatcherEvent { typ: ev as i32, state: STATE_SYNC_CONNECTED, path: path.clone() });
                check_event(&f);
                self.tally.events += 1;
            }
        }
    }

    fn drain_events(&mut self) {
        while let Ok(o) = self.out.try_recv() {
            if let Out::Frame(f) = o {
                check_event(&f);
                self.tally.events += 1;
            }
        }
    }
}

fn check_event(f: &[u8]) {
    let mut r = Reader::new(&f[4..]);
    let h = ReplyHeader::read(&mut r).expect("event header");
    assert_eq!(h.xid, XID_NOTIFICATION);
    WatcherEvent::read(&mut r).expect("event body");
    assert_eq!(r.remaining(), 0);
}

/// The reply frame reads back with the client-side decoder.
fn check_reply(frame: &[u8], xid: i32, op: OpCode, err: ErrorCode) {
    let n = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
    assert_eq!(n, frame.len() - 4);
    let mut r = Reader::new(&frame[4..]);
    let h = ReplyHeader::read(&mut r).expect("reply header");
    assert_eq!((h.xid, h.err), (xid, err.code()));
    if err == ErrorCode::Ok {
        Response::read(op, &mut r).unwrap_or_else(|e| panic!("{op:?}: the reply does not decode: {e}"));
        if reply_is_exact(op) {
            assert_eq!(r.remaining(), 0, "{op:?}: bytes left over in the reply");
        }
    } else {
        assert_eq!(r.remaining(), 0, "an error reply has a body");
    }
}

fn add(a: Tally, b: Tally) -> Tally {
    Tally {
        writes_applied: a.writes_applied + b.writes_applied,
        writes_refused: a.writes_refused + b.writes_refused,
        reads_answered: a.reads_answered + b.reads_answered,
        reads_refused: a.reads_refused + b.reads_refused,
        events: a.events + b.events,
    }
}

#[test]
fn valid_requests_decode_exactly_and_round_trip() {
    let mut rng = StdRng::seed_from_u64(env_u64("FUZZ_SEED", 1));
    let mut h = Harness::new();
    let mut checked = 0;
    for &op in fuzzgen::CLIENT_OPS {
        for n in 0..300 {
            let body = fuzzgen::request(&mut rng, op);
            let xid = fuzzgen::xid_for(op, n + 1);
            let raw = fuzzgen::request_bytes(xid, op as i32, &body.bytes);
            match (RequestFrame::read(&raw), &body.req) {
                (Ok(f), Some(req)) => {
                    assert_eq!(&f.req, req, "{op:?}: decoded differently from what was generated\n{raw:?}");
                    assert_eq!((f.xid, f.op), (xid, op));
                    let re = f.to_frame();
                    assert_eq!(&re[4..], &raw[..], "{op:?}: re-encoding differs");
                    h.handle(f, &raw);
                }
                // opcodes the server does not serve: a well-formed header answered Unimplemented.
                (Err(RequestError::Unsupported { xid: x, op: o }), None) => assert_eq!((x, o), (xid, op as i32)),
                (other, _) => panic!("{op:?}: unexpected decode result {other:?}\n{raw:?}"),
            }
            checked += 1;
        }
    }
    for _ in 0..2000 {
        let (req, bytes) = fuzzgen::connect(&mut rng);
        let back = ConnectRequest::read(&mut Reader::new(&bytes)).expect("a valid connect request decodes");
        assert_eq!(back, req);
        let mut w = Writer::new();
        back.write(&mut w);
        assert_eq!(&w.buf[..], &bytes[..]);
        checked += 1;
    }
    println!("{checked} valid requests and connect requests checked; {:?}; {} znodes at the end", h.tally, h.core.tree.node_count());
}

#[test]
fn hostile_requests_are_refused_or_handled_within_bounds() {
    let cases = env_u64("FUZZ_CASES", 20_000);
    let seed = env_u64("FUZZ_SEED", 2);
    let mut rng = StdRng::seed_from_u64(seed);
    let progress = watchdog("fuzz_requests", seed);
    let started = Instant::now();
    let mut h = Harness::new();
    let mut tally = Tally::default();
    let (mut decoded, mut malformed, mut unsupported, mut connects_ok, mut connects_bad) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut largest = 0usize;
    for case in 0..cases {
        progress.store(case, Ordering::Relaxed);
        if case % 5000 == 4999 {
            // A fresh tree now and then: sequential creates would otherwise grow it forever.
            tally = add(tally, h.tally);
            h = Harness::new();
        }
        if case % 20 == 0 {
            // The handshake's decoder.
            let (_, mut b) = fuzzgen::connect(&mut rng);
            fuzzgen::mutate(&mut b, &mut rng);
            match ConnectRequest::read(&mut Reader::new(&b)) {
                Ok(_) => connects_ok += 1,
                Err(_) => connects_bad += 1,
            }
            continue;
        }
        let raw: Vec<u8> = if case % 10 == 1 {
            (0..rng.gen_range(0..64)).map(|_| rng.gen()).collect()
        } else if case % 10 == 2 {
            // Valid requests among the hostile ones, so that the tree, the watches and the
            // session's auth take the shapes the mutated requests then meet.
            let op = fuzzgen::CLIENT_OPS[rng.gen_range(0..fuzzgen::CLIENT_OPS.len())];
            let body = fuzzgen::request(&mut rng, op);
            fuzzgen::request_bytes(fuzzgen::xid_for(op, case as i32), op as i32, &body.bytes)
        } else {
            let op = fuzzgen::CLIENT_OPS[rng.gen_range(0..fuzzgen::CLIENT_OPS.len())];
            let body = fuzzgen::request(&mut rng, op);
            let mut raw = fuzzgen::request_bytes(fuzzgen::xid_for(op, case as i32), op as i32, &body.bytes);
            // Leave the header alone most of the time so the mutation reaches the body.
            if rng.gen_bool(0.8) && raw.len() > 8 {
                let mut rest = raw.split_off(8);
                fuzzgen::mutate(&mut rest, &mut rng);
                raw.extend(rest);
            } else {
                fuzzgen::mutate(&mut raw, &mut rng);
            }
            raw
        };
        largest = largest.max(raw.len());
        match RequestFrame::read(&raw) {
            Ok(f) => {
                decoded += 1;
                h.handle(f, &raw);
            }
            Err(RequestError::Unsupported { .. }) => unsupported += 1,
            Err(RequestError::Decode(_)) => malformed += 1,
        }
    }
    progress.store(u64::MAX, Ordering::Relaxed);
    let tally = add(tally, h.tally);
    let rss = peak_rss_kib();
    println!(
        "{cases} cases (seed {seed}) in {:.1} s: {decoded} decoded and handled ({tally:?}), {malformed} refused as \
         malformed (the connection closes), {unsupported} unsupported opcodes (answered Unimplemented); connect \
         requests: {connects_ok} decoded, {connects_bad} refused; largest frame {largest} bytes; peak RSS {rss} KiB",
        started.elapsed().as_secs_f64()
    );
    // Frames are a few KiB at most: anything near 256 MiB means a count or length was trusted.
    assert!(rss < 256 * 1024, "peak RSS {rss} KiB");
}
