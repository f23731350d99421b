//! The broker's view of the cluster, read from ZooKeeper.
//!
//! In Kafka 2.5 the controller pushes this view to brokers with UpdateMetadata and
//! LeaderAndIsr requests (which the `kafka-protocol` codec no longer carries). Here every
//! broker reads the same facts straight from the znodes the controller and the leaders write
//! (`/brokers/ids/*`, `/brokers/topics/*`, `.../partitions/<p>/state`, `/config/topics/*`),
//! with watches, and rebuilds this snapshot. The snapshot is immutable and swapped whole.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use crate::ids::{BrokerId, LeaderEpoch};
use crate::zk::{ZkClient, ZkResult};
use crate::zkdata::{self, BrokerInfo, PartitionState};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMeta {
    pub replicas: Vec<BrokerId>,
    /// None until the controller wrote the partition's state znode.
    pub state: Option<PartitionState>,
    /// The state znode's version (leaders update the ISR conditionally on it).
    pub state_version: i32,
    /// Reassignment in progress (the topic znode's `adding_replicas` / `removing_replicas`).
    pub adding: Vec<BrokerId>,
    pub removing: Vec<BrokerId>,
}

impl PartitionMeta {
    pub fn leader(&self) -> BrokerId {
        self.state.as_ref().map(|s| s.leader).unwrap_or(BrokerId::NONE)
    }
    pub fn leader_epoch(&self) -> LeaderEpoch {
        self.state.as_ref().map(|s| s.leader_epoch).unwrap_or(LeaderEpoch(-1))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicMeta {
    pub partitions: BTreeMap<i32, PartitionMeta>,
    pub config: Vec<(String, String)>,
    /// Marked for deletion (/admin/delete_topics/<t> exists).
    pub deleting: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterMeta {
    pub brokers: BTreeMap<i32, BrokerInfo>,
    pub topics: BTreeMap<String, TopicMeta>,
    pub controller: i32,
}

impl ClusterMeta {
    /// True when every partition of every topic has a state znode.
    pub fn complete(&self) -> bool {
        self.topics.values().all(|t| t.partitions.values().all(|p| p.state.is_some()))
    }
    pub fn config_map(&self, topic: &str) -> BTreeMap<String, String> {
        self.topics.get(topic).map(|t| t.config.iter().cloned().collect()).unwrap_or_default()
    }
}

#[derive(Default)]
pub struct MetadataCache {
    inner: RwLock<Arc<ClusterMeta>>,
    pub changed: tokio::sync::Notify,
}

impl MetadataCache {
    pub fn get(&self) -> Arc<ClusterMeta> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub fn set(&self, m: ClusterMeta) {
        *self.inner.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(m);
        self.changed.notify_waiters();
    }

    /// Waits (at most `timeout`) until `pred` holds for the current view; answers whether
    /// it does at the end.
    pub async fn wait_for(&self, timeout: std::time::Duration, pred: impl Fn(&ClusterMeta) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if pred(&self.get()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return pred(&self.get());
            }
        }
    }
}

/// Reads the whole cluster view from ZooKeeper, setting watches on what may change.
pub async fn read_cluster(zk: &ZkClient, listener: &str) -> ZkResult<ClusterMeta> {
    let mut m = ClusterMeta { controller: -1, ..Default::default() };
    for id in zk.get_children("/brokers/ids", true).await?.unwrap_or_default() {
        let Ok(n) = id.parse::<i32>() else { continue };
        if let Some((Some(data), _)) = zk.get_data(&zkdata::broker_path(n), false).await? {
            if let Some(b) = zkdata::parse_broker(n, &data, listener) {
                m.brokers.insert(n, b);
            }
        }
    }
    if let Some((Some(data), _)) = zk.get_data("/controller", true).await? {
        m.controller = zkdata::parse_controller(&data).unwrap_or(-1);
    } else {
        zk.exists("/controller", true).await?;
    }
    let deleting: Vec<String> = zk.get_children("/admin/delete_topics", true).await?.unwrap_or_default();
    zk.get_children("/config/changes", true).await?;
    for t in zk.get_children("/brokers/topics", true).await?.unwrap_or_default() {
        let Some((Some(data), _)) = zk.get_data(&zkdata::topic_path(&t), true).await? else { continue };
        let reassign = zkdata::parse_topic_reassignments(&data);
        let Some(assign) = zkdata::parse_topic(&data) else {
            tracing::warn!("unparseable topic znode {}", zkdata::topic_path(&t));
            continue;
        };
        let mut tm = TopicMeta { deleting: deleting.contains(&t), ..Default::default() };
        for (p, replicas) in assign {
            let (state, state_version) = match zk.get_data(&zkdata::state_path(&t, p), true).await? {
                Some((Some(d), stat)) => (zkdata::parse_state(&d), stat.version),
                _ => (None, -1),
            };
            let adding = reassign.get(&p).map(|r| r.0.clone()).unwrap_or_default();
            let removing = reassign.get(&p).map(|r| r.1.clone()).unwrap_or_default();
            tm.partitions.insert(p, PartitionMeta { replicas: BrokerId::wrap_all(&replicas), state, state_version, adding, removing });
        }
        if let Some((Some(d), _)) = zk.get_data(&zkdata::topic_config_path(&t), false).await? {
            tm.config = zkdata::parse_topic_config(&d).unwrap_or_default();
        }
        m.topics.insert(t, tm);
    }
    Ok(m)
}
