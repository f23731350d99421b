//! Member-to-member traffic on loopback or a LAN: Raft RPCs and the forwarding stream.
//!
//! - Votes go to a member's election port; append-entries and snapshot chunks to its peer
//!   port. Each is a request/response exchange of length-prefixed bincode frames.
//! - A follower opens one more connection to the leader's peer port, a *stream*: it sends
//!   client writes (with the session's identities, since the leader preps them), session
//!   liveness and syncs; the leader answers failures. Successful
//!   writes are answered by the log itself: the follower replies once it has applied the entry.

use super::{NodeId, Raft, TypeConfig};
use super::detector::LastContact;
use super::events::{Events, QuorumEvent};
use crate::ids::{ReqId, SessionId};
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest, VoteResponse};
use openraft::BasicNode;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const MAX_FRAME: usize = 512 << 20;

/// Addresses of a member: `server.N=host:peerPort:electionPort`.
#[derive(Debug, Clone)]
pub struct MemberAddr {
    pub peer: String,
    pub election: String,
}

#[derive(Serialize, Deserialize)]
pub enum PeerRequest {
    Append(AppendEntriesRequest<TypeConfig>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    /// Opens a forwarding stream from member `from`; [`StreamMsg`]/[`StreamReply`] follow.
    Stream { from: NodeId },
}

#[derive(Serialize, Deserialize)]
pub enum PeerResponse {
    Append(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Snapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
}

/// What a forwarded write is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ForwardOp {
    /// A client request: the jute frame body (xid, type, request).
    Frame(Vec<u8>),
    CreateSession { timeout: i32 },
    CloseSession,
    /// A sync barrier (no transaction).
    Sync,
    /// The session reconnected to the origin member: from now on only its writes come from
    /// there (older connections elsewhere get SessionMoved). Answered like a sync.
    Reattach,
}

/// A client write forwarded to the leader for prep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForwardReq {
    pub origin: NodeId,
    pub req: ReqId,
    pub session: SessionId,
    pub op: ForwardOp,
    /// The session's proven identities (scheme, id) and whether it is the super user.
    pub auth: Vec<(String, String)>,
    pub is_super: bool,
}

/// Follower -> leader.
#[derive(Debug, Serialize, Deserialize)]
pub enum StreamMsg {
    Forward(ForwardReq),
    /// Sessions with live connections on the follower (liveness relay for expiry).
    Touch(Vec<SessionId>),
}

/// Leader -> follower.
#[derive(Debug, Serialize, Deserialize)]
pub enum StreamReply {
    /// A forwarded write was not accepted (not leader, leadership lost): the follower fails it.
    Failed { req: ReqId },
    /// The session has moved to another member since: answer SessionMoved.
    Moved { req: ReqId },
}

pub async fn write_frame<T: Serialize>(s: &mut (impl AsyncWriteExt + Unpin), msg: &T) -> std::io::Result<()> {
    let b = bincode::serialize(msg).map_err(super::io_err)?;
    let mut out = Vec::with_capacity(b.len() + 4);
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(&b);
    s.write_all(&out).await
}

pub async fn read_frame<T: DeserializeOwned>(s: &mut (impl AsyncReadExt + Unpin)) -> std::io::Result<T> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await?;
    let n = u32::from_be_bytes(len) as usize;
    if n > MAX_FRAME {
        return Err(std::io::Error::other(format!("peer frame of {n} bytes exceeds the limit")));
    }
    // Grow with the bytes that arrive: a prefix alone (anyone can reach the peer port) must
    // not make us allocate up to MAX_FRAME.
    let mut b = Vec::with_capacity(n.min(64 * 1024));
    let got = s.take(n as u64).read_to_end(&mut b).await?;
    if got < n {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("peer frame cut short: {got} of {n} bytes")));
    }
    bincode::deserialize(&b).map_err(super::io_err)
}

/// Creates the per-target RPC clients openraft asks for.
#[derive(Clone)]
pub struct Network {
    pub members: BTreeMap<NodeId, MemberAddr>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> PeerClient {
        let addr = self.members.get(&target).cloned().unwrap_or(MemberAddr { peer: String::new(), election: String::new() });
        PeerClient { target, addr, peer: None, election: None, timeouts: 0 }
    }
}

pub struct PeerClient {
    target: NodeId,
    addr: MemberAddr,
    peer: Option<TcpStream>,
    election: Option<TcpStream>,
    /// Append deadlines missed in a row.
    timeouts: u32,
}

async fn exchange(slot: &mut Option<TcpStream>, addr: &str, req: &PeerRequest, ttl: Duration) -> std::io::Result<PeerResponse> {
    let fut = async {
        if slot.is_none() {
            let s = tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr))
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, format!("connect to {addr} timed out")))??;
            s.set_nodelay(true)?;
            *slot = Some(s);
        }
        let Some(s) = slot.as_mut() else { return Err(std::io::Error::other("no connection")) };
        write_frame(s, req).await?;
        read_frame::<PeerResponse>(s).await
    };
    match tokio::time::timeout(ttl, fut).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => {
            *slot = None;
            Err(e)
        }
        Err(_) => {
            *slot = None;
            Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "peer RPC timed out"))
        }
    }
}

/// Maps a failed exchange to openraft's error. Only a refused or unroutable connection is
/// `Unreachable`, which makes openraft's replication back off for [`BACKOFF`]: a member that is
/// up but slow (an RPC that outlived its deadline because the peer's disk or CPU is busy) gets
/// the next heartbeat or append at once, so a burst of large writes never starves followers of
/// heartbeats long enough for them to start an election.
fn unreachable<E: std::error::Error>(e: std::io::Error) -> RPCError<NodeId, BasicNode, E> {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused | HostUnreachable | NetworkUnreachable | AddrNotAvailable => RPCError::Unreachable(Unreachable::new(&e)),
        _ => RPCError::Network(NetworkError::new(&e)),
    }
}

/// How long replication to a member whose connection was refused waits before trying again.
/// Short enough that a restarted member is caught up within a few heartbeats.
const BACKOFF: Duration = Duration::from_millis(200);

/// Consecutive append deadlines missed before a member counts as unreachable.
const SLOW_LIMIT: u32 = 4;

fn protocol_error<E: std::error::Error>() -> RPCError<NodeId, BasicNode, E> {
    RPCError::Network(NetworkError::new(&std::io::Error::other("unexpected peer response")))
}

impl RaftNetwork<TypeConfig> for PeerClient {
    fn backoff(&self) -> openraft::network::Backoff {
        openraft::network::Backoff::new(std::iter::repeat(BACKOFF))
    }

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let r = exchange(&mut self.peer, &self.addr.peer, &PeerRequest::Append(rpc), option.soft_ttl()).await;
        // A member that answers nothing for several deadlines in a row (stopped, or its host
        // gone) is treated as unreachable, so openraft backs off instead of retrying (and
        // logging) every heartbeat; a single slow answer is retried at once.
        match &r {
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => self.timeouts += 1,
            _ => self.timeouts = 0,
        }
        let r = r.map_err(|e| {
            if self.timeouts >= SLOW_LIMIT {
                RPCError::Unreachable(Unreachable::new(&e))
            } else {
                unreachable(e)
            }
        });
        match r? {
            PeerResponse::Append(r) => r.map_err(|e| RPCError::RemoteError(openraft::error::RemoteError::new(self.target, e))),
            _ => Err(protocol_error()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>> {
        match exchange(&mut self.peer, &self.addr.peer, &PeerRequest::Snapshot(rpc), option.soft_ttl()).await.map_err(unreachable)? {
            PeerResponse::Snapshot(r) => r.map_err(|e| RPCError::RemoteError(openraft::error::RemoteError::new(self.target, e))),
            _ => Err(protocol_error()),
        }
    }

    async fn vote(&mut self, rpc: VoteRequest<NodeId>, option: RPCOption) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match exchange(&mut self.election, &self.addr.election, &PeerRequest::Vote(rpc), option.soft_ttl()).await.map_err(unreachable)? {
            PeerResponse::Vote(r) => r.map_err(|e| RPCError::RemoteError(openraft::error::RemoteError::new(self.target, e))),
            _ => Err(protocol_error()),
        }
    }
}

/// Serves a peer or election port: Raft RPCs, and forwarding streams (peer port only).
/// Every append received is noted in `contact` (for [`super::detector`]).
pub async fn serve(listener: TcpListener, raft: Raft, core: Events, streams: bool, contact: LastContact) {
    loop {
        let Ok((mut s, peer)) = listener.accept().await else { continue };
        let _ = s.set_nodelay(true);
        let raft = raft.clone();
        let core = core.clone();
        let contact = contact.clone();
        tokio::spawn(async move {
            loop {
                let req: PeerRequest = match read_frame(&mut s).await {
                    Ok(r) => r,
                    Err(e) => {
                        if e.kind() != std::io::ErrorKind::UnexpectedEof {
                            tracing::debug!(peer = %peer, error = %e, "peer connection closed");
                        }
                        return;
                    }
                };
                let resp = match req {
                    PeerRequest::Append(r) => {
                        if let Some(leader) = r.vote.leader_id().voted_for() {
                            contact.record(leader);
                        }
                        PeerResponse::Append(raft.append_entries(r).await)
                    }
                    PeerRequest::Snapshot(r) => PeerResponse::Snapshot(raft.install_snapshot(r).await),
                    PeerRequest::Vote(r) => PeerResponse::Vote(raft.vote(r).await),
                    PeerRequest::Stream { from } if streams => {
                        run_stream(s, from, core).await;
                        return;
                    }
                    PeerRequest::Stream { .. } => return,
                };
                if write_frame(&mut s, &resp).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Leader side of a forwarding stream.
async fn run_stream(s: TcpStream, from: NodeId, core: Events) {
    let (mut rd, mut wr) = s.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<StreamReply>();
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if write_frame(&mut wr, &m).await.is_err() {
                return;
            }
        }
    });
    while let Ok(msg) = read_frame::<StreamMsg>(&mut rd).await {
        if !core.emit(QuorumEvent::FromFollower { from, msg, reply: tx.clone() }) {
            break;
        }
    }
    drop(tx);
    writer.abort();
}

/// Follower side: a connection to the leader that carries [`StreamMsg`]s; replies go to the
/// core as [`QuorumEvent::FromLeader`]. Ends (and tells the core) when the connection breaks.
pub fn spawn_forwarder(my_id: NodeId, leader: NodeId, addr: String, core: Events) -> mpsc::UnboundedSender<StreamMsg> {
    let (tx, mut rx) = mpsc::unbounded_channel::<StreamMsg>();
    tokio::spawn(async move {
        let conn = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&addr)).await;
        let Ok(Ok(s)) = conn else {
            core.emit(QuorumEvent::ForwardLost { leader });
            return;
        };
        let _ = s.set_nodelay(true);
        let (mut rd, mut wr) = s.into_split();
        if write_frame(&mut wr, &PeerRequest::Stream { from: my_id }).await.is_err() {
            core.emit(QuorumEvent::ForwardLost { leader });
            return;
        }
        let core2 = core.clone();
        let reader = tokio::spawn(async move {
            while let Ok(m) = read_frame::<StreamReply>(&mut rd).await {
                if !core2.emit(QuorumEvent::FromLeader { leader, msg: m }) {
                    return;
                }
            }
            core2.emit(QuorumEvent::ForwardLost { leader });
        });
        while let Some(m) = rx.recv().await {
            if write_frame(&mut wr, &m).await.is_err() {
                break;
            }
        }
        reader.abort();
        core.emit(QuorumEvent::ForwardLost { leader });
    });
    tx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hostile_peer_frame_lengths_are_refused_or_cut_short() {
        // Over the limit: refused from the prefix alone.
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&(MAX_FRAME as u32 + 1).to_be_bytes()).await.unwrap();
        assert!(read_frame::<StreamReply>(&mut b).await.is_err());
        // Within the limit but the bytes never come: an error at EOF, not a 512 MiB buffer.
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&(MAX_FRAME as u32).to_be_bytes()).await.unwrap();
        a.write_all(b"abc").await.unwrap();
        drop(a);
        let e = read_frame::<StreamReply>(&mut b).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
        // A whole frame whose bincode claims a huge vector: a decode error.
        let (mut a, mut b) = tokio::io::duplex(1024);
        let mut body = 1u32.to_le_bytes().to_vec(); // StreamMsg::Touch, claiming u64::MAX ids
        body.extend_from_slice(&u64::MAX.to_le_bytes());
        body.extend_from_slice(&5i64.to_le_bytes());
        a.write_all(&(body.len() as u32).to_be_bytes()).await.unwrap();
        a.write_all(&body).await.unwrap();
        assert!(read_frame::<StreamMsg>(&mut b).await.is_err());
        // And a good frame still reads.
        let (mut a, mut b) = tokio::io::duplex(1024);
        write_frame(&mut a, &StreamReply::Failed { req: ReqId(7) }).await.unwrap();
        assert!(matches!(read_frame::<StreamReply>(&mut b).await.unwrap(), StreamReply::Failed { req: ReqId(7) }));
    }
}
