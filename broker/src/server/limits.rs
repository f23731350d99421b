//! Connection limits at the listener: `max.connections` (the broker-wide count: at the limit
//! the acceptor waits until a connection closes, so new ones queue in the listen backlog, as
//! Kafka 2.5 does) and `max.connections.per.ip` with `max.connections.per.ip.overrides` (one
//! connection too many from an address is closed at once with a log line).
//!
//! `serve` takes a [`Slot`] before `accept`, then asks [`Limits::admit`] for the peer's
//! address; both are released when the connection's task ends (the permit is dropped).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

pub struct Limits {
    /// `max.connections` now (dynamic: see `set`).
    max: AtomicUsize,
    /// Places taken (connections being accepted or open).
    taken: AtomicUsize,
    freed: Notify,
    per_ip: Mutex<(usize, BTreeMap<String, usize>)>,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// A place under `max.connections`, taken before accepting; dropping it frees the place.
pub struct Slot {
    limits: Arc<Limits>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limits.taken.fetch_sub(1, Ordering::AcqRel);
        self.limits.freed.notify_waiters();
    }
}

/// A connection admitted under both limits; dropping it frees both.
pub struct Permit {
    limits: Arc<Limits>,
    ip: IpAddr,
    _slot: Slot,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

impl Limits {
    pub fn new(max_connections: usize, per_ip: usize, overrides: BTreeMap<String, usize>) -> Arc<Limits> {
        Arc::new(Limits {
            max: AtomicUsize::new(max_connections),
            taken: AtomicUsize::new(0),
            freed: Notify::new(),
            per_ip: Mutex::new((per_ip, overrides)),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// New limits (dynamic broker configs, as Kafka 2.5's DynamicConnectionQuota): a lower
    /// `max.connections` closes nothing, it holds the acceptor until enough have closed; a
    /// higher one lets it go on at once. Per-address limits apply to the next connection.
    pub fn set(&self, max_connections: usize, per_ip: usize, overrides: BTreeMap<String, usize>) {
        self.max.store(max_connections, Ordering::Release);
        *self.per_ip.lock().unwrap_or_else(|p| p.into_inner()) = (per_ip, overrides);
        self.freed.notify_waiters();
    }

    /// Waits for a place under `max.connections`. (The acceptor is the only caller.)
    pub async fn slot(self: &Arc<Self>) -> Option<Slot> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let taken = self.taken.load(Ordering::Acquire);
            if taken < self.max.load(Ordering::Acquire) {
                if self.taken.compare_exchange(taken, taken + 1, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                    return Some(Slot { limits: self.clone() });
                }
                continue;
            }
            freed.await;
        }
    }

    /// The limit for one address (an override names it as written in the config).
    pub fn limit_for(&self, ip: IpAddr) -> usize {
        let g = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        g.1.get(&ip.to_string()).copied().unwrap_or(g.0)
    }

    /// Admits a connection from `ip`, or says how many it already has at its limit.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, slot: Slot) -> Result<Permit, usize> {
        let limit = self.limit_for(ip);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= limit {
            let have = *n;
            if have == 0 {
                open.remove(&ip);
            }
            return Err(have);
        }
        *n += 1;
        Ok(Permit { limits: self.clone(), ip, _slot: slot })
    }

    /// Connections open now (for tests and logs).
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn per_ip_limit_and_overrides_and_release() {
        let mut o = BTreeMap::new();
        o.insert("127.0.0.2".to_string(), 3);
        let l = Limits::new(100, 2, o);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let p1 = l.admit(a, l.slot().await.unwrap()).unwrap();
        let _p2 = l.admit(a, l.slot().await.unwrap()).unwrap();
        assert_eq!(l.admit(a, l.slot().await.unwrap()).err(), Some(2));
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(l.admit(b, l.slot().await.unwrap()).unwrap());
        }
        assert_eq!(l.admit(b, l.slot().await.unwrap()).err(), Some(3));
        assert_eq!(l.open(), 5);
        drop(p1);
        assert!(l.admit(a, l.slot().await.unwrap()).is_ok());
        drop(held);
        assert_eq!(l.open(), 1, "only _p2 is still held");
    }

    #[tokio::test]
    async fn max_connections_makes_the_acceptor_wait() {
        let l = Limits::new(1, 10, BTreeMap::new());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let p = l.admit(ip, l.slot().await.unwrap()).unwrap();
        let waited = tokio::time::timeout(std::time::Duration::from_millis(50), l.slot()).await;
        assert!(waited.is_err(), "a second slot must wait while the first connection is open");
        drop(p);
        assert!(tokio::time::timeout(std::time::Duration::from_millis(50), l.slot()).await.is_ok());
    }

    #[tokio::test]
    async fn limits_change_at_runtime() {
        let l = Limits::new(1, 1, BTreeMap::new());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let p = l.admit(ip, l.slot().await.unwrap()).unwrap();
        // A waiting acceptor goes on as soon as max.connections grows.
        let l2 = l.clone();
        let waiting = tokio::spawn(async move { l2.slot().await.map(|_| ()) });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        l.set(3, 2, BTreeMap::new());
        assert!(tokio::time::timeout(std::time::Duration::from_millis(500), waiting).await.is_ok());
        let p2 = l.admit(ip, l.slot().await.unwrap()).unwrap();
        assert_eq!(l.admit(ip, l.slot().await.unwrap()).err(), Some(2));
        // Lowering it closes nothing; the next place waits until enough have closed.
        l.set(1, 2, BTreeMap::new());
        assert!(tokio::time::timeout(std::time::Duration::from_millis(50), l.slot()).await.is_err());
        drop(p);
        drop(p2);
        assert!(tokio::time::timeout(std::time::Duration::from_millis(50), l.slot()).await.is_ok());
    }
}
