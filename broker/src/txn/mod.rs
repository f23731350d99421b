//! The transaction coordinator (DESIGN.md: handlers -> TxnCoordinator -> Log of
//! `__transaction_state`), beside the group coordinator and built the same way.
//!
//! A transactional id lives on partition `partition_for(id)` of `__transaction_state`
//! (Java's `Utils.abs(id.hashCode) % partitions`); this broker coordinates the ids of the
//! partitions it leads. When it becomes leader of one it replays the partition's records
//! (`loading`, formats in `records`) and answers COORDINATOR_LOAD_IN_PROGRESS meanwhile;
//! ids of partitions it does not lead get NOT_COORDINATOR. Transactions found half-ended
//! (PrepareCommit/PrepareAbort) are completed: that is how a failover resumes them.
//!
//! The state machine is `core` (pure, tested with values); this file gives it the log as its
//! store and hands the marker jobs it produces to `markers`, the task that sends
//! WriteTxnMarkers to partition leaders over the wire and stores Complete* when all answered.
//! `timer` aborts timed-out transactions and expires idle transactional ids.

pub mod core;
mod loading;
pub mod markers;
pub mod metadata;
pub mod records;
#[cfg(test)]
mod tests;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use self::core::{Core, Init, MarkerJob};
use crate::config::BrokerConfig;
use crate::error_code::ErrorCode;
use crate::log::partition_log::now_ms;
use crate::log::{batch, LogManager};

pub const TXN_TOPIC: &str = "__transaction_state";

/// A marker job and the `__transaction_state` offset its Prepare* record must be replicated
/// to (high watermark) before any marker goes out, as Kafka sends markers only once the
/// PrepareCommit/PrepareAbort append is durable.
pub type Durable = (MarkerJob, i64);

pub struct TxnCoordinator {
    core: Mutex<Core>,
    jobs_tx: tokio::sync::mpsc::UnboundedSender<Durable>,
    jobs_rx: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Durable>>>,
    last_abort_check: Mutex<i64>,
    last_expiry: Mutex<i64>,
    abort_interval_ms: i64,
    expiry_interval_ms: i64,
}

/// Appends records (key, value or tombstone) to one partition of `__transaction_state`.
pub fn store(logs: &LogManager, partition: i32, recs: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), ErrorCode> {
    if recs.is_empty() {
        return Ok(());
    }
    let refs: Vec<(Option<&[u8]>, Option<&[u8]>)> = recs.iter().map(|(k, v)| (Some(k.as_slice()), v.as_deref())).collect();
    let mut b = batch::build(&refs, now_ms());
    let Some(part) = logs.get(TXN_TOPIC, partition) else { return Err(ErrorCode::NOT_COORDINATOR) };
    match crate::replica::append_leader(logs, &part, &mut b) {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::error!("cannot write to {TXN_TOPIC}-{partition}: {e}");
            Err(ErrorCode::COORDINATOR_NOT_AVAILABLE)
        }
    }
}

impl TxnCoordinator {
    pub fn new(c: &BrokerConfig) -> TxnCoordinator {
        let settings = core::Settings { max_timeout_ms: c.transaction_max_timeout_ms, id_expiration_ms: c.transactional_id_expiration_ms };
        let (jobs_tx, jobs_rx) = tokio::sync::mpsc::unbounded_channel();
        TxnCoordinator {
            core: Mutex::new(Core::new(settings, c.transaction_state_log_num_partitions)),
            jobs_tx,
            jobs_rx: Mutex::new(Some(jobs_rx)),
            last_abort_check: Mutex::new(now_ms()),
            last_expiry: Mutex::new(now_ms()),
            abort_interval_ms: c.transaction_abort_timed_out_transaction_cleanup_interval_ms.max(1),
            expiry_interval_ms: c.transaction_remove_expired_transaction_cleanup_interval_ms.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a step on the core with the log as its store, then hands out the marker jobs.
    fn step<T>(&self, logs: &LogManager, f: impl FnOnce(&mut Core, &mut core::Store) -> T) -> T {
        let mut c = self.lock();
        let mut st = |p: i32, recs: &[(Vec<u8>, Option<Vec<u8>>)]| store(logs, p, recs);
        let out = f(&mut c, &mut st);
        for job in c.outbox.drain(..) {
            let end = logs.get(TXN_TOPIC, job.txn_partition).map(|p| p.lock().log_end_offset).unwrap_or(0);
            let _ = self.jobs_tx.send((job, end));
        }
        out
    }

    /// The marker jobs (taken once, by the marker task).
    pub fn take_jobs(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Durable>> {
        self.jobs_rx.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    pub fn partition_for(&self, id: &str) -> i32 {
        self.lock().partition_for(id)
    }

    pub fn init_producer_id(&self, logs: &LogManager, id: &str, timeout_ms: i32, expected: Option<(i64, i16)>, fresh: Option<i64>) -> Init {
        self.step(logs, |c, st| c.init_producer_id(id, timeout_ms, expected, fresh, now_ms(), st))
    }

    pub fn add_partitions(&self, logs: &LogManager, id: &str, pid: i64, epoch: i16, parts: &BTreeSet<(String, i32)>) -> ErrorCode {
        self.step(logs, |c, st| c.add_partitions(id, pid, epoch, parts, now_ms(), st))
    }

    pub fn end_txn(&self, logs: &LogManager, id: &str, pid: i64, epoch: i16, commit: bool) -> ErrorCode {
        self.step(logs, |c, st| c.end_txn(id, pid, epoch, commit, now_ms(), st))
    }

    /// Waits until `id`'s `__transaction_state` partition is replicated to its log end (Kafka
    /// appends transaction state with acks=-1), mapping errors as Kafka's coordinator does.
    pub async fn replicated(&self, logs: &LogManager, id: &str, timeout: std::time::Duration) -> ErrorCode {
        let p = self.partition_for(id);
        let Some(part) = logs.get(TXN_TOPIC, p) else { return ErrorCode::NOT_COORDINATOR };
        let target = crate::ids::Offset(part.lock().log_end_offset);
        match crate::replica::wait_replicated(logs, &part, target, timeout).await {
            Ok(()) => ErrorCode::NONE,
            Err(ErrorCode::NOT_LEADER_OR_FOLLOWER) => ErrorCode::NOT_COORDINATOR,
            Err(_) => ErrorCode::COORDINATOR_NOT_AVAILABLE,
        }
    }

    /// Pre-checks for a request about `id`: NONE when coordinated here and loaded.
    pub fn check(&self, id: &str) -> ErrorCode {
        match self.lock().check(id) {
            Ok(_) => ErrorCode::NONE,
            Err(e) => e,
        }
    }

    pub fn job_current(&self, job: &MarkerJob) -> bool {
        self.lock().job_current(job)
    }

    /// Err = the Complete* record could not be stored (retry); Ok(false) = obsolete job.
    pub fn markers_written(&self, logs: &LogManager, job: &MarkerJob) -> Result<bool, ErrorCode> {
        self.step(logs, |c, st| c.markers_written(job, now_ms(), st))
    }

    /// Timers: aborts timed-out transactions and expires idle ids on their intervals.
    pub fn tick(&self, logs: &LogManager) {
        let now = now_ms();
        let due = |last: &Mutex<i64>, every: i64| {
            let mut l = last.lock().unwrap_or_else(|e| e.into_inner());
            if now - *l >= every {
                *l = now;
                true
            } else {
                false
            }
        };
        if due(&self.last_abort_check, self.abort_interval_ms) {
            self.step(logs, |c, st| c.abort_timed_out(now, st));
        }
        if due(&self.last_expiry, self.expiry_interval_ms) {
            let gone = self.step(logs, |c, st| c.expire_ids(now, st));
            if !gone.is_empty() {
                tracing::info!("removed {} expired transactional id(s)", gone.len());
            }
        }
    }

    /// Leadership of `__transaction_state` partitions changed: `led` maps the partitions we
    /// lead to their leader epochs. Loads the new ones, drops the lost ones.
    pub fn update_ownership(&self, logs: &LogManager, led: &BTreeMap<i32, i32>, partition_count: Option<i32>) {
        let to_load: Vec<(i32, i32)> = {
            let mut c = self.lock();
            if let Some(n) = partition_count {
                c.partition_count = n.max(1);
            }
            let lost: Vec<i32> = c.partitions.iter().filter(|(p, (_, e))| led.get(p) != Some(e)).map(|(p, _)| *p).collect();
            for p in lost {
                c.unload(p);
                tracing::info!("no longer coordinating transactions of {TXN_TOPIC}-{p}");
            }
            let new: Vec<(i32, i32)> = led.iter().filter(|(p, _)| !c.partitions.contains_key(p)).map(|(p, e)| (*p, *e)).collect();
            for (p, e) in &new {
                c.start_loading(*p, *e);
            }
            new
        };
        for (p, epoch) in to_load {
            let started = std::time::Instant::now();
            let recs = loading::read_partition(logs, p);
            let (n, resumed) = self.step(logs, |c, _| c.loaded(p, epoch, recs));
            if n > 0 {
                tracing::info!("loaded {n} transactional id(s) from {TXN_TOPIC}-{p} in {:?}", started.elapsed());
            }
            if !resumed.is_empty() {
                tracing::info!("completing {} transaction(s) left prepared by the previous coordinator of {TXN_TOPIC}-{p}: {}", resumed.len(), resumed.join(", "));
            }
        }
    }
}
