//! Replication (issue 7): where a partition's copies are kept in step.
//!
//! ```text
//! metadata sync (znodes) -> apply_partition: become leader / follower / neither
//! leader:   Produce -> append_leader -> advance_hw          (acks=all waits on hw_changed)
//!           Fetch from a follower (replica_id >= 0) -> on_follower_fetch -> advance_hw,
//!           maybe an ISR expansion (isr::write)
//!           isr::shrink_loop: members lagging replica.lag.time.max.ms leave the ISR
//! follower: fetcher: OffsetsForLeaderEpoch -> truncate_to, then Fetch -> append_replica,
//!           high watermark = min(leader's, own log end)
//! ```
//! Replicas that cannot serve all their data (damaged segments, an offline log dir) hand
//! leadership over or fetch the data again: see `heal`.
//!
//! The ISR lives in the partition's state znode; leaders change it with a conditional
//! setData on the version they know and announce it under `/isr_change_notification`, the
//! controller changes it on broker failure and elections (see `controller`).

pub mod client;
pub mod fetcher;
pub mod heal;
pub mod isr;
/// Per-partition replication state lives beside the log (a lower layer).
pub use crate::log::replica_state as state;

/// What replication uses of its broker: id and config, the logs, the ZooKeeper session
/// (ISR writes), the metadata view, the ISR task's queue, and whether to stop.
pub trait Ctx: Send + Sync + 'static {
    fn id(&self) -> BrokerId;
    fn cfg(&self) -> &crate::config::BrokerConfig;
    fn logs(&self) -> &crate::log::LogManager;
    fn zk(&self) -> &crate::zk::ZkClient;
    fn meta(&self) -> &crate::metadata::MetadataCache;
    fn isr_tx(&self) -> &tokio::sync::mpsc::UnboundedSender<isr::IsrChange>;
    /// Followers stop fetching (after controlled shutdown, or when stopping).
    fn fetching_stopped(&self) -> bool;
    fn stopping(&self) -> bool;
    /// The leader wrote an ISR change from `old` to `new` members (for the metrics).
    fn isr_changed(&self, _old: usize, _new: usize) {}
    /// A follower appended `bytes` fetched from its leader (for the metrics).
    fn replicated_in(&self, _bytes: u64) {}
}

use crate::error_code::ErrorCode;
use crate::ids::{BrokerId, LeaderEpoch, Offset};
use std::sync::atomic::Ordering;

use crate::log::partition_log::now_ms;
use crate::log::partition_log::Appended;
use crate::log::{LogError, LogManager, Partition};
use crate::metadata::PartitionMeta;
use state::Role;

/// Brings one hosted partition's role in line with its state znode.
pub fn apply_partition(broker: &dyn Ctx, part: &Partition, pm: &PartitionMeta) {
    let me = broker.id();
    let Some(st) = pm.state.as_ref() else { return };
    let mut repl = part.repl();
    let now = now_ms();
    let epoch_changed = repl.leader_epoch != st.leader_epoch;
    if st.leader == me {
        if repl.role != Role::Leader || epoch_changed {
            repl.become_leader(st.leader_epoch, st.controller_epoch, &pm.replicas, &st.isr, pm.state_version, now);
            part.leader_epoch.store(st.leader_epoch.get().max(0), Ordering::Relaxed);
            let mut log = part.lock();
            if let Err(e) = log.assign_epoch(st.leader_epoch.get().max(0)) {
                tracing::error!("{}-{}: cannot record leader epoch: {e}", log.topic, log.partition);
            }
            tracing::info!(
                target: "state.change.logger",
                "[Broker id={me}] Leader {}-{} starts at leader epoch {} from offset {} with high watermark {} ISR {:?}",
                log.topic,
                log.partition,
                st.leader_epoch,
                log.log_end_offset,
                log.high_watermark(),
                st.isr
            );
            drop(log);
            advance_hw_locked(me, part, &repl);
        } else if pm.state_version > repl.zk_version {
            // Our own ISR write coming back, or the controller's at the same epoch.
            repl.isr = st.isr.clone();
            repl.zk_version = pm.state_version;
            repl.replicas = pm.replicas.clone();
            advance_hw_locked(me, part, &repl);
        } else if repl.replicas != pm.replicas {
            repl.replicas = pm.replicas.clone();
        }
    } else if st.leader.is_some() {
        if repl.role != (Role::Follower { leader: st.leader }) || epoch_changed {
            repl.become_follower(st.leader, st.leader_epoch, st.controller_epoch, &pm.replicas, &st.isr, pm.state_version);
            part.leader_epoch.store(st.leader_epoch.get().max(0), Ordering::Relaxed);
            let log = part.lock();
            tracing::info!(
                target: "state.change.logger",
                "[Broker id={me}] Follower {}-{} starts at leader epoch {} from offset {} with high watermark {}; leader is broker {}",
                log.topic,
                log.partition,
                st.leader_epoch,
                log.log_end_offset,
                log.high_watermark(),
                st.leader
            );
        } else {
            repl.isr = st.isr.clone();
            repl.zk_version = pm.state_version;
        }
    } else if repl.role != Role::None || epoch_changed {
        repl.become_none(st.leader_epoch);
    }
}

/// Moves the leader's high watermark to what the ISR has. Caller holds `repl`.
fn advance_hw_locked(me: BrokerId, part: &Partition, repl: &state::ReplicaState) -> bool {
    if repl.role != Role::Leader {
        return false;
    }
    let mut log = part.lock();
    match repl.isr_min_leo(me, Offset(log.log_end_offset)) {
        // Never back: a follower refetching damaged data restarts lower, but only once it
        // is out of the ISR; this guards the moment before the leader knows.
        Some(hw) if hw.get() > log.high_watermark() => log.set_high_watermark(hw.get()),
        _ => false,
    }
}

/// Recomputes a led partition's high watermark; wakes waiters when it moved.
pub fn advance_hw(logs: &LogManager, part: &Partition) -> bool {
    let moved = {
        let repl = part.repl();
        advance_hw_locked(BrokerId(logs.broker_id.load(Ordering::Relaxed)), part, &repl)
    };
    if moved {
        logs.hw_changed.notify_waiters();
        logs.appended.notify_waiters();
    }
    moved
}

/// A leader's append (producers, the group coordinator): offsets and epoch assigned here,
/// then the high watermark follows if the ISR is only us.
pub fn append_leader(logs: &LogManager, part: &Partition, data: &mut [u8]) -> Result<Appended, LogError> {
    let epoch = part.leader_epoch.load(Ordering::Relaxed);
    let a = part.lock().append(data, epoch)?;
    if !a.duplicate {
        logs.appended.notify_waiters();
    }
    advance_hw(logs, part);
    Ok(a)
}

/// Leader side of a follower's Fetch: records its progress, moves the high watermark,
/// and starts an ISR expansion when it has caught up. Err is the Kafka error the follower would get.
pub fn on_follower_fetch(
    broker: &dyn Ctx,
    topic: &str,
    part: &Partition,
    follower: BrokerId,
    fetch_offset: Offset,
    current_epoch: LeaderEpoch,
) -> Result<(), ErrorCode> {
    let now = now_ms();
    let mut repl = part.repl();
    if repl.role != Role::Leader {
        return Err(ErrorCode::NOT_LEADER_OR_FOLLOWER);
    }
    if current_epoch.get() >= 0 && current_epoch < repl.leader_epoch {
        return Err(ErrorCode::FENCED_LEADER_EPOCH);
    }
    if current_epoch > repl.leader_epoch {
        return Err(ErrorCode::UNKNOWN_LEADER_EPOCH);
    }
    if !repl.replicas.contains(&follower) {
        return Err(ErrorCode::NOT_LEADER_OR_FOLLOWER);
    }
    let (leo, hw, epoch_start) = {
        let log = part.lock();
        (Offset(log.log_end_offset), Offset(log.high_watermark()), Offset(log.latest_epoch_start().unwrap_or(0)))
    };
    repl.record_fetch(follower, fetch_offset, leo, now);
    let moved = advance_hw_locked(broker.id(), part, &repl);
    let hw = if moved { Offset(part.lock().high_watermark()) } else { hw };
    let join = !repl.isr_write_pending && repl.may_join(follower, hw, epoch_start);
    if join {
        repl.isr_write_pending = true;
        let mut new_isr = repl.isr.clone();
        new_isr.push(follower);
        let order: Vec<BrokerId> = repl.replicas.clone();
        new_isr.sort_by_key(|r| order.iter().position(|x| x == r).unwrap_or(usize::MAX));
        let req = isr::IsrChange {
            topic: topic.to_string(),
            partition: part.lock().partition,
            leader_epoch: repl.leader_epoch,
            controller_epoch: repl.controller_epoch,
            zk_version: repl.zk_version,
            new_isr,
        };
        tracing::info!("{}-{}: expanding ISR {:?} -> {:?} (broker {follower} caught up)", req.topic, req.partition, repl.isr, req.new_isr);
        isr::spawn_write(broker, req);
    }
    drop(repl);
    if moved {
        broker.logs().hw_changed.notify_waiters();
        broker.logs().appended.notify_waiters();
    }
    Ok(())
}

/// The leader's ISR size and leader epoch, or None when we do not lead the partition.
pub fn leader_isr(part: &Partition) -> Option<(usize, LeaderEpoch)> {
    let repl = part.repl();
    (repl.role == Role::Leader).then(|| (repl.isr.len(), repl.leader_epoch))
}

/// Waits until a led partition's high watermark reaches `target` (every ISR member has what
/// was appended below it), as acks=-1 does; for writes the broker makes itself, such as
/// committed offsets. Err: NOT_LEADER_OR_FOLLOWER when leadership moved, REQUEST_TIMED_OUT.
pub async fn wait_replicated(logs: &LogManager, part: &Partition, target: Offset, timeout: std::time::Duration) -> Result<(), ErrorCode> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let changed = logs.hw_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if leader_isr(part).is_none() {
            return Err(ErrorCode::NOT_LEADER_OR_FOLLOWER);
        }
        if part.lock().high_watermark() >= target.get() {
            return Ok(());
        }
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            return Err(ErrorCode::REQUEST_TIMED_OUT);
        }
    }
}
