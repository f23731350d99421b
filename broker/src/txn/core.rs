//! The transaction coordinator's state machine over every `__transaction_state` partition
//! this broker leads (Kafka 2.5's TransactionCoordinator + TransactionStateManager cache).
//! Pure: time comes in as a value, writes go through the `Store` given to each call (the log
//! in production, a vector in tests), and marker work goes to `outbox` for the marker sender.
//!
//! Every change is stored before it is applied and before the answer goes out: InitProducerId
//! (Empty with a new epoch), AddPartitions (Ongoing), EndTxn (PrepareCommit/PrepareAbort, then
//! markers, then Complete*). An InitProducerId or a timeout on an Ongoing transaction fences
//! it: the epoch is bumped and the transaction aborted (Kafka 2.5's PrepareEpochFence).

use std::collections::{BTreeSet, HashMap};

use super::metadata::{epoch_exhausted, Transit, TxnMeta, TxnState};
use super::records;
use crate::error_code::ErrorCode;
use crate::group::records::partition_for;

/// Appends (key, value-or-tombstone) records to a partition of `__transaction_state`.
pub type Store<'a> = dyn FnMut(i32, &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), ErrorCode> + 'a;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartStatus {
    Loading,
    Loaded,
}

/// Markers to write for one transaction (Kafka's TxnIdAndMarkerEntry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerJob {
    pub txn_id: String,
    /// The `__transaction_state` partition and its leader epoch (Kafka's coordinator epoch).
    pub txn_partition: i32,
    pub coordinator_epoch: i32,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    pub partitions: BTreeSet<(String, i32)>,
}

/// InitProducerId's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Init {
    Ok { producer_id: i64, producer_epoch: i16 },
    Err(ErrorCode),
    /// Call again with a fresh producer id (allocation is asynchronous, outside this core).
    NeedProducerId,
}

pub struct Settings {
    pub max_timeout_ms: i64,
    pub id_expiration_ms: i64,
}

pub struct Core {
    pub settings: Settings,
    pub partition_count: i32,
    /// Partitions we lead: status and coordinator epoch (leader epoch at load).
    pub partitions: HashMap<i32, (PartStatus, i32)>,
    pub txns: HashMap<String, TxnMeta>,
    pub outbox: Vec<MarkerJob>,
}

impl Core {
    pub fn new(settings: Settings, partition_count: i32) -> Core {
        Core { settings, partition_count: partition_count.max(1), partitions: HashMap::new(), txns: HashMap::new(), outbox: Vec::new() }
    }

    pub fn partition_for(&self, id: &str) -> i32 {
        partition_for(id, self.partition_count)
    }

    /// Ok((partition, coordinator epoch)) when this broker coordinates `id` now.
    pub fn check(&self, id: &str) -> Result<(i32, i32), ErrorCode> {
        let p = self.partition_for(id);
        match self.partitions.get(&p) {
            Some((PartStatus::Loaded, e)) => Ok((p, *e)),
            Some((PartStatus::Loading, _)) => Err(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS),
            None => Err(ErrorCode::NOT_COORDINATOR),
        }
    }

    fn write(store: &mut Store, partition: i32, id: &str, t: &Transit) -> Result<(), ErrorCode> {
        store(partition, &[(records::encode_key(id), Some(records::encode_value(&t.value())))])
    }

    pub fn valid_timeout(&self, timeout_ms: i32) -> bool {
        timeout_ms > 0 && timeout_ms as i64 <= self.settings.max_timeout_ms
    }

    /// InitProducerId with a transactional id. `expected` is the (producer id, epoch) a v3+
    /// client offers; `fresh` a newly allocated producer id when the last call asked for one.
    pub fn init_producer_id(
        &mut self,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        fresh: Option<i64>,
        now: i64,
        store: &mut Store,
    ) -> Init {
        if id.is_empty() {
            return Init::Err(ErrorCode::INVALID_REQUEST);
        }
        if !self.valid_timeout(timeout_ms) {
            return Init::Err(ErrorCode::INVALID_TRANSACTION_TIMEOUT);
        }
        let (partition, _) = match self.check(id) {
            Ok(x) => x,
            Err(e) => return Init::Err(e),
        };
        if !self.txns.contains_key(id) {
            let Some(pid) = fresh else { return Init::NeedProducerId };
            self.txns.insert(id.to_string(), TxnMeta::new(id, pid, timeout_ms, now));
        }
        let Some(m) = self.txns.get(id) else { return Init::Err(ErrorCode::COORDINATOR_NOT_AVAILABLE) };
        if m.pending.is_some() {
            return Init::Err(ErrorCode::CONCURRENT_TRANSACTIONS);
        }
        if let Some((pid, epoch)) = expected {
            let valid = m.producer_epoch == -1 || pid == m.producer_id || (pid == m.last_producer_id && epoch_exhausted(epoch));
            if !valid {
                return Init::Err(ErrorCode::INVALID_PRODUCER_EPOCH);
            }
        }
        let transit = match m.state {
            TxnState::PrepareAbort | TxnState::PrepareCommit => return Init::Err(ErrorCode::CONCURRENT_TRANSACTIONS),
            TxnState::Ongoing => {
                // Fence the current producer and abort its transaction; the client retries
                // on CONCURRENT_TRANSACTIONS until the abort has completed.
                let code = self.fence_and_abort(id, now, store);
                return Init::Err(if code.is_ok() { ErrorCode::CONCURRENT_TRANSACTIONS } else { code });
            }
            TxnState::Dead | TxnState::PrepareEpochFence => return Init::Err(ErrorCode::INVALID_TXN_STATE),
            TxnState::Empty | TxnState::CompleteAbort | TxnState::CompleteCommit => {
                if epoch_exhausted(m.producer_epoch) && expected.map(|(_, e)| e == m.producer_epoch).unwrap_or(true) {
                    let Some(pid) = fresh else { return Init::NeedProducerId };
                    match m.rotate_producer_id(pid, timeout_ms, now, expected.is_some()) {
                        Some(t) => t,
                        None => return Init::Err(ErrorCode::INVALID_TXN_STATE),
                    }
                } else {
                    match m.bump_epoch(timeout_ms, expected.map(|(_, e)| e), now) {
                        Ok(t) => t,
                        Err(()) => return Init::Err(ErrorCode::INVALID_PRODUCER_EPOCH),
                    }
                }
            }
        };
        if let Err(e) = Self::write(store, partition, id, &transit) {
            return Init::Err(e);
        }
        let (producer_id, producer_epoch) = (transit.producer_id, transit.producer_epoch);
        if let Some(m) = self.txns.get_mut(id) {
            m.apply(transit);
        }
        tracing::info!("initialized transactional id {id} with producer id {producer_id} and epoch {producer_epoch} on __transaction_state-{partition}");
        Init::Ok { producer_id, producer_epoch }
    }

    /// Bumps the epoch of an Ongoing transaction and aborts it (Kafka's prepareFenceProducerEpoch
    /// followed by handleEndTransaction(ABORT) with the bumped epoch).
    fn fence_and_abort(&mut self, id: &str, now: i64, store: &mut Store) -> ErrorCode {
        let Some(m) = self.txns.get(id) else { return ErrorCode::INVALID_PRODUCER_ID_MAPPING };
        if m.producer_epoch == i16::MAX {
            return ErrorCode::INVALID_PRODUCER_EPOCH;
        }
        let bumped = m.producer_epoch + 1;
        self.end(id, m.producer_id, bumped, false, Some(bumped), now, store)
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, with the group's offsets partition).
    pub fn add_partitions(&mut self, id: &str, pid: i64, epoch: i16, added: &BTreeSet<(String, i32)>, now: i64, store: &mut Store) -> ErrorCode {
        if id.is_empty() {
            return ErrorCode::INVALID_REQUEST;
        }
        let (partition, _) = match self.check(id) {
            Ok(x) => x,
            Err(e) => return e,
        };
        let Some(m) = self.txns.get(id) else { return ErrorCode::INVALID_PRODUCER_ID_MAPPING };
        if m.producer_id != pid {
            return ErrorCode::INVALID_PRODUCER_ID_MAPPING;
        }
        if m.producer_epoch != epoch {
            return ErrorCode::INVALID_PRODUCER_EPOCH;
        }
        if m.pending.is_some() || matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            return ErrorCode::CONCURRENT_TRANSACTIONS;
        }
        if m.state == TxnState::Ongoing && added.is_subset(&m.partitions) {
            return ErrorCode::NONE;
        }
        let Some(t) = m.add_partitions(added, now) else { return ErrorCode::INVALID_TXN_STATE };
        if let Err(e) = Self::write(store, partition, id, &t) {
            return e;
        }
        if let Some(m) = self.txns.get_mut(id) {
            m.apply(t);
        }
        ErrorCode::NONE
    }

    /// EndTxn from a client.
    pub fn end_txn(&mut self, id: &str, pid: i64, epoch: i16, commit: bool, now: i64, store: &mut Store) -> ErrorCode {
        if id.is_empty() {
            return ErrorCode::INVALID_REQUEST;
        }
        self.end(id, pid, epoch, commit, None, now, store)
    }

    #[allow(clippy::too_many_arguments)]
    fn end(&mut self, id: &str, pid: i64, epoch: i16, commit: bool, fence: Option<i16>, now: i64, store: &mut Store) -> ErrorCode {
        let (partition, coordinator_epoch) = match self.check(id) {
            Ok(x) => x,
            Err(e) => return e,
        };
        let Some(m) = self.txns.get(id) else { return ErrorCode::INVALID_PRODUCER_ID_MAPPING };
        if m.producer_id != pid {
            return ErrorCode::INVALID_PRODUCER_ID_MAPPING;
        }
        // Kafka 2.5 refuses an older epoch here and, after the append, anything but the
        // current one; a fencing abort carries the bumped epoch.
        if fence.is_none() && epoch != m.producer_epoch {
            return ErrorCode::INVALID_PRODUCER_EPOCH;
        }
        if m.pending.is_some() {
            return ErrorCode::CONCURRENT_TRANSACTIONS;
        }
        let t = match (m.state, commit) {
            (TxnState::Ongoing, _) => match m.prepare_end(commit, fence, now) {
                Some(t) => t,
                None => return ErrorCode::INVALID_TXN_STATE,
            },
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => return ErrorCode::NONE,
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => return ErrorCode::CONCURRENT_TRANSACTIONS,
            _ => {
                tracing::debug!("transactional id {id} is {:?}: cannot {}", m.state, if commit { "commit" } else { "abort" });
                return ErrorCode::INVALID_TXN_STATE;
            }
        };
        if let Err(e) = Self::write(store, partition, id, &t) {
            return e;
        }
        let Some(m) = self.txns.get_mut(id) else { return ErrorCode::COORDINATOR_NOT_AVAILABLE };
        m.apply(t);
        Self::queue_markers(&mut self.outbox, m, partition, coordinator_epoch);
        ErrorCode::NONE
    }

    /// A Prepare* transaction: mark Complete* pending and hand its markers to the sender.
    fn queue_markers(outbox: &mut Vec<MarkerJob>, m: &mut TxnMeta, txn_partition: i32, coordinator_epoch: i32) {
        let (commit, next) = match m.state {
            TxnState::PrepareCommit => (true, TxnState::CompleteCommit),
            TxnState::PrepareAbort => (false, TxnState::CompleteAbort),
            _ => return,
        };
        m.pending = Some(next);
        outbox.push(MarkerJob {
            txn_id: m.id.clone(),
            txn_partition,
            coordinator_epoch,
            producer_id: m.producer_id,
            producer_epoch: m.producer_epoch,
            commit,
            partitions: m.partitions.clone(),
        });
    }

    /// Is the job still what this coordinator wants written (same owner, same transaction)?
    pub fn job_current(&self, job: &MarkerJob) -> bool {
        let owner = self.partitions.get(&job.txn_partition) == Some(&(PartStatus::Loaded, job.coordinator_epoch));
        owner
            && self.txns.get(&job.txn_id).map_or(false, |m| {
                m.pending.is_some() && m.producer_id == job.producer_id && m.producer_epoch == job.producer_epoch
            })
    }

    /// Every marker of the job was written (or its partition dropped): store Complete*.
    /// Err = retry later (the store failed); Ok(false) = the job is obsolete.
    pub fn markers_written(&mut self, job: &MarkerJob, now: i64, store: &mut Store) -> Result<bool, ErrorCode> {
        if !self.job_current(job) {
            return Ok(false);
        }
        let Some(m) = self.txns.get(&job.txn_id) else { return Ok(false) };
        let Some(t) = m.complete(now) else { return Ok(false) };
        Self::write(store, job.txn_partition, &job.txn_id, &t)?;
        if let Some(m) = self.txns.get_mut(&job.txn_id) {
            m.apply(t);
            m.pending = None;
            tracing::debug!("transactional id {} is {:?}", m.id, m.state);
        }
        Ok(true)
    }

    /// Aborts (with an epoch bump, fencing the producer) every Ongoing transaction older than
    /// its timeout. Returns the ids aborted.
    pub fn abort_timed_out(&mut self, now: i64, store: &mut Store) -> Vec<String> {
        let due: Vec<String> = self
            .txns
            .values()
            .filter(|m| m.pending.is_none() && m.state == TxnState::Ongoing && m.start_ms + (m.timeout_ms as i64) < now)
            .filter(|m| self.check(&m.id).is_ok())
            .map(|m| m.id.clone())
            .collect();
        let mut done = Vec::new();
        for id in due {
            let code = self.fence_and_abort(&id, now, store);
            if code.is_ok() {
                tracing::info!("aborting transaction of transactional id {id}: it timed out");
                done.push(id);
            } else {
                tracing::warn!("rollback of the timed-out transaction of {id} failed: {code:?}");
            }
        }
        done
    }

    /// Removes transactional ids idle in Empty/Complete* longer than
    /// `transactional.id.expiration.ms`, writing their tombstones. Returns the ids removed.
    pub fn expire_ids(&mut self, now: i64, store: &mut Store) -> Vec<String> {
        let mut by_partition: HashMap<i32, Vec<String>> = HashMap::new();
        for m in self.txns.values() {
            let idle = matches!(m.state, TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort)
                && m.pending.is_none()
                && m.last_update_ms <= now - self.settings.id_expiration_ms;
            if idle {
                if let Ok((p, _)) = self.check(&m.id) {
                    by_partition.entry(p).or_default().push(m.id.clone());
                }
            }
        }
        let mut gone = Vec::new();
        for (p, ids) in by_partition {
            let recs: Vec<(Vec<u8>, Option<Vec<u8>>)> = ids.iter().map(|id| (records::encode_key(id), None)).collect();
            if store(p, &recs).is_ok() {
                for id in ids {
                    self.txns.remove(&id);
                    gone.push(id);
                }
            }
        }
        gone
    }

    /// Starts leading a partition: Loading until `loaded` brings its records.
    pub fn start_loading(&mut self, partition: i32, coordinator_epoch: i32) {
        self.partitions.insert(partition, (PartStatus::Loading, coordinator_epoch));
    }

    /// The replayed records of a partition (in log order; None = tombstone). Transactions
    /// found in Prepare* are completed: their markers go to the outbox. Returns how many
    /// transactional ids were loaded and which of them (with their state) were resumed.
    pub fn loaded(&mut self, partition: i32, coordinator_epoch: i32, recs: Vec<(String, Option<records::TxnValue>)>) -> (usize, Vec<String>) {
        let mut resumed = Vec::new();
        if self.partitions.get(&partition) != Some(&(PartStatus::Loading, coordinator_epoch)) {
            return (0, resumed);
        }
        let mut latest: HashMap<String, Option<records::TxnValue>> = HashMap::new();
        for (id, v) in recs {
            latest.insert(id, v);
        }
        let mut count = 0;
        for (id, v) in latest {
            let Some(v) = v else { continue };
            if self.partition_for(&id) != partition {
                continue;
            }
            let mut m = TxnMeta::from_value(&id, &v);
            if matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
                resumed.push(format!("{id} ({:?})", m.state));
            }
            Self::queue_markers(&mut self.outbox, &mut m, partition, coordinator_epoch);
            self.txns.insert(id, m);
            count += 1;
        }
        self.partitions.insert(partition, (PartStatus::Loaded, coordinator_epoch));
        (count, resumed)
    }

    /// Stops leading a partition: its transactions are dropped (their markers stop).
    pub fn unload(&mut self, partition: i32) {
        self.partitions.remove(&partition);
        let n = self.partition_count;
        self.txns.retain(|id, _| partition_for(id, n) != partition);
        self.outbox.retain(|j| j.txn_partition != partition);
    }
}
