//! Apply and answer (ZooKeeper's FinalRequestProcessor): every member applies committed log
//! entries in order to its DataTree, fires the watches they trigger, and answers the clients
//! of its own that wait for them, in each session's order ([`super::ordering`]). openraft's
//! state-machine calls ([`SmMsg`]) arrive here; snapshot build and install are in
//! [`super::snapshots`].

use super::core::Core;
use super::ordering::Ready;
use super::propose::{Local, Reply};
use crate::ids::{ConnId, ReqId, SessionId, Zxid};
use crate::proto::*;
use crate::quorum::events::SmMsg;
use crate::quorum::{next_zxid, Membership, ZkEntry};
use crate::session::password;
use crate::tree::{ApplyResult, Txn, TxnHeader};
use bytes::Bytes;
use openraft::EntryPayload;
use tokio::time::Instant;

impl Core {
    pub(super) fn on_sm(&mut self, m: SmMsg) {
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
        let ours = ze.origin == self.my_id && !ze.req.is_none();
        let session = ze.session;
        if ze.txn.is_empty() {
            // A sync or reattach barrier: nothing to apply.
            if ours {
                self.evaluate_reads(session, 0, Some(ze.req));
                match self.sync_paths.remove(&ze.req) {
                    Some(path) => {
                        let r = ApplyResult { err: ErrorCode::Ok, path: Some(path), stat: None, multi: vec![] };
                        self.complete_local(ze.req, Some((r, Txn::Error { err: 0 })));
                    }
                    None => self.complete_local(ze.req, None),
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
        if ours {
            // Reads queued before this write (behind a pending sync) must not see it.
            self.evaluate_reads(session, 0, Some(ze.req));
        }
        let header = TxnHeader { session, cxid: ze.cxid, zxid, time: ze.time };
        let mut triggers = std::mem::take(&mut self.triggers);
        triggers.clear();
        let r = self.tree.apply(&header, &txn, &mut triggers);
        if ze.prep_node == self.my_id {
            let touched = self.prep_touched.remove(&ze.prep_id).unwrap_or_default();
            self.pending.committed(ze.prep_id, &touched, session);
        }
        for (ev, path, acl) in triggers.drain(..) {
            self.fire(ev, &path, &acl, zxid);
        }
        self.triggers = triggers;
        match &txn {
            Txn::CreateSession { timeout } => {
                if self.sessions.get(session).is_none() {
                    self.sessions.add(session, *timeout, Instant::now());
                }
            }
            Txn::CloseSession => self.end_session(session, ours),
            _ => {}
        }
        if ours {
            self.complete_local(ze.req, Some((r, txn)));
        }
    }

    /// A local write is answered (by apply, or refused): its reply takes its place in the
    /// session's queue, and whatever is then ready at the front leaves.
    pub(super) fn complete_local(&mut self, req: ReqId, result: Option<(ApplyResult, Txn)>) {
        let Some(Local { session, reply, .. }) = self.local.remove(&req) else { return };
        let zxid = self.tree.last_zxid;
        let (conn, frame, close) = match reply {
            Reply::Connect { conn, timeout } => (conn, self.connect_response(conn, session, timeout), false),
            Reply::Close { conn, xid, received } => {
                self.record_latency(conn, OpCode::CloseSession, zxid, received);
                (conn, reply_frame(xid, zxid.0, ErrorCode::Ok, &Response::Empty), true)
            }
            Reply::Client { conn, xid, op, sub_ops, received } => {
                let (err, resp) = match result {
                    Some((r, txn)) => reply_for(op, &sub_ops, r, &txn),
                    None => (ErrorCode::Ok, Response::Empty),
                };
                self.record_latency(conn, op, zxid, received);
                // SessionMoved closes the connection without an answer, as Apache's
                // FinalRequestProcessor does (ZOOKEEPER-710; the client sees ConnectionLoss,
                // which every client retries): the session's owner at the leader can be a
                // member that processed a stale reconnect (a paused member reading its accept
                // backlog after the client had gone elsewhere). Left open, every write of that
                // client would be refused for good; closed, the client reconnects and its
                // reattach makes this member the owner again.
                if err == ErrorCode::SessionMoved {
                    (conn, Bytes::new(), true)
                } else {
                    (conn, reply_frame(xid, zxid.0, err, &resp), false)
                }
            }
        };
        let placed = self.queues.get_mut(&session).and_then(|q| q.complete(req, conn, frame.clone(), close));
        match placed {
            // The reads right behind this write see the tree as it is now.
            Some(i) => self.evaluate_reads(session, i + 1, None),
            None => {
                self.send(conn, frame);
                if close {
                    self.close_conn(conn);
                }
            }
        }
        self.drain_queue(session);
    }

    /// The connect response for a session (its password, the readOnly flag if asked).
    pub(super) fn connect_response(&self, conn: ConnId, session: SessionId, timeout: i32) -> Bytes {
        let read_only = self.conns.get(&conn).and_then(|c| c.read_only_flag.then_some(false));
        let resp = ConnectResponse { protocol_version: 0, timeout, session_id: session.0, passwd: password(session), read_only };
        let mut w = Writer::framed();
        resp.write(&mut w);
        w.finish_frame()
    }

    /// Evaluates, now, the queued reads of `session` (see [`super::ordering`]).
    pub(super) fn evaluate_reads(&mut self, session: SessionId, from: usize, until: Option<ReqId>) {
        if !self.queues.get(&session).is_some_and(|q| q.has_reads()) {
            return;
        }
        let Some(mut q) = self.queues.remove(&session) else { return };
        q.evaluate_reads(from, until, |conn, frame, received| self.read_reply(conn, frame, received));
        self.queues.insert(session, q);
    }

    /// Sends the answered replies at the front of a session's queue and serves the reads that
    /// were waiting behind them, stopping at the first write still in the log.
    pub(super) fn drain_queue(&mut self, session: SessionId) {
        let Some(q) = self.queues.get_mut(&session) else { return };
        let ready = q.drain();
        if q.is_empty() {
            self.queues.remove(&session);
        }
        for r in ready {
            match r {
                Ready::Send { conn, frame, close } => {
                    self.send(conn, frame);
                    if close {
                        self.close_conn(conn);
                    }
                }
                Ready::Read { conn, frame, received } => self.serve_read(conn, frame, received),
            }
        }
    }

    /// A closeSession is applied: forget the session, its watches and (unless the reply
    /// still has to go out on it) its connection.
    fn end_session(&mut self, session: SessionId, reply_pending: bool) {
        self.sessions.remove(session);
        self.watches.remove_session(session);
        if let Some(c) = self.session_conn.get(&session).copied() {
            if !reply_pending {
                self.queues.remove(&session);
                self.close_conn(c);
            }
        }
    }

    fn fire(&mut self, ev: EventType, path: &str, acl: &[Acl], zxid: Zxid) {
        let sessions = self.watches.trigger(ev, path);
        if sessions.is_empty() {
            return;
        }
        let frame = event_frame(zxid.0, &WatcherEvent { typ: ev as i32, state: STATE_SYNC_CONNECTED, path: path.to_string() });
        for s in sessions {
            if let Some(conn) = self.session_conn.get(&s).copied() {
                // No notification about a node the watcher may not read (ZooKeeper 3.8).
                if self.conns.get(&conn).is_some_and(|c| c.auth.allowed(acl, perms::READ)) {
                    self.send(conn, frame.clone());
                }
            }
        }
    }
}

/// Builds the reply of a committed write from what apply returned.
fn reply_for(op: OpCode, sub_ops: &[OpCode], r: ApplyResult, txn: &Txn) -> (ErrorCode, Response) {
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
