//! Shutdown signalling shared by the broker's subsystems (bottom layer, no dependencies in
//! the crate). `main` flips the phases in Kafka's order on SIGTERM; background loops
//! (controller, fetchers, ISR, maintenance) poll `stopping()` or await `stopped()`, and
//! the listener awaits `draining()` to stop accepting.
//!
//! Phases: Running -> ControlledShutdown (leaders move away, still serving) -> Draining
//! (no new connections, in-flight requests finish) -> Stopped (logs flushed, ZooKeeper
//! session closing).

use std::sync::atomic::{AtomicU8, Ordering};

use tokio::sync::watch;

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
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle { phase: AtomicU8::new(Phase::Running as u8), tx: watch::channel(Phase::Running).0 }
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
}
