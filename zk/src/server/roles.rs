//! This member's role in the group (leader, follower, electing), learned from openraft's
//! metrics, and what each role does on the core's ticks: the leader expires sessions (as
//! ZooKeeper's leader-side SessionTracker), a follower relays which sessions are alive on it
//! and keeps its forwarding stream to the leader open. A role change resets what the old
//! role had in flight.

use super::core::Core;
use super::propose::WriteOp;
use crate::ids::{ConnId, SessionId};
use crate::quorum::network::{spawn_forwarder, StreamMsg};
use crate::quorum::NodeId;
use crate::tree::acl::AuthInfo;
use tokio::time::Instant;

/// This member's view of the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Leader,
    Follower(NodeId),
    /// No known leader: not serving clients.
    Electing,
}

impl Core {
    pub(super) fn serving(&self) -> bool {
        self.role != Role::Electing
    }

    /// Opens the forwarding stream to `leader`.
    pub(super) fn open_forward(&mut self, leader: NodeId) {
        let addr = self.members.get(&leader).map(|a| a.peer.clone()).unwrap_or_default();
        self.forward = Some((leader, spawn_forwarder(self.my_id, leader, addr, self.events())));
    }

    pub(super) fn on_metrics(&mut self, m: Option<openraft::RaftMetrics<NodeId, openraft::BasicNode>>) {
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
        self.pending = Default::default();
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
                self.open_forward(l);
            }
            Role::Electing => {
                self.forward = None;
                self.fail_forwarded();
                if !self.standalone() {
                    // Like a ZooKeeper follower that lost its leader: drop clients; they
                    // reconnect to a member that serves.
                    let conns: Vec<ConnId> = self.conns.keys().copied().collect();
                    for c in conns {
                        self.close_conn(c);
                    }
                }
            }
        }
    }

    /// Leader: expire sessions. Follower: tell the leader which sessions are alive here.
    pub(super) fn on_tick(&mut self) {
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
                    self.prep_and_propose(0, crate::ids::ReqId::NONE, id, &WriteOp::CloseSession, &auth, None);
                }
            }
            Role::Follower(l) => {
                if self.forward.is_none() {
                    // The stream to the leader broke (or the leader was not listening yet).
                    self.open_forward(l);
                }
                let live: Vec<SessionId> = self.session_conn.keys().copied().collect();
                if !live.is_empty() {
                    if let Some((_, tx)) = &self.forward {
                        let _ = tx.send(StreamMsg::Touch(live));
                    }
                }
            }
            Role::Electing => {}
        }
    }
}
