//! Topic-level configuration: the keys of Kafka 2.5's `LogConfig`, their broker-level
//! synonyms and defaults, and overrides from `/config/topics/<topic>`.
//!
//! Pure values. Used by the log (segment size, retention, timestamps) and by the
//! DescribeConfigs / AlterConfigs / IncrementalAlterConfigs / CreateTopics handlers.

use std::collections::BTreeMap;

use crate::config::BrokerConfig;

/// (topic key, broker synonym, kind). Kinds: l=long, i=int, b=bool, s=string, d=double, list.
pub const TOPIC_KEYS: &[(&str, &str, char)] = &[
    ("cleanup.policy", "log.cleanup.policy", 'p'),
    ("compression.type", "compression.type", 'c'),
    ("delete.retention.ms", "log.cleaner.delete.retention.ms", 'l'),
    ("file.delete.delay.ms", "log.segment.delete.delay.ms", 'l'),
    ("flush.messages", "log.flush.interval.messages", 'l'),
    ("flush.ms", "log.flush.interval.ms", 'l'),
    ("follower.replication.throttled.replicas", "follower.replication.throttled.replicas", 's'),
    ("index.interval.bytes", "log.index.interval.bytes", 'i'),
    ("leader.replication.throttled.replicas", "leader.replication.throttled.replicas", 's'),
    ("max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms", 'l'),
    ("max.message.bytes", "message.max.bytes", 'i'),
    ("message.downconversion.enable", "log.message.downconversion.enable", 'b'),
    ("message.format.version", "log.message.format.version", 's'),
    ("message.timestamp.difference.max.ms", "log.message.timestamp.difference.max.ms", 'l'),
    ("message.timestamp.type", "log.message.timestamp.type", 't'),
    ("min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio", 'd'),
    ("min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms", 'l'),
    ("min.insync.replicas", "min.insync.replicas", 'i'),
    ("preallocate", "log.preallocate", 'b'),
    ("retention.bytes", "log.retention.bytes", 'l'),
    ("retention.ms", "log.retention.ms", 'l'),
    ("segment.bytes", "log.segment.bytes", 'i'),
    ("segment.index.bytes", "log.index.size.max.bytes", 'i'),
    ("segment.jitter.ms", "log.roll.jitter.ms", 'l'),
    ("segment.ms", "log.roll.ms", 'l'),
    ("unclean.leader.election.enable", "unclean.leader.election.enable", 'b'),
];

/// Where a value comes from (DescribeConfigs config_source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    DynamicTopic = 1,
    StaticBroker = 4,
    Default = 5,
}

/// The broker-level value (static config or Kafka's default) of a topic key.
pub fn broker_default(b: &BrokerConfig, key: &str) -> (String, Source) {
    let synonym = TOPIC_KEYS.iter().find(|(k, _, _)| *k == key).map(|(_, s, _)| *s).unwrap_or(key);
    if let Some(v) = b.raw.get(synonym) {
        // The typed value is the truth for keys with units (hours/minutes forms).
        let _ = v;
    }
    let (val, from_file) = match key {
        "cleanup.policy" => (b.cleanup_policy.clone(), b.raw.contains_key("log.cleanup.policy")),
        "compression.type" => (b.compression_type.clone(), b.raw.contains_key("compression.type")),
        "delete.retention.ms" => raw_or(b, "log.cleaner.delete.retention.ms", "86400000"),
        "file.delete.delay.ms" => ("60000".into(), false),
        "flush.messages" => (b.log_flush_interval_messages.to_string(), b.raw.contains_key("log.flush.interval.messages")),
        "flush.ms" => (b.log_flush_interval_ms.unwrap_or(i64::MAX).to_string(), b.raw.contains_key("log.flush.interval.ms")),
        "follower.replication.throttled.replicas" | "leader.replication.throttled.replicas" => (String::new(), false),
        "index.interval.bytes" => (b.log_index_interval_bytes.to_string(), b.raw.contains_key("log.index.interval.bytes")),
        "max.compaction.lag.ms" => raw_or(b, "log.cleaner.max.compaction.lag.ms", &i64::MAX.to_string()),
        "max.message.bytes" => (b.message_max_bytes.to_string(), b.raw.contains_key("message.max.bytes")),
        "message.downconversion.enable" => ("true".into(), false),
        "message.format.version" => ("2.5-IV0".into(), false),
        "message.timestamp.difference.max.ms" => (i64::MAX.to_string(), false),
        "message.timestamp.type" => (b.log_message_timestamp_type.clone(), b.raw.contains_key("log.message.timestamp.type")),
        "min.cleanable.dirty.ratio" => raw_or(b, "log.cleaner.min.cleanable.ratio", "0.5"),
        "min.compaction.lag.ms" => raw_or(b, "log.cleaner.min.compaction.lag.ms", "0"),
        "min.insync.replicas" => (b.min_insync_replicas.to_string(), b.raw.contains_key("min.insync.replicas")),
        "preallocate" => ("false".into(), false),
        "retention.bytes" => (b.log_retention_bytes.to_string(), b.raw.contains_key("log.retention.bytes")),
        "retention.ms" => (
            b.log_retention_ms.to_string(),
            ["log.retention.ms", "log.retention.minutes", "log.retention.hours"].iter().any(|k| b.raw.contains_key(*k)),
        ),
        "segment.bytes" => (b.log_segment_bytes.to_string(), b.raw.contains_key("log.segment.bytes")),
        "segment.index.bytes" => (b.log_index_size_max_bytes.to_string(), b.raw.contains_key("log.index.size.max.bytes")),
        "segment.jitter.ms" => ("0".into(), false),
        "segment.ms" => (b.log_roll_ms.to_string(), ["log.roll.ms", "log.roll.hours"].iter().any(|k| b.raw.contains_key(*k))),
        "unclean.leader.election.enable" => (b.unclean_leader_election_enable.to_string(), b.raw.contains_key("unclean.leader.election.enable")),
        _ => (String::new(), false),
    };
    (val, if from_file { Source::StaticBroker } else { Source::Default })
}

/// A broker key's value as given, else Kafka's default (for keys kept as text).
fn raw_or(b: &BrokerConfig, key: &str, default: &str) -> (String, bool) {
    match b.raw.get(key) {
        Some(v) => (v.trim().to_string(), true),
        None => (default.to_string(), false),
    }
}

/// Validates one topic config value; the error text goes back to the client.
pub fn validate(key: &str, value: &str) -> Result<(), String> {
    let Some((_, _, kind)) = TOPIC_KEYS.iter().find(|(k, _, _)| *k == key) else {
        return Err(format!("Unknown topic config name: {key}"));
    };
    let bad = |what: &str| Err(format!("Invalid value {value} for configuration {key}: {what}"));
    match kind {
        'l' => match value.trim().parse::<i64>() {
            Ok(v) if v >= -1 => Ok(()),
            Ok(_) => bad("Value must be at least -1"),
            Err(_) => bad("Not a number of type LONG"),
        },
        'i' => match value.trim().parse::<i32>() {
            Ok(v) if key == "segment.bytes" && v < 14 => bad("Value must be at least 14"),
            Ok(v) if v >= 0 => Ok(()),
            Ok(_) => bad("Value must be at least 0"),
            Err(_) => bad("Not a number of type INT"),
        },
        'b' => match value.trim().to_ascii_lowercase().as_str() {
            "true" | "false" => Ok(()),
            _ => bad("Expected value to be either true or false"),
        },
        'd' => value.trim().parse::<f64>().map(|_| ()).or_else(|_| bad("Not a number of type DOUBLE")),
        'p' => {
            if value.split(',').all(|p| matches!(p.trim(), "delete" | "compact")) {
                Ok(())
            } else {
                bad("String must be one of: compact, delete")
            }
        }
        'c' => {
            if ["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"].contains(&value) {
                Ok(())
            } else {
                bad("String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer")
            }
        }
        't' => {
            if value == "CreateTime" || value == "LogAppendTime" {
                Ok(())
            } else {
                bad("String must be one of: CreateTime, LogAppendTime")
            }
        }
        _ => Ok(()),
    }
}

/// The effective settings of one topic, as the log uses them.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicConfig {
    pub overrides: BTreeMap<String, String>,
    pub segment_bytes: i64,
    pub segment_ms: i64,
    pub retention_ms: i64,
    pub retention_bytes: i64,
    pub index_interval_bytes: i64,
    pub max_message_bytes: i64,
    pub log_append_time: bool,
    pub compact: bool,
    /// cleanup.policy includes `delete`: retention applies.
    pub delete: bool,
    pub flush_messages: i64,
    pub min_insync_replicas: i64,
    pub unclean_leader_election: bool,
    /// `delete.retention.ms`: how long tombstones outlive the clean that saw them.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms` / `max.compaction.lag.ms` (see `log::cleaner::plan`).
    pub min_compaction_lag_ms: i64,
    pub max_compaction_lag_ms: i64,
    /// `min.cleanable.dirty.ratio`.
    pub min_cleanable_ratio: f64,
    /// `compression.type`: None = keep the producer's codec, else the codec id batches are
    /// stored with (0 uncompressed, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub compression: Option<i16>,
}

impl TopicConfig {
    pub fn resolve(b: &BrokerConfig, overrides: &BTreeMap<String, String>) -> TopicConfig {
        let get = |k: &str| overrides.get(k).cloned().unwrap_or_else(|| broker_default(b, k).0);
        let num = |k: &str, d: i64| get(k).trim().parse::<i64>().unwrap_or(d);
        TopicConfig {
            overrides: overrides.clone(),
            segment_bytes: num("segment.bytes", b.log_segment_bytes).max(14),
            segment_ms: num("segment.ms", b.log_roll_ms).max(1),
            retention_ms: num("retention.ms", b.log_retention_ms),
            retention_bytes: num("retention.bytes", b.log_retention_bytes),
            index_interval_bytes: num("index.interval.bytes", b.log_index_interval_bytes),
            max_message_bytes: num("max.message.bytes", b.message_max_bytes),
            log_append_time: get("message.timestamp.type") == "LogAppendTime",
            compact: get("cleanup.policy").contains("compact"),
            delete: get("cleanup.policy").contains("delete"),
            flush_messages: num("flush.messages", b.log_flush_interval_messages),
            min_insync_replicas: num("min.insync.replicas", b.min_insync_replicas as i64).max(1),
            unclean_leader_election: get("unclean.leader.election.enable").trim().eq_ignore_ascii_case("true"),
            delete_retention_ms: num("delete.retention.ms", 86_400_000).max(0),
            min_compaction_lag_ms: num("min.compaction.lag.ms", 0).max(0),
            max_compaction_lag_ms: num("max.compaction.lag.ms", i64::MAX).max(1),
            min_cleanable_ratio: get("min.cleanable.dirty.ratio").trim().parse::<f64>().ok().filter(|r| r.is_finite()).unwrap_or(0.5).clamp(0.0, 1.0),
            compression: match get("compression.type").trim().to_ascii_lowercase().as_str() {
                "uncompressed" => Some(0),
                "gzip" => Some(1),
                "snappy" => Some(2),
                "lz4" => Some(3),
                "zstd" => Some(4),
                _ => None,
            },
        }
    }
}

impl TopicConfig {
    /// How old the active segment may get before it rolls: `segment.ms`, and for a
    /// compacted topic at most `max.compaction.lag.ms` (the active segment is never
    /// cleaned, so it must roll for the lag to hold), as Kafka 2.5's `LogConfig`.
    pub fn max_segment_ms(&self) -> i64 {
        if self.compact && self.max_compaction_lag_ms > 0 {
            self.segment_ms.min(self.max_compaction_lag_ms)
        } else {
            self.segment_ms
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(validate("retention.ms", "1000").is_ok());
        assert!(validate("retention.ms", "x").is_err());
        assert!(validate("nope", "1").unwrap_err().contains("Unknown topic config"));
        assert!(validate("cleanup.policy", "compact,delete").is_ok());
        assert!(validate("segment.bytes", "10").is_err());
    }
}
