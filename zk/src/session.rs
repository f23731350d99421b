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

/// The secret ZooKeeper mixes into session passwords (`SessionTrackerImpl`'s superSecret).
const SUPER_SECRET: i64 = 0xB341_5C00;

/// A session's password, as Apache ZooKeeper derives it: 16 bytes from `java.util.Random`
/// seeded with `id ^ superSecret` (`SessionTrackerImpl.generatePasswd`). Deterministic, so it
/// holds after a restart, and the same as Apache's, so a session moves between Apache
/// ZooKeeper and ours (data imported by [`crate::migrate`]) with its client still connected.
pub fn password(session: SessionId) -> Vec<u8> {
    let mut r = JavaRandom::new(session.0 ^ SUPER_SECRET);
    let mut out = Vec::with_capacity(16);
    while out.len() < 16 {
        // `Random.nextBytes`: each int gives up to four bytes, low byte first.
        let mut v = r.next_int();
        for _ in 0..(16 - out.len()).min(4) {
            out.push(v as u8);
            v >>= 8;
        }
    }
    out
}

/// Does `passwd` open `session`? ZooKeeper's password, or the one this server gave before it
/// derived ZooKeeper's (a session made by an older version of ours keeps working).
pub fn password_matches(session: SessionId, passwd: &[u8]) -> bool {
    passwd == password(session).as_slice() || passwd == legacy_password(session).as_slice()
}

fn legacy_password(session: SessionId) -> Vec<u8> {
    let mut h = Sha1::new();
    h.update(b"rust-zk session secret 0xB3415C00");
    h.update(session.0.to_be_bytes());
    h.finalize()[..16].to_vec()
}

/// `java.util.Random`'s generator as its documentation specifies it: a 48-bit linear
/// congruential generator (multiplier 0x5DEECE66D, addend 0xB), seeded by
/// `(seed ^ 0x5DEECE66D) & (2^48 - 1)`; `nextInt()` is the top 32 of the 48 bits.
struct JavaRandom(i64);

impl JavaRandom {
    const MULT: i64 = 0x5_DEEC_E66D;
    const MASK: i64 = (1 << 48) - 1;

    fn new(seed: i64) -> JavaRandom {
        JavaRandom((seed ^ Self::MULT) & Self::MASK)
    }

    fn next_int(&mut self) -> i32 {
        self.0 = (self.0.wrapping_mul(Self::MULT).wrapping_add(0xB)) & Self::MASK;
        (self.0 >> 16) as i32
    }
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
    fn java_random_matches_its_specification() {
        // new java.util.Random(0).nextInt() is -1155484576; new Random(42).nextInt() is -1170105035
        // (values every Java prints; the generator is specified in Random's documentation).
        assert_eq!(JavaRandom::new(0).next_int(), -1155484576);
        assert_eq!(JavaRandom::new(42).next_int(), -1170105035);
        let mut r = JavaRandom::new(0);
        r.next_int();
        assert_eq!(r.next_int(), -723955400);
        assert!(password_matches(SessionId(9), &password(SessionId(9))));
        assert!(password_matches(SessionId(9), &legacy_password(SessionId(9))));
        assert!(!password_matches(SessionId(9), &password(SessionId(10))));
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
