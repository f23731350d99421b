//! A small Kafka client for the tools: bootstrap, cluster metadata, and routing requests to
//! the leader of a partition, the controller, or any broker.
//!
//! ```text
//! tool -> Client::bootstrap (first reachable address, ApiVersions) -> Metadata
//!      -> Client::node(id) (one Conn per broker, opened on first use) -> request/response
//! ```

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::conn::Conn;
use super::error::KafkaError;

pub fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub fn tn(s: &str) -> TopicName {
    TopicName(sb(s))
}

#[derive(Clone, Debug)]
pub struct BrokerInfo {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

impl BrokerInfo {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

#[derive(Clone, Debug)]
pub struct PartitionInfo {
    pub id: i32,
    pub error: i16,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline: Vec<i32>,
}

#[derive(Clone, Debug)]
pub struct TopicInfo {
    pub name: String,
    pub error: i16,
    pub internal: bool,
    pub partitions: Vec<PartitionInfo>,
}

#[derive(Clone, Debug, Default)]
pub struct Metadata {
    pub brokers: BTreeMap<i32, BrokerInfo>,
    pub controller: i32,
    pub cluster_id: Option<String>,
    pub topics: BTreeMap<String, TopicInfo>,
}

/// How long to keep trying the bootstrap list before giving up with a clear error.
pub const BOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Client {
    bootstrap: Vec<String>,
    client_id: String,
    pub timeout: Duration,
    /// Connections by broker id; the bootstrap connection is kept under its own key.
    conns: HashMap<i32, Conn>,
    boot: Option<Conn>,
    pub meta: Metadata,
}

/// Parses a `host:port,host:port` list the way the Java client validates it.
pub fn parse_bootstrap(s: &str) -> Result<Vec<String>, KafkaError> {
    let mut out = Vec::new();
    for a in s.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        let ok = a.rsplit_once(':').map(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()).unwrap_or(false);
        if !ok {
            return Err(KafkaError::Other(format!("Invalid url in bootstrap.servers: {a}")));
        }
        out.push(a.to_string());
    }
    if out.is_empty() {
        return Err(KafkaError::Other("No resolvable bootstrap urls given in bootstrap.servers".into()));
    }
    Ok(out)
}

impl Client {
    /// Connects to the first bootstrap address that answers, retrying the list until
    /// `timeout` has passed; then reads the cluster's metadata (brokers only).
    pub async fn bootstrap(servers: &str, client_id: &str, timeout: Duration) -> Result<Client, KafkaError> {
        let bootstrap = parse_bootstrap(servers)?;
        let mut c = Client { bootstrap, client_id: client_id.to_string(), timeout, conns: HashMap::new(), boot: None, meta: Metadata::default() };
        c.connect_bootstrap().await?;
        c.refresh(Some(&[])).await?;
        Ok(c)
    }

    async fn connect_bootstrap(&mut self) -> Result<(), KafkaError> {
        let start = Instant::now();
        let deadline = self.timeout.min(BOOTSTRAP_TIMEOUT);
        let mut last = String::new();
        loop {
            for a in self.bootstrap.clone() {
                let left = deadline.saturating_sub(start.elapsed()).max(Duration::from_millis(100));
                match Conn::connect(&a, &self.client_id, left).await {
                    Ok(conn) => {
                        self.boot = Some(conn);
                        return Ok(());
                    }
                    Err(e) => last = e.to_string(),
                }
            }
            if start.elapsed() >= deadline {
                return Err(KafkaError::Timeout(format!(
                    "could not reach any bootstrap server ({}) within {} ms; last error: {last}",
                    self.bootstrap.join(","),
                    deadline.as_millis()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Any live connection (the bootstrap one first).
    pub fn any(&mut self) -> Result<&mut Conn, KafkaError> {
        if let Some(c) = self.boot.as_mut() {
            return Ok(c);
        }
        self.conns.values_mut().next().ok_or_else(|| KafkaError::Other("no connection to the cluster".into()))
    }

    /// Re-reads metadata: `None` = all topics, `Some(names)` = those (empty = brokers only).
    pub async fn refresh(&mut self, topics: Option<&[String]>) -> Result<(), KafkaError> {
        self.refresh_inner(topics, false).await
    }

    /// Like `refresh` for these topics, letting the broker auto-create them (as producers and
    /// consumers do).
    pub async fn refresh_auto_create(&mut self, topics: &[String]) -> Result<(), KafkaError> {
        self.refresh_inner(Some(topics), true).await
    }

    async fn refresh_inner(&mut self, topics: Option<&[String]>, auto_create: bool) -> Result<(), KafkaError> {
        let mut req = MetadataRequest::default();
        req.allow_auto_topic_creation = auto_create;
        let conn = match self.any() {
            Ok(c) => c,
            Err(_) => {
                self.connect_bootstrap().await?;
                self.any()?
            }
        };
        let v = conn.version_for::<MetadataRequest>(9)?;
        // The flag exists from v4 on; before it, brokers always auto-create (the field's default).
        if v < 4 {
            req.allow_auto_topic_creation = true;
        }
        req.topics = match topics {
            None if v == 0 => Some(Vec::new()),
            None => None,
            Some(t) => Some(
                t.iter()
                    .map(|n| {
                        let mut x = MetadataRequestTopic::default();
                        x.name = Some(tn(n));
                        x
                    })
                    .collect(),
            ),
        };
        let resp: MetadataResponse = match conn.call(&req, v).await {
            Ok(r) => r,
            Err(e @ (KafkaError::Io(..) | KafkaError::Timeout(..))) => {
                self.boot = None;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let mut m = Metadata {
            controller: resp.controller_id.0,
            cluster_id: resp.cluster_id.map(|s| s.to_string()),
            ..Default::default()
        };
        for b in resp.brokers {
            m.brokers.insert(b.node_id.0, BrokerInfo { id: b.node_id.0, host: b.host.to_string(), port: b.port, rack: b.rack.map(|r| r.to_string()) });
        }
        for t in resp.topics {
            let name = t.name.map(|n| n.0.to_string()).unwrap_or_default();
            let mut parts: Vec<PartitionInfo> = t
                .partitions
                .into_iter()
                .map(|p| PartitionInfo {
                    id: p.partition_index,
                    error: p.error_code,
                    leader: p.leader_id.0,
                    replicas: ids(&p.replica_nodes),
                    isr: ids(&p.isr_nodes),
                    offline: ids(&p.offline_replicas),
                })
                .collect();
            parts.sort_by_key(|p| p.id);
            m.topics.insert(name.clone(), TopicInfo { name, error: t.error_code, internal: t.is_internal, partitions: parts });
        }
        self.meta = m;
        Ok(())
    }

    /// The connection to broker `id`, opened on first use.
    pub async fn node(&mut self, id: i32) -> Result<&mut Conn, KafkaError> {
        if !self.conns.contains_key(&id) {
            let Some(b) = self.meta.brokers.get(&id) else {
                return Err(KafkaError::Other(format!("broker {id} is not in the cluster metadata")));
            };
            let conn = Conn::connect(&b.addr(), &self.client_id, self.timeout).await?;
            self.conns.insert(id, conn);
        }
        self.conns.get_mut(&id).ok_or_else(|| KafkaError::Other(format!("no connection to broker {id}")))
    }

    /// Drops every broker connection (after a cancelled request left one mid-response).
    pub fn forget_all(&mut self) {
        self.conns.clear();
        self.boot = None;
    }

    /// Waits for `topics` with leaders, letting the broker auto-create them as the Java
    /// consumer does; an unknown topic after the timeout is an error.
    pub async fn wait_for_topics_auto_create(&mut self, topics: &[String]) -> Result<(), KafkaError> {
        let start = Instant::now();
        loop {
            self.refresh_auto_create(topics).await?;
            let mut missing = None;
            for t in topics {
                match self.meta.topics.get(t) {
                    Some(i) if i.error == 0 && !i.partitions.is_empty() && i.partitions.iter().all(|p| p.leader >= 0) => {}
                    Some(i) if i.error != 0 && i.error != 3 && i.error != 5 => return Err(KafkaError::code(i.error, None)),
                    _ => missing = Some(t.clone()),
                }
            }
            let Some(m) = missing else { return Ok(()) };
            if start.elapsed() >= self.timeout {
                return Err(KafkaError::code(3, Some(format!("Topic {m} not present in metadata after {} ms.", self.timeout.as_millis()))));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Drops the connection to broker `id` (after an I/O error).
    pub fn forget(&mut self, id: i32) {
        self.conns.remove(&id);
    }

    /// The controller's connection (admin requests go there, as the Java admin client does).
    pub async fn controller(&mut self) -> Result<&mut Conn, KafkaError> {
        let id = self.meta.controller;
        if id >= 0 && self.meta.brokers.contains_key(&id) {
            return self.node(id).await;
        }
        let first = self.meta.brokers.keys().next().copied();
        match first {
            Some(id) => self.node(id).await,
            None => self.any(),
        }
    }

    /// Leader of `topic`-`partition` per the cached metadata.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        let t = self.meta.topics.get(topic)?;
        let p = t.partitions.iter().find(|p| p.id == partition)?;
        (p.leader >= 0).then_some(p.leader)
    }

    /// Waits (up to the client timeout) until `topics` appear in metadata with leaders.
    pub async fn wait_for_topics(&mut self, topics: &[String]) -> Result<(), KafkaError> {
        let start = Instant::now();
        loop {
            self.refresh(Some(topics)).await?;
            let ready = topics.iter().all(|t| {
                self.meta.topics.get(t).map(|i| i.error == 0 && !i.partitions.is_empty() && i.partitions.iter().all(|p| p.leader >= 0)).unwrap_or(false)
            });
            if ready || start.elapsed() >= self.timeout {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn ids(v: &[BrokerId]) -> Vec<i32> {
    v.iter().map(|b| b.0).collect()
}
