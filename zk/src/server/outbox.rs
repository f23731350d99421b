//! The queue from the core to one connection's writer task, with the bytes in it counted, so
//! that a client that sends requests but does not read its socket cannot make the server hold
//! unbounded replies and watch notifications for it.
//!
//! Sits between [`super::core`] (which queues reply and event frames with [`OutTx::send`]) and
//! the writer task of [`super::connection`] (which takes them with [`OutRx`] and reports what
//! reached the socket with [`OutRx::written`]):
//!
//! - while more than [`PAUSE_READING_AT`] bytes wait, the connection reads no further requests
//!   ([`OutTx::drained`]): a client that reads slowly is slowed down, as ZooKeeper stops
//!   reading from a connection with too much outstanding;
//! - when a frame is queued behind more than [`backlog_limit`] bytes that are still waiting,
//!   the core closes the connection with a log line (requests already read, and watch
//!   notifications, keep producing frames while reading is paused);
//! - a connection being closed gets [`CLOSE_GRACE`] to flush what is queued; a writer blocked
//!   on a client that does not read is then dropped, and so is one whose connection is closed
//!   for its backlog ([`OutTx::abort`]), so the socket and the task go away too.

use super::core::Out;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

/// Queued bytes above which the connection stops reading requests until the writer catches up.
pub const PAUSE_READING_AT: usize = 1 << 20;
/// How long a closing connection may take to flush what is queued for it.
pub const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The backlog (bytes queued and not yet written) behind which a new frame closes the
/// connection: 32 MiB, or four frames of the largest size (`jute.maxbuffer`) if that
/// is more. One reply larger than this still goes out; only a backlog this big closes.
pub fn backlog_limit(max_frame: usize) -> usize {
    (32usize << 20).max(max_frame.saturating_mul(4))
}

#[derive(Default)]
struct Shared {
    queued: AtomicUsize,
    /// The writer wrote something (the reader may resume).
    drained: Notify,
    /// `aborted` or `closing` was set.
    stop: Notify,
    aborted: AtomicBool,
    closing: AtomicBool,
}

/// The core's end: queue frames, see the backlog, abort.
#[derive(Clone)]
pub struct OutTx {
    tx: mpsc::UnboundedSender<Out>,
    shared: Arc<Shared>,
}

/// The writer's end.
pub struct OutRx {
    rx: mpsc::UnboundedReceiver<Out>,
    shared: Arc<Shared>,
}

pub fn channel() -> (OutTx, OutRx) {
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared::default());
    (OutTx { tx, shared: shared.clone() }, OutRx { rx, shared })
}

impl From<mpsc::UnboundedSender<Out>> for OutTx {
    /// A queue whose far end counts nothing (tests that read the frames themselves).
    fn from(tx: mpsc::UnboundedSender<Out>) -> OutTx {
        OutTx { tx, shared: Arc::new(Shared::default()) }
    }
}

impl OutTx {
    /// Queues a frame (counted) or the close (the writer flushes, within [`CLOSE_GRACE`]).
    pub fn send(&self, o: Out) -> Result<(), mpsc::error::SendError<Out>> {
        match &o {
            Out::Frame(f) => {
                self.shared.queued.fetch_add(f.len(), Ordering::Relaxed);
            }
            Out::Close => {
                self.shared.closing.store(true, Ordering::Relaxed);
                self.shared.stop.notify_waiters();
            }
        }
        self.tx.send(o)
    }

    /// Bytes queued and not yet written to the socket.
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    /// Drops the connection without flushing what is queued.
    pub fn abort(&self) {
        self.shared.aborted.store(true, Ordering::Relaxed);
        self.shared.stop.notify_waiters();
    }

    /// Waits until the writer has written something (call while [`OutTx::queued`] is high).
    pub async fn drained(&self) {
        self.shared.drained.notified().await
    }
}

impl OutRx {
    pub async fn recv(&mut self) -> Option<Out> {
        self.rx.recv().await
    }

    pub fn try_recv(&mut self) -> Option<Out> {
        self.rx.try_recv().ok()
    }

    /// `n` bytes of frames reached the socket.
    pub fn written(&self, n: usize) {
        let _ = self.shared.queued.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| Some(q.saturating_sub(n)));
        self.shared.drained.notify_one();
    }

    /// Resolves when the writer should give up the write it is blocked in: at once after
    /// [`OutTx::abort`], [`CLOSE_GRACE`] after the close was queued. Never otherwise.
    pub async fn stopped(&self) {
        loop {
            let notified = self.shared.stop.notified();
            if self.shared.aborted.load(Ordering::Relaxed) {
                return;
            }
            if self.shared.closing.load(Ordering::Relaxed) {
                tokio::select! {
                    _ = tokio::time::sleep(CLOSE_GRACE) => return,
                    _ = notified => continue,
                }
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn bytes_are_counted_in_and_out() {
        let (tx, mut rx) = channel();
        tx.send(Out::Frame(Bytes::from(vec![0u8; 100]))).unwrap();
        tx.send(Out::Frame(Bytes::from(vec![0u8; 50]))).unwrap();
        assert_eq!(tx.queued(), 150);
        assert!(matches!(rx.try_recv(), Some(Out::Frame(_))));
        rx.written(100);
        assert_eq!(tx.queued(), 50);
        rx.written(500);
        assert_eq!(tx.queued(), 0, "never below zero");
        assert_eq!(backlog_limit(1 << 20), 32 << 20);
        assert_eq!(backlog_limit(100 << 20), 400 << 20);
    }

    #[tokio::test(start_paused = true)]
    async fn a_close_stops_a_blocked_writer_after_the_grace_and_an_abort_at_once() {
        let (tx, rx) = channel();
        let stopped = tokio::time::timeout(Duration::from_secs(60), rx.stopped());
        tokio::pin!(stopped);
        assert!(tokio::time::timeout(Duration::from_secs(30), &mut stopped).await.is_err(), "nothing asked it to stop");
        tx.send(Out::Close).unwrap();
        let t = tokio::time::Instant::now();
        stopped.await.unwrap();
        assert!(t.elapsed() >= CLOSE_GRACE);
        let (tx, rx) = channel();
        let t = tokio::time::Instant::now();
        let w = tokio::spawn(async move { rx.stopped().await });
        tokio::task::yield_now().await;
        tx.abort();
        w.await.unwrap();
        assert!(t.elapsed() < Duration::from_secs(1));
    }
}
