//! Session tracking: ids, passwords, negotiated timeouts and expiry deadlines.
//!
//! The core touches a session on every packet from its connection; a periodic tick asks
//! [`SessionTracker::expired`] which sessions ran out of time, and the core turns each into
//! a closeSession transaction (so expiry, and the deletion of ephemerals, is logged and
//! replicated like any write). Time is `tokio::time::Instant`, so tests can pause the clock.

use crate::ids::SessionId;
use sha1::{Digest, Sha1};
use std::collections::{BTreeMap, HashMap};
use tokio::time::{Duration, Instant};

/// The secret mixed into session passwords (ZooKeeper uses a fixed one too); passwords must be
/// derivable after a restart, so they cannot be random.
const SECRET: &[u8] = b"rust-zk session secret 0xB3415C00";

pub fn password(session: SessionId) -> Vec<u8> {
    let mut h = Sha1::new();
    h.update(SECRET);
    h.update(session.0.to_be_bytes());
    h.finalize()[..16].to_vec()
}

#[derive(Debug, Clone)]
pub struct Session {
    pub timeout: i32,
    pub deadline: Instant,
    /// Set once the client asked to close: its requests get SessionExpired.
    pub closing: bool,
    /// Set once this member (as leader) proposed the expiry: not proposed twice, but the
    /// session keeps being served until the closeSession is applied (a stale leader's
    /// proposal never is).
    pub expiring: bool,
}

pub struct SessionTracker {
    sessions: HashMap<SessionId, Session>,
    next_id: i64,
}

impl SessionTracker {
    /// `server_id` goes in the top byte of every id, as in ZooKeeper; the rest starts from the
    /// clock so that ids are not reused across restarts.
    pub fn new(server_id: u8, now_ms: i64) -> SessionTracker {
        let base = ((now_ms << 24) as u64 >> 8) as i64;
        SessionTracker { sessions: HashMap::new(), next_id: base | ((server_id as i64) << 56) }
    }

    pub fn next_id(&mut self) -> SessionId {
        self.next_id += 1;
        SessionId(self.next_id)
    }

    pub fn add(&mut self, id: SessionId, timeout: i32, now: Instant) {
        self.sessions.insert(id, Session { timeout, deadline: now + Duration::from_millis(timeout.max(0) as u64), closing: false, expiring: false });
    }

    pub fn get(&self, id: SessionId) -> Option<&Session> {
        self.sessions.get(&id)
    }

    /// Extends the deadline; false if the session is unknown or closing.
    pub fn touch(&mut self, id: SessionId, now: Instant) -> bool {
        match self.sessions.get_mut(&id) {
            Some(s) if !s.closing => {
                s.deadline = now + Duration::from_millis(s.timeout.max(0) as u64);
                true
            }
            _ => false,
        }
    }

    pub fn set_closing(&mut self, id: SessionId) -> bool {
        match self.sessions.get_mut(&id) {
            Some(s) if !s.closing => {
                s.closing = true;
                true
            }
            _ => false,
        }
    }

    /// Forgets expiries decided but never committed (this member stopped being leader).
    pub fn clear_closing(&mut self, now: Instant) {
        for s in self.sessions.values_mut() {
            if s.closing || s.expiring {
                s.closing = false;
                s.expiring = false;
                s.deadline = now + Duration::from_millis(s.timeout.max(0) as u64);
            }
        }
    }

    pub fn remove(&mut self, id: SessionId) {
        self.sessions.remove(&id);
    }

    /// Sessions past their deadline that are not already closing, marked closing.
    pub fn expired(&mut self, now: Instant) -> Vec<SessionId> {
        let mut out: Vec<SessionId> = self.sessions.iter().filter(|(_, s)| !s.closing && !s.expiring && s.deadline <= now).map(|(id, _)| *id).collect();
        out.sort_unstable();
        for id in &out {
            if let Some(s) = self.sessions.get_mut(id) {
                s.expiring = true;
            }
        }
        out
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// id -> expiry deadline of every session, for the admin server's `dump`.
    pub fn deadlines(&self) -> impl Iterator<Item = (SessionId, Instant)> + '_ {
        self.sessions.iter().map(|(id, s)| (*id, s.deadline))
    }

    /// id -> timeout of every session not yet closed, for snapshots and `dump`.
    pub fn table(&self) -> BTreeMap<SessionId, i32> {
        self.sessions.iter().map(|(id, s)| (*id, s.timeout)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn expiry_follows_the_paused_clock() {
        let mut t = SessionTracker::new(0, 1_700_000_000_000);
        let a = t.next_id();
        let b = t.next_id();
        assert_ne!(a, b);
        t.add(a, 4000, Instant::now());
        t.add(b, 10_000, Instant::now());
        tokio::time::advance(Duration::from_millis(3000)).await;
        assert!(t.expired(Instant::now()).is_empty());
        assert!(t.touch(a, Instant::now()));
        tokio::time::advance(Duration::from_millis(3500)).await;
        assert!(t.expired(Instant::now()).is_empty(), "a was touched at 3s, deadline 7s");
        tokio::time::advance(Duration::from_millis(4000)).await;
        assert_eq!(t.expired(Instant::now()), vec![a, b]);
        assert!(t.expired(Instant::now()).is_empty(), "expired once only");
        // An expiring session is still served until its closeSession is applied.
        assert!(t.touch(a, Instant::now()));
        assert!(t.expired(Instant::now()).is_empty(), "and its expiry is not proposed twice");
        assert!(t.set_closing(b));
        assert!(!t.touch(b, Instant::now()), "a closing session is not revived");
        t.clear_closing(Instant::now());
        assert!(t.touch(b, Instant::now()), "a close that never committed is undone");
    }

    #[test]
    fn passwords_are_stable_and_distinct() {
        assert_eq!(password(SessionId(5)), password(SessionId(5)));
        assert_ne!(password(SessionId(5)), password(SessionId(6)));
        assert_eq!(password(SessionId(5)).len(), 16);
        let t = SessionTracker::new(1, 1_700_000_000_000);
        assert_eq!((t.next_id >> 56) & 0xff, 1);
    }
}
