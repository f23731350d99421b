//! The core: one task that owns the DataTree, the sessions, the watches and the order of
//! everything on this member. Connections send it decoded frames; it answers reads at once
//! (or after the session's own earlier writes), and sends writes into the replicated log:
//! on the leader it preps them ([`super::prep`]) and proposes them to openraft; on a follower
//! it forwards them to the leader, which preps and proposes. Every member applies committed
//! entries in log order, fires watches, and answers its own clients, so replies on a
//! connection come back in xid order and a client reads its own writes.
//!
//! The core is split along ZooKeeper's processor chain; this file holds the task, its state
//! and the message dispatch, and each stage lives beside it:
//!
//! ```text
//! connection ─► clients (handshake, request intake; PrepRequestProcessor's front)
//!                 │ write ─► propose (prep on the leader, forward on a follower)
//!                 │            └► quorum::proposer ─► openraft (majority, fsync)
//!                 │                                      │ QuorumEvent::Sm(Apply)
//!                 │                                      ▼
//!                 │           apply (tree.apply, watches: FinalRequestProcessor)
//!                 └ read ──► ordering (per-session queue: reads behind own writes) ─► reply
//! roles: leader / follower / electing;  snapshots: build, install;  stats: 4lw counters
//! ```
//!
//! When this member's log cannot be written (a full disk: see `quorum::log_store`), the core
//! is told ([`CoreMsg::LogBlocked`]) and behaves like a ZooKeeper server in read-only mode:
//! writes and syncs are answered `NotReadOnly` (nothing was done), writes already in flight
//! lose their connection (their outcome is unknown until the log is writable again), new
//! sessions are refused, reads and pings are served from the tree as it is, and the leader
//! expires no sessions. All of that ends by itself when the log can be written again.

use super::fourlw;
use super::ordering::SessionQueue;
use super::prep::Pending;
use super::propose::Local;
use super::snapshots::Installed;
use super::stats::{ConnStats, ServerStats};
use crate::config::Config;
use crate::ids::{ConnId, ReqId, SessionId};
use crate::proto::*;
use crate::quorum::events::{Events, QuorumEvent};
use crate::quorum::network::{MemberAddr, StreamMsg, StreamReply};
use crate::quorum::proposer::Proposal;
use crate::quorum::state_machine::Meta;
use crate::quorum::{LogId, Membership, NodeId, Raft};
use crate::session::SessionTracker;
use crate::tree::acl::AuthInfo;
use crate::tree::DataTree;
use crate::watch::WatchManager;
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::{Duration, Instant};

pub use super::recovery::Loaded;
pub use super::roles::Role;

/// What a connection's writer task receives.
#[derive(Debug)]
pub enum Out {
    Frame(Bytes),
    /// Flush and close the connection.
    Close,
}

pub use super::outbox::OutTx;

/// Messages into the core.
pub enum CoreMsg {
    /// A handshake; `answered` fires once the connect response is queued for the connection
    /// (dropped if the session is refused), and the connection reads nothing more before it.
    Connect { conn: ConnId, addr: SocketAddr, req: ConnectRequest, out: OutTx, closer: Arc<Notify>, answered: oneshot::Sender<()> },
    /// A decoded request; it is carried decoded all the way to prep (encoded again only if a
    /// follower forwards it to the leader).
    Request { conn: ConnId, frame: RequestFrame, received: Instant },
    /// A well-formed header with an opcode we do not serve: answered `Unimplemented`, in order.
    Unsupported { conn: ConnId, xid: i32 },
    Disconnected { conn: ConnId },
    FourLetter { cmd: String, reply: oneshot::Sender<String> },
    /// An AdminServer command ([`super::admin`]): answered with (HTTP status, JSON text).
    Admin { cmd: String, reply: oneshot::Sender<(u16, String)> },
    /// A Prometheus scrape ([`super::prometheus`]): answered with the exposition text.
    Metrics { reply: oneshot::Sender<String> },
    /// What the replication layer reports (state-machine calls, failed proposals, streams).
    Quorum(QuorumEvent),
    /// The Raft handle, once it exists (it needs the core running first).
    Started(Raft),
    /// This member's log cannot be written (`Some(why)`) or can again (`None`).
    LogBlocked(Option<String>),
    /// A snapshot file is on disk: it is the current snapshot from now on.
    SnapshotWritten(Meta, PathBuf),
    /// A snapshot received from the leader is on disk: the state machine becomes it.
    Installed(Box<Installed>),
    /// Shutdown, step 1: answer `done` once no request of ours is in flight any more.
    Drain { done: oneshot::Sender<usize> },
    /// Shutdown, step 2: flush and close every client connection.
    CloseAll,
    Shutdown,
}

/// The sink quorum reports to: events become [`CoreMsg::Quorum`] on the core's channel.
pub fn events_to(tx: mpsc::UnboundedSender<CoreMsg>) -> Events {
    Events::new(move |ev| tx.send(CoreMsg::Quorum(ev)).is_ok())
}

pub struct Conn {
    pub out: OutTx,
    pub closer: Arc<Notify>,
    pub addr: SocketAddr,
    pub session: SessionId,
    pub auth: AuthInfo,
    pub stats: ConnStats,
    /// Whether the client's connect request carried the readOnly flag (45 bytes).
    pub read_only_flag: bool,
    /// Fired with the first frame sent on this connection, which is always the connect
    /// response: nothing else can be queued for a connection that has sent nothing else.
    pub answered: Option<oneshot::Sender<()>>,
    /// The SASL (DIGEST-MD5) exchange of this connection, once started.
    pub sasl: Option<jaas::digest_md5::Server>,
}

pub struct Core {
    pub cfg: Arc<Config>,
    pub my_id: NodeId,
    pub members: BTreeMap<NodeId, MemberAddr>,
    pub tree: DataTree,
    pub sessions: SessionTracker,
    pub watches: WatchManager,
    pub conns: HashMap<ConnId, Conn>,
    pub session_conn: HashMap<SessionId, ConnId>,
    pub stats: ServerStats,
    pub started: std::time::SystemTime,
    pub role: Role,
    pub raft: Option<Raft>,
    pub metrics: Option<openraft::RaftMetrics<NodeId, openraft::BasicNode>>,
    pub(super) pending: Pending,
    pub(super) next_prep: u64,
    pub(super) prep_touched: HashMap<u64, Vec<String>>,
    /// Each session's requests in arrival order (see [`super::ordering`]).
    pub(super) queues: HashMap<SessionId, SessionQueue>,
    pub(super) local: HashMap<ReqId, Local>,
    pub(super) next_req: u64,
    /// The paths of syncs in flight (answered with their path).
    pub(super) sync_paths: HashMap<ReqId, String>,
    pub(super) forward: Option<(NodeId, mpsc::UnboundedSender<StreamMsg>)>,
    pub(super) proposer: Option<mpsc::UnboundedSender<Proposal>>,
    /// Leader: the member each session is connected to (writes from elsewhere: SessionMoved).
    pub(super) session_owner: HashMap<SessionId, NodeId>,
    pub last_applied: Option<LogId>,
    pub membership: Membership,
    pub(super) current_snapshot: Option<(Meta, PathBuf)>,
    pub(super) self_tx: mpsc::UnboundedSender<CoreMsg>,
    pub(super) triggers: Vec<crate::tree::Trigger>,
    /// Why this member's log cannot be written now, if it cannot (read-only until then).
    pub log_blocked: Option<String>,
    /// Shutting down: answered once nothing is outstanding.
    drained: Option<oneshot::Sender<usize>>,
}

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

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
            stats: ServerStats::new(),
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
            drained: None,
        }
    }

    pub fn standalone(&self) -> bool {
        self.members.len() <= 1
    }

    pub fn outstanding(&self) -> usize {
        self.local.len() + self.queues.values().map(|q| q.len()).sum::<usize>()
    }

    /// The sink for quorum's events, looping back into this core's channel.
    pub(super) fn events(&self) -> Events {
        events_to(self.self_tx.clone())
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
            if self.drained.is_some() && self.outstanding() == 0 {
                if let Some(done) = self.drained.take() {
                    let _ = done.send(0);
                }
            }
        }
    }

    fn on_msg(&mut self, m: CoreMsg) {
        match m {
            CoreMsg::Connect { conn, addr, req, out, closer, answered } => self.on_connect(conn, addr, req, out, closer, answered),
            CoreMsg::Request { conn, frame, received } => self.on_request(conn, frame, received),
            CoreMsg::Unsupported { conn, xid } => {
                let frame = reply_frame(xid, self.tree.last_zxid.0, ErrorCode::Unimplemented, &Response::Empty);
                self.reply_in_order(conn, frame, false);
            }
            CoreMsg::Disconnected { conn } => self.on_disconnect(conn),
            CoreMsg::FourLetter { cmd, reply } => {
                let (text, reset) = fourlw::answer(&self.view(), &cmd);
                self.apply_reset(reset);
                let _ = reply.send(text);
            }
            CoreMsg::Admin { cmd, reply } => {
                let (status, body, reset) = super::admin::command(&self.view(), &cmd);
                self.apply_reset(reset);
                let text = serde_json::to_string_pretty(&body).unwrap_or_else(|_| "{}".into());
                let _ = reply.send((status, text));
            }
            CoreMsg::Metrics { reply } => {
                let _ = reply.send(super::prometheus::render(&self.view()));
            }
            CoreMsg::Quorum(ev) => self.on_quorum(ev),
            CoreMsg::LogBlocked(why) => self.on_log_blocked(why),
            CoreMsg::Installed(i) => self.finish_install(*i),
            CoreMsg::SnapshotWritten(meta, path) => self.snapshot_written(meta, path),
            CoreMsg::Drain { done } => {
                let n = self.outstanding();
                tracing::info!(outstanding = n, connections = self.conns.len(), "draining: letting the requests in flight finish");
                self.drained = Some(done);
            }
            CoreMsg::CloseAll => {
                let conns: Vec<ConnId> = self.conns.keys().copied().collect();
                tracing::info!(connections = conns.len(), outstanding = self.outstanding(), "closing client connections");
                for c in conns {
                    self.close_conn(c);
                }
            }
            CoreMsg::Started(_) | CoreMsg::Shutdown => {}
        }
    }

    fn on_quorum(&mut self, ev: QuorumEvent) {
        match ev {
            QuorumEvent::Sm(sm) => self.on_sm(sm),
            QuorumEvent::WriteFailed { req } => self.fail_local(req),
            QuorumEvent::FromFollower { from, msg, reply } => self.on_follower_msg(from, msg, reply),
            QuorumEvent::FromLeader { leader, msg } => {
                if self.role != Role::Follower(leader) {
                    return;
                }
                match msg {
                    StreamReply::Failed { req } => self.fail_local(req),
                    StreamReply::Moved { req } => self.moved(req),
                }
            }
            QuorumEvent::ForwardLost { leader } => {
                if self.forward.as_ref().is_some_and(|(l, _)| *l == leader) {
                    tracing::info!(leader, "lost the connection to the leader");
                    self.forward = None;
                    self.fail_forwarded();
                }
            }
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
                let reqs: Vec<ReqId> = self.local.keys().copied().collect();
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

    /// Resets what a four-letter word or admin command (crst/srst) asked to reset.
    fn apply_reset(&mut self, reset: Option<fourlw::Reset>) {
        match reset {
            Some(fourlw::Reset::Connections) => self.conns.values_mut().for_each(|c| c.stats.reset()),
            Some(fourlw::Reset::Server) => self.stats = ServerStats::new(),
            None => {}
        }
    }

    /// A read-only view for the four-letter words, the admin server and `/metrics`.
    pub fn view(&self) -> fourlw::View<'_> {
        fourlw::View {
            cfg: &self.cfg,
            my_id: self.my_id,
            standalone: self.standalone(),
            role: self.role,
            log_blocked: self.log_blocked.is_some(),
            tree: &self.tree,
            sessions: &self.sessions,
            watches: &self.watches,
            conns: &self.conns,
            stats: &self.stats,
            started: self.started,
            outstanding: self.outstanding(),
            metrics: self.metrics.as_ref(),
            last_snapshot: self.current_snapshot.as_ref().map(|(_, p)| p.as_path()),
        }
    }

    /// Queues a frame for a connection; an empty frame sends nothing (a request answered by
    /// closing the connection, e.g. SessionMoved).
    pub fn send(&mut self, conn: ConnId, frame: Bytes) {
        if frame.is_empty() {
            return;
        }
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

    pub(super) fn close_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            let _ = c.out.send(Out::Close);
            c.closer.notify_one();
            if self.session_conn.get(&c.session) == Some(&conn) {
                self.session_conn.remove(&c.session);
                self.watches.remove_session(c.session);
            }
        }
    }
}
