//! Leader-loss detection from closed ports, beside openraft's election timer.
//!
//! openraft notices a dead leader only by silence: a follower campaigns once no append has
//! come for the leader lease (`election_timeout_max`) plus a random election timeout, and the
//! other followers refuse to vote until their own lease has run out. A ZooKeeper follower does
//! better when the leader's process dies: its socket to the leader closes at once. This module
//! does the same for our members. A follower keeps one idle connection to its leader's
//! election port; when that connection closes and a new one is *refused* (the process is gone,
//! not merely slow: a stopped or overloaded leader still accepts connections), the follower
//! campaigns as soon as the other followers will grant their votes — when the lease measured
//! from the last append it received runs out — instead of waiting for a further election
//! timeout. Followers campaign in member-id order, [`STAGGER`] apart, so two of them do not
//! split the vote.
//!
//! Silence (a stopped or cut-off leader) is still left to openraft's timer, and openraft's
//! timer still runs under this: if the early campaign fails, the ordinary election follows.

use super::network::MemberAddr;
use super::{NodeId, Raft};
use openraft::ServerState;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Gap between the early campaigns of successive followers.
const STAGGER: Duration = Duration::from_millis(60);
/// Allowance for the other followers having heard the dead leader slightly after we did.
const MARGIN: Duration = Duration::from_millis(15);

/// When this member last received an append from a leader (written by the peer-port server).
#[derive(Clone, Default)]
pub struct LastContact(Arc<Mutex<Option<(NodeId, Instant)>>>);

impl LastContact {
    pub fn record(&self, leader: NodeId) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some((leader, Instant::now()));
        }
    }

    fn of(&self, leader: NodeId) -> Option<Instant> {
        match self.0.lock() {
            Ok(g) => g.and_then(|(l, t)| (l == leader).then_some(t)),
            Err(_) => None,
        }
    }
}

/// When a follower whose leader's ports closed should campaign: once the lease measured from
/// the last append has run out, after the followers ranked before it had their turn.
/// `rank` is this member's position among the voters other than the dead leader.
pub fn campaign_at(last_append: Instant, lease: Duration, rank: usize) -> Instant {
    last_append + lease + MARGIN + STAGGER * rank as u32
}

/// This member's rank among the voters that may replace `dead`.
pub fn rank(voters: impl IntoIterator<Item = NodeId>, dead: NodeId, me: NodeId) -> usize {
    voters.into_iter().filter(|v| *v != dead && *v < me).count()
}

/// Runs for the life of the member.
pub async fn run(raft: Raft, me: NodeId, members: BTreeMap<NodeId, MemberAddr>, contact: LastContact, lease: Duration) {
    let mut metrics = raft.metrics();
    loop {
        let (state, leader, voters) = {
            let m = metrics.borrow_and_update();
            let voters: Vec<NodeId> = m.membership_config.membership().voter_ids().collect();
            (m.state, m.current_leader, voters)
        };
        match (state, leader) {
            (ServerState::Follower, Some(l)) if l != me => {
                let Some(addr) = members.get(&l).map(|a| a.election.clone()) else { return };
                if watch(&addr, l, &mut metrics).await {
                    // No append from it yet (we just started): count the lease from now.
                    let last = contact.of(l).unwrap_or_else(Instant::now);
                    let at = campaign_at(last, lease, rank(voters, l, me));
                    tracing::info!(member = me, leader = l, "the leader's ports are closed: campaigning in {:?}, without waiting for the election timeout", at.saturating_duration_since(Instant::now()));
                    // Give up if a leader appears meanwhile (a follower ranked before us won).
                    let changed = tokio::select! {
                        _ = tokio::time::sleep_until(at) => false,
                        r = wait_leader_change(&mut metrics, l) => r,
                    };
                    if !changed {
                        if let Err(e) = raft.trigger().elect().await {
                            tracing::warn!(error = %e, "cannot start an election");
                            return;
                        }
                    }
                    // Let the election settle before watching again.
                    let _ = tokio::time::timeout(lease * 2, wait_leader_change(&mut metrics, l)).await;
                }
            }
            _ => {
                if metrics.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Holds an idle connection to the leader's election port. True when the leader's process is
/// gone (the connection closed and a new one is refused); false when the leader changed or
/// the metrics ended.
async fn watch(addr: &str, leader: NodeId, metrics: &mut tokio::sync::watch::Receiver<openraft::RaftMetrics<NodeId, openraft::BasicNode>>) -> bool {
    loop {
        let conn = tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr)).await;
        let mut s = match conn {
            Ok(Ok(s)) => s,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => return true,
            // Slow or unroutable: silence is openraft's to judge. Look again later.
            _ => {
                if tokio::time::timeout(Duration::from_millis(500), wait_leader_change(metrics, leader)).await.unwrap_or(true) {
                    return false;
                }
                continue;
            }
        };
        let mut buf = [0u8; 64];
        tokio::select! {
            // The server never writes on this connection: any outcome means it closed.
            _ = s.read(&mut buf) => {}
            r = wait_leader_change(metrics, leader) => {
                if r {
                    return false;
                }
            }
        }
    }
}

/// Waits until the metrics name a leader other than `leader` (true) or end (true).
async fn wait_leader_change(metrics: &mut tokio::sync::watch::Receiver<openraft::RaftMetrics<NodeId, openraft::BasicNode>>, leader: NodeId) -> bool {
    loop {
        {
            let m = metrics.borrow_and_update();
            if m.current_leader != Some(leader) || m.state != ServerState::Follower {
                return true;
            }
        }
        if metrics.changed().await.is_err() {
            return true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn followers_campaign_in_id_order_after_the_lease() {
        assert_eq!(rank([1, 2, 3], 1, 2), 0);
        assert_eq!(rank([1, 2, 3], 1, 3), 1);
        assert_eq!(rank([1, 2, 3], 2, 1), 0);
        assert_eq!(rank([1, 2, 3], 2, 3), 1);
        assert_eq!(rank([1, 2, 3, 4, 5], 3, 5), 3);
        let t = Instant::now();
        let lease = Duration::from_millis(300);
        assert_eq!(campaign_at(t, lease, 0), t + lease + MARGIN);
        assert_eq!(campaign_at(t, lease, 2) - campaign_at(t, lease, 1), STAGGER);
    }

    #[test]
    fn contact_is_per_leader() {
        let c = LastContact::default();
        assert!(c.of(1).is_none());
        c.record(1);
        assert!(c.of(1).is_some());
        assert!(c.of(2).is_none());
        c.record(2);
        assert!(c.of(1).is_none());
    }
}
