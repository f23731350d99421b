//! The controller: one broker wins the ephemeral `/controller`, bumps `/controller_epoch`,
//! and from then on every write it makes is `multi[check /controller_epoch at its version; op]`
//! (Kafka's fencing: a deposed controller's writes fail with BadVersion).
//!
//! A single task (`event_loop`). While controller it reconciles on every relevant watch and on requests
//! from the broker's handlers (`Command`):
//! - new topics / partitions: `partitions`, `partitions/<p>` and `partitions/<p>/state` with
//!   the first live replica as leader and every live replica in the ISR (Kafka 2.5);
//! - broker failure: partitions it led get a new leader from the live ISR (first in replica
//!   order), leader epoch + 1; with no live ISR member the partition goes offline (leader -1,
//!   ISR kept) unless `unclean.leader.election.enable`; dead followers leave the ISR (epoch
//!   + 1, as Kafka's removeReplicasFromIsr); an offline partition's returning ISR member
//!   is elected again;
//! - controlled shutdown (`Command::ControlledShutdown`): leadership moves off the broker
//!   and it leaves the ISRs, before it goes;
//! - preferred leader election (`auto.leader.rebalance.enable` on
//!   `leader.imbalance.check.interval.seconds`, ElectLeaders, `/admin/preferred_replica_election`);
//! - reassignment (AlterPartitionReassignments, `/admin/reassign_partitions`): the topic
//!   znode carries target + removing replicas with `adding_replicas` / `removing_replicas`;
//!   once every target replica is in the ISR the assignment becomes the target, the leader
//!   moves if it must, the removed replicas leave the ISR and delete their logs;
//! - `/admin/delete_topics/<t>`: deletes the topic's znodes and then the deletion marker;
//! - `/isr_change_notification/*`: consumed (deleted) after the leaders' ISR changes.
//! Brokers learn the results from the znodes (see `metadata`) rather than from
//! LeaderAndIsr / UpdateMetadata requests, which the kafka-protocol codec no longer carries.
//!
//! Layout: `event_loop` (ZooKeeper reads, watches, commands) -> pure planners
//! (`planner` for reconciliation, `election`, `reassignment`, `controlled_shutdown`) ->
//! `model::Write`s executed by `fencing`. The controller sees the broker only through
//! [`Ctx`]; the server reaches it through [`Handle`].

mod controlled_shutdown;
mod election;
mod event_loop;
pub mod fencing;
pub mod model;
mod planner;
mod reassignment;
#[cfg(test)]
mod tests;

use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;

use crate::config::BrokerConfig;
use crate::error_code::ErrorCode;
use crate::ids::BrokerId;
use crate::zk::ZkClient;

pub use event_loop::run;
pub use model::PartitionResult;

/// What the controller uses of its broker: its id and config, the ZooKeeper session, the
/// metadata view (topic configs) and whether the broker is stopping.
pub trait Ctx: Send + Sync + 'static {
    fn id(&self) -> BrokerId;
    fn cfg(&self) -> &BrokerConfig;
    fn zk(&self) -> &ZkClient;
    fn meta(&self) -> std::sync::Arc<crate::metadata::ClusterMeta>;
    fn stopping(&self) -> bool;
    /// The topic configs of `topic` as this broker resolves them (its static config with the
    /// dynamic broker log configs over it, then the topic's overrides).
    fn topic_config(&self, meta: &crate::metadata::ClusterMeta, topic: &str) -> crate::topic_config::TopicConfig {
        crate::topic_config::TopicConfig::resolve(self.cfg(), &meta.config_map(topic))
    }
}

/// Requests to the controller task. A broker that is not the controller answers
/// NOT_CONTROLLER.
pub enum Command {
    /// Move leadership off `broker` and out of the ISRs; answers the partitions it still
    /// leads (replication factor > 1 only, as Kafka 2.5).
    ControlledShutdown { broker: BrokerId, reply: oneshot::Sender<Result<Vec<(String, i32)>, ErrorCode>> },
    /// ElectLeaders: `unclean` = election type 1; None = every partition.
    Elect { unclean: bool, partitions: Option<Vec<(String, i32)>>, reply: oneshot::Sender<Result<Vec<PartitionResult>, ErrorCode>> },
    /// AlterPartitionReassignments: target replicas, or None to cancel.
    Reassign { changes: Vec<(String, i32, Option<Vec<BrokerId>>)>, reply: oneshot::Sender<Result<Vec<PartitionResult>, ErrorCode>> },
}

impl Command {
    fn refuse(self, code: ErrorCode) {
        match self {
            Command::ControlledShutdown { reply, .. } => {
                let _ = reply.send(Err(code));
            }
            Command::Elect { reply, .. } | Command::Reassign { reply, .. } => {
                let _ = reply.send(Err(code));
            }
        }
    }
}

/// The server's way to this broker's controller task.
pub struct Handle(UnboundedSender<Command>);

impl Handle {
    pub fn new(tx: UnboundedSender<Command>) -> Handle {
        Handle(tx)
    }

    /// Hands a request to the controller task and waits for its answer: NOT_CONTROLLER
    /// when the task is gone (or this broker is not the controller), REQUEST_TIMED_OUT
    /// when no answer comes within `timeout`.
    pub async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, ErrorCode>>) -> Command,
        timeout: Duration,
    ) -> Result<T, ErrorCode> {
        let (tx, rx) = oneshot::channel();
        if self.0.send(command(tx)).is_err() {
            return Err(ErrorCode::NOT_CONTROLLER);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(ErrorCode::NOT_CONTROLLER),
            Err(_) => Err(ErrorCode::REQUEST_TIMED_OUT),
        }
    }
}
