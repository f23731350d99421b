//! The ZooKeeper paths of `kafka-reassign-partitions.sh --zookeeper` and
//! `kafka-preferred-replica-election.sh --zookeeper` (Kafka 2.5), straight to the znodes.
//!
//! ```text
//! reads   /brokers/ids/<id> (rack), /brokers/topics/<t> ({"partitions":{"0":[1,2]}})
//! start   create /admin/reassign_partitions {"version":1,"partitions":[{"topic","partition",
//!         "replicas"}]}; the controller watches it, reassigns, and rewrites it without the
//!         partitions that completed, deleting it when none is left
//! verify  a partition still in that znode is in progress
//! throttle /config/brokers/<id>, /config/topics/<t> = {"version":1,"config":{...}}, each change
//!         announced by /config/changes/config_change_<seq> = {"version":2,"entity_path":"<type>/<name>"}
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Map, Value};
use zookeeper_client::{Acls, Client as Zk, CreateMode, Error as ZkError};

use super::reassign_json::{self as rj, tp_str, Tp};
use super::replica_assignment::BrokerMeta;

pub const REASSIGN_PATH: &str = "/admin/reassign_partitions";
/// Watched by the controller; `kafka-preferred-replica-election --zookeeper` writes it.
pub const PREFERRED_ELECTION_PATH: &str = "/admin/preferred_replica_election";

pub struct ZkCluster {
    zk: Zk,
}

fn zerr(path: &str, e: ZkError) -> String {
    format!("ZooKeeper error on {path}: {e}")
}

impl ZkCluster {
    /// Connects within a bounded time (`host:port[,host:port][/chroot]`).
    pub async fn connect(connect: &str) -> Result<ZkCluster, String> {
        let fut = Zk::connector().with_session_timeout(Duration::from_secs(30)).with_connection_timeout(Duration::from_secs(5)).connect(connect);
        match tokio::time::timeout(Duration::from_secs(10), fut).await {
            Ok(Ok(zk)) => Ok(ZkCluster { zk }),
            Ok(Err(e)) => Err(format!("Unable to connect to ZooKeeper at {connect}: {e}")),
            Err(_) => Err(format!("Timed out waiting for connection to ZooKeeper at {connect}")),
        }
    }

    async fn get(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        match self.zk.get_data(path).await {
            Ok((data, _)) => Ok(Some(data)),
            Err(ZkError::NoNode) => Ok(None),
            Err(e) => Err(zerr(path, e)),
        }
    }

    async fn children(&self, path: &str) -> Result<Vec<String>, String> {
        match self.zk.list_children(path).await {
            Ok(c) => Ok(c),
            Err(ZkError::NoNode) => Ok(Vec::new()),
            Err(e) => Err(zerr(path, e)),
        }
    }

    /// Registered brokers, by id, with their rack.
    pub async fn brokers(&mut self) -> Result<Vec<BrokerMeta>, String> {
        let mut ids: Vec<i32> = self.children("/brokers/ids").await?.iter().filter_map(|s| s.parse().ok()).collect();
        ids.sort_unstable();
        let mut out = Vec::new();
        for id in ids {
            let Some(data) = self.get(&format!("/brokers/ids/{id}")).await? else { continue };
            let rack = serde_json::from_slice::<Value>(&data).ok().and_then(|v| v.get("rack").and_then(|r| r.as_str()).map(str::to_string));
            out.push(BrokerMeta { id, rack });
        }
        Ok(out)
    }

    /// Every topic with a znode under `/brokers/topics`.
    pub async fn topics(&mut self) -> Result<Vec<String>, String> {
        self.children("/brokers/topics").await
    }

    /// Creates `/admin/preferred_replica_election` for these partitions (Kafka's
    /// `createPreferredReplicaElection`). `Ok(Some(partitions))` when one already exists: an
    /// election is still in progress, and this is what it covers.
    pub async fn start_preferred_election(&mut self, parts: &BTreeSet<Tp>) -> Result<Option<BTreeSet<Tp>>, String> {
        let opts = CreateMode::Persistent.with_acls(Acls::anyone_all());
        if let Err(e) = self.zk.mkdir("/admin", &opts).await {
            return Err(zerr("/admin", e));
        }
        let list: Vec<Value> = parts.iter().map(|(t, p)| json!({"topic": t, "partition": p})).collect();
        let data = json!({"version": 1, "partitions": list}).to_string();
        match self.zk.create(PREFERRED_ELECTION_PATH, data.as_bytes(), &opts).await {
            Ok(_) => Ok(None),
            Err(ZkError::NodeExists) => {
                let data = self.get(PREFERRED_ELECTION_PATH).await?.unwrap_or_default();
                let v: Value = serde_json::from_slice(&data).unwrap_or(Value::Null);
                let running = v
                    .get("partitions")
                    .and_then(|p| p.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|e| Some((e.get("topic")?.as_str()?.to_string(), i32::try_from(e.get("partition")?.as_i64()?).ok()?)))
                    .collect();
                Ok(Some(running))
            }
            Err(e) => Err(zerr(PREFERRED_ELECTION_PATH, e)),
        }
    }

    pub async fn assignment(&mut self, topics: &[String]) -> Result<BTreeMap<Tp, Vec<i32>>, String> {
        let mut out = BTreeMap::new();
        for t in topics {
            let path = format!("/brokers/topics/{t}");
            let Some(data) = self.get(&path).await? else { continue };
            let v: Value = serde_json::from_slice(&data).map_err(|e| format!("{path} is not valid JSON: {e}"))?;
            for (k, r) in v.get("partitions").and_then(|p| p.as_object()).into_iter().flatten() {
                let Ok(p) = k.parse::<i32>() else { continue };
                let replicas = r.as_array().map(|a| a.iter().filter_map(|x| x.as_i64()).map(|x| x as i32).collect()).unwrap_or_default();
                out.insert((t.clone(), p), replicas);
            }
        }
        Ok(out)
    }

    /// The partitions being reassigned (of `parts`, or all): those in `/admin/reassign_partitions`
    /// and, for `parts`, those whose topic znode lists adding or removing replicas (a 2.4+
    /// controller's record of a reassignment, however it was started).
    pub async fn ongoing(&mut self, parts: Option<&[Tp]>) -> Result<BTreeSet<Tp>, String> {
        let mut all: BTreeSet<Tp> = match self.get(REASSIGN_PATH).await? {
            Some(data) => rj::parse_znode(&data)?.into_keys().collect(),
            None => BTreeSet::new(),
        };
        let Some(ps) = parts else { return Ok(all) };
        let topics: BTreeSet<&String> = ps.iter().map(|(t, _)| t).collect();
        for t in topics {
            let Some(data) = self.get(&format!("/brokers/topics/{t}")).await? else { continue };
            let Ok(v) = serde_json::from_slice::<Value>(&data) else { continue };
            for field in ["adding_replicas", "removing_replicas"] {
                for (k, r) in v.get(field).and_then(|x| x.as_object()).into_iter().flatten() {
                    let busy = r.as_array().map(|a| !a.is_empty()).unwrap_or(false);
                    if let (true, Ok(p)) = (busy, k.parse::<i32>()) {
                        all.insert((t.clone(), p));
                    }
                }
            }
        }
        Ok(all.into_iter().filter(|tp| ps.contains(tp)).collect())
    }

    /// Whether `/admin/reassign_partitions` exists (Kafka's `reassignPartitionsInProgress`).
    pub async fn running(&mut self) -> Result<bool, String> {
        match self.zk.check_stat(REASSIGN_PATH).await {
            Ok(stat) => Ok(stat.is_some()),
            Err(e) => Err(zerr(REASSIGN_PATH, e)),
        }
    }

    /// Creates `/admin/reassign_partitions` (and `/admin` when missing).
    pub async fn start(&mut self, moves: &[(Tp, Vec<i32>)]) -> Result<(), String> {
        let opts = CreateMode::Persistent.with_acls(Acls::anyone_all());
        if let Err(e) = self.zk.mkdir("/admin", &opts).await {
            return Err(zerr("/admin", e));
        }
        let data = rj::znode_json(moves);
        match self.zk.create(REASSIGN_PATH, data.as_bytes(), &opts).await {
            Ok(_) => Ok(()),
            Err(ZkError::NodeExists) => {
                let current = match self.get(REASSIGN_PATH).await? {
                    Some(d) => rj::parse_znode(&d).unwrap_or_default(),
                    None => BTreeMap::new(),
                };
                let list: Vec<String> = current.iter().map(|(tp, r)| format!("{} -> {r:?}", tp_str(tp))).collect();
                Err(format!("Partition reassignment currently in progress for {}. Aborting operation", list.join(", ")))
            }
            Err(e) => Err(zerr(REASSIGN_PATH, e)),
        }
    }

    /// The `config` object of `/config/<kind>/<name>` (empty when the node is missing).
    async fn read_config(&self, kind: &str, name: &str) -> Result<Map<String, Value>, String> {
        let path = format!("/config/{kind}/{name}");
        let Some(data) = self.get(&path).await? else { return Ok(Map::new()) };
        if data.is_empty() {
            return Ok(Map::new());
        }
        let v: Value = serde_json::from_slice(&data).map_err(|e| format!("{path} is not valid JSON: {e}"))?;
        Ok(v.get("config").and_then(|c| c.as_object()).cloned().unwrap_or_default())
    }

    /// Kafka's `changeEntityConfig`: write the whole config, then announce the change.
    async fn write_config(&self, kind: &str, name: &str, config: Map<String, Value>) -> Result<(), String> {
        let path = format!("/config/{kind}/{name}");
        let data = json!({"version": 1, "config": Value::Object(config)}).to_string();
        let opts = CreateMode::Persistent.with_acls(Acls::anyone_all());
        match self.zk.set_data(&path, data.as_bytes(), None).await {
            Ok(_) => {}
            Err(ZkError::NoNode) => {
                self.zk.mkdir(&format!("/config/{kind}"), &opts).await.map_err(|e| zerr(&path, e))?;
                match self.zk.create(&path, data.as_bytes(), &opts).await {
                    Ok(_) => {}
                    Err(ZkError::NodeExists) => {
                        self.zk.set_data(&path, data.as_bytes(), None).await.map_err(|e| zerr(&path, e))?;
                    }
                    Err(e) => return Err(zerr(&path, e)),
                }
            }
            Err(e) => return Err(zerr(&path, e)),
        }
        self.zk.mkdir("/config/changes", &opts).await.map_err(|e| zerr("/config/changes", e))?;
        let note = json!({"version": 2, "entity_path": format!("{kind}/{name}")}).to_string();
        let seq = CreateMode::PersistentSequential.with_acls(Acls::anyone_all());
        self.zk.create("/config/changes/config_change_", note.as_bytes(), &seq).await.map_err(|e| zerr("/config/changes/config_change_", e))?;
        Ok(())
    }

    /// Sets these keys on each entity (`kind` is `brokers` or `topics`), keeping the others.
    pub async fn set_configs(&mut self, kind: &str, names: &[String], set: &[(&str, String)]) -> Result<(), String> {
        for name in names {
            let mut config = self.read_config(kind, name).await?;
            for (k, v) in set {
                config.insert(k.to_string(), Value::String(v.clone()));
            }
            self.write_config(kind, name, config).await?;
        }
        Ok(())
    }

    /// Removes these keys where present; true when any entity changed.
    pub async fn remove_configs(&mut self, kind: &str, names: &[String], keys: &[&str]) -> Result<bool, String> {
        let mut changed = false;
        for name in names {
            let mut config = self.read_config(kind, name).await?;
            let before = config.len();
            for k in keys {
                config.remove(*k);
            }
            if config.len() != before {
                self.write_config(kind, name, config).await?;
                changed = true;
            }
        }
        Ok(changed)
    }
}
