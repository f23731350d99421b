//! Dynamic broker configs (`/config/brokers/<id>` and `/config/brokers/<default>`), as
//! Kafka 2.5 stores them: `{"version":1,"config":{...}}` plus a
//! `/config/changes/config_change_` notification naming `brokers/<entity>`. Reached through
//! (Incremental)AlterConfigs and DescribeConfigs on BROKER resources.
//!
//! Kafka 2.5's DynamicLogConfig keys (`LOG_KEYS`: the broker synonyms of the topic configs,
//! `log.retention.ms`, `log.segment.bytes`, `message.max.bytes`, `min.insync.replicas`,
//! `unclean.leader.election.enable`, `log.cleanup.policy`, `compression.type`, ...; not
//! `log.message.format.version`, not the `.hours`/`.minutes` forms) apply to every topic
//! without its own override within a few seconds (`Broker::apply_dynamic_log_config`), the
//! per-broker value over the cluster default over server.properties.
//!
//! The replication throttle keys (what `kafka-reassign-partitions --throttle` and
//! `kafka-configs --entity-type brokers` set) are stored, described and removed exactly as
//! Kafka does, but this broker does not rate-limit replication by them. The `log.cleaner.*`
//! keys Kafka 2.5 makes dynamic are applied to the log cleaner within a few seconds
//! (`log.cleaner.io.max.bytes.per.second` is stored only: the cleaner is not throttled).

use crate::zk::jute::code;
use crate::zk::{ZkClient, ZkError};
use crate::zkdata;

pub const KEYS: &[&str] = &[
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
    "replica.alter.log.dirs.io.max.bytes.per.second",
    // Kafka 2.5's dynamic log cleaner keys (applied by log::cleaner; see Broker's
    // maintenance loop).
    "log.cleaner.threads",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.buffer.size",
    "log.cleaner.backoff.ms",
    "log.cleaner.io.max.bytes.per.second",
];

/// The znode entity for a BROKER resource name: "" is the cluster default.
pub fn entity(resource_name: &str) -> Result<String, String> {
    if resource_name.is_empty() {
        return Ok("<default>".into());
    }
    resource_name
        .parse::<i32>()
        .map(|id| id.to_string())
        .map_err(|_| format!("Invalid broker id {resource_name}: broker resources are named by broker id, or empty for the default"))
}

/// The dynamic broker log configs: (broker key, topic key) of Kafka 2.5's DynamicLogConfig.
pub fn log_keys() -> impl Iterator<Item = (&'static str, &'static str)> {
    crate::topic_config::TOPIC_KEYS
        .iter()
        .filter(|(t, b, _)| *t != "message.format.version" && !b.ends_with(".throttled.replicas"))
        .map(|(t, b, _)| (*b, *t))
}

/// Whether `key` is a dynamic broker log config.
pub fn is_log_key(key: &str) -> bool {
    log_keys().any(|(b, _)| b == key)
}

/// Kafka 2.5's DynamicConnectionQuota keys, applied to the listener's limits.
pub const CONNECTION_KEYS: &[&str] = &["max.connections", "max.connections.per.ip", "max.connections.per.ip.overrides"];

/// Kafka 2.5's dynamic thread-pool keys (and the cleaner's load factor, metric reporters):
/// accepted, stored and described as Kafka does, with no effect here (no such pools: one
/// async runtime serves every connection).
pub const NO_EFFECT_KEYS: &[&str] = &[
    "background.threads",
    "num.io.threads",
    "num.network.threads",
    "num.recovery.threads.per.data.dir",
    "num.replica.fetchers",
    "log.cleaner.io.buffer.load.factor",
    "metric.reporters",
];

/// Whether `key` can be set dynamically on this broker.
pub fn is_dynamic(key: &str) -> bool {
    KEYS.contains(&key) || is_log_key(key) || CONNECTION_KEYS.contains(&key) || NO_EFFECT_KEYS.contains(&key)
}

/// The dynamic log configs in force: the per-broker value over the cluster default.
pub fn log_overlay(defaults: &[(String, String)], mine: &[(String, String)]) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in defaults.iter().chain(mine) {
        if is_log_key(k) || CONNECTION_KEYS.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

pub fn validate(key: &str, value: &str) -> Result<(), String> {
    if let Some((_, topic_key)) = log_keys().find(|(b, _)| *b == key) {
        // The topic config's rules, named by the broker key.
        return crate::topic_config::validate(topic_key, value).map_err(|m| m.replace(&format!("configuration {topic_key}:"), &format!("configuration {key}:")));
    }
    if CONNECTION_KEYS.contains(&key) || NO_EFFECT_KEYS.contains(&key) {
        if key == "metric.reporters" {
            return Ok(());
        }
        if key == "log.cleaner.io.buffer.load.factor" {
            return match value.trim().parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 => Ok(()),
                _ => Err(format!("Invalid value {value} for configuration {key}: Not a number of type DOUBLE")),
            };
        }
        if key == "max.connections.per.ip.overrides" {
            // The static parser's rules (host:count pairs).
            let pairs = vec![("zookeeper.connect".to_string(), "x:1".to_string()), (key.to_string(), value.to_string())];
            return crate::config::BrokerConfig::from_pairs(pairs).map(|_| ()).map_err(|e| e.to_string());
        }
        let min = if CONNECTION_KEYS.contains(&key) { 0 } else { 1 };
        return match value.trim().parse::<i32>() {
            Ok(v) if v >= min => Ok(()),
            Ok(_) => Err(format!("Invalid value {value} for configuration {key}: Value must be at least {min}")),
            Err(_) => Err(format!("Invalid value {value} for configuration {key}: Not a number of type INT")),
        };
    }
    if !KEYS.contains(&key) {
        return Err(format!("Cannot update these configs dynamically: Set({key})"));
    }
    match value.trim().parse::<i64>() {
        Ok(v) if v >= 0 => Ok(()),
        _ => Err(format!("Invalid value {value} for configuration {key}: Value must be a non-negative LONG")),
    }
}

pub async fn read(zk: &ZkClient, entity: &str) -> Result<Vec<(String, String)>, ZkError> {
    Ok(match zk.get_data(&format!("/config/brokers/{entity}"), false).await? {
        Some((Some(d), _)) => zkdata::parse_topic_config(&d).unwrap_or_default(),
        _ => Vec::new(),
    })
}

pub async fn write(zk: &ZkClient, entity: &str, config: &[(String, String)]) -> Result<(), ZkError> {
    let path = format!("/config/brokers/{entity}");
    let json = zkdata::topic_config_json(config);
    match zk.set_data(&path, Some(json.as_bytes()), -1).await {
        Ok(_) => {}
        Err(ZkError::Code(code::NO_NODE)) => match zk.create_recursive(&path, Some(json.as_bytes())).await {
            Ok(()) | Err(ZkError::Code(code::NODE_EXISTS)) => {}
            Err(e) => return Err(e),
        },
        Err(e) => return Err(e),
    }
    let note = format!("{{\"version\":2,\"entity_path\":\"brokers/{entity}\"}}");
    zk.create_flags("/config/changes/config_change_", Some(note.as_bytes()), 2).await?;
    Ok(())
}
