//! Shutdown signalling shared by the broker's subsystems (bottom layer, no dependencies in
//! the crate). `main` flips the phases in Kafka's order on SIGTERM; background loops
//! (controller, fetchers, ISR, maintenance) poll `stopping()` or await `stopped()`, and
//! the listener awaits `draining()` to stop accepting.
//!
//! Phases: Running -> ControlledShutdown (leaders move away, still serving) -> Draining
//! (no new connections, in-flight requests finish) -> Stopped (logs flushed, ZooKeeper
//! session closing).

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{watch, Notify};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    Running = 0,
    ControlledShutdown = 1,
    Draining = 2,
    Stopped = 3,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Running,
            1 => Phase::ControlledShutdown,
            2 => Phase::Draining,
            _ => Phase::Stopped,
        }
    }
}

/// The broker's shutdown phase, readable without locking and awaitable.
pub struct Lifecycle {
    phase: AtomicU8,
    tx: watch::Sender<Phase>,
    /// Requests read and not yet answered (see `request`).
    inflight: AtomicUsize,
    idle: Notify,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            phase: AtomicU8::new(Phase::Running as u8),
            tx: watch::channel(Phase::Running).0,
            inflight: AtomicUsize::new(0),
            idle: Notify::new(),
        }
    }
}

/// A request being handled; dropping it (answer written or connection gone) ends it.
pub struct InFlight<'a>(&'a Lifecycle);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.inflight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Lifecycle {
    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::SeqCst))
    }

    /// Moves forward to `p` (never back); logs the step.
    pub fn advance(&self, p: Phase) {
        let prev = self.phase.fetch_max(p as u8, Ordering::SeqCst);
        if (p as u8) > prev {
            tracing::info!("shutdown: entering phase {p:?}");
            self.tx.send_replace(p);
        }
    }

    /// True once the broker is past serving normally (draining or stopped).
    pub fn stopping(&self) -> bool {
        self.phase() >= Phase::Draining
    }

    /// Counts a request from the moment its frame is read until its answer is written.
    pub fn request(&self) -> InFlight<'_> {
        self.inflight.fetch_add(1, Ordering::SeqCst);
        InFlight(self)
    }

    pub fn in_flight(&self) -> usize {
        self.inflight.load(Ordering::SeqCst)
    }

    /// Waits (at most `bound`) until no request is in flight; answers how many still are.
    pub async fn drained(&self, bound: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            let n = self.in_flight();
            if n == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.in_flight();
            }
        }
    }

    /// Resolves once the phase is at least `p`.
    pub async fn reached(&self, p: Phase) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|cur| *cur >= p).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn phases_only_move_forward() {
        let l = Lifecycle::default();
        assert_eq!(l.phase(), Phase::Running);
        l.advance(Phase::Draining);
        l.advance(Phase::ControlledShutdown);
        assert_eq!(l.phase(), Phase::Draining);
        assert!(l.stopping());
        l.reached(Phase::ControlledShutdown).await;
    }

    #[tokio::test]
    async fn draining_waits_for_requests_within_the_bound() {
        let l = std::sync::Arc::new(Lifecycle::default());
        assert_eq!(l.drained(Duration::from_secs(5)).await, 0);
        let held = l.clone();
        let task = tokio::spawn(async move {
            let _r = held.request();
            tokio::time::sleep(Duration::from_millis(100)).await;
        });
        tokio::task::yield_now().await;
        assert_eq!(l.in_flight(), 1);
        assert_eq!(l.drained(Duration::from_secs(5)).await, 0);
        let _ = task.await;
        let _stuck = l.request();
        assert_eq!(l.drained(Duration::from_millis(100)).await, 1);
    }
}
