//! One handler per Kafka API. Each takes the decoded request and returns the response
//! value; errors are Kafka error codes inside the response, never a dropped connection.

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_configs;
pub mod alter_partition_reassignments;
pub mod api_versions;
pub mod broker_configs;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_configs;
pub mod describe_log_dirs;
pub mod describe_groups;
pub mod elect_leaders;
pub mod end_txn;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_partition_reassignments;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sync_group;
pub mod txn_offset_commit;
pub mod write_txn_markers;

/// Who sent a request (JoinGroup records it for DescribeGroups).
pub struct RequestCtx {
    pub client_id: String,
    /// As Kafka shows it: "/127.0.0.1".
    pub client_host: String,
}

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;

use crate::admin::{self, AdminError};
use crate::broker::Broker;
use crate::server::errors::ErrorCode;
use crate::topic_config;
use crate::zkdata;

/// How long a transaction-state write may take to reach the in-sync replicas (Kafka's
/// `request.timeout.ms` default for the coordinator's acks=-1 appends).
pub const TXN_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

pub fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub fn tn(s: &str) -> TopicName {
    TopicName(sb(s))
}

/// A topic-creation failure: Kafka error code and message.
pub type TopicError = (ErrorCode, String);

/// Validates and writes a new topic (CreateTopics and auto-creation share this).
pub async fn create_topic(
    broker: &Broker,
    name: &str,
    partitions: i32,
    replication_factor: i16,
    assignment: Option<BTreeMap<i32, Vec<i32>>>,
    configs: Vec<(String, String)>,
    validate_only: bool,
) -> Result<BTreeMap<i32, Vec<i32>>, TopicError> {
    zkdata::valid_topic_name(name).map_err(|m| (ErrorCode::INVALID_TOPIC_EXCEPTION, m))?;
    let meta = broker.meta.get();
    if meta.topics.contains_key(name) {
        return Err((ErrorCode::TOPIC_ALREADY_EXISTS, format!("Topic '{name}' already exists.")));
    }
    for (k, v) in &configs {
        topic_config::validate(k, v).map_err(|m| (ErrorCode::INVALID_CONFIG, m))?;
    }
    let brokers: Vec<i32> = meta.brokers.keys().copied().collect();
    let assignment = match assignment {
        Some(a) => {
            if a.is_empty() {
                return Err((ErrorCode::INVALID_REPLICA_ASSIGNMENT, "empty replica assignment".into()));
            }
            let expect: Vec<i32> = (0..a.len() as i32).collect();
            if a.keys().copied().collect::<Vec<_>>() != expect {
                return Err((ErrorCode::INVALID_REPLICA_ASSIGNMENT, "partitions should be a consecutive 0-based integer sequence".into()));
            }
            for (p, r) in &a {
                if r.is_empty() {
                    return Err((ErrorCode::INVALID_REPLICA_ASSIGNMENT, format!("partition {p} has no replicas")));
                }
                let mut seen = r.clone();
                seen.sort_unstable();
                seen.dedup();
                if seen.len() != r.len() {
                    return Err((ErrorCode::INVALID_REPLICA_ASSIGNMENT, format!("Duplicate replica assignment found: {r:?}")));
                }
                if let Some(b) = r.iter().find(|b| !brokers.contains(b)) {
                    return Err((ErrorCode::INVALID_REPLICA_ASSIGNMENT, format!("Unknown broker {b} in replica assignment")));
                }
            }
            a
        }
        None => {
            let partitions = if partitions == -1 { broker.cfg.num_partitions } else { partitions };
            let rf = if replication_factor == -1 { broker.cfg.default_replication_factor } else { replication_factor };
            if partitions < 1 {
                return Err((ErrorCode::INVALID_PARTITIONS, "Number of partitions must be larger than 0.".into()));
            }
            if rf < 1 {
                return Err((ErrorCode::INVALID_REPLICATION_FACTOR, "Replication factor must be larger than 0.".into()));
            }
            if rf as usize > brokers.len() {
                return Err((
                    ErrorCode::INVALID_REPLICATION_FACTOR,
                    format!("Replication factor: {rf} larger than available brokers: {}.", brokers.len()),
                ));
            }
            zkdata::check_topic_znode_fits(partitions, rf).map_err(|m| (ErrorCode::INVALID_PARTITIONS, m))?;
            let n = brokers.len().max(1);
            zkdata::assign_replicas(&brokers, partitions, rf as i32, 0, rand::random::<usize>() % n, rand::random::<usize>() % n)
        }
    };
    if validate_only {
        return Ok(assignment);
    }
    match admin::create_topic(&broker.zk, name, &assignment, &configs).await {
        Ok(()) => {
            tracing::info!("created topic {name} with {} partition(s)", assignment.len());
            Ok(assignment)
        }
        Err(AdminError::TopicExists(_)) => Err((ErrorCode::TOPIC_ALREADY_EXISTS, format!("Topic '{name}' already exists."))),
        Err(e) => Err((ErrorCode::UNKNOWN_SERVER_ERROR, e.to_string())),
    }
}

/// Waits until `pred` holds on the metadata cache, or the timeout passes.
pub async fn wait_meta(broker: &Broker, timeout: Duration, pred: impl Fn(&crate::metadata::ClusterMeta) -> bool) -> bool {
    broker.meta.wait_for(timeout, pred).await
}

/// Auto-creates a topic if the broker allows it; returns whether a creation was started.
pub async fn auto_create(broker: &Broker, name: &str) -> bool {
    if !broker.cfg.auto_create_topics_enable || zkdata::valid_topic_name(name).is_err() {
        return false;
    }
    let rf = broker.cfg.default_replication_factor.min(broker.meta.get().brokers.len().max(1) as i16);
    match create_topic(broker, name, broker.cfg.num_partitions, rf, None, Vec::new(), false).await {
        Ok(_) => {
            let n = name.to_string();
            wait_meta(broker, Duration::from_millis(500), move |m| m.topics.get(&n).map(|t| !t.partitions.is_empty()).unwrap_or(false)).await;
            true
        }
        Err((code, _)) => code == ErrorCode::TOPIC_ALREADY_EXISTS,
    }
}
