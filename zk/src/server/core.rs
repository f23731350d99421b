//! The core: one task that owns the DataTree, the sessions, the watches and the order of
//! everything. Connections send it decoded frames; it answers reads at once (or after the
//! session's earlier writes), preps writes into transactions and hands them to the
//! persister, and when the persister reports them durable it applies them in zxid order,
//! fires watches, and replies. Replies on a connection therefore come back in xid order.
//!
//! ```text
//! Connect/Request ─► prep ─► LogCmd::Append ─► (txn-log thread: write, fdatasync) ─► Durable
//!                     │                                                          │
//!                     └─ reads: served now, or queued behind the session's writes ◄─ apply, watches, reply
//! ```

use super::fourlw;
use super::prep::{Asker, Pending};
use super::reads;
use crate::config::Config;
use crate::proto::*;
use crate::session::{password, SessionTracker};
use crate::storage::log::{LogCmd, LogEvent};
use crate::storage::{self, snapshot};
use crate::tree::acl::AuthInfo;
use crate::tree::{DataTree, Txn, TxnHeader};
use crate::watch::WatchManager;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::{Duration, Instant};

/// What a connection's writer task receives.
#[derive(Debug)]
pub enum Out {
    Frame(Bytes),
    /// Flush and close the connection.
    Close,
}

pub type OutTx = mpsc::UnboundedSender<Out>;

/// Messages into the core.
pub enum CoreMsg {
    Connect { conn: u64, addr: SocketAddr, req: ConnectRequest, out: OutTx, closer: Arc<Notify> },
    Request { conn: u64, frame: RequestFrame, received: Instant },
    /// A well-formed header with an opcode we do not serve: answered `Unimplemented`, in order.
    Unsupported { conn: u64, xid: i32 },
    Disconnected { conn: u64 },
    FourLetter { cmd: String, reply: oneshot::Sender<String> },
    Shutdown,
}

/// Per-connection counters for `cons` and `stat`.
#[derive(Debug, Clone)]
pub struct ConnStats {
    pub received: u64,
    pub sent: u64,
    pub last_op: &'static str,
    pub last_cxid: i32,
    pub last_zxid: i64,
    pub last_latency: u64,
    pub min_latency: u64,
    pub max_latency: u64,
    pub total_latency: u64,
    pub count: u64,
    pub established: std::time::SystemTime,
    pub last_response: std::time::SystemTime,
}

impl ConnStats {
    fn new() -> Self {
        ConnStats {
            received: 0,
            sent: 0,
            last_op: "NA",
            last_cxid: 0,
            last_zxid: 0,
            last_latency: 0,
            min_latency: u64::MAX,
            max_latency: 0,
            total_latency: 0,
            count: 0,
            established: std::time::SystemTime::now(),
            last_response: std::time::SystemTime::now(),
        }
    }
}

pub struct Conn {
    pub out: OutTx,
    pub closer: Arc<Notify>,
    pub addr: SocketAddr,
    pub session: i64,
    pub auth: AuthInfo,
    pub stats: ConnStats,
    /// Whether the client's connect request carried the readOnly flag (45 bytes).
    pub read_only_flag: bool,
}

/// Server-wide counters for `srvr`, `stat`, `mntr`.
#[derive(Debug, Default, Clone)]
pub struct ServerStats {
    pub received: u64,
    pub sent: u64,
    pub min_latency: u64,
    pub max_latency: u64,
    pub total_latency: u64,
    pub count: u64,
}

/// Where the outcome of an in-flight item goes.
enum Reply {
    None,
    Client { conn: u64, xid: i32, op: OpCode, sub_ops: Vec<OpCode>, received: Instant },
    Connect { conn: u64, timeout: i32 },
    Close { conn: u64, xid: i32, received: Instant },
}

enum Item {
    Txn { header: TxnHeader, txn: Txn, touched: Vec<String> },
    /// sync: no transaction, just a place in the order.
    Sync { path: String },
}

struct Inflight {
    seq: u64,
    session: i64,
    item: Item,
    reply: Reply,
}

/// A session's requests waiting for its earlier writes.
enum Queued {
    Inflight(u64),
    Read { conn: u64, frame: RequestFrame, received: Instant },
}

pub struct Core {
    pub cfg: Arc<Config>,
    pub tree: DataTree,
    pub sessions: SessionTracker,
    pub watches: WatchManager,
    pub conns: HashMap<u64, Conn>,
    pub session_conn: HashMap<i64, u64>,
    pub stats: ServerStats,
    pub started: std::time::SystemTime,
    pending: Pending,
    queues: HashMap<i64, VecDeque<Queued>>,
    inflight: VecDeque<Inflight>,
    next_seq: u64,
    next_zxid: i64,
    log_tx: std::sync::mpsc::Sender<LogCmd>,
    txns_since_snapshot: u64,
    snapshot_threshold: u64,
    snapshot_running: Arc<std::sync::atomic::AtomicBool>,
    triggers: Vec<crate::tree::Trigger>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn is_write(op: OpCode) -> bool {
    matches!(
        op,
        OpCode::Create
            | OpCode::Create2
            | OpCode::CreateContainer
            | OpCode::CreateTtl
            | OpCode::Delete
            | OpCode::SetData
            | OpCode::SetAcl
            | OpCode::Check
            | OpCode::Multi
            | OpCode::CloseSession
    )
}

impl Core {
    pub fn new(cfg: Arc<Config>, recovered: storage::Recovered, log_tx: std::sync::mpsc::Sender<LogCmd>) -> Core {
        let mut sessions = SessionTracker::new(0, now_ms());
        let now = Instant::now();
        let tree = recovered.tree;
        for (id, timeout) in &recovered.sessions {
            sessions.add(*id, *timeout, now);
        }
        // Ephemerals whose session is unknown (should not happen) get a session that expires.
        let orphans: Vec<i64> = tree.ephemeral_owners().map(|(s, _)| *s).filter(|s| sessions.get(*s).is_none()).collect();
        for s in orphans {
            tracing::warn!(session = format!("{s:#x}"), "ephemerals without a session: it will expire");
            sessions.add(s, cfg.max_session_timeout as i32, now);
        }
        let next_zxid = tree.last_zxid + 1;
        let threshold = Self::pick_threshold(cfg.snap_count);
        Core {
            cfg,
            tree,
            sessions,
            watches: WatchManager::default(),
            conns: HashMap::new(),
            session_conn: HashMap::new(),
            stats: ServerStats { min_latency: u64::MAX, ..Default::default() },
            started: std::time::SystemTime::now(),
            pending: Pending::default(),
            queues: HashMap::new(),
            inflight: VecDeque::new(),
            next_seq: 1,
            next_zxid,
            log_tx,
            txns_since_snapshot: recovered.replayed as u64,
            snapshot_threshold: threshold,
            snapshot_running: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            triggers: Vec::new(),
        }
    }

    /// ZooKeeper snapshots after snapCount/2 + random(snapCount/2) txns, so ensemble members
    /// do not all snapshot at once.
    fn pick_threshold(snap_count: u64) -> u64 {
        let half = (snap_count / 2).max(1);
        half + rand::random::<u64>() % half
    }

    pub fn outstanding(&self) -> usize {
        self.inflight.len() + self.queues.values().map(|q| q.len()).sum::<usize>()
    }

    /// The main loop. Ends on shutdown or when the log fails (then the caller exits non-zero).
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<CoreMsg>, mut log_rx: mpsc::UnboundedReceiver<LogEvent>) -> Result<(), String> {
        let tick = Duration::from_millis((self.cfg.tick_time as u64 / 2).clamp(10, 1000));
        let mut expiry = tokio::time::interval(tick);
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reaper = tokio::time::interval(Duration::from_millis(self.cfg.container_check_interval_ms));
        reaper.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                ev = log_rx.recv() => match ev {
                    Some(LogEvent::Durable { seq }) => self.on_durable(seq),
                    Some(LogEvent::Failed(e)) => return Err(e),
                    None => return Err("transaction log thread stopped".into()),
                },
                msg = rx.recv() => match msg {
                    Some(CoreMsg::Shutdown) | None => return Ok(()),
                    Some(m) => self.on_msg(m),
                },
                _ = expiry.tick() => self.expire_sessions(),
                _ = reaper.tick() => self.reap(),
            }
        }
    }

    /// Waits until every submitted write is durable and applied (used at shutdown).
    pub async fn drain(&mut self, log_rx: &mut mpsc::UnboundedReceiver<LogEvent>) {
        while !self.inflight.is_empty() {
            match tokio::time::timeout(Duration::from_secs(10), log_rx.recv()).await {
                Ok(Some(LogEvent::Durable { seq })) => self.on_durable(seq),
                _ => return,
            }
        }
    }

    fn on_msg(&mut self, m: CoreMsg) {
        match m {
            CoreMsg::Connect { conn, addr, req, out, closer } => self.on_connect(conn, addr, req, out, closer),
            CoreMsg::Request { conn, frame, received } => self.on_request(conn, frame, received),
            CoreMsg::Unsupported { conn, xid } => {
                let frame = reply_frame(xid, self.tree.last_zxid, ErrorCode::Unimplemented, &Response::Empty);
                self.send(conn, frame);
            }
            CoreMsg::Disconnected { conn } => self.on_disconnect(conn),
            CoreMsg::FourLetter { cmd, reply } => {
                let _ = reply.send(fourlw::answer(self, &cmd));
            }
            CoreMsg::Shutdown => {}
        }
    }

    pub fn send(&mut self, conn: u64, frame: Bytes) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.sent += 1;
            self.stats.sent += 1;
            let _ = c.out.send(Out::Frame(frame));
        }
    }

    fn close_conn(&mut self, conn: u64) {
        if let Some(c) = self.conns.remove(&conn) {
            let _ = c.out.send(Out::Close);
            c.closer.notify_one();
            if self.session_conn.get(&c.session) == Some(&conn) {
                self.session_conn.remove(&c.session);
                self.watches.remove_session(c.session);
            }
        }
    }

    fn on_connect(&mut self, conn: u64, addr: SocketAddr, req: ConnectRequest, out: OutTx, closer: Arc<Notify>) {
        let now = Instant::now();
        let auth = AuthInfo::from_ip(&addr.ip().to_string());
        let mut c = Conn { out, closer, addr, session: 0, auth, stats: ConnStats::new(), read_only_flag: req.read_only.is_some() };
        c.stats.received = 1;
        self.stats.received += 1;
        if req.last_zxid_seen > self.tree.last_zxid {
            tracing::info!(client = %addr, last_zxid_seen = format!("{:#x}", req.last_zxid_seen), our_zxid = format!("{:#x}", self.tree.last_zxid),
                "refusing session request: the client has seen a newer zxid than this server");
            let _ = c.out.send(Out::Close);
            c.closer.notify_one();
            return;
        }
        let timeout = req.timeout.clamp(self.cfg.min_session_timeout as i32, self.cfg.max_session_timeout as i32);
        if req.session_id == 0 {
            let id = self.sessions.next_id();
            self.sessions.add(id, timeout, now);
            c.session = id;
            self.conns.insert(conn, c);
            self.session_conn.insert(id, conn);
            let zxid = self.alloc_zxid();
            let header = TxnHeader { session: id, cxid: 0, zxid, time: now_ms() };
            tracing::debug!(session = format!("{id:#x}"), client = %addr, timeout, "new session");
            self.submit(id, Item::Txn { header, txn: Txn::CreateSession { timeout }, touched: Vec::new() }, Reply::Connect { conn, timeout });
            return;
        }
        let id = req.session_id;
        let valid = self.sessions.get(id).is_some_and(|s| !s.closing) && req.passwd == password(id);
        if !valid {
            tracing::info!(session = format!("{id:#x}"), client = %addr, "reconnect refused: session expired or bad password");
            let read_only = req.read_only.map(|_| false);
            let resp = ConnectResponse { protocol_version: 0, timeout: 0, session_id: 0, passwd: vec![0; 16], read_only };
            let mut w = Writer::framed();
            resp.write(&mut w);
            let _ = c.out.send(Out::Frame(w.finish_frame()));
            let _ = c.out.send(Out::Close);
            c.closer.notify_one();
            return;
        }
        // Reattach: the old connection (if any) is closed and its watches dropped; the client
        // re-registers them with setWatches.
        if let Some(old) = self.session_conn.get(&id).copied() {
            if old != conn {
                tracing::info!(session = format!("{id:#x}"), client = %addr, "session moved to a new connection; closing the old one");
                self.close_conn(old);
            }
        }
        self.sessions.touch(id, now);
        let timeout = self.sessions.get(id).map_or(timeout, |s| s.timeout);
        c.session = id;
        self.conns.insert(conn, c);
        self.session_conn.insert(id, conn);
        tracing::debug!(session = format!("{id:#x}"), client = %addr, "session reattached");
        self.send_connect_response(conn, id, timeout);
    }

    fn send_connect_response(&mut self, conn: u64, session: i64, timeout: i32) {
        let read_only = self.conns.get(&conn).and_then(|c| c.read_only_flag.then_some(false));
        let resp = ConnectResponse { protocol_version: 0, timeout, session_id: session, passwd: password(session), read_only };
        let mut w = Writer::framed();
        resp.write(&mut w);
        self.send(conn, w.finish_frame());
    }

    fn on_disconnect(&mut self, conn: u64) {
        if let Some(c) = self.conns.get(&conn) {
            tracing::debug!(session = format!("{:#x}", c.session), client = %c.addr, "connection closed");
        }
        self.close_conn(conn);
    }

    fn alloc_zxid(&mut self) -> i64 {
        let z = self.next_zxid;
        self.next_zxid += 1;
        z
    }

    fn submit(&mut self, session: i64, item: Item, reply: Reply) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let cmd = match &item {
            Item::Txn { header, txn, .. } => {
                let mut w = Writer::new();
                header.write(&mut w);
                txn.write(&mut w);
                LogCmd::Append { seq, zxid: header.zxid, payload: w.buf.to_vec() }
            }
            Item::Sync { .. } => LogCmd::Barrier { seq },
        };
        if self.log_tx.send(cmd).is_err() {
            tracing::error!("transaction log thread is gone; the write cannot be made durable");
        }
        if session != 0 && !matches!(reply, Reply::None) {
            self.queues.entry(session).or_default().push_back(Queued::Inflight(seq));
        }
        self.inflight.push_back(Inflight { seq, session, item, reply });
    }

    fn on_request(&mut self, conn: u64, frame: RequestFrame, received: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.stats.received += 1;
        c.stats.last_cxid = frame.xid;
        c.stats.last_op = frame.op.name();
        self.stats.received += 1;
        let session = c.session;
        if !self.sessions.touch(session, received) {
            let f = reply_frame(frame.xid, self.tree.last_zxid, ErrorCode::SessionExpired, &Response::Empty);
            self.send(conn, f);
            self.close_conn(conn);
            return;
        }
        if let Request::Auth { scheme, auth, .. } = &frame.req {
            let super_digest = self.cfg.super_digest.clone();
            let ok = self.conns.get_mut(&conn).is_some_and(|c| c.auth.add(scheme, auth, super_digest.as_deref()));
            let err = if ok { ErrorCode::Ok } else { ErrorCode::AuthFailed };
            let f = reply_frame(frame.xid, self.tree.last_zxid, err, &Response::Empty);
            self.send(conn, f);
            if !ok {
                tracing::info!(session = format!("{session:#x}"), scheme = %scheme, "authentication failed; closing the connection");
                self.close_conn(conn);
            }
            return;
        }
        if is_write(frame.op) {
            self.prep_and_submit(conn, session, frame, received);
        } else if let Request::Sync { path } = frame.req {
            // A barrier behind every write submitted so far: answered once they are durable.
            let reply = Reply::Client { conn, xid: frame.xid, op: frame.op, sub_ops: Vec::new(), received };
            self.submit(session, Item::Sync { path }, reply);
        } else if self.queues.get(&session).is_some_and(|q| !q.is_empty()) {
            self.queues.entry(session).or_default().push_back(Queued::Read { conn, frame, received });
        } else {
            self.serve_read(conn, frame, received);
        }
    }

    fn prep_and_submit(&mut self, conn: u64, session: i64, frame: RequestFrame, received: Instant) {
        let zxid = self.alloc_zxid();
        let time = now_ms();
        let RequestFrame { xid, op, req } = frame;
        let (txn, touched) = if op == OpCode::CloseSession {
            self.sessions.set_closing(session);
            self.pending.prep_close(&self.tree, session, zxid)
        } else {
            let Some(c) = self.conns.get(&conn) else { return };
            let who = Asker { session, auth: &c.auth };
            self.pending.prep(&self.tree, &self.cfg, &who, op, &req, zxid, time)
        };
        let sub_ops = match &req {
            Request::Multi(ops) => ops.iter().map(|(o, _)| *o).collect(),
            _ => Vec::new(),
        };
        let header = TxnHeader { session, cxid: xid, zxid, time };
        let reply = if op == OpCode::CloseSession {
            Reply::Close { conn, xid, received }
        } else {
            Reply::Client { conn, xid, op, sub_ops, received }
        };
        self.submit(session, Item::Txn { header, txn, touched }, reply);
    }

    fn serve_read(&mut self, conn: u64, frame: RequestFrame, received: Instant) {
        let xid = frame.xid;
        let op = frame.op;
        let (err, resp) = reads::serve(self, conn, frame);
        let f = reply_frame(xid, self.tree.last_zxid, err, &resp);
        self.record_latency(conn, op, self.tree.last_zxid, received);
        self.send(conn, f);
    }

    fn record_latency(&mut self, conn: u64, op: OpCode, zxid: i64, received: Instant) {
        if op == OpCode::Ping {
            return;
        }
        let lat = received.elapsed().as_millis() as u64;
        let s = &mut self.stats;
        s.count += 1;
        s.total_latency += lat;
        s.min_latency = s.min_latency.min(lat);
        s.max_latency = s.max_latency.max(lat);
        if let Some(c) = self.conns.get_mut(&conn) {
            let cs = &mut c.stats;
            cs.count += 1;
            cs.total_latency += lat;
            cs.last_latency = lat;
            cs.min_latency = cs.min_latency.min(lat);
            cs.max_latency = cs.max_latency.max(lat);
            cs.last_zxid = zxid;
            cs.last_response = std::time::SystemTime::now();
        }
    }

    fn on_durable(&mut self, upto: u64) {
        while self.inflight.front().is_some_and(|i| i.seq <= upto) {
            let Some(item) = self.inflight.pop_front() else { break };
            self.complete(item);
        }
        if self.txns_since_snapshot >= self.snapshot_threshold {
            self.take_snapshot();
        }
    }

    fn complete(&mut self, it: Inflight) {
        let Inflight { seq, session, item, reply } = it;
        let result;
        let mut zxid = self.tree.last_zxid;
        match item {
            Item::Txn { header, txn, touched } => {
                let mut triggers = std::mem::take(&mut self.triggers);
                triggers.clear();
                let r = self.tree.apply(&header, &txn, &mut triggers);
                self.pending.committed(header.zxid, &touched, header.session);
                self.txns_since_snapshot += 1;
                zxid = header.zxid;
                for (ev, path) in triggers.drain(..) {
                    self.fire(ev, &path, zxid);
                }
                self.triggers = triggers;
                if matches!(txn, Txn::CloseSession) {
                    self.end_session(header.session, matches!(reply, Reply::Close { .. }));
                }
                result = Some((r, txn));
            }
            Item::Sync { path } => {
                let r = crate::tree::ApplyResult { err: ErrorCode::Ok, path: Some(path), stat: None, multi: vec![] };
                result = Some((r, Txn::Error { err: 0 }));
            }
        }
        match reply {
            Reply::None => {}
            Reply::Connect { conn, timeout } => self.send_connect_response(conn, session, timeout),
            Reply::Close { conn, xid, received } => {
                let f = reply_frame(xid, zxid, ErrorCode::Ok, &Response::Empty);
                self.record_latency(conn, OpCode::CloseSession, zxid, received);
                self.send(conn, f);
                self.close_conn(conn);
            }
            Reply::Client { conn, xid, op, sub_ops, received } => {
                let (err, resp) = match result {
                    Some((r, txn)) => reply_for(op, &sub_ops, r, &txn),
                    None => (ErrorCode::Ok, Response::Empty),
                };
                let f = reply_frame(xid, zxid, err, &resp);
                self.record_latency(conn, op, zxid, received);
                self.send(conn, f);
            }
        }
        // Release the reads this session queued behind this write.
        let mut ready = Vec::new();
        if let Some(q) = self.queues.get_mut(&session) {
            if matches!(q.front(), Some(Queued::Inflight(s)) if *s == seq) {
                q.pop_front();
            }
            while matches!(q.front(), Some(Queued::Read { .. })) {
                if let Some(Queued::Read { conn, frame, received }) = q.pop_front() {
                    ready.push((conn, frame, received));
                }
            }
            if q.is_empty() {
                self.queues.remove(&session);
            }
        }
        for (conn, frame, received) in ready {
            self.serve_read(conn, frame, received);
        }
    }

    /// A closeSession is applied: forget the session, its watches and (unless the reply
    /// still has to go out on it) its connection.
    fn end_session(&mut self, session: i64, reply_pending: bool) {
        self.sessions.remove(session);
        self.queues.remove(&session);
        self.watches.remove_session(session);
        if let Some(c) = self.session_conn.get(&session).copied() {
            if !reply_pending {
                self.close_conn(c);
            }
        }
    }

    fn fire(&mut self, ev: EventType, path: &str, zxid: i64) {
        let sessions = self.watches.trigger(ev, path);
        if sessions.is_empty() {
            return;
        }
        let frame = event_frame(zxid, &WatcherEvent { typ: ev as i32, state: STATE_SYNC_CONNECTED, path: path.to_string() });
        for s in sessions {
            if let Some(conn) = self.session_conn.get(&s).copied() {
                self.send(conn, frame.clone());
            }
        }
    }

    fn expire_sessions(&mut self) {
        let now = Instant::now();
        for id in self.sessions.expired(now) {
            tracing::info!(session = format!("{id:#x}"), "session expired");
            if let Some(conn) = self.session_conn.get(&id).copied() {
                self.close_conn(conn);
            }
            let zxid = self.alloc_zxid();
            let (txn, touched) = self.pending.prep_close(&self.tree, id, zxid);
            let header = TxnHeader { session: id, cxid: 0, zxid, time: now_ms() };
            self.submit(id, Item::Txn { header, txn, touched }, Reply::None);
        }
    }

    fn reap(&mut self) {
        for path in self.tree.reapable(now_ms()) {
            let zxid = self.next_zxid;
            if let Some((txn, touched)) = self.pending.prep_reap(&self.tree, &path, zxid) {
                self.alloc_zxid();
                tracing::debug!(path = %path, "reaping empty container or expired TTL node");
                let header = TxnHeader { session: 0, cxid: 0, zxid, time: now_ms() };
                self.submit(0, Item::Txn { header, txn, touched }, Reply::None);
            }
        }
    }

    fn take_snapshot(&mut self) {
        use std::sync::atomic::Ordering;
        if self.snapshot_running.swap(true, Ordering::SeqCst) {
            return;
        }
        self.txns_since_snapshot = 0;
        self.snapshot_threshold = Self::pick_threshold(self.cfg.snap_count);
        let bytes = snapshot::encode(&self.tree, &self.sessions.table());
        let zxid = self.tree.last_zxid;
        let _ = self.log_tx.send(LogCmd::Roll);
        let snap_dir = self.cfg.snap_dir();
        let log_dir = self.cfg.log_dir();
        let retain = self.cfg.autopurge_snap_retain_count;
        let purge = self.cfg.autopurge_purge_interval > 0;
        let running = self.snapshot_running.clone();
        let spawned = std::thread::Builder::new().name("snapshot".into()).spawn(move || {
            match snapshot::write(&snap_dir, zxid, &bytes) {
                Ok(p) => tracing::info!(file = %p.display(), bytes = bytes.len(), "snapshot written"),
                Err(e) => tracing::error!(error = %e, "snapshot failed; the log still has every transaction"),
            }
            if purge {
                match storage::purge(&snap_dir, &log_dir, retain) {
                    Ok(d) if !d.is_empty() => tracing::info!(files = d.len(), "autopurge removed old snapshots and logs"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "autopurge failed"),
                }
            }
            running.store(false, Ordering::SeqCst);
        });
        if spawned.is_err() {
            self.snapshot_running.store(false, Ordering::SeqCst);
        }
    }
}

/// Builds the reply of a committed write from what apply returned.
fn reply_for(op: OpCode, sub_ops: &[OpCode], r: crate::tree::ApplyResult, txn: &Txn) -> (ErrorCode, Response) {
    if r.err != ErrorCode::Ok {
        return (r.err, Response::Empty);
    }
    if op == OpCode::Sync {
        return (ErrorCode::Ok, Response::Path(r.path.unwrap_or_default()));
    }
    let stat = r.stat.unwrap_or_default();
    let resp = match op {
        OpCode::Create => Response::Path(r.path.unwrap_or_default()),
        OpCode::Create2 | OpCode::CreateTtl | OpCode::CreateContainer => Response::PathStat(r.path.unwrap_or_default(), stat),
        OpCode::SetData | OpCode::SetAcl => Response::Stat(stat),
        OpCode::Multi => {
            let results = r
                .multi
                .into_iter()
                .enumerate()
                .map(|(i, sub)| {
                    if let Txn::Multi(ts) = txn {
                        if let Some(Txn::Error { err }) = ts.get(i) {
                            return OpResult::Error(*err);
                        }
                    }
                    if sub.err != ErrorCode::Ok {
                        return OpResult::Error(sub.err.code());
                    }
                    match sub_ops.get(i).copied().unwrap_or(OpCode::Error) {
                        OpCode::Create => OpResult::Create { path: sub.path.unwrap_or_default(), stat: None },
                        OpCode::Create2 | OpCode::CreateTtl | OpCode::CreateContainer => {
                            OpResult::Create { path: sub.path.unwrap_or_default(), stat: Some(sub.stat.unwrap_or_default()) }
                        }
                        OpCode::Delete => OpResult::Delete,
                        OpCode::SetData => OpResult::SetData(sub.stat.unwrap_or_default()),
                        OpCode::Check => OpResult::Check,
                        _ => OpResult::Error(ErrorCode::RuntimeInconsistency.code()),
                    }
                })
                .collect();
            Response::Multi(results)
        }
        _ => Response::Empty,
    };
    (ErrorCode::Ok, resp)
}
