//! The core: one task that owns the DataTree, the sessions, the watches and the order of
//! everything on this member. Connections send it decoded frames; it answers reads at once
//! (or after the session's own earlier writes), and sends writes into the replicated log:
//! on the leader it preps them ([`super::prep`]) and proposes them to openraft; on a follower
//! it forwards them to the leader, which preps and proposes. Every member applies committed
//! entries in log order ([`SmMsg::Apply`]), fires watches, and answers its own clients, so
//! replies on a connection come back in xid order and a client reads its own writes.
//!
//! When this member's log cannot be written (a full disk: see `quorum::log_store`), the core
//! is told ([`CoreMsg::LogBlocked`]) and behaves like a ZooKeeper server in read-only mode:
//! writes and syncs are answered `NotReadOnly` (nothing was done), writes already in flight
//! lose their connection (their outcome is unknown until the log is writable again), new
//! sessions are refused, reads and pings are served from the tree as it is, and the leader
//! expires no sessions. All of that ends by itself when the log can be written again.
//!
//! ```text
//! client ─► Request ─► write? ── leader: prep ─► raft.client_write ─┐
//!                        │       follower: forward to leader ───────┤ (majority, fsync)
//!                        └ read: served now / behind own writes     ▼
//!                                                 SmMsg::Apply ─► tree.apply ─► watches, reply
//! ```

use super::fourlw;
use super::prep::{Asker, Pending};
use super::reads;
use crate::config::Config;
use crate::proto::*;
use crate::quorum::network::{spawn_forwarder, ForwardOp, ForwardReq, MemberAddr, StreamMsg, StreamReply};
use crate::quorum::state_machine::Meta;
use crate::quorum::{next_zxid, LogId, Membership, NodeId, Raft, ZkBatch, ZkEntry};
use crate::session::{password, SessionTracker};
use crate::storage::{self, snapshot};
use crate::tree::acl::AuthInfo;
use crate::tree::{DataTree, Txn, TxnHeader};
use crate::watch::WatchManager;
use bytes::Bytes;
use openraft::EntryPayload;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
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

pub use super::outbox::OutTx;

/// openraft's state-machine calls, answered by the core.
pub enum SmMsg {
    Apply(Vec<crate::quorum::Entry>, oneshot::Sender<()>),
    AppliedState(oneshot::Sender<(Option<LogId>, Membership)>),
    BuildSnapshot(oneshot::Sender<Result<(Meta, Vec<u8>), String>>),
    CurrentSnapshot(oneshot::Sender<Option<(Meta, Vec<u8>)>>),
    Install(Meta, Vec<u8>, oneshot::Sender<Result<(), String>>),
}

/// Messages into the core.
pub enum CoreMsg {
    /// A handshake; `answered` fires once the connect response is queued for the connection
    /// (dropped if the session is refused), and the connection reads nothing more before it.
    Connect { conn: u64, addr: SocketAddr, req: ConnectRequest, out: OutTx, closer: Arc<Notify>, answered: oneshot::Sender<()> },
    Request { conn: u64, frame: RequestFrame, raw: Bytes, received: Instant },
    /// A well-formed header with an opcode we do not serve: answered `Unimplemented`, in order.
    Unsupported { conn: u64, xid: i32 },
    Disconnected { conn: u64 },
    FourLetter { cmd: String, reply: oneshot::Sender<String> },
    Sm(SmMsg),
    /// The Raft handle, once it exists (it needs the core running first).
    Started(Raft),
    /// A proposal of ours was not committed (leadership lost): fail that request.
    WriteFailed { req: u64 },
    FromFollower { from: NodeId, msg: StreamMsg, reply: mpsc::UnboundedSender<StreamReply> },
    FromLeader { leader: NodeId, msg: StreamReply },
    ForwardLost { leader: NodeId },
    /// This member's log cannot be written (`Some(why)`) or can again (`None`).
    LogBlocked(Option<String>),
    /// A snapshot file is on disk: it is the current snapshot from now on.
    SnapshotWritten(Meta, PathBuf),
    /// A snapshot received from the leader is on disk: the state machine becomes it.
    Installed(Box<Installed>),
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
    /// Fired with the first frame sent on this connection, which is always the connect
    /// response: nothing else can be queued for a connection that has sent nothing else.
    pub answered: Option<oneshot::Sender<()>>,
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

/// Where the outcome of a local write goes.
enum Reply {
    Client { conn: u64, xid: i32, op: OpCode, sub_ops: Vec<OpCode>, received: Instant },
    Connect { conn: u64, timeout: i32 },
    Close { conn: u64, xid: i32, received: Instant },
}

/// A write (or sync) of one of our clients, waiting for the log.
struct Local {
    session: i64,
    reply: Reply,
    /// Sent to the leader over the forwarding stream (fails if that stream breaks).
    forwarded: bool,
}

/// A session's requests in arrival order: replies leave strictly in this order.
enum Queued {
    /// A write or sync still waiting for the log.
    Write(u64),
    /// Answered, waiting for the earlier entries: the reply, and whether to close after it.
    Done { conn: u64, frame: Bytes, close: bool },
    Read { conn: u64, frame: RequestFrame, received: Instant },
}

/// This member's view of the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Leader,
    Follower(NodeId),
    /// No known leader: not serving clients.
    Electing,
}

pub struct Core {
    pub cfg: Arc<Config>,
    pub my_id: NodeId,
    pub members: BTreeMap<NodeId, MemberAddr>,
    pub tree: DataTree,
    pub sessions: SessionTracker,
    pub watches: WatchManager,
    pub conns: HashMap<u64, Conn>,
    pub session_conn: HashMap<i64, u64>,
    pub stats: ServerStats,
    pub started: std::time::SystemTime,
    pub role: Role,
    pub raft: Option<Raft>,
    pub metrics: Option<openraft::RaftMetrics<NodeId, openraft::BasicNode>>,
    pending: Pending,
    next_prep: u64,
    prep_touched: HashMap<u64, Vec<String>>,
    queues: HashMap<i64, VecDeque<Queued>>,
    local: HashMap<u64, Local>,
    next_req: u64,
    /// The paths of syncs in flight (answered with their path).
    sync_paths: HashMap<u64, String>,
    forward: Option<(NodeId, mpsc::UnboundedSender<StreamMsg>)>,
    proposer: Option<mpsc::UnboundedSender<Proposal>>,
    /// Leader: the member each session is connected to (writes from elsewhere: SessionMoved).
    session_owner: HashMap<i64, NodeId>,
    pub last_applied: Option<LogId>,
    pub membership: Membership,
    current_snapshot: Option<(Meta, PathBuf)>,
    self_tx: mpsc::UnboundedSender<CoreMsg>,
    triggers: Vec<crate::tree::Trigger>,
    /// Why this member's log cannot be written now, if it cannot (read-only until then).
    pub log_blocked: Option<String>,
}

/// A received snapshot, decoded and durable, and openraft waiting for the install.
pub struct Installed {
    meta: Meta,
    tree: DataTree,
    sessions: BTreeMap<i64, i32>,
    path: PathBuf,
    done: oneshot::Sender<Result<(), String>>,
}

/// Writes a snapshot file, retrying (backoff up to 2 s) while it cannot be written, e.g. on a
/// full disk; gives up only when `abandoned()` (openraft stopped waiting) or the blocking
/// task fails. An error reported to openraft would stop it for good.
async fn write_snapshot_retrying(dir: PathBuf, zxid: i64, bytes: Arc<Vec<u8>>, abandoned: impl Fn() -> bool) -> Result<PathBuf, String> {
    let mut backoff = Duration::from_millis(100);
    let mut warned = false;
    loop {
        let (d, b) = (dir.clone(), bytes.clone());
        match tokio::task::spawn_blocking(move || snapshot::write(&d, zxid, &b)).await {
            Ok(Ok(p)) => {
                if warned {
                    tracing::info!(file = %p.display(), "the snapshot could be written after all");
                }
                return Ok(p);
            }
            Ok(Err(e)) if !warned => {
                tracing::error!(error = %e, "snapshot cannot be written; retrying until it can");
                warned = true;
            }
            Ok(Err(_)) => {}
            Err(e) => return Err(e.to_string()),
        }
        if abandoned() {
            return Err("abandoned".into());
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

type Proposal = (ZkEntry, NodeId, u64, Option<mpsc::UnboundedSender<StreamReply>>);

/// The proposer task: group commit. It sends one batch at a time into the log: everything
/// that queued up while the previous batch was being made durable goes into the next one
/// entry (one fsync). Order is kept, so a session's writes commit in xid order. Successes are
/// answered by apply; failures (leadership lost) are reported here.
fn spawn_proposer(raft: Raft, me: NodeId, core: mpsc::UnboundedSender<CoreMsg>) -> mpsc::UnboundedSender<Proposal> {
    const MAX_BATCH: usize = 2048;
    // Keep each Raft entry small enough that replicating it never delays heartbeats past a
    // follower's election timeout (a burst of large writes must not look like a dead leader).
    const MAX_BATCH_BYTES: usize = 256 << 10;
    let (tx, mut rx) = mpsc::unbounded_channel::<Proposal>();
    let inflight = Arc::new(tokio::sync::Semaphore::new(2));
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            // Two batches in flight: the next one is appended as soon as this one is on disk,
            // without waiting for it to be applied and answered. Waiting for a slot before
            // draining the queue lets the batch grow meanwhile.
            let Ok(permit) = inflight.clone().acquire_owned().await else { return };
            let mut bytes = first.0.txn.len();
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                match rx.try_recv() {
                    Ok(p) => {
                        bytes += p.0.txn.len();
                        batch.push(p);
                    }
                    Err(_) => break,
                }
            }
            let mut waiting = Vec::with_capacity(batch.len());
            let mut entries = Vec::with_capacity(batch.len());
            for (entry, origin, req, reply) in batch {
                entries.push(entry);
                waiting.push((origin, req, reply));
            }
            let outcome = raft.client_write_ff(ZkBatch(entries)).await;
            let core = core.clone();
            tokio::spawn(async move {
                let ok = match outcome {
                    Ok(rx) => matches!(rx.await, Ok(Ok(_))),
                    Err(_) => false,
                };
                drop(permit);
                if !ok {
                    for (origin, req, reply) in waiting {
                        if req == 0 {
                            continue;
                        }
                        if origin == me {
                            let _ = core.send(CoreMsg::WriteFailed { req });
                        } else if let Some(r) = reply {
                            let _ = r.send(StreamReply::Failed { req });
                        }
                    }
                }
            });
        }
    });
    tx
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

pub use super::recovery::Loaded;

impl Core {
    pub fn new(cfg: Arc<Config>, my_id: NodeId, members: BTreeMap<NodeId, MemberAddr>, loaded: Loaded, self_tx: mpsc::UnboundedSender<CoreMsg>) -> Core {
        let mut sessions = SessionTracker::new(my_id as u8, now_ms());
        let now = Instant::now();
        for (id, timeout) in &loaded.sessions {
            sessions.add(*id, *timeout, now);
        }
        let (last_applied, membership) = match &loaded.snapshot {
            Some((m, _)) => (m.last_log_id, m.last_membership.clone()),
            None => (None, Membership::default()),
        };
        Core {
            cfg,
            my_id,
            members,
            tree: loaded.tree,
            sessions,
            watches: WatchManager::default(),
            conns: HashMap::new(),
            session_conn: HashMap::new(),
            stats: ServerStats { min_latency: u64::MAX, ..Default::default() },
            started: std::time::SystemTime::now(),
            role: Role::Electing,
            raft: None,
            metrics: None,
            pending: Pending::default(),
            next_prep: 1,
            prep_touched: HashMap::new(),
            queues: HashMap::new(),
            local: HashMap::new(),
            next_req: 1,
            sync_paths: HashMap::new(),
            forward: None,
            proposer: None,
            session_owner: HashMap::new(),
            last_applied,
            membership,
            current_snapshot: loaded.snapshot,
            self_tx,
            triggers: Vec::new(),
            log_blocked: None,
        }
    }

    pub fn standalone(&self) -> bool {
        self.members.len() <= 1
    }

    pub fn outstanding(&self) -> usize {
        self.local.len() + self.queues.values().map(|q| q.len()).sum::<usize>()
    }

    /// The main loop; ends on shutdown.
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<CoreMsg>) {
        let tick = Duration::from_millis((self.cfg.tick_time as u64 / 2).clamp(10, 1000));
        let mut expiry = tokio::time::interval(tick);
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reaper = tokio::time::interval(Duration::from_millis(self.cfg.container_check_interval_ms));
        reaper.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut metrics_rx: Option<tokio::sync::watch::Receiver<openraft::RaftMetrics<NodeId, openraft::BasicNode>>> = None;
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(CoreMsg::Shutdown) | None => return,
                    Some(CoreMsg::Started(raft)) => {
                        metrics_rx = Some(raft.metrics());
                        self.raft = Some(raft);
                        self.on_metrics(metrics_rx.as_mut().map(|m| m.borrow_and_update().clone()));
                    }
                    Some(m) => self.on_msg(m),
                },
                changed = async {
                    match metrics_rx.as_mut() {
                        Some(m) => m.changed().await.map(|_| m.borrow_and_update().clone()),
                        None => std::future::pending().await,
                    }
                } => {
                    match changed {
                        Ok(m) => self.on_metrics(Some(m)),
                        Err(_) => metrics_rx = None,
                    }
                }
                _ = expiry.tick() => self.on_tick(),
                _ = reaper.tick() => self.reap(),
            }
        }
    }

    fn on_msg(&mut self, m: CoreMsg) {
        match m {
            CoreMsg::Connect { conn, addr, req, out, closer, answered } => self.on_connect(conn, addr, req, out, closer, answered),
            CoreMsg::Request { conn, frame, raw, received } => self.on_request(conn, frame, raw, received),
            CoreMsg::Unsupported { conn, xid } => {
                let frame = reply_frame(xid, self.tree.last_zxid, ErrorCode::Unimplemented, &Response::Empty);
                self.reply_in_order(conn, frame, false);
            }
            CoreMsg::Disconnected { conn } => self.on_disconnect(conn),
            CoreMsg::FourLetter { cmd, reply } => {
                let _ = reply.send(fourlw::answer(self, &cmd));
            }
            CoreMsg::Sm(sm) => self.on_sm(sm),
            CoreMsg::WriteFailed { req } => self.fail_local(req),
            CoreMsg::FromFollower { from, msg, reply } => self.on_follower_msg(from, msg, reply),
            CoreMsg::FromLeader { leader, msg } => {
                if self.role != Role::Follower(leader) {
                    return;
                }
                match msg {
                    StreamReply::Failed { req } => self.fail_local(req),
                    StreamReply::Moved { req } => self.moved(req),
                }
            }
            CoreMsg::ForwardLost { leader } => {
                if self.forward.as_ref().is_some_and(|(l, _)| *l == leader) {
                    tracing::info!(leader, "lost the connection to the leader");
                    self.forward = None;
                    self.fail_forwarded();
                }
            }
            CoreMsg::LogBlocked(why) => self.on_log_blocked(why),
            CoreMsg::Installed(i) => self.finish_install(*i),
            CoreMsg::SnapshotWritten(meta, path) => {
                let newer = self.current_snapshot.as_ref().is_none_or(|(m, _)| m.last_log_id <= meta.last_log_id);
                if newer {
                    // The log is kept from the previous snapshot on (openraft purges nothing by
                    // itself): if this new one is ever damaged, the previous one plus the log
                    // still rebuild everything (see `recovery`).
                    let previous = self.current_snapshot.replace((meta, path)).and_then(|(m, _)| m.last_log_id);
                    if let (Some(prev), Some(raft)) = (previous, self.raft.clone()) {
                        tokio::spawn(async move {
                            if let Err(e) = raft.trigger().purge_log(prev.index).await {
                                tracing::debug!(error = %e, "log purge not scheduled");
                            }
                        });
                    }
                }
            }
            CoreMsg::Started(_) | CoreMsg::Shutdown => {}
        }
    }

    /// The log became unwritable or writable again.
    fn on_log_blocked(&mut self, why: Option<String>) {
        match (&self.log_blocked, why) {
            (None, Some(why)) => {
                tracing::warn!(reason = %why, "read-only until the log can be written: writes get NotReadOnly, reads are served");
                self.log_blocked = Some(why);
                // Writes in flight may or may not reach the disk once it has room again: their
                // clients lose the connection (an unknown outcome, as ZooKeeper's ConnectionLoss).
                let reqs: Vec<u64> = self.local.keys().copied().collect();
                for r in reqs {
                    self.fail_local(r);
                }
            }
            (Some(_), None) => {
                tracing::info!("the log is writable again: accepting writes");
                self.log_blocked = None;
            }
            (Some(_), Some(why)) => self.log_blocked = Some(why),
            (None, None) => {}
        }
    }

    pub fn send(&mut self, conn: u64, frame: Bytes) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.stats.sent += 1;
        self.stats.sent += 1;
        let (len, backlog) = (frame.len(), c.out.queued());
        let _ = c.out.send(Out::Frame(frame));
        if let Some(a) = c.answered.take() {
            let _ = a.send(());
        }
        // A client that does not read its socket: drop it rather than hold its replies (outbox).
        let limit = super::outbox::backlog_limit(self.cfg.max_frame());
        if backlog > limit {
            tracing::warn!(client = %c.addr, session = format!("{:#x}", c.session), queued = backlog + len, limit,
                "closing connection: the client is not reading its replies ({backlog} bytes of replies and notifications wait for it)");
            c.out.abort();
            self.close_conn(conn);
        }
    }

    /// Sends a reply that needs no log entry (auth, Unimplemented, a refusal) in its
    /// session's order: behind the replies still owed for earlier requests, if any.
    fn reply_in_order(&mut self, conn: u64, frame: Bytes, close: bool) {
        let Some(session) = self.conns.get(&conn).map(|c| c.session) else { return };
        if let Some(q) = self.queues.get_mut(&session).filter(|q| !q.is_empty()) {
            q.push_back(Queued::Done { conn, frame, close });
            self.drain_queue(session);
            return;
        }
        self.send(conn, frame);
        if close {
            self.close_conn(conn);
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

    // ---- roles -------------------------------------------------------------------------

    fn on_metrics(&mut self, m: Option<openraft::RaftMetrics<NodeId, openraft::BasicNode>>) {
        let Some(m) = m else { return };
        let role = match m.current_leader {
            Some(l) if l == self.my_id && m.state == openraft::ServerState::Leader => Role::Leader,
            Some(l) if l != self.my_id => Role::Follower(l),
            _ => Role::Electing,
        };
        self.metrics = Some(m);
        if role == self.role {
            return;
        }
        tracing::info!(member = self.my_id, ?role, "role changed");
        let old = self.role;
        self.role = role;
        // In-flight changes prepped as leader may never commit: start from the tree again.
        self.pending = Pending::default();
        self.prep_touched.clear();
        self.session_owner.clear();
        if old == Role::Leader {
            // Expiries this member decided as leader may never commit: undo them here.
            self.sessions.clear_closing(Instant::now());
        }
        match role {
            Role::Leader => {
                self.forward = None;
                // Every session gets a full timeout from the new leader, as in ZooKeeper.
                let now = Instant::now();
                for id in self.sessions.table().keys() {
                    self.sessions.touch(*id, now);
                }
                if matches!(old, Role::Follower(_)) {
                    self.fail_forwarded();
                }
            }
            Role::Follower(l) => {
                self.fail_forwarded();
                let addr = self.members.get(&l).map(|a| a.peer.clone()).unwrap_or_default();
                let tx = spawn_forwarder(self.my_id, l, addr, self.self_tx.clone());
                self.forward = Some((l, tx));
            }
            Role::Electing => {
                self.forward = None;
                self.fail_forwarded();
                if !self.standalone() {
                    // Like a ZooKeeper follower that lost its leader: drop clients; they
                    // reconnect to a member that serves.
                    let conns: Vec<u64> = self.conns.keys().copied().collect();
                    for c in conns {
                        self.close_conn(c);
                    }
                }
            }
        }
    }

    /// A local write refused because its session now lives on another member.
    fn moved(&mut self, req: u64) {
        let r = crate::tree::ApplyResult { err: ErrorCode::SessionMoved, path: None, stat: None, multi: vec![] };
        self.complete_local(req, Some((r, Txn::Error { err: ErrorCode::SessionMoved.code() })));
    }

    /// Fails every local write that went to the leader over the stream.
    fn fail_forwarded(&mut self) {
        let reqs: Vec<u64> = self.local.iter().filter(|(_, l)| l.forwarded).map(|(r, _)| *r).collect();
        for r in reqs {
            self.fail_local(r);
        }
    }

    /// A local write that will not be answered by the log: the client's connection is
    /// closed (it sees ConnectionLoss and retries, possibly on another member).
    fn fail_local(&mut self, req: u64) {
        let Some(l) = self.local.remove(&req) else { return };
        let conn = match l.reply {
            Reply::Client { conn, .. } | Reply::Connect { conn, .. } | Reply::Close { conn, .. } => conn,
        };
        tracing::debug!(session = format!("{:#x}", l.session), "write not committed (leader change); closing the client connection");
        self.queues.remove(&l.session);
        self.close_conn(conn);
    }

    // ---- clients -----------------------------------------------------------------------

    fn serving(&self) -> bool {
        self.role != Role::Electing
    }

    fn on_connect(&mut self, conn: u64, addr: SocketAddr, req: ConnectRequest, out: OutTx, closer: Arc<Notify>, answered: oneshot::Sender<()>) {
        let now = Instant::now();
        let auth = AuthInfo::from_ip(&addr.ip().to_string());
        let mut c = Conn { out, closer, addr, session: 0, auth, stats: ConnStats::new(), read_only_flag: req.read_only.is_some(), answered: Some(answered) };
        c.stats.received = 1;
        self.stats.received += 1;
        if !self.serving() {
            tracing::info!(client = %addr, "refusing connection: this member has no leader (not serving requests)");
            let _ = c.out.send(Out::Close);
            c.closer.notify_one();
            return;
        }
        if req.last_zxid_seen > self.tree.last_zxid {
            tracing::info!(client = %addr, last_zxid_seen = format!("{:#x}", req.last_zxid_seen), our_zxid = format!("{:#x}", self.tree.last_zxid),
                "refusing session request: the client has seen a newer zxid than this server");
            let _ = c.out.send(Out::Close);
            c.closer.notify_one();
            return;
        }
        let timeout = req.timeout.clamp(self.cfg.min_session_timeout as i32, self.cfg.max_session_timeout as i32);
        let needs_log = req.session_id == 0 || !self.standalone();
        if needs_log && self.log_blocked.is_some() {
            // A new session (or, in an ensemble, a reattach) is a log entry this member cannot
            // write now: the client tries again, here later or on another member.
            tracing::info!(client = %addr, "refusing session request: the log cannot be written (read-only)");
            let _ = c.out.send(Out::Close);
            c.closer.notify_one();
            return;
        }
        if req.session_id == 0 {
            let id = self.sessions.next_id();
            self.sessions.add(id, timeout, now);
            c.session = id;
            self.conns.insert(conn, c);
            self.session_conn.insert(id, conn);
            tracing::debug!(session = format!("{id:#x}"), client = %addr, timeout, "new session");
            self.propose(id, 0, ForwardOp::CreateSession { timeout }, Reply::Connect { conn, timeout });
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
        // The leader must learn that the session lives here before the client is answered,
        // so a write still in flight on its old connection elsewhere gets SessionMoved.
        if self.standalone() {
            self.send_connect_response(conn, id, timeout);
        } else {
            self.propose(id, conn, ForwardOp::Reattach, Reply::Connect { conn, timeout });
        }
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

    fn on_request(&mut self, conn: u64, frame: RequestFrame, raw: Bytes, received: Instant) {
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
            // The credentials count from now on (as in ZooKeeper); the reply keeps its place.
            let ok = self.conns.get_mut(&conn).is_some_and(|c| c.auth.add(scheme, auth, super_digest.as_deref()));
            let err = if ok { ErrorCode::Ok } else { ErrorCode::AuthFailed };
            let f = reply_frame(frame.xid, self.tree.last_zxid, err, &Response::Empty);
            if !ok {
                tracing::info!(session = format!("{session:#x}"), scheme = ?scheme, "authentication failed; closing the connection");
            }
            self.reply_in_order(conn, f, !ok);
            return;
        }
        if self.log_blocked.is_some() && (is_write(frame.op) || frame.op == OpCode::Sync) {
            // Read-only while the log cannot be written: refused, so certainly not done.
            let f = reply_frame(frame.xid, self.tree.last_zxid, ErrorCode::NotReadOnly, &Response::Empty);
            self.reply_in_order(conn, f, false);
            return;
        }
        if is_write(frame.op) {
            let sub_ops = match &frame.req {
                Request::Multi(ops) => ops.iter().map(|(o, _)| *o).collect(),
                _ => Vec::new(),
            };
            let (reply, op) = if frame.op == OpCode::CloseSession {
                self.sessions.set_closing(session);
                (Reply::Close { conn, xid: frame.xid, received }, ForwardOp::CloseSession)
            } else {
                (Reply::Client { conn, xid: frame.xid, op: frame.op, sub_ops, received }, ForwardOp::Frame(raw.to_vec()))
            };
            self.propose(session, conn, op, reply);
        } else if let Request::Sync { .. } = frame.req {
            let reply = Reply::Client { conn, xid: frame.xid, op: frame.op, sub_ops: Vec::new(), received };
            self.start_sync(session, reply, frame);
        } else if self.queues.get(&session).is_some_and(|q| !q.is_empty()) {
            self.queues.entry(session).or_default().push_back(Queued::Read { conn, frame, received });
        } else {
            self.serve_read(conn, frame, received);
        }
    }

    fn new_local(&mut self, session: i64, reply: Reply, forwarded: bool) -> u64 {
        let req = self.next_req;
        self.next_req += 1;
        self.local.insert(req, Local { session, reply, forwarded });
        self.queues.entry(session).or_default().push_back(Queued::Write(req));
        req
    }

    /// Sends a write of one of our clients into the log: prep + propose on the leader,
    /// forward on a follower.
    fn propose(&mut self, session: i64, conn: u64, op: ForwardOp, reply: Reply) {
        match self.role {
            Role::Leader => {
                let req = self.new_local(session, reply, false);
                let auth = self.conns.get(&conn).map(|c| c.auth.clone()).unwrap_or_default();
                let my_id = self.my_id;
                self.prep_and_propose(my_id, req, session, &op, &auth, None);
            }
            Role::Follower(l) => {
                if self.forward.is_none() {
                    // The stream broke: re-open it now rather than fail this client.
                    let addr = self.members.get(&l).map(|a| a.peer.clone()).unwrap_or_default();
                    self.forward = Some((l, spawn_forwarder(self.my_id, l, addr, self.self_tx.clone())));
                }
                let req = self.new_local(session, reply, true);
                let (auth, is_super) = self
                    .conns
                    .get(&conn)
                    .map(|c| (c.auth.ids.iter().map(|i| (i.scheme.clone(), i.id.clone())).collect(), c.auth.is_super))
                    .unwrap_or_default();
                let fwd = ForwardReq { origin: self.my_id, req, session, op, auth, is_super };
                let sent = self.forward.as_ref().is_some_and(|(_, tx)| tx.send(StreamMsg::Forward(fwd)).is_ok());
                if !sent {
                    self.fail_local(req);
                }
            }
            Role::Electing => {
                let req = self.new_local(session, reply, false);
                self.fail_local(req);
            }
        }
    }

    /// Leader: validates a write against the tree and in-flight changes and proposes it.
    fn prep_and_propose(&mut self, origin: NodeId, req: u64, session: i64, op: &ForwardOp, auth: &AuthInfo, reply: Option<mpsc::UnboundedSender<StreamReply>>) {
        let prep_id = self.next_prep;
        self.next_prep += 1;
        let time = now_ms();
        if origin != 0 && !self.standalone() {
            match op {
                ForwardOp::CreateSession { .. } | ForwardOp::Reattach => {
                    self.session_owner.insert(session, origin);
                }
                _ => {
                    if self.session_owner.get(&session).is_some_and(|o| *o != origin) {
                        tracing::debug!(session = format!("{session:#x}"), origin, "write from a connection the session has left: SessionMoved");
                        if origin == self.my_id {
                            self.moved(req);
                        } else if let Some(r) = reply {
                            let _ = r.send(StreamReply::Moved { req });
                        }
                        return;
                    }
                }
            }
        }
        let (cxid, txn, touched) = match op {
            ForwardOp::CreateSession { timeout } => (0, Txn::CreateSession { timeout: *timeout }, Vec::new()),
            ForwardOp::Sync | ForwardOp::Reattach => {
                let entry = ZkEntry { origin, req, prep_node: 0, prep_id: 0, session, cxid: 0, time, txn: Vec::new() };
                self.submit_entry(entry, origin, req, reply);
                return;
            }
            ForwardOp::CloseSession => {
                self.sessions.set_closing(session);
                let (t, touched) = self.pending.prep_close(&self.tree, session, prep_id as i64);
                (0, t, touched)
            }
            ForwardOp::Frame(raw) => match RequestFrame::read(raw) {
                Ok(frame) => {
                    let who = Asker { session, auth };
                    let (t, touched) = self.pending.prep(&self.tree, &self.cfg, &who, frame.op, &frame.req, prep_id as i64, time);
                    (frame.xid, t, touched)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "undecodable forwarded request");
                    (0, Txn::Error { err: ErrorCode::MarshallingError.code() }, Vec::new())
                }
            },
        };
        if !touched.is_empty() {
            self.prep_touched.insert(prep_id, touched);
        }
        let mut w = Writer::new();
        txn.write(&mut w);
        let entry = ZkEntry { origin, req, prep_node: self.my_id, prep_id, session, cxid, time, txn: w.buf.to_vec() };
        self.submit_entry(entry, origin, req, reply);
    }

    /// Proposes an entry. Proposals go through one channel to one task so the log keeps the
    /// order in which the core prepped them (a session's writes must commit in xid order).
    fn submit_entry(&mut self, entry: ZkEntry, origin: NodeId, req: u64, reply: Option<mpsc::UnboundedSender<StreamReply>>) {
        if self.proposer.is_none() {
            if let Some(raft) = self.raft.clone() {
                self.proposer = Some(spawn_proposer(raft, self.my_id, self.self_tx.clone()));
            }
        }
        let sent = self.proposer.as_ref().is_some_and(|p| p.send((entry, origin, req, reply)).is_ok());
        if !sent && origin == self.my_id {
            self.fail_local(req);
        }
    }

    /// Leader side of the forwarding stream.
    fn on_follower_msg(&mut self, from: NodeId, msg: StreamMsg, reply: mpsc::UnboundedSender<StreamReply>) {
        match msg {
            StreamMsg::Forward(f) => {
                // A leader whose own log is blocked still proposes what followers forward: the
                // followers can commit it among themselves, and its append waiting for the disk
                // stops this member's heartbeats, so they elect a leader that can write.
                if self.role != Role::Leader {
                    let _ = reply.send(StreamReply::Failed { req: f.req });
                    return;
                }
                self.sessions.touch(f.session, Instant::now());
                let auth = AuthInfo { ids: f.auth.iter().map(|(s, i)| Id::new(s, i)).collect(), is_super: f.is_super };
                self.prep_and_propose(f.origin, f.req, f.session, &f.op, &auth, Some(reply));
            }
            StreamMsg::Touch(ids) => {
                let now = Instant::now();
                for id in ids {
                    self.sessions.touch(id, now);
                }
            }
        }
        let _ = from;
    }

    /// sync: a log entry with no transaction. It commits after everything proposed before it
    /// (on any member), and this member answers when it applies it, in the session's order.
    fn start_sync(&mut self, session: i64, reply: Reply, frame: RequestFrame) {
        let Request::Sync { path } = frame.req else { return };
        let conn = match &reply {
            Reply::Client { conn, .. } => *conn,
            _ => 0,
        };
        let req = self.next_req;
        self.sync_paths.insert(req, path);
        self.propose(session, conn, ForwardOp::Sync, reply);
    }

    fn finish_sync(&mut self, req: u64) {
        let path = self.sync_paths.remove(&req).unwrap_or_default();
        let r = crate::tree::ApplyResult { err: ErrorCode::Ok, path: Some(path), stat: None, multi: vec![] };
        self.complete_local(req, Some((r, Txn::Error { err: 0 })));
    }

    fn serve_read(&mut self, conn: u64, frame: RequestFrame, received: Instant) {
        let f = self.read_reply(conn, frame, received);
        self.send(conn, f);
    }

    /// Evaluates a read against the tree as it is now and returns the reply frame.
    fn read_reply(&mut self, conn: u64, frame: RequestFrame, received: Instant) -> Bytes {
        let xid = frame.xid;
        let op = frame.op;
        let (err, resp) = reads::serve(self, conn, frame);
        self.record_latency(conn, op, self.tree.last_zxid, received);
        reply_frame(xid, self.tree.last_zxid, err, &resp)
    }

    /// Evaluates, now, the queued reads of `session` in `range` of its queue (they must see
    /// exactly the writes before them), keeping their replies in place.
    fn evaluate_reads(&mut self, session: i64, from: usize, to_write: Option<u64>) {
        let mut i = from;
        loop {
            let Some(q) = self.queues.get_mut(&session) else { return };
            let Some(item) = q.get_mut(i) else { return };
            match item {
                Queued::Write(r) if Some(*r) == to_write || to_write.is_none() => return,
                Queued::Read { .. } => {
                    let placeholder = Queued::Done { conn: 0, frame: Bytes::new(), close: false };
                    if let Queued::Read { conn, frame, received } = std::mem::replace(item, placeholder) {
                        let f = self.read_reply(conn, frame, received);
                        if let Some(slot) = self.queues.get_mut(&session).and_then(|q| q.get_mut(i)) {
                            *slot = Queued::Done { conn, frame: f, close: false };
                        }
                    }
                }
                _ => {}
            }
            i += 1;
        }
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

    // ---- the state machine ---------------------------------------------------------------

    fn on_sm(&mut self, m: SmMsg) {
        match m {
            SmMsg::Apply(entries, done) => {
                for e in entries {
                    self.apply_entry(e);
                }
                let _ = done.send(());
            }
            SmMsg::AppliedState(tx) => {
                let _ = tx.send((self.last_applied, self.membership.clone()));
            }
            SmMsg::BuildSnapshot(tx) => self.build_snapshot(tx),
            SmMsg::CurrentSnapshot(tx) => {
                let cur = self.current_snapshot.as_ref().and_then(|(m, p)| std::fs::read(p).ok().map(|b| (m.clone(), b)));
                let _ = tx.send(cur);
            }
            SmMsg::Install(meta, bytes, tx) => self.install_snapshot(meta, bytes, tx),
        }
    }

    fn apply_entry(&mut self, e: crate::quorum::Entry) {
        let log_id = e.log_id;
        self.last_applied = Some(log_id);
        match e.payload {
            EntryPayload::Blank => {}
            EntryPayload::Membership(m) => {
                self.membership = Membership::new(Some(log_id), m);
            }
            EntryPayload::Normal(batch) => {
                for ze in batch.0 {
                    self.apply_one(ze, log_id.leader_id.term);
                }
            }
        }
    }

    /// Applies one write of a batch (or answers a sync barrier).
    fn apply_one(&mut self, ze: ZkEntry, term: u64) {
        if ze.txn.is_empty() {
            // A sync or reattach barrier: nothing to apply.
            if ze.origin == self.my_id && ze.req != 0 {
                self.evaluate_reads(ze.session, 0, Some(ze.req));
                if self.sync_paths.contains_key(&ze.req) {
                    self.finish_sync(ze.req);
                } else {
                    self.complete_local(ze.req, None);
                }
            }
            return;
        }
        let txn = match Txn::read(&mut Reader::new(&ze.txn)) {
            Ok(t) => t,
            Err(err) => {
                tracing::error!(error = %err, "undecodable log entry; applying it as a failed write");
                Txn::Error { err: ErrorCode::MarshallingError.code() }
            }
        };
        let zxid = next_zxid(self.tree.last_zxid, term);
        if ze.origin == self.my_id && ze.req != 0 {
            // Reads queued before this write (behind a pending sync) must not see it.
            self.evaluate_reads(ze.session, 0, Some(ze.req));
        }
        let header = TxnHeader { session: ze.session, cxid: ze.cxid, zxid, time: ze.time };
        let mut triggers = std::mem::take(&mut self.triggers);
        triggers.clear();
        let r = self.tree.apply(&header, &txn, &mut triggers);
        if ze.prep_node == self.my_id {
            let touched = self.prep_touched.remove(&ze.prep_id).unwrap_or_default();
            self.pending.committed(ze.prep_id as i64, &touched, ze.session);
        }
        for (ev, path, acl) in triggers.drain(..) {
            self.fire(ev, &path, &acl, zxid);
        }
        self.triggers = triggers;
        match &txn {
            Txn::CreateSession { timeout } => {
                if self.sessions.get(ze.session).is_none() {
                    self.sessions.add(ze.session, *timeout, Instant::now());
                }
            }
            Txn::CloseSession => {
                let reply_pending = ze.origin == self.my_id && ze.req != 0;
                self.end_session(ze.session, reply_pending);
            }
            _ => {}
        }
        if ze.origin == self.my_id && ze.req != 0 {
            self.complete_local(ze.req, Some((r, txn)));
        }
    }

    fn complete_local(&mut self, req: u64, result: Option<(crate::tree::ApplyResult, Txn)>) {
        let Some(Local { session, reply, .. }) = self.local.remove(&req) else { return };
        let zxid = self.tree.last_zxid;
        let (conn, frame, close) = match reply {
            Reply::Connect { conn, timeout } => {
                let read_only = self.conns.get(&conn).and_then(|c| c.read_only_flag.then_some(false));
                let resp = ConnectResponse { protocol_version: 0, timeout, session_id: session, passwd: password(session), read_only };
                let mut w = Writer::framed();
                resp.write(&mut w);
                (conn, w.finish_frame(), false)
            }
            Reply::Close { conn, xid, received } => {
                self.record_latency(conn, OpCode::CloseSession, zxid, received);
                (conn, reply_frame(xid, zxid, ErrorCode::Ok, &Response::Empty), true)
            }
            Reply::Client { conn, xid, op, sub_ops, received } => {
                let (err, resp) = match result {
                    Some((r, txn)) => reply_for(op, &sub_ops, r, &txn),
                    None => (ErrorCode::Ok, Response::Empty),
                };
                self.record_latency(conn, op, zxid, received);
                (conn, reply_frame(xid, zxid, err, &resp), false)
            }
        };
        let pos = self.queues.get(&session).and_then(|q| q.iter().position(|x| matches!(x, Queued::Write(r) if *r == req)));
        match pos {
            Some(i) => {
                if let Some(slot) = self.queues.get_mut(&session).and_then(|q| q.get_mut(i)) {
                    *slot = Queued::Done { conn, frame, close };
                }
                // The reads right behind this write see the tree as it is now.
                self.evaluate_reads(session, i + 1, None);
            }
            None => {
                self.send(conn, frame);
                if close {
                    self.close_conn(conn);
                }
            }
        }
        self.drain_queue(session);
    }

    /// Sends the answered replies at the front of a session's queue and serves the reads that
    /// were waiting behind them, stopping at the first write still in the log.
    fn drain_queue(&mut self, session: i64) {
        loop {
            let Some(q) = self.queues.get_mut(&session) else { return };
            match q.front() {
                Some(Queued::Write(_)) => return,
                None => {
                    self.queues.remove(&session);
                    return;
                }
                _ => {}
            }
            match q.pop_front() {
                Some(Queued::Done { conn, frame, close }) => {
                    self.send(conn, frame);
                    if close {
                        self.close_conn(conn);
                    }
                }
                Some(Queued::Read { conn, frame, received }) => self.serve_read(conn, frame, received),
                _ => return,
            }
        }
    }

    /// A closeSession is applied: forget the session, its watches and (unless the reply
    /// still has to go out on it) its connection.
    fn end_session(&mut self, session: i64, reply_pending: bool) {
        self.sessions.remove(session);
        self.watches.remove_session(session);
        if let Some(c) = self.session_conn.get(&session).copied() {
            if !reply_pending {
                self.queues.remove(&session);
                self.close_conn(c);
            }
        }
    }

    fn fire(&mut self, ev: EventType, path: &str, acl: &[Acl], zxid: i64) {
        let sessions = self.watches.trigger(ev, path);
        if sessions.is_empty() {
            return;
        }
        let frame = event_frame(zxid, &WatcherEvent { typ: ev as i32, state: STATE_SYNC_CONNECTED, path: path.to_string() });
        for s in sessions {
            if let Some(conn) = self.session_conn.get(&s).copied() {
                // No notification about a node the watcher may not read (ZooKeeper 3.8).
                if self.conns.get(&conn).is_some_and(|c| c.auth.allowed(acl, perms::READ)) {
                    self.send(conn, frame.clone());
                }
            }
        }
    }

    /// Leader: expire sessions. Follower: tell the leader which sessions are alive here.
    fn on_tick(&mut self) {
        match self.role {
            // No expiry while the log cannot be written: a closeSession could not be logged.
            Role::Leader if self.log_blocked.is_some() => {}
            Role::Leader => {
                let now = Instant::now();
                for id in self.sessions.expired(now) {
                    // The connection closes when the closeSession is applied (end_session),
                    // after the ephemerals are gone, as in ZooKeeper.
                    tracing::info!(session = format!("{id:#x}"), "session expired");
                    let auth = AuthInfo::default();
                    self.prep_and_propose(0, 0, id, &ForwardOp::CloseSession, &auth, None);
                }
            }
            Role::Follower(l) => {
                if self.forward.is_none() {
                    // The stream to the leader broke (or the leader was not listening yet).
                    let addr = self.members.get(&l).map(|a| a.peer.clone()).unwrap_or_default();
                    self.forward = Some((l, spawn_forwarder(self.my_id, l, addr, self.self_tx.clone())));
                }
                let live: Vec<i64> = self.session_conn.keys().copied().collect();
                if !live.is_empty() {
                    if let Some((_, tx)) = &self.forward {
                        let _ = tx.send(StreamMsg::Touch(live));
                    }
                }
            }
            Role::Electing => {}
        }
    }

    fn reap(&mut self) {
        if self.role != Role::Leader || self.log_blocked.is_some() {
            return;
        }
        for path in self.tree.reapable(now_ms()) {
            let prep_id = self.next_prep;
            if let Some((txn, touched)) = self.pending.prep_reap(&self.tree, &path, prep_id as i64) {
                self.next_prep += 1;
                tracing::debug!(path = %path, "reaping empty container or expired TTL node");
                self.prep_touched.insert(prep_id, touched);
                let mut w = Writer::new();
                txn.write(&mut w);
                let entry = ZkEntry { origin: 0, req: 0, prep_node: self.my_id, prep_id, session: 0, cxid: 0, time: now_ms(), txn: w.buf.to_vec() };
                self.submit_entry(entry, 0, 0, None);
            }
        }
    }

    // ---- snapshots -----------------------------------------------------------------------

    fn snapshot_meta(&self) -> Meta {
        let id = self.last_applied.map_or_else(|| "0-0".to_string(), |l| format!("{}-{}", l.leader_id.term, l.index));
        Meta { last_log_id: self.last_applied, last_membership: self.membership.clone(), snapshot_id: format!("{id}-{}", now_ms()) }
    }

    fn build_snapshot(&mut self, tx: oneshot::Sender<Result<(Meta, Vec<u8>), String>>) {
        let meta = self.snapshot_meta();
        let meta_bytes = match bincode::serialize(&meta) {
            Ok(b) => b,
            Err(e) => {
                let _ = tx.send(Err(e.to_string()));
                return;
            }
        };
        let bytes = Arc::new(snapshot::encode(&self.tree, &self.sessions.table(), &meta_bytes));
        let zxid = self.tree.last_zxid;
        let snap_dir = self.cfg.snap_dir();
        let log_dir = self.cfg.log_dir();
        let retain = self.cfg.autopurge_snap_retain_count;
        let purge = self.cfg.autopurge_purge_interval > 0;
        let core = self.self_tx.clone();
        // Written in the background. openraft counts a snapshot once this answers (and the
        // log before the previous one is purged once the file is here, SnapshotWritten), so it
        // answers only when the file is durable: a write that fails (full disk) is retried
        // until it succeeds or openraft stops waiting. An error here would stop openraft for
        // good.
        tokio::spawn(async move {
            let path = match write_snapshot_retrying(snap_dir.clone(), zxid, bytes.clone(), || tx.is_closed()).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            tracing::info!(file = %path.display(), bytes = bytes.len(), "snapshot written");
            if purge {
                let (s, l) = (snap_dir.clone(), log_dir.clone());
                match tokio::task::spawn_blocking(move || storage::purge(&s, &l, retain)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "autopurge failed"),
                    Err(e) => tracing::warn!(error = %e, "autopurge failed"),
                }
            }
            let _ = core.send(CoreMsg::SnapshotWritten(meta.clone(), path));
            let bytes = Arc::try_unwrap(bytes).unwrap_or_else(|b| (*b).clone());
            let _ = tx.send(Ok((meta, bytes)));
        });
    }

    /// A snapshot from the leader: decoded now, made durable in the background (retried
    /// while the disk cannot take it, the old tree serving reads meanwhile), then installed.
    fn install_snapshot(&mut self, meta: Meta, bytes: Vec<u8>, done: oneshot::Sender<Result<(), String>>) {
        let (tree, sessions, _) = match snapshot::decode("received snapshot", &bytes) {
            Ok(d) => d,
            Err(e) => {
                let _ = done.send(Err(e.to_string()));
                return;
            }
        };
        let zxid = tree.last_zxid;
        let dir = self.cfg.snap_dir();
        let core = self.self_tx.clone();
        tokio::spawn(async move {
            let path = match write_snapshot_retrying(dir, zxid, Arc::new(bytes), || done.is_closed()).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = done.send(Err(e));
                    return;
                }
            };
            let _ = core.send(CoreMsg::Installed(Box::new(Installed { meta, tree, sessions, path, done })));
        });
    }

    fn finish_install(&mut self, i: Installed) {
        let Installed { meta, tree, sessions, path, done } = i;
        tracing::info!(zxid = format!("{:#x}", tree.last_zxid), znodes = tree.node_count(), "installed a snapshot from the leader");
        self.tree = tree;
        let now = Instant::now();
        let mut tracker = SessionTracker::new(self.my_id as u8, now_ms());
        for (id, timeout) in &sessions {
            tracker.add(*id, *timeout, now);
        }
        self.sessions = tracker;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.current_snapshot = Some((meta, path));
        self.pending = Pending::default();
        self.prep_touched.clear();
        // Writes of ours that the snapshot covers will never be applied one by one here: fail
        // them (their clients reconnect and see the outcome in the data).
        let reqs: Vec<u64> = self.local.keys().copied().collect();
        for r in reqs {
            self.fail_local(r);
        }
        let _ = done.send(Ok(()));
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
