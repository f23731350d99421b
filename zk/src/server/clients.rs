//! Client intake (the front of ZooKeeper's PrepRequestProcessor): the connect handshake
//! (new session, reattach, refusals), each decoded request as the connection hands it over
//! (auth, read-only refusals, writes to [`super::propose`], syncs, reads now or behind the
//! session's own writes in [`super::ordering`]), disconnects, and the read path itself
//! ([`super::reads`] against the committed tree).

use super::core::{Conn, Core, OutTx, Out};
use super::ordering::Queued;
use super::propose::{Reply, WriteOp};
use super::reads::{self, ReadCtx};
use super::stats::{self, ConnStats};
use crate::ids::{ConnId, SessionId, Zxid};
use crate::proto::*;
use crate::session::password_matches;
use crate::tree::acl::AuthInfo;
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

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
    pub(super) fn on_connect(&mut self, conn: ConnId, addr: SocketAddr, req: ConnectRequest, out: OutTx, closer: Arc<Notify>, answered: oneshot::Sender<()>) {
        let now = Instant::now();
        let auth = AuthInfo::from_ip(&addr.ip().to_string());
        let mut c = Conn { out, closer, addr, session: SessionId(0), auth, stats: ConnStats::new(), read_only_flag: req.read_only.is_some(), answered: Some(answered), sasl: None };
        c.stats.received = 1;
        self.stats.received += 1;
        if !self.serving() {
            tracing::info!(client = %addr, "refusing connection: this member has no leader (not serving requests)");
            let _ = c.out.send(Out::Close);
            c.closer.notify_one();
            return;
        }
        if Zxid(req.last_zxid_seen) > self.tree.last_zxid {
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
            self.propose(id, conn, WriteOp::CreateSession { timeout }, Reply::Connect { conn, timeout });
            return;
        }
        let id = SessionId(req.session_id);
        let valid = self.sessions.get(id).is_some_and(|s| !s.closing) && password_matches(id, &req.passwd);
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
            let f = self.connect_response(conn, id, timeout);
            self.send(conn, f);
        } else {
            self.propose(id, conn, WriteOp::Reattach, Reply::Connect { conn, timeout });
        }
    }

    pub(super) fn on_disconnect(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get(&conn) {
            tracing::debug!(session = format!("{:#x}", c.session), client = %c.addr, "connection closed");
        }
        self.close_conn(conn);
    }

    pub(super) fn on_request(&mut self, conn: ConnId, frame: RequestFrame, received: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.stats.received += 1;
        c.stats.last_cxid = frame.xid;
        c.stats.last_op = frame.op.name();
        self.stats.received += 1;
        let session = c.session;
        if !self.sessions.touch(session, received) {
            let f = reply_frame(frame.xid, self.tree.last_zxid.0, ErrorCode::SessionExpired, &Response::Empty);
            self.send(conn, f);
            self.close_conn(conn);
            return;
        }
        match &frame.req {
            Request::Auth { scheme, auth, .. } => return self.on_auth(conn, frame.xid, scheme, auth),
            Request::Sasl { token } => return self.on_sasl(conn, frame.xid, token),
            _ => {}
        }
        if !self.enforce_auth(conn, frame.xid) {
            return;
        }
        if let Request::Reconfig { .. } = &frame.req {
            // Dynamic reconfiguration is not implemented; ZooKeeper refuses it unless
            // reconfigEnabled=true.
            let err = if self.cfg.reconfig_enabled {
                tracing::info!(session = format!("{session:#x}"), "reconfig is not implemented; answering Unimplemented");
                ErrorCode::Unimplemented
            } else {
                tracing::warn!(session = format!("{session:#x}"), "reconfig operation requested but reconfig feature is disabled");
                ErrorCode::ReconfigDisabled
            };
            let f = reply_frame(frame.xid, self.tree.last_zxid.0, err, &Response::Empty);
            self.reply_in_order(conn, f, false);
            return;
        }
        if self.log_blocked.is_some() && (is_write(frame.op) || frame.op == OpCode::Sync) {
            // Read-only while the log cannot be written: refused, so certainly not done.
            let f = reply_frame(frame.xid, self.tree.last_zxid.0, ErrorCode::NotReadOnly, &Response::Empty);
            self.reply_in_order(conn, f, false);
            return;
        }
        if is_write(frame.op) {
            if frame.op == OpCode::CloseSession {
                self.sessions.set_closing(session);
                self.propose(session, conn, WriteOp::CloseSession, Reply::Close { conn, xid: frame.xid, received });
            } else {
                let sub_ops = match &frame.req {
                    Request::Multi(ops) => ops.iter().map(|(o, _)| *o).collect(),
                    _ => Vec::new(),
                };
                let reply = Reply::Client { conn, xid: frame.xid, op: frame.op, sub_ops, received };
                // The decoded request goes on as it is: prep reads it, nothing decodes it again.
                self.propose(session, conn, WriteOp::Request(frame), reply);
            }
        } else if let Request::Sync { path } = frame.req {
            let reply = Reply::Client { conn, xid: frame.xid, op: frame.op, sub_ops: Vec::new(), received };
            self.start_sync(session, reply, path);
        } else if self.queues.get(&session).is_some_and(|q| !q.is_empty()) {
            self.queues.entry(session).or_default().push(Queued::Read { conn, frame, received });
        } else {
            self.serve_read(conn, frame, received);
        }
    }

    /// Sends a reply that needs no log entry (auth, Unimplemented, a refusal) in its
    /// session's order: behind the replies still owed for earlier requests, if any.
    pub(super) fn reply_in_order(&mut self, conn: ConnId, frame: Bytes, close: bool) {
        let Some(session) = self.conns.get(&conn).map(|c| c.session) else { return };
        if let Some(q) = self.queues.get_mut(&session).filter(|q| !q.is_empty()) {
            q.push(Queued::Done { conn, frame, close });
            self.drain_queue(session);
            return;
        }
        self.send(conn, frame);
        if close {
            self.close_conn(conn);
        }
    }

    pub(super) fn serve_read(&mut self, conn: ConnId, frame: RequestFrame, received: Instant) {
        let f = self.read_reply(conn, frame, received);
        self.send(conn, f);
    }

    /// Evaluates a read against the tree as it is now and returns the reply frame. Watch
    /// events it produces (setWatches after a reconnect) are sent at once, ahead of it.
    pub(super) fn read_reply(&mut self, conn: ConnId, frame: RequestFrame, received: Instant) -> Bytes {
        let xid = frame.xid;
        let op = frame.op;
        let (err, resp) = match self.conns.get(&conn) {
            Some(c) => {
                let session = c.session;
                let served = reads::serve(ReadCtx { tree: &self.tree, watches: &mut self.watches, auth: &c.auth, session }, frame);
                if !served.events.is_empty() {
                    if let Some(to) = self.session_conn.get(&session).copied() {
                        for e in served.events {
                            self.send(to, e);
                        }
                    }
                }
                (served.err, served.resp)
            }
            None => (ErrorCode::SessionExpired, Response::Empty),
        };
        self.record_latency(conn, op, self.tree.last_zxid, received);
        reply_frame(xid, self.tree.last_zxid.0, err, &resp)
    }

    pub(super) fn record_latency(&mut self, conn: ConnId, op: OpCode, zxid: Zxid, received: Instant) {
        stats::record_latency(&mut self.stats, self.conns.get_mut(&conn).map(|c| &mut c.stats), op, zxid, received);
    }
}
