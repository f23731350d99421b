//! The proposer: the leader's path from a prepped write to the Raft log (ZooKeeper's
//! ProposalRequestProcessor). The core preps writes in order and hands them here through one
//! channel; this task appends them to openraft in that order, so a session's writes commit in
//! xid order. Group commit: everything that queued up while the previous batch was being made
//! durable goes into the next entry (one fsync). Successes are answered by apply on every
//! member; failures (leadership lost) are reported here: to the core for this member's
//! clients ([`QuorumEvent::WriteFailed`]), on the forwarding stream for a follower's.

use super::events::{Events, QuorumEvent};
use super::network::StreamReply;
use super::{NodeId, Raft, ZkBatch, ZkEntry};
use crate::ids::ReqId;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A prepped entry, the member and request waiting for it, and (for a follower's write) where
/// to report that it failed.
pub struct Proposal {
    pub entry: ZkEntry,
    pub origin: NodeId,
    pub req: ReqId,
    pub reply: Option<mpsc::UnboundedSender<StreamReply>>,
}

/// Most entries in one batch.
const MAX_BATCH: usize = 2048;
/// Keep each Raft entry small enough that replicating it never delays heartbeats past a
/// follower's election timeout (a burst of large writes must not look like a dead leader).
const MAX_BATCH_BYTES: usize = 256 << 10;

/// Starts the proposer task for `raft`; it ends when the returned sender is dropped.
pub fn spawn(raft: Raft, me: NodeId, events: Events) -> mpsc::UnboundedSender<Proposal> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Proposal>();
    let inflight = Arc::new(tokio::sync::Semaphore::new(2));
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            // Two batches in flight: the next one is appended as soon as this one is on disk,
            // without waiting for it to be applied and answered. Waiting for a slot before
            // draining the queue lets the batch grow meanwhile.
            let Ok(permit) = inflight.clone().acquire_owned().await else { return };
            let mut bytes = first.entry.txn.len();
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                match rx.try_recv() {
                    Ok(p) => {
                        bytes += p.entry.txn.len();
                        batch.push(p);
                    }
                    Err(_) => break,
                }
            }
            let mut waiting = Vec::with_capacity(batch.len());
            let mut entries = Vec::with_capacity(batch.len());
            for Proposal { entry, origin, req, reply } in batch {
                entries.push(entry);
                waiting.push((origin, req, reply));
            }
            let outcome = raft.client_write_ff(ZkBatch(entries)).await;
            let events = events.clone();
            tokio::spawn(async move {
                let ok = match outcome {
                    Ok(rx) => matches!(rx.await, Ok(Ok(_))),
                    Err(_) => false,
                };
                drop(permit);
                if !ok {
                    for (origin, req, reply) in waiting {
                        if req.is_none() {
                            continue;
                        }
                        if origin == me {
                            events.emit(QuorumEvent::WriteFailed { req });
                        } else if let Some(r) = reply {
                            let _ = r.send(StreamReply::Failed { req });
                        }
                    }
                }
            });
        }
    });
    tx
}
