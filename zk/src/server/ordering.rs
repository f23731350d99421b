//! Per-session ordering, as a pure queue (no I/O, no tree): ZooKeeper answers a session's
//! requests strictly in the order they arrived, and a read sees exactly the session's own
//! writes that came before it. The core keeps one [`SessionQueue`] per session with pending
//! work; [`super::clients`] appends to it, [`super::apply`] completes writes in it, and
//! whatever is answered at its front leaves in order.
//!
//! ```text
//! arrival:  Write(1)  Read(a)  Write(2)  Read(b)
//! apply 1:  Done(1)   Read(a) is evaluated now (it must see write 1, not write 2)
//! drain:    send Done(1), send a's reply ...  stop at Write(2)
//! ```
//!
//! The queue does not evaluate reads itself: it is handed an evaluation function (the core's
//! read path) and returns what became ready, so its rules are tested here with values.

use crate::ids::{ConnId, ReqId};
use crate::proto::RequestFrame;
use bytes::Bytes;
use std::collections::VecDeque;
use tokio::time::Instant;

/// One of a session's requests, in arrival order.
#[derive(Debug)]
pub enum Queued {
    /// A write or sync still waiting for the log.
    Write(ReqId),
    /// Answered, waiting for the earlier entries: the reply, and whether to close after it.
    Done { conn: ConnId, frame: Bytes, close: bool },
    /// A read waiting behind a write of its session.
    Read { conn: ConnId, frame: RequestFrame, received: Instant },
}

/// What leaves the front of a queue, in this order.
#[derive(Debug)]
pub enum Ready {
    /// Send this reply (and close the connection after it if `close`).
    Send { conn: ConnId, frame: Bytes, close: bool },
    /// Serve this read now (the tree is exactly as it must see it) and send its reply.
    Read { conn: ConnId, frame: RequestFrame, received: Instant },
}

/// A session's requests in arrival order: replies leave strictly in this order.
#[derive(Debug, Default)]
pub struct SessionQueue(VecDeque<Queued>);

impl SessionQueue {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether any read waits in the queue (else there is nothing to evaluate).
    pub fn has_reads(&self) -> bool {
        self.0.iter().any(|q| matches!(q, Queued::Read { .. }))
    }

    pub fn push(&mut self, q: Queued) {
        self.0.push_back(q);
    }

    /// Evaluates, now, the queued reads from position `from` on, keeping their replies in
    /// place. Stops at the first write still in the log, or, with `until`, at that write (the
    /// reads before it must not see it; writes before it in the queue are already applied).
    pub fn evaluate_reads(&mut self, from: usize, until: Option<ReqId>, mut eval: impl FnMut(ConnId, RequestFrame, Instant) -> Bytes) {
        for item in self.0.iter_mut().skip(from) {
            match item {
                Queued::Write(r) if until.is_none() || until == Some(*r) => return,
                Queued::Read { .. } => {
                    let placeholder = Queued::Done { conn: ConnId(0), frame: Bytes::new(), close: false };
                    if let Queued::Read { conn, frame, received } = std::mem::replace(item, placeholder) {
                        *item = Queued::Done { conn, frame: eval(conn, frame, received), close: false };
                    }
                }
                _ => {}
            }
        }
    }

    /// Write `req` is answered: its reply takes its place. Returns the position, or `None`
    /// if the write is not queued here (the caller then sends the reply at once).
    pub fn complete(&mut self, req: ReqId, conn: ConnId, frame: Bytes, close: bool) -> Option<usize> {
        let i = self.0.iter().position(|x| matches!(x, Queued::Write(r) if *r == req))?;
        if let Some(slot) = self.0.get_mut(i) {
            *slot = Queued::Done { conn, frame, close };
        }
        Some(i)
    }

    /// Takes what is ready at the front (answered replies and the reads right behind them), up
    /// to the first write still waiting for the log.
    pub fn drain(&mut self) -> Vec<Ready> {
        let mut out = Vec::new();
        while let Some(front) = self.0.front() {
            if matches!(front, Queued::Write(_)) {
                break;
            }
            match self.0.pop_front() {
                Some(Queued::Done { conn, frame, close }) => out.push(Ready::Send { conn, frame, close }),
                Some(Queued::Read { conn, frame, received }) => out.push(Ready::Read { conn, frame, received }),
                _ => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{OpCode, Request};
    use std::time::Duration;

    fn read(xid: i32) -> RequestFrame {
        RequestFrame { xid, op: OpCode::GetData, req: Request::GetData { path: "/a".into(), watch: false } }
    }

    fn frame(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    /// What a drain produced, as (conn, reply text or "read <xid>", close).
    fn shape(r: &[Ready]) -> Vec<String> {
        r.iter()
            .map(|x| match x {
                Ready::Send { conn, frame, close } => format!("{}:{}{}", conn.0, String::from_utf8_lossy(frame), if *close { "+close" } else { "" }),
                Ready::Read { conn, frame, .. } => format!("{}:read {}", conn.0, frame.xid),
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_waits_behind_its_sessions_write_and_sees_it() {
        let c = ConnId(1);
        let mut q = SessionQueue::default();
        q.push(Queued::Write(ReqId(1)));
        q.push(Queued::Read { conn: c, frame: read(2), received: Instant::now() });
        assert!(q.drain().is_empty(), "nothing leaves before the write is answered");
        tokio::time::advance(Duration::from_millis(30)).await;
        // The write is applied: its reply takes its place, the read behind it is evaluated
        // against the tree as it is now (and measured from when it arrived).
        let i = q.complete(ReqId(1), c, frame("w1"), false);
        assert_eq!(i, Some(0));
        let mut waited = Vec::new();
        q.evaluate_reads(1, None, |conn, f, received| {
            waited.push(received.elapsed());
            frame(&format!("r{}-conn{}", f.xid, conn.0))
        });
        assert_eq!(waited, vec![Duration::from_millis(30)]);
        assert_eq!(shape(&q.drain()), vec!["1:w1", "1:r2-conn1"]);
        assert!(q.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn replies_leave_in_arrival_order_even_when_writes_complete_out_of_order() {
        let c = ConnId(3);
        let mut q = SessionQueue::default();
        q.push(Queued::Write(ReqId(1)));
        q.push(Queued::Write(ReqId(2)));
        q.push(Queued::Done { conn: c, frame: frame("auth"), close: false });
        // A sync (2) answered before the write ahead of it (1): held back.
        assert_eq!(q.complete(ReqId(2), c, frame("w2"), false), Some(1));
        assert!(q.drain().is_empty());
        assert_eq!(q.complete(ReqId(1), c, frame("w1"), false), Some(0));
        assert_eq!(shape(&q.drain()), vec!["3:w1", "3:w2", "3:auth"]);
    }

    #[tokio::test(start_paused = true)]
    async fn reads_before_a_write_are_evaluated_before_it_applies_and_the_rest_wait() {
        let c = ConnId(1);
        let mut q = SessionQueue::default();
        q.push(Queued::Write(ReqId(1)));
        q.push(Queued::Read { conn: c, frame: read(2), received: Instant::now() });
        q.push(Queued::Write(ReqId(3)));
        q.push(Queued::Read { conn: c, frame: read(4), received: Instant::now() });
        // Write 3 is about to apply: reads queued before it (behind write 1, here a pending
        // sync) are evaluated now; the read after write 3 is not.
        let mut seen = Vec::new();
        q.evaluate_reads(0, Some(ReqId(3)), |_, f, _| {
            seen.push(f.xid);
            frame("before-3")
        });
        assert_eq!(seen, vec![2]);
        // Without `until`, evaluation stops at the first write.
        let mut seen = Vec::new();
        q.evaluate_reads(0, None, |_, f, _| {
            seen.push(f.xid);
            frame("x")
        });
        assert!(seen.is_empty());
        q.complete(ReqId(1), c, frame("w1"), false);
        assert_eq!(shape(&q.drain()), vec!["1:w1", "1:before-3"]);
        q.complete(ReqId(3), c, frame("w3"), true);
        assert_eq!(shape(&q.drain()), vec!["1:w3+close", "1:read 4"]);
    }

    #[test]
    fn completing_an_unknown_write_leaves_the_queue_alone() {
        let mut q = SessionQueue::default();
        q.push(Queued::Write(ReqId(1)));
        assert_eq!(q.complete(ReqId(9), ConnId(1), frame("x"), false), None);
        assert_eq!(q.len(), 1);
        assert!(q.drain().is_empty());
    }
}
