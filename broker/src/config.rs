//! `server.properties`: the broker configuration, with Kafka 2.5's keys and defaults.
//!
//! Read once at startup (plus `--override k=v` pairs, as Kafka's start script allows).
//! Unknown keys are warned about by name; a bad value is a one-line error naming the key
//! and the broker does not start. Topic-level defaults derived from the `log.*` keys live
//! in [`crate::topic_config::TopicConfig`].
//!
//! One key is this broker's own, not Kafka's: `log.scrub.bytes.per.second` (default 41943040,
//! 40 MiB/s; 0 turns it off), how fast segments not checked since the start are checked in
//! the background (see `log::segment`); reads check what they touch regardless.
//! Two more are ours: `metrics.prometheus.port` (default 0: off) and `metrics.prometheus.host`
//! (default 0.0.0.0), where `GET /metrics` answers in the Prometheus text format (see `metrics`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0}: cannot read config file: {1}")]
    Read(String, String),
    #[error("Invalid value {value} for configuration {key}: {why}")]
    Value { key: String, value: String, why: String },
    #[error("Missing required configuration \"{0}\" which has no default value.")]
    Missing(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// -1 = generate from /brokers/seqid.
    pub broker_id: i32,
    pub reserved_broker_max_id: i32,
    pub listeners: Vec<Listener>,
    pub advertised_listeners: Vec<Listener>,
    /// listener name -> security protocol, in file order.
    pub security_protocol_map: Vec<(String, String)>,
    pub log_dirs: Vec<PathBuf>,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    pub log_retention_ms: i64,
    pub log_retention_bytes: i64,
    pub log_segment_bytes: i64,
    pub log_roll_ms: i64,
    pub log_retention_check_interval_ms: u64,
    pub log_index_interval_bytes: i64,
    pub log_index_size_max_bytes: i64,
    pub log_flush_interval_messages: i64,
    pub log_flush_interval_ms: Option<i64>,
    /// This broker's own: bytes per second the background scrub checks (0 = off).
    pub log_scrub_bytes_per_second: u64,
    pub message_max_bytes: i64,
    pub socket_request_max_bytes: usize,
    /// Connections the broker holds at once; at the limit it stops accepting (new ones wait
    /// in the listen backlog) until one closes, as Kafka 2.5 does (KIP-402).
    pub max_connections: usize,
    /// Connections from one address; one more is closed at once with a log line.
    pub max_connections_per_ip: usize,
    /// Per-address exceptions: `max.connections.per.ip.overrides=host:n,host2:m`.
    pub max_connections_per_ip_overrides: BTreeMap<String, usize>,
    /// A connection with no request for this long is closed.
    pub connections_max_idle_ms: u64,
    pub log_message_timestamp_type: String,
    pub compression_type: String,
    pub min_insync_replicas: i32,
    pub cleanup_policy: String,
    pub zookeeper_connect: String,
    pub zookeeper_connection_timeout_ms: u64,
    pub zookeeper_session_timeout_ms: u64,
    pub offsets_topic_num_partitions: i32,
    pub offsets_topic_replication_factor: i16,
    pub offsets_topic_segment_bytes: i64,
    /// `__transaction_state` (the transaction coordinator, `txn`).
    pub transaction_state_log_num_partitions: i32,
    pub transaction_state_log_replication_factor: i16,
    pub transaction_state_log_min_isr: i32,
    pub transaction_state_log_segment_bytes: i64,
    pub transaction_max_timeout_ms: i64,
    pub transaction_abort_timed_out_transaction_cleanup_interval_ms: i64,
    pub transaction_remove_expired_transaction_cleanup_interval_ms: i64,
    pub group_initial_rebalance_delay_ms: i64,
    pub group_min_session_timeout_ms: i64,
    pub group_max_session_timeout_ms: i64,
    pub group_max_size: i64,
    pub offsets_retention_ms: i64,
    pub offsets_retention_check_interval_ms: i64,
    pub offsets_commit_timeout_ms: i64,
    pub offset_metadata_max_bytes: i64,
    pub transactional_id_expiration_ms: i64,
    pub jmx_port: i32,
    pub rack: Option<String>,
    /// `replica.selector.class` is Kafka's RackAwareReplicaSelector (KIP-392): leaders send
    /// consumers that give their rack to an in-sync replica of that rack.
    pub rack_aware_replica_selector: bool,
    pub replica_lag_time_max_ms: i64,
    pub replica_fetch_max_bytes: i32,
    pub replica_fetch_wait_max_ms: i32,
    pub replica_socket_timeout_ms: i64,
    pub unclean_leader_election_enable: bool,
    pub auto_leader_rebalance_enable: bool,
    pub leader_imbalance_check_interval_ms: u64,
    pub leader_imbalance_per_broker_percentage: i64,
    pub controlled_shutdown_enable: bool,
    pub controlled_shutdown_max_retries: i32,
    pub controlled_shutdown_retry_backoff_ms: u64,
    /// This broker's own: the Prometheus `/metrics` endpoint (see `metrics`); 0 = off.
    pub metrics_prometheus_port: u16,
    /// Address the metrics endpoint binds (default 0.0.0.0, as a listener without a host).
    pub metrics_prometheus_host: String,
    /// Every key as given (for DescribeConfigs on the broker).
    pub raw: BTreeMap<String, String>,
    pub warnings: Vec<String>,
}

/// Keys Kafka 2.5 accepts that this broker reads but does not act on (threads, buffers,
/// replication and group knobs used by later work). They do not warn.
const ACCEPTED: &[&str] = &[
    "num.network.threads", "num.io.threads", "num.replica.fetchers", "num.recovery.threads.per.data.dir",
    "socket.send.buffer.bytes", "socket.receive.buffer.bytes", "queued.max.requests",
    "background.threads", "num.replica.alter.log.dirs.threads",
    "offsets.topic.compression.codec", "offsets.retention.minutes", "offsets.retention.check.interval.ms",
    "offsets.load.buffer.size", "offsets.commit.required.acks",
    "group.min.session.timeout.ms", "group.max.session.timeout.ms", "group.max.size",
    "replica.socket.receive.buffer.bytes", "replica.high.watermark.checkpoint.interval.ms",
    "controller.socket.timeout.ms",
    "log.cleaner.enable", "log.cleaner.threads", "log.cleaner.dedupe.buffer.size", "log.cleaner.backoff.ms",
    "log.cleaner.min.cleanable.ratio", "log.cleaner.delete.retention.ms", "log.cleaner.io.buffer.size",
    "log.cleaner.min.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms", "log.cleaner.io.buffer.load.factor",
    "log.cleaner.io.max.bytes.per.second",
    "log.segment.delete.delay.ms", "log.preallocate", "log.flush.scheduler.interval.ms",
    "log.flush.offset.checkpoint.interval.ms", "log.flush.start.offset.checkpoint.interval.ms",
    "log.message.format.version", "inter.broker.protocol.version", "inter.broker.listener.name",
    "security.inter.broker.protocol", "zookeeper.set.acl", "zookeeper.max.in.flight.requests",
    "request.timeout.ms",
    "fetch.purgatory.purge.interval.requests", "producer.purgatory.purge.interval.requests",
    "metric.reporters", "metrics.num.samples", "metrics.sample.window.ms", "quota.window.num",
    "broker.id.generation.enable", "control.plane.listener.name", "log.message.timestamp.difference.max.ms",
    "max.incremental.fetch.session.cache.slots", "message.downconversion.enable", "delegation.token.master.key",
    "host.name", "port", "advertised.host.name", "advertised.port",
];

pub fn parse_properties(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let l = line.trim_start();
        if pending.is_empty() && (l.is_empty() || l.starts_with('#') || l.starts_with('!')) {
            continue;
        }
        // Java properties: a trailing backslash continues the logical line.
        if let Some(stripped) = l.strip_suffix('\\') {
            pending.push_str(stripped);
            continue;
        }
        pending.push_str(l);
        let full = std::mem::take(&mut pending);
        let full = full.trim();
        let idx = full.find(['=', ':']);
        let (k, v) = match idx {
            Some(i) => (full[..i].trim(), full[i + 1..].trim()),
            None => (full, ""),
        };
        out.push((k.to_string(), v.to_string()));
    }
    out
}

fn bad(key: &str, value: &str, why: &str) -> ConfigError {
    ConfigError::Value { key: key.to_string(), value: value.to_string(), why: why.to_string() }
}

fn long(key: &str, v: &str) -> Result<i64, ConfigError> {
    v.trim().parse::<i64>().map_err(|_| bad(key, v, "Not a number of type LONG"))
}

fn int(key: &str, v: &str) -> Result<i32, ConfigError> {
    v.trim().parse::<i32>().map_err(|_| bad(key, v, "Not a number of type INT"))
}

fn boolean(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(key, v, "Expected value to be either true or false")),
    }
}

fn at_least(key: &str, v: &str, n: i64, min: i64) -> Result<i64, ConfigError> {
    if n < min {
        return Err(bad(key, v, &format!("Value must be at least {min}")));
    }
    Ok(n)
}

/// `PLAINTEXT://host:port,NAME://:port`.
pub fn parse_listeners(key: &str, v: &str) -> Result<Vec<Listener>, ConfigError> {
    let mut out = Vec::new();
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, rest) = item
            .split_once("://")
            .ok_or_else(|| bad(key, v, &format!("Unable to parse {item} to a broker endpoint")))?;
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| bad(key, v, &format!("Unable to parse {item} to a broker endpoint")))?;
        let port: u16 = port.parse().map_err(|_| bad(key, v, &format!("Unable to parse {item} to a broker endpoint")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let name = name.to_ascii_uppercase();
        if out.iter().any(|l: &Listener| l.name == name) {
            return Err(bad(key, v, "Each listener must have a different name"));
        }
        out.push(Listener { name, host, port });
    }
    if out.is_empty() {
        return Err(bad(key, v, "no listener"));
    }
    Ok(out)
}

impl BrokerConfig {
    pub fn load(path: &Path, overrides: &[String]) -> Result<BrokerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.display().to_string(), e.to_string()))?;
        let mut pairs = parse_properties(&text);
        for o in overrides {
            let (k, v) = o.split_once('=').ok_or_else(|| bad("--override", o, "expected key=value"))?;
            pairs.push((k.trim().to_string(), v.trim().to_string()));
        }
        BrokerConfig::from_pairs(pairs)
    }

    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<BrokerConfig, ConfigError> {
        let mut raw = BTreeMap::new();
        for (k, v) in pairs {
            raw.insert(k, v);
        }
        let get = |k: &str| raw.get(k).map(String::as_str);
        let mut warnings = Vec::new();

        let broker_id = match get("broker.id") { Some(v) => at_least("broker.id", v, int("broker.id", v)? as i64, -1)? as i32, None => -1 };
        let reserved_broker_max_id = match get("reserved.broker.max.id") { Some(v) => int("reserved.broker.max.id", v)?, None => 1000 };
        if broker_id > reserved_broker_max_id {
            return Err(bad("broker.id", &broker_id.to_string(), &format!("must be at most reserved.broker.max.id ({reserved_broker_max_id})")));
        }
        let listeners = match get("listeners") { Some(v) => parse_listeners("listeners", v)?, None => vec![Listener { name: "PLAINTEXT".into(), host: String::new(), port: 9092 }] };
        let advertised_listeners = match get("advertised.listeners") { Some(v) => parse_listeners("advertised.listeners", v)?, None => listeners.clone() };
        let mut security_protocol_map = Vec::new();
        match get("listener.security.protocol.map") {
            Some(v) => {
                for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let (n, p) = item.split_once(':').ok_or_else(|| bad("listener.security.protocol.map", v, "expected NAME:PROTOCOL pairs"))?;
                    let p = p.trim().to_ascii_uppercase();
                    if !["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"].contains(&p.as_str()) {
                        return Err(bad("listener.security.protocol.map", v, &format!("unknown security protocol {p}")));
                    }
                    security_protocol_map.push((n.trim().to_ascii_uppercase(), p));
                }
            }
            None => {
                for p in ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] {
                    security_protocol_map.push((p.to_string(), p.to_string()));
                }
            }
        }
        for l in listeners.iter().chain(advertised_listeners.iter()) {
            match security_protocol_map.iter().find(|(n, _)| *n == l.name) {
                None => return Err(bad("listeners", &l.name, "no security protocol defined for this listener name in listener.security.protocol.map")),
                Some((_, p)) if p != "PLAINTEXT" => return Err(bad("listeners", &l.name, &format!("security protocol {p} is not supported by this broker (PLAINTEXT only)"))),
                _ => {}
            }
        }
        let log_dirs: Vec<PathBuf> = match get("log.dirs").or(get("log.dir")) {
            Some(v) => v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(PathBuf::from).collect(),
            None => vec![PathBuf::from("/tmp/kafka-logs")],
        };
        if log_dirs.is_empty() {
            return Err(bad("log.dirs", "", "no directory"));
        }

        let ms_hours = |ms: &str, minutes: Option<&str>, hours: &str, default_hours: i64| -> Result<i64, ConfigError> {
            if let Some(v) = get(ms) { return long(ms, v); }
            if let Some(mk) = minutes { if let Some(v) = get(mk) { return Ok(long(mk, v)? * 60_000); } }
            if let Some(v) = get(hours) { return Ok(long(hours, v)? * 3_600_000); }
            Ok(default_hours * 3_600_000)
        };
        let log_retention_ms = ms_hours("log.retention.ms", Some("log.retention.minutes"), "log.retention.hours", 168)?;
        let log_roll_ms = ms_hours("log.roll.ms", None, "log.roll.hours", 168)?;
        if log_roll_ms < 1 { return Err(bad("log.roll.ms", &log_roll_ms.to_string(), "Value must be at least 1")); }

        let l = |k: &str, d: i64| -> Result<i64, ConfigError> { match get(k) { Some(v) => long(k, v), None => Ok(d) } };
        let i = |k: &str, d: i32| -> Result<i32, ConfigError> { match get(k) { Some(v) => int(k, v), None => Ok(d) } };
        let b = |k: &str, d: bool| -> Result<bool, ConfigError> { match get(k) { Some(v) => boolean(k, v), None => Ok(d) } };

        let log_segment_bytes = l("log.segment.bytes", 1_073_741_824)?;
        at_least("log.segment.bytes", &log_segment_bytes.to_string(), log_segment_bytes, 14)?;
        let socket_request_max_bytes = i("socket.request.max.bytes", 104_857_600)?;
        at_least("socket.request.max.bytes", &socket_request_max_bytes.to_string(), socket_request_max_bytes as i64, 1)?;
        let max_connections = i("max.connections", i32::MAX)?;
        at_least("max.connections", &max_connections.to_string(), max_connections as i64, 0)?;
        let max_connections_per_ip = i("max.connections.per.ip", i32::MAX)?;
        at_least("max.connections.per.ip", &max_connections_per_ip.to_string(), max_connections_per_ip as i64, 0)?;
        let mut max_connections_per_ip_overrides = BTreeMap::new();
        if let Some(v) = get("max.connections.per.ip.overrides") {
            for item in v.split(',').map(str::trim).filter(|x| !x.is_empty()) {
                let parsed = item.rsplit_once(':').and_then(|(h, n)| Some((h.trim().to_string(), n.trim().parse::<usize>().ok()?)));
                match parsed {
                    Some((h, n)) if !h.is_empty() => {
                        max_connections_per_ip_overrides.insert(h, n);
                    }
                    _ => return Err(bad("max.connections.per.ip.overrides", v, "Expected host:count entries separated by commas")),
                }
            }
        }
        if max_connections_per_ip == 0 && max_connections_per_ip_overrides.is_empty() {
            return Err(bad(
                "max.connections.per.ip",
                "0",
                "max.connections.per.ip can be set to zero only if max.connections.per.ip.overrides property is set.",
            ));
        }
        let connections_max_idle_ms = l("connections.max.idle.ms", 600_000)?;
        at_least("connections.max.idle.ms", &connections_max_idle_ms.to_string(), connections_max_idle_ms, 1)?;
        let message_max_bytes = i("message.max.bytes", 1_048_588)? as i64;
        at_least("message.max.bytes", &message_max_bytes.to_string(), message_max_bytes, 0)?;
        let ts_type = get("log.message.timestamp.type").unwrap_or("CreateTime").to_string();
        if ts_type != "CreateTime" && ts_type != "LogAppendTime" {
            return Err(bad("log.message.timestamp.type", &ts_type, "String must be one of: CreateTime, LogAppendTime"));
        }
        let compression_type = get("compression.type").unwrap_or("producer").to_ascii_lowercase();
        if !["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"].contains(&compression_type.as_str()) {
            return Err(bad("compression.type", &compression_type, "String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"));
        }
        let cleanup_policy = get("log.cleanup.policy").unwrap_or("delete").to_string();
        for p in cleanup_policy.split(',') {
            if p.trim() != "delete" && p.trim() != "compact" {
                return Err(bad("log.cleanup.policy", &cleanup_policy, "String must be one of: compact, delete"));
            }
        }
        // KIP-392's selectors: none (the leader serves, Kafka's default), Kafka's rack-aware
        // one, or its LeaderSelector; any other class cannot be loaded here (Kafka: "Class
        // ... cannot be found").
        let rack_aware_replica_selector = match get("replica.selector.class").map(str::trim).filter(|v| !v.is_empty()) {
            None | Some("org.apache.kafka.common.replica.LeaderSelector") => false,
            Some("org.apache.kafka.common.replica.RackAwareReplicaSelector") => true,
            Some(other) => {
                return Err(bad(
                    "replica.selector.class",
                    other,
                    "Class cannot be found: this broker has org.apache.kafka.common.replica.RackAwareReplicaSelector and org.apache.kafka.common.replica.LeaderSelector",
                ))
            }
        };
        let zookeeper_connect = get("zookeeper.connect").ok_or(ConfigError::Missing("zookeeper.connect"))?.to_string();
        if zookeeper_connect.trim().is_empty() || zookeeper_connect.starts_with('/') {
            return Err(bad("zookeeper.connect", &zookeeper_connect, "expected host:port[,host:port...][/chroot]"));
        }
        let zookeeper_session_timeout_ms = l("zookeeper.session.timeout.ms", 18_000)?;
        at_least("zookeeper.session.timeout.ms", &zookeeper_session_timeout_ms.to_string(), zookeeper_session_timeout_ms, 1)?;
        let zookeeper_connection_timeout_ms = match get("zookeeper.connection.timeout.ms") { Some(v) => long("zookeeper.connection.timeout.ms", v)?, None => zookeeper_session_timeout_ms };
        let num_partitions = i("num.partitions", 1)?;
        at_least("num.partitions", &num_partitions.to_string(), num_partitions as i64, 1)?;
        let default_replication_factor = i("default.replication.factor", 1)?;
        let min_insync_replicas = i("min.insync.replicas", 1)?;
        at_least("min.insync.replicas", &min_insync_replicas.to_string(), min_insync_replicas as i64, 1)?;
        let log_retention_check_interval_ms = l("log.retention.check.interval.ms", 300_000)?;
        at_least("log.retention.check.interval.ms", &log_retention_check_interval_ms.to_string(), log_retention_check_interval_ms, 1)?;
        let offsets_commit_timeout_ms = l("offsets.commit.timeout.ms", 5000)?;
        at_least("offsets.commit.timeout.ms", &offsets_commit_timeout_ms.to_string(), offsets_commit_timeout_ms, 1)?;
        let replica_lag_time_max_ms = l("replica.lag.time.max.ms", 30_000)?;
        at_least("replica.lag.time.max.ms", &replica_lag_time_max_ms.to_string(), replica_lag_time_max_ms, 1)?;
        let log_flush_interval_ms = match get("log.flush.interval.ms") { Some(v) => Some(long("log.flush.interval.ms", v)?), None => None };

        let metrics_prometheus_port = match get("metrics.prometheus.port") {
            Some(v) => v.trim().parse::<u16>().map_err(|_| bad("metrics.prometheus.port", v, "Expected a port number from 0 (off) to 65535"))?,
            None => 0,
        };
        let metrics_prometheus_host = get("metrics.prometheus.host").unwrap_or("0.0.0.0").trim().trim_start_matches('[').trim_end_matches(']').to_string();
        if metrics_prometheus_host.parse::<std::net::IpAddr>().is_err()
            && (metrics_prometheus_host.is_empty() || !metrics_prometheus_host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'))
        {
            return Err(bad("metrics.prometheus.host", &metrics_prometheus_host, "Expected an IP address or a host name"));
        }

        crate::log::cleaner::CleanerConfig::from_raw(&raw)?;
        let cfg = BrokerConfig {
            broker_id,
            reserved_broker_max_id,
            listeners,
            advertised_listeners,
            security_protocol_map,
            log_dirs,
            num_partitions,
            default_replication_factor: default_replication_factor as i16,
            auto_create_topics_enable: b("auto.create.topics.enable", true)?,
            delete_topic_enable: b("delete.topic.enable", true)?,
            log_retention_ms,
            log_retention_bytes: l("log.retention.bytes", -1)?,
            log_segment_bytes,
            log_roll_ms,
            log_retention_check_interval_ms: log_retention_check_interval_ms as u64,
            log_index_interval_bytes: l("log.index.interval.bytes", 4096)?,
            log_index_size_max_bytes: l("log.index.size.max.bytes", 10_485_760)?,
            log_flush_interval_messages: l("log.flush.interval.messages", i64::MAX)?,
            log_flush_interval_ms,
            log_scrub_bytes_per_second: l("log.scrub.bytes.per.second", 40 << 20)?.max(0) as u64,
            message_max_bytes,
            socket_request_max_bytes: socket_request_max_bytes as usize,
            max_connections: max_connections as usize,
            max_connections_per_ip: max_connections_per_ip as usize,
            max_connections_per_ip_overrides,
            connections_max_idle_ms: connections_max_idle_ms as u64,
            log_message_timestamp_type: ts_type,
            compression_type,
            min_insync_replicas,
            cleanup_policy,
            zookeeper_connect,
            zookeeper_connection_timeout_ms: zookeeper_connection_timeout_ms.max(1) as u64,
            zookeeper_session_timeout_ms: zookeeper_session_timeout_ms as u64,
            offsets_topic_num_partitions: i("offsets.topic.num.partitions", 50)?,
            offsets_topic_replication_factor: i("offsets.topic.replication.factor", 3)? as i16,
            offsets_topic_segment_bytes: l("offsets.topic.segment.bytes", 104_857_600)?,
            transaction_state_log_num_partitions: i("transaction.state.log.num.partitions", 50)?,
            transaction_state_log_replication_factor: i("transaction.state.log.replication.factor", 3)? as i16,
            transaction_state_log_min_isr: i("transaction.state.log.min.isr", 2)?,
            transaction_state_log_segment_bytes: l("transaction.state.log.segment.bytes", 104_857_600)?,
            transaction_max_timeout_ms: l("transaction.max.timeout.ms", 900_000)?,
            transaction_abort_timed_out_transaction_cleanup_interval_ms: l("transaction.abort.timed.out.transaction.cleanup.interval.ms", 10_000)?,
            transaction_remove_expired_transaction_cleanup_interval_ms: l("transaction.remove.expired.transaction.cleanup.interval.ms", 3_600_000)?,
            group_initial_rebalance_delay_ms: l("group.initial.rebalance.delay.ms", 3000)?,
            group_min_session_timeout_ms: l("group.min.session.timeout.ms", 6000)?,
            group_max_session_timeout_ms: l("group.max.session.timeout.ms", 1_800_000)?,
            group_max_size: l("group.max.size", i32::MAX as i64)?,
            offsets_retention_ms: l("offsets.retention.minutes", 10080)?.saturating_mul(60_000),
            offsets_retention_check_interval_ms: l("offsets.retention.check.interval.ms", 600_000)?,
            offsets_commit_timeout_ms,
            offset_metadata_max_bytes: l("offset.metadata.max.bytes", 4096)?,
            transactional_id_expiration_ms: l("transactional.id.expiration.ms", 604_800_000)?,
            jmx_port: std::env::var("JMX_PORT").ok().and_then(|v| v.parse().ok()).unwrap_or(-1),
            rack: get("broker.rack").map(str::to_string),
            rack_aware_replica_selector,
            replica_lag_time_max_ms,
            replica_fetch_max_bytes: i("replica.fetch.max.bytes", 1_048_576)?.max(1),
            replica_fetch_wait_max_ms: i("replica.fetch.wait.max.ms", 500)?.max(0),
            replica_socket_timeout_ms: l("replica.socket.timeout.ms", 30_000)?.max(1),
            unclean_leader_election_enable: b("unclean.leader.election.enable", false)?,
            auto_leader_rebalance_enable: b("auto.leader.rebalance.enable", true)?,
            leader_imbalance_check_interval_ms: (l("leader.imbalance.check.interval.seconds", 300)?.max(1) as u64).saturating_mul(1000),
            leader_imbalance_per_broker_percentage: l("leader.imbalance.per.broker.percentage", 10)?,
            controlled_shutdown_enable: b("controlled.shutdown.enable", true)?,
            controlled_shutdown_max_retries: i("controlled.shutdown.max.retries", 3)?.max(1),
            controlled_shutdown_retry_backoff_ms: l("controlled.shutdown.retry.backoff.ms", 5000)?.max(0) as u64,
            metrics_prometheus_port,
            metrics_prometheus_host,
            raw: raw.clone(),
            warnings: Vec::new(),
        };
        for k in raw.keys() {
            if !KNOWN.contains(&k.as_str()) && !ACCEPTED.contains(&k.as_str()) {
                warnings.push(format!("The configuration '{k}' was supplied but isn't a known config."));
            }
        }
        Ok(BrokerConfig { warnings, ..cfg })
    }

    /// The advertised listener clients are told about (the first one).
    pub fn advertised(&self) -> &Listener {
        // Non-empty: parse_listeners rejects an empty list and the default has one entry.
        &self.advertised_listeners[0]
    }

    /// Host to advertise: an empty host means "this machine's name"; we stay on loopback.
    pub fn advertised_host(&self) -> String {
        let h = &self.advertised().host;
        if h.is_empty() || h == "0.0.0.0" { "127.0.0.1".to_string() } else { h.clone() }
    }
}

const KNOWN: &[&str] = &[
    "broker.id", "reserved.broker.max.id", "listeners", "advertised.listeners", "listener.security.protocol.map",
    "offsets.commit.timeout.ms",
    "replica.lag.time.max.ms", "replica.fetch.max.bytes", "replica.fetch.wait.max.ms", "replica.socket.timeout.ms",
    "unclean.leader.election.enable", "auto.leader.rebalance.enable", "leader.imbalance.check.interval.seconds",
    "leader.imbalance.per.broker.percentage", "controlled.shutdown.enable", "controlled.shutdown.max.retries",
    "controlled.shutdown.retry.backoff.ms",
    "log.dirs", "log.dir", "num.partitions", "default.replication.factor", "auto.create.topics.enable",
    "delete.topic.enable", "log.retention.hours", "log.retention.minutes", "log.retention.ms",
    "log.retention.bytes", "log.segment.bytes", "log.roll.ms", "log.roll.hours",
    "log.retention.check.interval.ms", "log.index.interval.bytes", "log.index.size.max.bytes",
    "log.flush.interval.messages", "log.flush.interval.ms", "log.scrub.bytes.per.second", "message.max.bytes", "socket.request.max.bytes",
    "log.message.timestamp.type", "compression.type", "min.insync.replicas", "log.cleanup.policy",
    "zookeeper.connect", "zookeeper.connection.timeout.ms", "zookeeper.session.timeout.ms",
    "offsets.topic.num.partitions", "offsets.topic.replication.factor", "offsets.topic.segment.bytes",
    "group.initial.rebalance.delay.ms", "broker.rack", "group.min.session.timeout.ms", "group.max.session.timeout.ms",
    "group.max.size", "offsets.retention.minutes", "offsets.retention.check.interval.ms", "offset.metadata.max.bytes",
    "transactional.id.expiration.ms", "transaction.state.log.num.partitions", "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr", "transaction.state.log.segment.bytes", "transaction.max.timeout.ms",
    "transaction.abort.timed.out.transaction.cleanup.interval.ms", "transaction.remove.expired.transaction.cleanup.interval.ms",
    "max.connections", "max.connections.per.ip", "max.connections.per.ip.overrides", "connections.max.idle.ms",
    "replica.selector.class",
    "metrics.prometheus.port", "metrics.prometheus.host",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Result<BrokerConfig, ConfigError> {
        BrokerConfig::from_pairs(parse_properties(text))
    }

    #[test]
    fn docs_list_every_key() {
        // docs/broker-configs.md (scripts/gen-broker-config-docs.py) names every key we read
        // or accept; regenerate it when this fails.
        let page = include_str!("../../docs/broker-configs.md");
        let missing: Vec<&&str> = KNOWN.iter().chain(ACCEPTED).filter(|k| !page.contains(&format!("| `{k}` |"))).collect();
        assert!(missing.is_empty(), "docs/broker-configs.md lacks {missing:?}: run scripts/gen-broker-config-docs.py");
    }

    #[test]
    fn keys_read_are_known() {
        // A key this file reads must not be warned about as unknown.
        let c = cfg("zookeeper.connect=a:1\nmax.connections=10\nmax.connections.per.ip=5\nconnections.max.idle.ms=1000\nreplica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector\n").unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert!(c.rack_aware_replica_selector);
        assert!(cfg("zookeeper.connect=a:1\nreplica.selector.class=x.Y\n").is_err());
    }

    #[test]
    fn defaults_and_units() {
        let c = cfg("zookeeper.connect=localhost:2181\nlog.retention.hours=1\n").unwrap();
        assert_eq!(c.log_retention_ms, 3_600_000);
        assert_eq!(c.broker_id, -1);
        assert_eq!(c.listeners[0].port, 9092);
        let c = cfg("zookeeper.connect=a:1/chroot\nlog.retention.minutes=2\nlog.retention.ms=5\n").unwrap();
        assert_eq!(c.log_retention_ms, 5);
    }

    #[test]
    fn bad_values_and_unknown_keys() {
        let e = cfg("zookeeper.connect=a:1\nnum.partitions=x\n").unwrap_err();
        assert_eq!(e.to_string(), "Invalid value x for configuration num.partitions: Not a number of type INT");
        assert!(matches!(cfg("broker.id=0\n"), Err(ConfigError::Missing("zookeeper.connect"))));
        let c = cfg("zookeeper.connect=a:1\nfoo.bar=1\nnum.io.threads=8\n").unwrap();
        assert_eq!(c.warnings.len(), 1);
        assert!(cfg("zookeeper.connect=a:1\nlisteners=PLAINTEXT://:x\n").is_err());
        assert!(cfg("zookeeper.connect=a:1\nauto.create.topics.enable=maybe\n").is_err());
    }

    #[test]
    fn metrics_keys() {
        let c = cfg("zookeeper.connect=a:1\n").unwrap();
        assert_eq!((c.metrics_prometheus_port, c.metrics_prometheus_host.as_str()), (0, "0.0.0.0"));
        let c = cfg("zookeeper.connect=a:1\nmetrics.prometheus.port=9404\nmetrics.prometheus.host=127.0.0.1\n").unwrap();
        assert_eq!((c.metrics_prometheus_port, c.metrics_prometheus_host.as_str()), (9404, "127.0.0.1"));
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        for bad in ["metrics.prometheus.port=-1", "metrics.prometheus.port=70000", "metrics.prometheus.port=x", "metrics.prometheus.host=a b"] {
            let e = cfg(&format!("zookeeper.connect=a:1\n{bad}\n")).unwrap_err();
            assert!(e.to_string().contains(bad.split('=').next().unwrap_or("")), "{e}");
        }
    }

    /// The shipped configs/server.properties and the three-broker server-{0,1,2}.properties
    /// load without a warning, and the three are one cluster of distinct brokers.
    #[test]
    fn shipped_configs_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
        let single = BrokerConfig::load(&dir.join("server.properties"), &[]).unwrap();
        assert!(single.warnings.is_empty(), "{:?}", single.warnings);
        assert_eq!((single.broker_id, single.offsets_topic_replication_factor), (0, 1));
        let mut seen = Vec::new();
        for i in 0..3 {
            let c = BrokerConfig::load(&dir.join(format!("server-{i}.properties")), &[]).unwrap();
            assert!(c.warnings.is_empty(), "server-{i}: {:?}", c.warnings);
            assert_eq!(c.broker_id, i);
            assert_eq!(c.listeners[0].port, 9092 + i as u16);
            assert_eq!(c.log_dirs, vec![PathBuf::from(format!("/tmp/kafka-logs-{i}"))]);
            assert_eq!(c.offsets_topic_replication_factor, 3);
            seen.push(c.raw.get("zookeeper.connect").cloned());
        }
        assert!(seen.iter().all(|z| *z == seen[0] && z.is_some()));
    }
}
