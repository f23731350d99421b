//! The write path up to the log (ZooKeeper's PrepRequestProcessor and, on a follower, the
//! FollowerRequestProcessor): a client's write is registered as a [`Local`] waiting for the
//! log and queued in its session's order; the leader preps it ([`super::prep`]: validation
//! against the tree and the changes in flight) and hands the entry to
//! [`crate::quorum::proposer`]; a follower forwards it to the leader on the stream
//! ([`crate::quorum::network`]), where the same prep happens. Writes travel decoded
//! ([`WriteOp`]) and are encoded only to cross to the leader ([`WriteOp::into_forward`]).

use super::core::{now_ms, Core};
use super::ordering::Queued;
use super::prep::Asker;
use super::roles::Role;
use crate::ids::{ConnId, ReqId, SessionId};
use crate::proto::*;
use crate::quorum::network::{ForwardOp, ForwardReq, StreamMsg, StreamReply};
use crate::quorum::proposer::{self, Proposal};
use crate::quorum::{NodeId, ZkEntry};
use crate::tree::acl::AuthInfo;
use crate::tree::Txn;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A write (or barrier) on its way to the log, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// A client request (create, delete, setData, setACL, check, multi...).
    Request(RequestFrame),
    CreateSession { timeout: i32 },
    CloseSession,
    /// A sync barrier (no transaction).
    Sync,
    /// The session reconnected to the origin member (see [`ForwardOp::Reattach`]).
    Reattach,
    /// A forwarded request the leader could not decode: logged as a failed write
    /// (MarshallingError), so the follower's client still gets its answer.
    Malformed,
}

impl WriteOp {
    /// The form that crosses to the leader: a request is jute-encoded (xid, type, body).
    pub fn into_forward(self) -> ForwardOp {
        match self {
            WriteOp::Request(f) => {
                let mut w = Writer::new();
                w.int(f.xid).int(f.op as i32);
                f.req.write(f.op, &mut w);
                ForwardOp::Frame(w.buf.to_vec())
            }
            WriteOp::CreateSession { timeout } => ForwardOp::CreateSession { timeout },
            WriteOp::CloseSession => ForwardOp::CloseSession,
            WriteOp::Sync => ForwardOp::Sync,
            WriteOp::Reattach => ForwardOp::Reattach,
            WriteOp::Malformed => ForwardOp::Frame(Vec::new()),
        }
    }

    /// The leader's side: decodes a forwarded request (once).
    pub fn from_forward(op: ForwardOp) -> Result<WriteOp, RequestError> {
        Ok(match op {
            ForwardOp::Frame(raw) => WriteOp::Request(RequestFrame::read(&raw)?),
            ForwardOp::CreateSession { timeout } => WriteOp::CreateSession { timeout },
            ForwardOp::CloseSession => WriteOp::CloseSession,
            ForwardOp::Sync => WriteOp::Sync,
            ForwardOp::Reattach => WriteOp::Reattach,
        })
    }
}

/// Where the outcome of a local write goes.
pub(super) enum Reply {
    Client { conn: ConnId, xid: i32, op: OpCode, sub_ops: Vec<OpCode>, received: Instant },
    Connect { conn: ConnId, timeout: i32 },
    Close { conn: ConnId, xid: i32, received: Instant },
}

impl Reply {
    pub(super) fn conn(&self) -> ConnId {
        match self {
            Reply::Client { conn, .. } | Reply::Connect { conn, .. } | Reply::Close { conn, .. } => *conn,
        }
    }
}

/// A write (or sync) of one of our clients, waiting for the log.
pub(super) struct Local {
    pub(super) session: SessionId,
    pub(super) reply: Reply,
    /// Sent to the leader over the forwarding stream (fails if that stream breaks).
    pub(super) forwarded: bool,
}

impl Core {
    fn new_local(&mut self, session: SessionId, reply: Reply, forwarded: bool) -> ReqId {
        let req = ReqId(self.next_req);
        self.next_req += 1;
        self.local.insert(req, Local { session, reply, forwarded });
        self.queues.entry(session).or_default().push(Queued::Write(req));
        req
    }

    /// The id the next [`Core::propose`] will use.
    pub(super) fn peek_req(&self) -> ReqId {
        ReqId(self.next_req)
    }

    /// Sends a write of one of our clients into the log: prep + propose on the leader,
    /// forward on a follower.
    pub(super) fn propose(&mut self, session: SessionId, conn: ConnId, op: WriteOp, reply: Reply) {
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
                    self.open_forward(l);
                }
                let req = self.new_local(session, reply, true);
                let (auth, is_super) = self
                    .conns
                    .get(&conn)
                    .map(|c| (c.auth.ids.iter().map(|i| (i.scheme.clone(), i.id.clone())).collect(), c.auth.is_super))
                    .unwrap_or_default();
                let fwd = ForwardReq { origin: self.my_id, req, session, op: op.into_forward(), auth, is_super };
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
    pub(super) fn prep_and_propose(&mut self, origin: NodeId, req: ReqId, session: SessionId, op: &WriteOp, auth: &AuthInfo, reply: Option<mpsc::UnboundedSender<StreamReply>>) {
        let prep_id = self.next_prep;
        self.next_prep += 1;
        let time = now_ms();
        if origin != 0 && !self.standalone() {
            match op {
                WriteOp::CreateSession { .. } | WriteOp::Reattach => {
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
            WriteOp::CreateSession { timeout } => (0, Txn::CreateSession { timeout: *timeout }, Vec::new()),
            WriteOp::Sync | WriteOp::Reattach => {
                let entry = ZkEntry { origin, req, prep_node: 0, prep_id: 0, session, cxid: 0, time, txn: Vec::new() };
                self.submit_entry(entry, origin, req, reply);
                return;
            }
            WriteOp::CloseSession => {
                self.sessions.set_closing(session);
                let (t, touched) = self.pending.prep_close(&self.tree, session, prep_id);
                (0, t, touched)
            }
            WriteOp::Malformed => (0, Txn::Error { err: ErrorCode::MarshallingError.code() }, Vec::new()),
            WriteOp::Request(frame) => {
                let who = Asker { session, auth };
                let (t, touched) = self.pending.prep(&self.tree, &self.cfg, &who, frame.op, &frame.req, prep_id, time);
                (frame.xid, t, touched)
            }
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
    fn submit_entry(&mut self, entry: ZkEntry, origin: NodeId, req: ReqId, reply: Option<mpsc::UnboundedSender<StreamReply>>) {
        if self.proposer.is_none() {
            if let Some(raft) = self.raft.clone() {
                self.proposer = Some(proposer::spawn(raft, self.my_id, self.events()));
            }
        }
        let sent = self.proposer.as_ref().is_some_and(|p| p.send(Proposal { entry, origin, req, reply }).is_ok());
        if !sent && origin == self.my_id {
            self.fail_local(req);
        }
    }

    /// Leader side of the forwarding stream.
    pub(super) fn on_follower_msg(&mut self, from: NodeId, msg: StreamMsg, reply: mpsc::UnboundedSender<StreamReply>) {
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
                let op = WriteOp::from_forward(f.op).unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "undecodable forwarded request");
                    WriteOp::Malformed
                });
                self.prep_and_propose(f.origin, f.req, f.session, &op, &auth, Some(reply));
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

    /// A local write refused because its session now lives on another member.
    pub(super) fn moved(&mut self, req: ReqId) {
        let r = crate::tree::ApplyResult { err: ErrorCode::SessionMoved, path: None, stat: None, multi: vec![] };
        self.complete_local(req, Some((r, Txn::Error { err: ErrorCode::SessionMoved.code() })));
    }

    /// Fails every local write that went to the leader over the stream.
    pub(super) fn fail_forwarded(&mut self) {
        let reqs: Vec<ReqId> = self.local.iter().filter(|(_, l)| l.forwarded).map(|(r, _)| *r).collect();
        for r in reqs {
            self.fail_local(r);
        }
    }

    /// A local write that will not be answered by the log: the client's connection is
    /// closed (it sees ConnectionLoss and retries, possibly on another member).
    pub(super) fn fail_local(&mut self, req: ReqId) {
        let Some(l) = self.local.remove(&req) else { return };
        tracing::debug!(session = format!("{:#x}", l.session), "write not committed (leader change); closing the client connection");
        self.queues.remove(&l.session);
        self.close_conn(l.reply.conn());
    }

    /// sync: a log entry with no transaction. It commits after everything proposed before it
    /// (on any member), and this member answers when it applies it, in the session's order.
    pub(super) fn start_sync(&mut self, session: SessionId, reply: Reply, path: String) {
        let conn = match &reply {
            Reply::Client { conn, .. } => *conn,
            _ => ConnId(0),
        };
        let req = self.peek_req();
        self.sync_paths.insert(req, path);
        self.propose(session, conn, WriteOp::Sync, reply);
    }

    /// Leader: proposes the deletion of empty containers and expired TTL nodes.
    pub(super) fn reap(&mut self) {
        if self.role != Role::Leader || self.log_blocked.is_some() {
            return;
        }
        for path in self.tree.reapable(now_ms()) {
            let prep_id = self.next_prep;
            if let Some((txn, touched)) = self.pending.prep_reap(&self.tree, &path, prep_id) {
                self.next_prep += 1;
                tracing::debug!(path = %path, "reaping empty container or expired TTL node");
                self.prep_touched.insert(prep_id, touched);
                let mut w = Writer::new();
                txn.write(&mut w);
                let entry = ZkEntry { origin: 0, req: ReqId::NONE, prep_node: self.my_id, prep_id, session: SessionId(0), cxid: 0, time: now_ms(), txn: w.buf.to_vec() };
                self.submit_entry(entry, 0, ReqId::NONE, None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarded_request_is_encoded_once_and_decodes_to_the_same_value() {
        let f = RequestFrame { xid: 9, op: OpCode::Delete, req: Request::Delete { path: "/a".into(), version: 3 } };
        let op = WriteOp::Request(f.clone()).into_forward();
        let ForwardOp::Frame(raw) = &op else { panic!("a request is forwarded as a frame") };
        // The same bytes a client sends for it (its frame without the length prefix).
        assert_eq!(&raw[..], &f.to_frame()[4..]);
        assert_eq!(WriteOp::from_forward(op).unwrap(), WriteOp::Request(f));
        assert_eq!(WriteOp::from_forward(ForwardOp::Sync).unwrap(), WriteOp::Sync);
    }
}
