//! What the replication layer tells the layer above it (the server's core): openraft's
//! state-machine calls ([`SmMsg`]), proposals that failed, and the forwarding stream's
//! traffic. Quorum emits these through an [`Events`] sink and knows nothing of who consumes
//! them, so `quorum` sits below `server` (it imports no server module).

use super::network::{StreamMsg, StreamReply};
use super::state_machine::Meta;
use super::{LogId, Membership, NodeId};
use crate::ids::ReqId;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// openraft's state-machine calls, answered by whoever owns the tree.
pub enum SmMsg {
    Apply(Vec<super::Entry>, oneshot::Sender<()>),
    AppliedState(oneshot::Sender<(Option<LogId>, Membership)>),
    BuildSnapshot(oneshot::Sender<Result<(Meta, Vec<u8>), String>>),
    CurrentSnapshot(oneshot::Sender<Option<(Meta, Vec<u8>)>>),
    Install(Meta, Vec<u8>, oneshot::Sender<Result<(), String>>),
}

/// Everything quorum reports upward.
pub enum QuorumEvent {
    Sm(SmMsg),
    /// A proposal of ours was not committed (leadership lost): fail that request.
    WriteFailed { req: ReqId },
    /// Leader: a message on a follower's forwarding stream, and where to answer it.
    FromFollower { from: NodeId, msg: StreamMsg, reply: mpsc::UnboundedSender<StreamReply> },
    /// Follower: the leader's answer on our forwarding stream.
    FromLeader { leader: NodeId, msg: StreamReply },
    /// Follower: the forwarding stream to `leader` broke (or never opened).
    ForwardLost { leader: NodeId },
}

/// Where quorum sends its events. `emit` says whether the receiver is still there.
#[derive(Clone)]
pub struct Events(Arc<dyn Fn(QuorumEvent) -> bool + Send + Sync>);

impl Events {
    pub fn new(f: impl Fn(QuorumEvent) -> bool + Send + Sync + 'static) -> Events {
        Events(Arc::new(f))
    }

    /// Sends an event; false once the receiver has stopped.
    pub fn emit(&self, ev: QuorumEvent) -> bool {
        (self.0)(ev)
    }
}
