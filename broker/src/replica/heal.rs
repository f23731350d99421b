//! Replicas that cannot serve all their data — damaged segments (see `log::segment`) or an
//! offline log dir (see `log::dir_health`) — and how they get out of the way or get the data
//! back from another replica. Run from the maintenance loop every tick.
//!
//! - A *leader* with damaged data or in an offline dir hands leadership to the first other
//!   ISR member (in replica order), as Kafka's controller does when it learns a replica is
//!   offline: one setData on the partition's state znode, conditional on the version the
//!   leader knows (so it loses any race with the controller), with the new leader, leader
//!   epoch + 1 and itself out of the ISR, then an `/isr_change_notification`. It stops
//!   taking writes at once. With no other ISR member it stays leader: the damaged offsets
//!   answer KAFKA_STORAGE_ERROR and stay on disk (DeleteRecords past them lets consumers go
//!   on); this is logged once.
//! - A *follower* with damaged data stops fetching (the fetcher skips it) until the leader
//!   has shrunk it out of the ISR — a replica in the ISR may be elected, so it must not hold
//!   less than it claims — then cuts its log at the first damaged offset and fetches the
//!   rest again from the leader, rejoining the ISR once caught up. A follower in an offline
//!   dir just stops fetching.

use std::sync::atomic::Ordering;

use super::Ctx;
use crate::ids::{BrokerId, Offset};
use crate::log::Partition;
use crate::zk::jute::code;
use crate::zk::ZkError;
use crate::zkdata::{self, PartitionState};

use super::state::Role;

/// One pass over the hosted partitions.
pub async fn tick(broker: &dyn Ctx) {
    for ((topic, partition), part) in broker.logs().all() {
        let offline = part.offline();
        let damage = if offline { None } else { part.lock().first_damage() };
        if !offline && damage.is_none() {
            continue;
        }
        let role = part.repl().role;
        match role {
            Role::Leader => resign(broker, &topic, partition, &part, offline).await,
            Role::Follower { leader } if !offline => {
                if let Some(d) = damage {
                    refetch(broker, &topic, partition, &part, leader, Offset(d.first_offset));
                }
            }
            _ => {}
        }
    }
}

/// Notes something about a partition once per distinct `key` (so each tick does not log it).
fn once(part: &Partition, key: String) -> bool {
    let mut repl = part.repl();
    if repl.heal_note.as_deref() == Some(key.as_str()) {
        return false;
    }
    repl.heal_note = Some(key);
    true
}

async fn resign(broker: &dyn Ctx, topic: &str, partition: i32, part: &Partition, offline: bool) {
    let (st, version, replicas) = {
        let mut repl = part.repl();
        if repl.role != Role::Leader || repl.isr_write_pending {
            return;
        }
        let next = repl.replicas.iter().copied().find(|r| *r != broker.id() && repl.isr.contains(r));
        let Some(next) = next else {
            drop(repl);
            let why = if offline { "its log dir is offline".to_string() } else { "it holds damaged data".to_string() };
            if once(part, format!("alone:{why}")) {
                tracing::error!(
                    "{topic}-{partition}: {why} and no other in-sync replica can take over leadership; the damaged offsets stay unreadable here (KAFKA_STORAGE_ERROR)"
                );
            }
            return;
        };
        repl.isr_write_pending = true;
        let isr: Vec<BrokerId> = repl.isr.iter().copied().filter(|r| *r != broker.id()).collect();
        let st = PartitionState { controller_epoch: repl.controller_epoch, leader: next, leader_epoch: repl.leader_epoch.next(), isr };
        (st, repl.zk_version, repl.replicas.clone())
    };
    let why = if offline { "its log dir is offline" } else { "it holds damaged data" };
    tracing::warn!(
        "{topic}-{partition}: handing leadership to broker {} (epoch {}, ISR {:?}) because {why} here",
        st.leader,
        st.leader_epoch,
        st.isr
    );
    let path = zkdata::state_path(topic, partition);
    let res = broker.zk().set_data(&path, Some(zkdata::state_json(&st).as_bytes()), version).await;
    {
        let mut repl = part.repl();
        repl.isr_write_pending = false;
        match &res {
            Ok(stat) if repl.role == Role::Leader && repl.leader_epoch.next() == st.leader_epoch => {
                repl.become_follower(st.leader, st.leader_epoch, st.controller_epoch, &replicas, &st.isr, stat.version);
                part.leader_epoch.store(st.leader_epoch.get(), Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(ZkError::Code(code::BAD_VERSION)) => {
                tracing::info!("{topic}-{partition}: the state znode moved on meanwhile; waiting for the new state");
            }
            Err(e) => tracing::warn!("{topic}-{partition}: cannot hand leadership over: {e}"),
        }
    }
    if res.is_ok() {
        broker.logs().hw_changed.notify_waiters();
        broker.logs().appended.notify_waiters();
        let data = zkdata::isr_change_json(&[(topic.to_string(), partition)]);
        if let Err(e) = broker.zk().create_flags("/isr_change_notification/isr_change_", Some(data.as_bytes()), 2).await {
            tracing::warn!("cannot write the ISR change notification: {e}");
        }
    }
}

fn refetch(broker: &dyn Ctx, topic: &str, partition: i32, part: &Partition, leader: BrokerId, first_offset: Offset) {
    let in_isr = part.repl().isr.contains(&broker.id());
    if in_isr {
        if once(part, format!("wait:{first_offset}")) {
            tracing::warn!(
                "{topic}-{partition}: damaged data from offset {first_offset}; not fetching until the leader (broker {leader}) takes this replica out of the ISR, then fetching it again"
            );
        }
        return;
    }
    tracing::warn!("{topic}-{partition}: fetching the damaged data from offset {first_offset} on again from the leader (broker {leader})");
    let res = tokio::task::block_in_place(|| part.lock().truncate_to(first_offset.get()));
    match res {
        Ok(()) => {
            part.repl().heal_note = None;
            broker.logs().appended.notify_waiters();
        }
        Err(e) => tracing::error!("{topic}-{partition}: cannot cut the damaged data: {e}"),
    }
}
