//! One file per tool (`kafka-topics.sh` is `topics.rs`, ...), plus what they share: connecting
//! from `--bootstrap-server`/`--command-config`, topic whitelists, list-offsets lookups.

pub mod broker_api_versions;
pub mod configs;
pub mod configs_zk;
pub mod console_consumer;
pub mod console_producer;
pub mod consumer_groups;
pub mod consumer_perf;
pub mod delete_records;
pub mod dump_log;
pub mod get_offset_shell;
pub mod leader_election;
pub mod log_dirs;
pub mod mirror_maker;
pub mod preferred_election;
pub mod producer_perf;
pub mod reassign_admin;
pub mod reassign_json;
pub mod reassign_partitions;
pub mod reassign_zk;
pub mod replica_assignment;
pub mod streams_resetter;
pub mod topics;
pub mod topics_zk;
pub mod txn_log;
pub mod verifiable_consumer;
pub mod verifiable_producer;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest};
use kafka_protocol::protocol::Request;

use super::client::{tn, Client};
use super::error::KafkaError;
use super::opts::Parsed;
use super::props::{self, Props};

/// A Kafka-style topic whitelist: comma-separated alternatives, each a regular expression
/// matched against the whole name.
pub struct Whitelist {
    re: Option<regex_automata::meta::Regex>,
    raw: String,
}

impl Whitelist {
    pub fn new(pattern: &str) -> Result<Whitelist, String> {
        let joined = pattern.trim().replace(',', "|");
        let re = regex_automata::meta::Regex::new(&format!("^(?:{joined})$")).map_err(|e| format!("{pattern} is an invalid regex: {e}"))?;
        Ok(Whitelist { re: Some(re), raw: pattern.to_string() })
    }
    pub fn matches(&self, name: &str) -> bool {
        match &self.re {
            Some(re) => re.is_match(name),
            None => name == self.raw,
        }
    }
    pub fn raw(&self) -> &str {
        &self.raw
    }
}

/// Tool properties: `--command-config` (or another file option) plus `k=v` options.
pub fn load_props(p: &Parsed, file_opt: &str, pair_opts: &[&str]) -> Result<Props, String> {
    let mut out = match p.value(file_opt) {
        Some(f) => props::load_file(f)?,
        None => Props::new(),
    };
    for o in pair_opts {
        props::add_pairs(&mut out, &p.values(o))?;
    }
    Ok(out)
}

/// Connects with `--bootstrap-server` (or the given option's value).
pub async fn connect(servers: &str, client_id: &str, props: &Props) -> Result<Client, KafkaError> {
    let servers = props.get("bootstrap.servers").filter(|_| servers.is_empty()).map(|s| s.as_str()).unwrap_or(servers);
    Client::bootstrap(servers, client_id, super::timeout_from(props)).await
}

/// The Java consumer's default `client.id` (Kafka 2.5, KIP-511's form): `consumer-<group>-<n>`,
/// or `consumer-<n>` without a group; the sequence counts consumers in the process, from 1.
/// A `client.id` property wins.
pub fn consumer_client_id(props: &Props, group: Option<&str>) -> String {
    if let Some(id) = props.get("client.id").filter(|v| !v.trim().is_empty()) {
        return id.trim().to_string();
    }
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match group {
        Some(g) => format!("consumer-{g}-{n}"),
        None => format!("consumer-{n}"),
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// ListOffsets at `timestamp` (-1 latest, -2 earliest, else the first offset at or after
/// the time) for each partition, asking each partition's leader.
pub async fn list_offsets(client: &mut Client, parts: &[(String, i32)], timestamp: i64) -> Result<BTreeMap<(String, i32), i64>, KafkaError> {
    let mut by_leader: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
    for (t, p) in parts {
        let leader = client.leader(t, *p).ok_or_else(|| KafkaError::code(5, Some(format!("No leader for {t}-{p}"))))?;
        by_leader.entry(leader).or_default().push((t.clone(), *p));
    }
    let mut out = BTreeMap::new();
    for (leader, tps) in by_leader {
        let mut grouped: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for (t, p) in tps {
            grouped.entry(t).or_default().push(p);
        }
        let mut req = ListOffsetsRequest::default();
        req.replica_id = BrokerId(-1);
        req.topics = grouped
            .iter()
            .map(|(t, ps)| {
                let mut lt = ListOffsetsTopic::default();
                lt.name = tn(t);
                lt.partitions = ps
                    .iter()
                    .map(|p| {
                        let mut lp = ListOffsetsPartition::default();
                        lp.partition_index = *p;
                        lp.current_leader_epoch = -1;
                        lp.timestamp = timestamp;
                        lp
                    })
                    .collect();
                lt
            })
            .collect();
        let conn = client.node(leader).await?;
        let resp = conn.send(&req, 5).await?;
        for t in resp.topics {
            for p in t.partitions {
                super::error::check(p.error_code, None)?;
                out.insert((t.name.0.to_string(), p.partition_index), p.offset);
            }
        }
    }
    Ok(out)
}

/// Kafka's NOT_CONTROLLER error code.
pub const NOT_CONTROLLER: i16 = 41;

/// Sends an admin request to the controller (as the Java admin client routes ElectLeaders and
/// the reassignment APIs), allowing `extra` beyond the client timeout for the answer. When
/// the controller moved (`top_error` says NOT_CONTROLLER) or its connection broke, re-reads
/// the metadata and tries the new controller, a few times within the client timeout.
pub async fn controller_call<R: Request>(client: &mut Client, req: &R, cap: i16, extra: Duration, top_error: impl Fn(&R::Response) -> i16) -> Result<R::Response, KafkaError> {
    let start = std::time::Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = match client.controller().await {
            Ok(conn) => conn.call_with_timeout(req, cap, extra).await,
            Err(e) => Err(e),
        };
        let retry = match &result {
            Ok(resp) => top_error(resp) == NOT_CONTROLLER,
            Err(KafkaError::Io(..)) | Err(KafkaError::Connect(..)) => {
                client.forget_all();
                true
            }
            Err(_) => false,
        };
        if !retry || attempt >= 5 || start.elapsed() >= client.timeout {
            return result;
        }
        tokio::time::sleep(Duration::from_millis(200 * attempt as u64)).await;
        client.refresh(Some(&[])).await?;
    }
}

/// All partitions of `topic` in the cached metadata.
pub fn partitions_of(client: &Client, topic: &str) -> Vec<i32> {
    client.meta.topics.get(topic).map(|t| t.partitions.iter().map(|p| p.id).collect()).unwrap_or_default()
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
