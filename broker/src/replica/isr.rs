//! The leader's ISR changes, written to ZooKeeper by one task per broker.
//!
//! Expansions arrive from `on_follower_fetch` through the broker's ISR channel; shrinks are
//! found here every `replica.lag.time.max.ms / 2` (members not caught up for the whole lag
//! time). Each change is Kafka 2.5's: setData on `.../partitions/<p>/state` conditional on
//! the znode version the leader knows, keeping leader, leader epoch and controller epoch,
//! then a sequential `/isr_change_notification/isr_change_` for the controller. A version
//! conflict means the controller moved the partition on; the leader then waits for the new
//! state from the metadata sync instead of overwriting it.

use std::sync::Arc;
use std::time::Duration;

use super::Ctx;
use crate::ids::{BrokerId, LeaderEpoch};
use crate::log::partition_log::now_ms;
use crate::zk::jute::code;
use crate::zk::ZkError;
use crate::zkdata::{self, PartitionState};

use super::state::Role;

#[derive(Debug, Clone)]
pub struct IsrChange {
    pub topic: String,
    pub partition: i32,
    pub leader_epoch: LeaderEpoch,
    pub controller_epoch: i32,
    pub zk_version: i32,
    pub new_isr: Vec<BrokerId>,
}

/// Queues a change for the ISR task (the caller has set `isr_write_pending`).
pub fn spawn_write(broker: &dyn Ctx, change: IsrChange) {
    if broker.isr_tx().send(change.clone()).is_err() {
        if let Some(p) = broker.logs().get(&change.topic, change.partition) {
            p.repl().isr_write_pending = false;
        }
    }
}

pub async fn run(broker: Arc<dyn Ctx>, mut rx: tokio::sync::mpsc::UnboundedReceiver<IsrChange>) {
    let lag = broker.cfg().replica_lag_time_max_ms;
    let every = Duration::from_millis((lag / 2).clamp(50, 5000) as u64);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if broker.stopping() {
            return;
        }
        tokio::select! {
            c = rx.recv() => match c {
                Some(c) => write(&*broker, c).await,
                None => return,
            },
            _ = tick.tick() => {
                for c in find_shrinks(&*broker, lag) {
                    write(&*broker, c).await;
                }
            }
        }
    }
}

/// Led partitions whose ISR holds members that fell behind; marks them pending.
fn find_shrinks(broker: &dyn Ctx, lag: i64) -> Vec<IsrChange> {
    let now = now_ms();
    let mut out = Vec::new();
    for ((topic, partition), part) in broker.logs().all() {
        let mut repl = part.repl();
        if repl.role != Role::Leader || repl.isr_write_pending {
            continue;
        }
        let lagging = repl.lagging(broker.id(), now, lag);
        if lagging.is_empty() {
            continue;
        }
        let new_isr: Vec<BrokerId> = repl.isr.iter().copied().filter(|r| !lagging.contains(r)).collect();
        tracing::info!("{topic}-{partition}: shrinking ISR {:?} -> {new_isr:?} (lagging: {lagging:?})", repl.isr);
        repl.isr_write_pending = true;
        out.push(IsrChange {
            topic,
            partition,
            leader_epoch: repl.leader_epoch,
            controller_epoch: repl.controller_epoch,
            zk_version: repl.zk_version,
            new_isr,
        });
    }
    out
}

async fn write(broker: &dyn Ctx, c: IsrChange) {
    let Some(part) = broker.logs().get(&c.topic, c.partition) else { return };
    let st = PartitionState {
        controller_epoch: c.controller_epoch,
        leader: broker.id(),
        leader_epoch: c.leader_epoch,
        isr: c.new_isr.clone(),
    };
    let path = zkdata::state_path(&c.topic, c.partition);
    let res = broker.zk().set_data(&path, Some(zkdata::state_json(&st).as_bytes()), c.zk_version).await;
    {
        let mut repl = part.repl();
        repl.isr_write_pending = false;
        match &res {
            Ok(stat) if repl.role == Role::Leader && repl.leader_epoch == c.leader_epoch => {
                broker.isr_changed(repl.isr.len(), c.new_isr.len());
                repl.isr = c.new_isr.clone();
                repl.zk_version = stat.version;
            }
            Ok(_) => {}
            Err(ZkError::Code(code::BAD_VERSION)) => {
                tracing::info!(
                    "{}-{}: ISR update skipped: the state znode moved past version {} (the controller changed it)",
                    c.topic,
                    c.partition,
                    c.zk_version
                );
            }
            Err(e) => tracing::warn!("{}-{}: ISR update failed: {e}", c.topic, c.partition),
        }
    }
    if res.is_ok() {
        super::advance_hw(&broker.logs(), &part);
        broker.logs().hw_changed.notify_waiters();
        let data = zkdata::isr_change_json(&[(c.topic.clone(), c.partition)]);
        if let Err(e) = broker.zk().create_flags("/isr_change_notification/isr_change_", Some(data.as_bytes()), 2).await {
            tracing::warn!("cannot write the ISR change notification: {e}");
        }
    }
}
