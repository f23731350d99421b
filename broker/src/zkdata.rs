//! Kafka 2.5's ZooKeeper layout: paths and JSON, written the way a stock broker writes them.
//!
//! The JSON is built by hand so that key order matches Kafka 2.5 byte for byte (see
//! `../shared/reference/kafka-2.5-zookeeper/znode-dump.txt`). One exception: Kafka orders the
//! keys of a topic's `partitions` map by Scala hash-map iteration order; we write them in
//! ascending partition order (same JSON value, different byte order for > 1 partition).
//!
//! Parsing accepts what Kafka writes (and older versions of it) and never panics on bad data.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::BrokerConfig;
use crate::ids::{BrokerId, LeaderEpoch};

/// Persistent paths Kafka 2.5 creates at startup, in its order (KafkaZkClient.createTopLevelPaths).
pub const PERSISTENT_PATHS: &[&str] = &[
    "/consumers",
    "/brokers/ids",
    "/brokers/topics",
    "/config/changes",
    "/admin/delete_topics",
    "/brokers/seqid",
    "/isr_change_notification",
    "/latest_producer_id_block",
    "/log_dir_event_notification",
    "/config/topics",
    "/config/clients",
    "/config/users",
    "/config/brokers",
];

pub fn broker_path(id: i32) -> String {
    format!("/brokers/ids/{id}")
}
pub fn topic_path(t: &str) -> String {
    format!("/brokers/topics/{t}")
}
pub fn partitions_path(t: &str) -> String {
    format!("/brokers/topics/{t}/partitions")
}
pub fn partition_path(t: &str, p: i32) -> String {
    format!("/brokers/topics/{t}/partitions/{p}")
}
pub fn state_path(t: &str, p: i32) -> String {
    format!("/brokers/topics/{t}/partitions/{p}/state")
}
pub fn topic_config_path(t: &str) -> String {
    format!("/config/topics/{t}")
}
pub fn delete_topic_path(t: &str) -> String {
    format!("/admin/delete_topics/{t}")
}

fn q(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

fn int_list(v: &[i32]) -> String {
    let items: Vec<String> = v.iter().map(|i| i.to_string()).collect();
    format!("[{}]", items.join(","))
}

/// `/cluster/id`: `{"version":"1","id":"..."}`.
pub fn cluster_id_json(id: &str) -> String {
    format!("{{\"version\":\"1\",\"id\":{}}}", q(id))
}

pub fn parse_cluster_id(data: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(data).ok()?;
    v.get("id")?.as_str().map(str::to_string)
}

/// A new cluster id: a random UUID as unpadded URL-safe base64 (22 chars), like Kafka's.
pub fn new_cluster_id() -> String {
    use base64::Engine;
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// `/brokers/ids/<id>` registration JSON, version 4, keys in Kafka 2.5's order.
pub fn broker_json(cfg: &BrokerConfig, timestamp_ms: i64) -> String {
    let proto = |name: &str| {
        cfg.security_protocol_map.iter().find(|(n, _)| n == name).map(|(_, p)| p.clone()).unwrap_or_else(|| "PLAINTEXT".into())
    };
    let host_of = |h: &str| if h.is_empty() || h == "0.0.0.0" { "127.0.0.1".to_string() } else { h.to_string() };
    let mut map = Vec::new();
    for l in &cfg.advertised_listeners {
        let e = format!("{}:{}", q(&l.name), q(&proto(&l.name)));
        if !map.contains(&e) {
            map.push(e);
        }
    }
    let endpoints: Vec<String> = cfg
        .advertised_listeners
        .iter()
        .map(|l| q(&format!("{}://{}:{}", l.name, host_of(&l.host), l.port)))
        .collect();
    // host/port are the PLAINTEXT endpoint's (null/-1 without one), as Kafka 2.5 writes.
    let plain = cfg.advertised_listeners.iter().find(|l| proto(&l.name) == "PLAINTEXT");
    let (host, port) = match plain {
        Some(l) => (q(&host_of(&l.host)), l.port as i32),
        None => ("null".to_string(), -1),
    };
    let rack = match &cfg.rack {
        Some(r) => format!(",\"rack\":{}", q(r)),
        None => String::new(),
    };
    format!(
        "{{\"listener_security_protocol_map\":{{{}}},\"endpoints\":[{}],\"jmx_port\":{}{},\"host\":{},\"timestamp\":\"{}\",\"port\":{},\"version\":4}}",
        map.join(","),
        endpoints.join(","),
        cfg.jmx_port,
        rack,
        host,
        timestamp_ms,
        port
    )
}

/// What other brokers need from a registration: id -> (host, port, rack) of the first
/// endpoint whose listener name matches ours (or of the first endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

pub fn parse_broker(id: i32, data: &[u8], listener_name: &str) -> Option<BrokerInfo> {
    let v: Value = serde_json::from_slice(data).ok()?;
    let rack = v.get("rack").and_then(Value::as_str).map(str::to_string);
    let endpoints = v.get("endpoints").and_then(Value::as_array).cloned().unwrap_or_default();
    let parsed: Vec<(String, String, i32)> = endpoints
        .iter()
        .filter_map(|e| {
            let s = e.as_str()?;
            let (name, rest) = s.split_once("://")?;
            let (h, p) = rest.rsplit_once(':')?;
            Some((name.to_string(), h.trim_matches(['[', ']']).to_string(), p.parse().ok()?))
        })
        .collect();
    let pick = parsed.iter().find(|(n, _, _)| n == listener_name).or(parsed.first());
    match pick {
        Some((_, h, p)) => Some(BrokerInfo { id, host: h.clone(), port: *p, rack }),
        None => {
            let host = v.get("host")?.as_str()?.to_string();
            let port = v.get("port")?.as_i64()? as i32;
            Some(BrokerInfo { id, host, port, rack })
        }
    }
}

/// `/controller`: `{"version":1,"brokerid":0,"timestamp":"..."}`.
pub fn controller_json(broker_id: i32, timestamp_ms: i64) -> String {
    format!("{{\"version\":1,\"brokerid\":{broker_id},\"timestamp\":\"{timestamp_ms}\"}}")
}

pub fn parse_controller(data: &[u8]) -> Option<i32> {
    let v: Value = serde_json::from_slice(data).ok()?;
    // Old brokers wrote a bare number.
    if let Some(n) = v.as_i64() {
        return Some(n as i32);
    }
    v.get("brokerid")?.as_i64().map(|n| n as i32)
}

/// `/latest_producer_id_block`.
pub fn producer_id_block_json(broker: i32, start: i64, end: i64) -> String {
    format!("{{\"version\":1,\"broker\":{broker},\"block_start\":\"{start}\",\"block_end\":\"{end}\"}}")
}

pub fn parse_producer_id_block_end(data: &[u8]) -> Option<i64> {
    let v: Value = serde_json::from_slice(data).ok()?;
    let e = v.get("block_end")?;
    e.as_str().and_then(|s| s.parse().ok()).or_else(|| e.as_i64())
}

/// `/brokers/topics/<t>`: version 2 with empty adding/removing replicas.
pub fn topic_json(assignment: &BTreeMap<i32, Vec<i32>>) -> String {
    let parts: Vec<String> = assignment.iter().map(|(p, r)| format!("\"{p}\":{}", int_list(r))).collect();
    format!("{{\"version\":2,\"partitions\":{{{}}},\"adding_replicas\":{{}},\"removing_replicas\":{{}}}}", parts.join(","))
}

/// `/brokers/topics/<t>` during a reassignment: `partitions` holds the full replica set
/// (target first, then the replicas being removed), as Kafka 2.5's controller writes it.
pub fn topic_json_reassigning(
    assignment: &BTreeMap<i32, Vec<i32>>,
    adding: &BTreeMap<i32, Vec<i32>>,
    removing: &BTreeMap<i32, Vec<i32>>,
) -> String {
    let obj = |m: &BTreeMap<i32, Vec<i32>>| {
        m.iter().filter(|(_, r)| !r.is_empty()).map(|(p, r)| format!("\"{p}\":{}", int_list(r))).collect::<Vec<_>>().join(",")
    };
    format!(
        "{{\"version\":2,\"partitions\":{{{}}},\"adding_replicas\":{{{}}},\"removing_replicas\":{{{}}}}}",
        obj(assignment),
        obj(adding),
        obj(removing)
    )
}

/// The topic znode's in-flight reassignments: partition -> (adding, removing).
pub fn parse_topic_reassignments(data: &[u8]) -> BTreeMap<i32, (Vec<BrokerId>, Vec<BrokerId>)> {
    let mut out: BTreeMap<i32, (Vec<BrokerId>, Vec<BrokerId>)> = BTreeMap::new();
    let Ok(v) = serde_json::from_slice::<Value>(data) else { return out };
    for (field, adding) in [("adding_replicas", true), ("removing_replicas", false)] {
        let Some(m) = v.get(field).and_then(|x| x.as_object()) else { continue };
        for (k, r) in m {
            let (Ok(p), Some(list)) = (k.parse::<i32>(), r.as_array()) else { continue };
            let ids: Vec<BrokerId> = list.iter().filter_map(|x| x.as_i64().map(|n| BrokerId(n as i32))).collect();
            let e = out.entry(p).or_default();
            if adding {
                e.0 = ids;
            } else {
                e.1 = ids;
            }
        }
    }
    out
}

/// `/isr_change_notification/isr_change_NNNNNNNNNN` as Kafka 2.5's leaders write it.
pub fn isr_change_json(partitions: &[(String, i32)]) -> String {
    let parts: Vec<String> = partitions.iter().map(|(t, p)| format!("{{\"topic\":{},\"partition\":{p}}}", q(t))).collect();
    format!("{{\"version\":1,\"partitions\":[{}]}}", parts.join(","))
}

/// `/admin/reassign_partitions` (Kafka 2.5's ZooKeeper path of kafka-reassign-partitions):
/// `{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]}`.
pub fn parse_reassign_partitions(data: &[u8]) -> Option<Vec<(String, i32, Vec<i32>)>> {
    let v: Value = serde_json::from_slice(data).ok()?;
    let mut out = Vec::new();
    for e in v.get("partitions")?.as_array()? {
        let t = e.get("topic")?.as_str()?.to_string();
        let p = e.get("partition")?.as_i64()? as i32;
        let r = e.get("replicas")?.as_array()?.iter().filter_map(|x| x.as_i64().map(|n| n as i32)).collect();
        out.push((t, p, r));
    }
    Some(out)
}

/// `/admin/preferred_replica_election`: `{"version":1,"partitions":[{"topic":"t","partition":0}]}`.
pub fn parse_preferred_election(data: &[u8]) -> Option<Vec<(String, i32)>> {
    let v: Value = serde_json::from_slice(data).ok()?;
    let mut out = Vec::new();
    for e in v.get("partitions")?.as_array()? {
        out.push((e.get("topic")?.as_str()?.to_string(), e.get("partition")?.as_i64()? as i32));
    }
    Some(out)
}

pub fn parse_topic(data: &[u8]) -> Option<BTreeMap<i32, Vec<i32>>> {
    let v: Value = serde_json::from_slice(data).ok()?;
    let parts = v.get("partitions")?.as_object()?;
    let mut out = BTreeMap::new();
    for (k, r) in parts {
        let p: i32 = k.parse().ok()?;
        let replicas = r.as_array()?.iter().filter_map(|x| x.as_i64().map(|n| n as i32)).collect();
        out.insert(p, replicas);
    }
    Some(out)
}

/// Partition state: `{"controller_epoch":1,"leader":0,"version":1,"leader_epoch":0,"isr":[0]}`.
/// Leader -1 (`BrokerId::NONE`): the partition is offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub controller_epoch: i32,
    pub leader: BrokerId,
    pub leader_epoch: LeaderEpoch,
    pub isr: Vec<BrokerId>,
}

pub fn state_json(s: &PartitionState) -> String {
    format!(
        "{{\"controller_epoch\":{},\"leader\":{},\"version\":1,\"leader_epoch\":{},\"isr\":{}}}",
        s.controller_epoch,
        s.leader,
        s.leader_epoch,
        int_list(&BrokerId::raw_all(&s.isr))
    )
}

pub fn parse_state(data: &[u8]) -> Option<PartitionState> {
    let v: Value = serde_json::from_slice(data).ok()?;
    Some(PartitionState {
        controller_epoch: v.get("controller_epoch")?.as_i64()? as i32,
        leader: BrokerId(v.get("leader")?.as_i64()? as i32),
        leader_epoch: LeaderEpoch(v.get("leader_epoch")?.as_i64()? as i32),
        isr: v.get("isr")?.as_array()?.iter().filter_map(|x| x.as_i64().map(|n| BrokerId(n as i32))).collect(),
    })
}

/// `/config/topics/<t>`: `{"version":1,"config":{...}}` (values are strings).
pub fn topic_config_json(config: &[(String, String)]) -> String {
    let items: Vec<String> = config.iter().map(|(k, v)| format!("{}:{}", q(k), q(v))).collect();
    format!("{{\"version\":1,\"config\":{{{}}}}}", items.join(","))
}

pub fn parse_topic_config(data: &[u8]) -> Option<Vec<(String, String)>> {
    let v: Value = serde_json::from_slice(data).ok()?;
    let cfg = v.get("config")?.as_object()?;
    Some(
        cfg.iter()
            .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
            .collect(),
    )
}

/// `/config/changes/config_change_NNNNNNNNNN` for a topic: `{"version":2,"entity_path":"topics/<t>"}`.
pub fn config_change_json(topic: &str) -> String {
    format!("{{\"version\":2,\"entity_path\":{}}}", q(&format!("topics/{topic}")))
}

/// Kafka's replica assignment (AdminUtils.assignReplicasToBrokersRackUnaware): replicas of
/// partition p start at broker (start + p) and followers are shifted by a per-round step.
/// The largest znode ZooKeeper accepts by default (`jute.maxbuffer`, 0xfffff bytes).
pub const ZNODE_MAX_BYTES: usize = 0xfffff;

/// Refuses a partition count whose topic znode (`{"version":..,"partitions":{"0":[1,2],..}}`)
/// could not fit in a znode, before anything the size of the count is built: at least
/// `"N":[b,..],` per partition, i.e. 5 bytes plus 2 per replica. Kafka has no limit of its
/// own here and fails in ZooKeeper instead; checking first keeps a hostile CreateTopics
/// (2^31 - 1 partitions) from building a map of that size.
pub fn check_topic_znode_fits(partitions: i32, replication_factor: i16) -> Result<(), String> {
    let per = 5 + 2 * usize::try_from(replication_factor.max(1)).unwrap_or(1);
    let n = usize::try_from(partitions).unwrap_or(0);
    if n.saturating_mul(per) > ZNODE_MAX_BYTES {
        return Err(format!(
            "{partitions} partitions with replication factor {replication_factor} would not fit in the topic's znode \
             (ZooKeeper's jute.maxbuffer is {ZNODE_MAX_BYTES} bytes)."
        ));
    }
    Ok(())
}

pub fn assign_replicas(
    brokers: &[i32],
    partitions: i32,
    replication_factor: i32,
    start_partition: i32,
    start_index: usize,
    shift_start: usize,
) -> BTreeMap<i32, Vec<i32>> {
    let mut out = BTreeMap::new();
    let n = brokers.len();
    if n == 0 {
        return out;
    }
    let mut current = start_partition.max(0) as usize;
    let mut shift = shift_start;
    for p in 0..partitions.max(0) {
        if current > 0 && current % n == 0 {
            shift += 1;
        }
        let first = (current + start_index) % n;
        let mut replicas = vec![brokers[first]];
        for j in 0..(replication_factor - 1).max(0) as usize {
            let step = 1 + (shift + j) % (n - 1).max(1);
            replicas.push(brokers[(first + step) % n]);
        }
        out.insert(start_partition + p, replicas);
        current += 1;
    }
    out
}

/// Topic names Kafka accepts: [a-zA-Z0-9._-], 1..=249 chars, not "." or "..".
pub fn valid_topic_name(t: &str) -> Result<(), String> {
    if t.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if t == "." || t == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if t.len() > 249 {
        return Err(format!("Topic name is illegal, it can't be longer than 249 characters, topic name: {t}"));
    }
    if !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-') {
        return Err(format!(
            "Topic name \"{t}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_partition_count_whose_znode_cannot_fit_is_refused_up_front() {
        assert!(check_topic_znode_fits(1, 1).is_ok());
        assert!(check_topic_znode_fits(50_000, 3).is_ok());
        let e = check_topic_znode_fits(i32::MAX, 1).unwrap_err();
        assert!(e.contains("jute.maxbuffer"), "{e}");
        assert!(check_topic_znode_fits(200_000, 1).is_err());
        // The real znode of the largest accepted count is indeed within the limit's reach.
        let a: BTreeMap<i32, Vec<i32>> = (0..50_000).map(|p| (p, vec![1, 2, 3])).collect();
        assert!(topic_json(&a).len() < 2 * ZNODE_MAX_BYTES);
    }

    use super::*;
    use crate::config::{parse_properties, BrokerConfig};

    #[test]
    fn broker_registration_matches_kafka_25() {
        let cfg = BrokerConfig::from_pairs(parse_properties(
            "broker.id=0\nlisteners=PLAINTEXT://127.0.0.1:29092\nzookeeper.connect=x:1\nlistener.security.protocol.map=PLAINTEXT:PLAINTEXT\n",
        ))
        .unwrap();
        assert_eq!(
            broker_json(&cfg, 1795224243502),
            r#"{"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},"endpoints":["PLAINTEXT://127.0.0.1:29092"],"jmx_port":-1,"host":"127.0.0.1","timestamp":"1795224243502","port":29092,"version":4}"#
        );
        let b = parse_broker(0, broker_json(&cfg, 1).as_bytes(), "PLAINTEXT").unwrap();
        assert_eq!((b.host.as_str(), b.port), ("127.0.0.1", 29092));
    }

    #[test]
    fn topic_state_and_config_json() {
        let mut a = BTreeMap::new();
        a.insert(0, vec![0]);
        assert_eq!(topic_json(&a), r#"{"version":2,"partitions":{"0":[0]},"adding_replicas":{},"removing_replicas":{}}"#);
        assert_eq!(parse_topic(topic_json(&a).as_bytes()), Some(a));
        let s = PartitionState { controller_epoch: 1, leader: BrokerId(0), leader_epoch: LeaderEpoch(0), isr: vec![BrokerId(0)] };
        assert_eq!(state_json(&s), r#"{"controller_epoch":1,"leader":0,"version":1,"leader_epoch":0,"isr":[0]}"#);
        assert_eq!(parse_state(state_json(&s).as_bytes()), Some(s));
        assert_eq!(topic_config_json(&[]), r#"{"version":1,"config":{}}"#);
        assert_eq!(controller_json(0, 1795224243655), r#"{"version":1,"brokerid":0,"timestamp":"1795224243655"}"#);
        assert_eq!(cluster_id_json("fmF4iyncQo2JwYzFboMUdw").len(), 45);
        assert_eq!(producer_id_block_json(0, 0, 999), r#"{"version":1,"broker":0,"block_start":"0","block_end":"999"}"#);
        assert_eq!(new_cluster_id().len(), 22);
        assert!(parse_state(b"garbage").is_none());
        let mut add = BTreeMap::new();
        add.insert(0, vec![2]);
        let mut rm = BTreeMap::new();
        rm.insert(0, vec![0]);
        let mut full = BTreeMap::new();
        full.insert(0, vec![1, 2, 0]);
        let j = topic_json_reassigning(&full, &add, &rm);
        assert_eq!(j, r#"{"version":2,"partitions":{"0":[1,2,0]},"adding_replicas":{"0":[2]},"removing_replicas":{"0":[0]}}"#);
        assert_eq!(parse_topic_reassignments(j.as_bytes()).get(&0), Some(&(vec![BrokerId(2)], vec![BrokerId(0)])));
        assert_eq!(isr_change_json(&[("t".into(), 1)]), r#"{"version":1,"partitions":[{"topic":"t","partition":1}]}"#);
        let r = parse_reassign_partitions(br#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]}"#);
        assert_eq!(r, Some(vec![("t".to_string(), 0, vec![1, 2])]));
    }

    #[test]
    fn assignment_spreads_leaders() {
        let a = assign_replicas(&[0, 1, 2], 6, 2, 0, 0, 0);
        let leaders: Vec<i32> = a.values().map(|r| r[0]).collect();
        assert_eq!(leaders, vec![0, 1, 2, 0, 1, 2]);
        assert!(a.values().all(|r| r[0] != r[1]));
    }
}
