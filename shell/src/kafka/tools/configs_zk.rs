//! `kafka-configs.sh --zookeeper host:port[/chroot]`: Kafka 2.5's deprecated path, which
//! reads and writes the entity config znodes itself: `/config/<type>/<name>` holding
//! `{"version":1,"config":{...}}`, then a `/config/changes/config_change_<seq>` notification
//! `{"version":2,"entity_path":"<type>/<name>"}` the brokers follow.
//!
//! Entity types: topics (LogConfig's names and value checks; the topic must exist), clients
//! and users (the quota keys; `--entity-type users --entity-name u --entity-type clients
//! --entity-name c` for `<user, client>`), brokers (only the replication throttle rates while
//! the broker runs, as 2.5 allows; other keys only before it is registered).

use std::time::Duration;

use serde_json::{Map, Value};
use zookeeper_client::{Acls, Client as Zk, CreateMode, Error as ZkError};

use crate::kafka::opts::Parsed;

/// Topic config names and value kinds (Kafka 2.5's LogConfig; as the broker's table).
const TOPIC_KEYS: &[(&str, char)] = &[
    ("cleanup.policy", 'p'),
    ("compression.type", 'c'),
    ("delete.retention.ms", 'l'),
    ("file.delete.delay.ms", 'l'),
    ("flush.messages", 'l'),
    ("flush.ms", 'l'),
    ("follower.replication.throttled.replicas", 's'),
    ("index.interval.bytes", 'i'),
    ("leader.replication.throttled.replicas", 's'),
    ("max.compaction.lag.ms", 'l'),
    ("max.message.bytes", 'i'),
    ("message.downconversion.enable", 'b'),
    ("message.format.version", 's'),
    ("message.timestamp.difference.max.ms", 'l'),
    ("message.timestamp.type", 't'),
    ("min.cleanable.dirty.ratio", 'd'),
    ("min.compaction.lag.ms", 'l'),
    ("min.insync.replicas", 'i'),
    ("preallocate", 'b'),
    ("retention.bytes", 'l'),
    ("retention.ms", 'l'),
    ("segment.bytes", 'i'),
    ("segment.index.bytes", 'i'),
    ("segment.jitter.ms", 'l'),
    ("segment.ms", 'l'),
    ("unclean.leader.election.enable", 'b'),
];

/// Quota keys of clients and `<user, client>` (DynamicConfig.Client).
const CLIENT_KEYS: &[(&str, char)] = &[("producer_byte_rate", 'L'), ("consumer_byte_rate", 'L'), ("request_percentage", 'D')];

/// Broker keys 2.5 lets ZooKeeper change while the broker runs.
const BROKER_ZK_WHILE_RUNNING: &[&str] = &["leader.replication.throttled.rate", "follower.replication.throttled.rate", "replica.alter.log.dirs.io.max.bytes.per.second"];

/// How 2.5's ConfigCommand reports a failure: argument and config-name problems print their
/// message alone; anything else prints "Error while executing config command" and the
/// exception (here: its first line).
pub enum Failure {
    Message(String),
    Exception(String),
}

fn require(msg: String) -> Failure {
    Failure::Message(format!("requirement failed: {msg}"))
}

/// Scala's `Set(a, b)` text.
fn scala_set(items: &[String]) -> String {
    format!("Set({})", items.join(", "))
}

/// Kafka's `Sanitizer.sanitize`: URL-encoding with `*` as %2A and space as %20.
fn sanitize(name: &str) -> String {
    let mut out = String::new();
    for b in name.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => out.push(*b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn desanitize(name: &str) -> String {
    let b = name.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One level of an entity: type and sanitized name (`<default>` for the default entity).
#[derive(Clone, Debug)]
struct Level {
    kind: String,
    name: Option<String>,
}

impl Level {
    fn describe(&self) -> String {
        let type_name = match self.kind.as_str() {
            "users" => "user-principal",
            "clients" => "client-id",
            "topics" => "topic",
            t => t,
        };
        match &self.name {
            Some(n) if n == "<default>" => format!("default {type_name}"),
            Some(n) if self.kind == "users" || self.kind == "clients" => format!("{type_name} '{}'", desanitize(n)),
            Some(n) => format!("{type_name} '{n}'"),
            None => self.kind.clone(),
        }
    }
}

#[derive(Clone, Debug)]
struct Entity {
    root: Level,
    child: Option<Level>,
}

impl Entity {
    /// The path under `/config/<root type>/`.
    fn full_name(&self) -> String {
        let mut s = self.root.name.clone().unwrap_or_default();
        if let Some(c) = &self.child {
            s.push('/');
            s.push_str(&c.kind);
            if let Some(n) = &c.name {
                s.push('/');
                s.push_str(n);
            }
        }
        s
    }
    fn describe(&self) -> String {
        match &self.child {
            Some(c) => format!("{}, {}", self.root.describe(), c.describe()),
            None => self.root.describe(),
        }
    }
}

/// Entity types and names in command-line order (`--entity-default` is an empty name).
fn entity(p: &Parsed, args: &[String], alter: bool) -> Result<Entity, Failure> {
    let mut types: Vec<String> = p.values("entity-type");
    if let Some(t) = p.value("topic") {
        types.push("topics".into());
        let _ = t;
    }
    if p.has("broker") {
        types.push("brokers".into());
    }
    let mut names: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--entity-name" {
            names.push(it.next().cloned().unwrap_or_default());
        } else if let Some(v) = a.strip_prefix("--entity-name=") {
            names.push(v.to_string());
        } else if a == "--entity-default" {
            names.push(String::new());
        }
    }
    if let Some(t) = p.value("topic") {
        names.push(t.to_string());
    }
    if let Some(b) = p.value("broker") {
        names.push(b.to_string());
    }
    let mut seen = Vec::new();
    for t in &types {
        if seen.contains(t) {
            return Err(Failure::Message(format!("Duplicate entity type(s) specified: {t}")));
        }
        seen.push(t.clone());
        if !["topics", "clients", "users", "brokers"].contains(&t.as_str()) {
            return Err(Failure::Message(format!("Invalid entity type {t}, the entity type must be one of topics,clients,users,brokers with the --zookeeper argument")));
        }
    }
    if types.is_empty() {
        return Err(Failure::Message("At least one entity type must be specified".into()));
    }
    let quota = types[0] == "users" || types[0] == "clients";
    if types.len() > 1 && !(types.len() == 2 && types.contains(&"users".to_string()) && types.contains(&"clients".to_string())) {
        return Err(Failure::Message("Only 'users' and 'clients' entity types may be specified together".into()));
    }
    let has_name = names.iter().any(|n| !n.is_empty());
    let has_default = names.iter().any(|n| n.is_empty());
    if has_name && types[0] == "brokers" {
        for n in &names {
            if n.parse::<i32>().is_err() {
                return Err(Failure::Message(format!("The entity name for brokers must be a valid integer broker id, but it is: {n}")));
            }
        }
    }
    if alter {
        if quota || types[0] == "brokers" {
            if !has_name && !has_default {
                return Err(Failure::Message("an entity-name or default entity must be specified with --alter of users, clients or brokers".into()));
            }
        } else if !has_name {
            return Err(Failure::Message(format!("an entity name must be specified with --alter of {}", types.join(","))));
        }
    }
    if !quota {
        let name = names.first().map(|n| if n.is_empty() { "<default>".to_string() } else { n.clone() });
        return Ok(Entity { root: Level { kind: types[0].clone(), name }, child: None });
    }
    if alter && names.len() != types.len() {
        return Err(Failure::Message("--entity-name or --entity-default must be specified with each --entity-type for --alter".into()));
    }
    // <user, client> is stored under the user whichever order the types came in.
    let reverse = types.len() == 2 && types[0] == "clients";
    let (types, names) = if reverse {
        let mut n = names.clone();
        if n.len() == 2 {
            n.reverse();
        }
        (vec![types[1].clone(), types[0].clone()], n)
    } else {
        (types, names)
    };
    let san = |n: &String| if n.is_empty() { "<default>".to_string() } else { sanitize(n) };
    let mut levels: Vec<Level> = types.iter().enumerate().map(|(i, t)| Level { kind: t.clone(), name: names.get(i).map(san) }).collect();
    let child = if levels.len() > 1 { levels.pop() } else { None };
    Ok(Entity { root: levels.remove(0), child })
}

struct ZkConfigs {
    zk: Zk,
}

fn zerr(path: &str, e: ZkError) -> Failure {
    Failure::Exception(format!("org.apache.zookeeper.KeeperException: {e} for {path}"))
}

impl ZkConfigs {
    async fn connect(connect: &str) -> Result<ZkConfigs, Failure> {
        let fut = Zk::connector().with_session_timeout(Duration::from_secs(30)).with_connection_timeout(Duration::from_secs(5)).connect(connect);
        match tokio::time::timeout(Duration::from_secs(10), fut).await {
            Ok(Ok(zk)) => Ok(ZkConfigs { zk }),
            Ok(Err(e)) => Err(Failure::Exception(format!("kafka.zookeeper.ZooKeeperClientTimeoutException: Unable to connect to ZooKeeper at {connect}: {e}"))),
            Err(_) => Err(Failure::Exception(format!("kafka.zookeeper.ZooKeeperClientTimeoutException: Timed out waiting for connection to ZooKeeper at {connect}"))),
        }
    }

    async fn exists(&self, path: &str) -> Result<bool, Failure> {
        match self.zk.check_stat(path).await {
            Ok(s) => Ok(s.is_some()),
            Err(e) => Err(zerr(path, e)),
        }
    }

    async fn children(&self, path: &str) -> Result<Vec<String>, Failure> {
        match self.zk.list_children(path).await {
            Ok(mut c) => {
                c.sort();
                Ok(c)
            }
            Err(ZkError::NoNode) => Ok(Vec::new()),
            Err(e) => Err(zerr(path, e)),
        }
    }

    /// The entity's config map (empty when it has no znode).
    async fn fetch(&self, kind: &str, name: &str) -> Result<Map<String, Value>, Failure> {
        let path = format!("/config/{kind}/{name}");
        match self.zk.get_data(&path).await {
            Ok((data, _)) => {
                let v: Value = serde_json::from_slice(&data).unwrap_or(Value::Null);
                Ok(v.get("config").and_then(|c| c.as_object()).cloned().unwrap_or_default())
            }
            Err(ZkError::NoNode) => Ok(Map::new()),
            Err(e) => Err(zerr(&path, e)),
        }
    }

    /// Writes the entity's configs and the change notification (`changeEntityConfig`).
    async fn store(&self, kind: &str, name: &str, configs: &Map<String, Value>) -> Result<(), Failure> {
        let path = format!("/config/{kind}/{name}");
        let data = serde_json::json!({"version": 1, "config": configs}).to_string();
        let opts = CreateMode::Persistent.with_acls(Acls::anyone_all());
        match self.zk.set_data(&path, data.as_bytes(), None).await {
            Ok(_) => {}
            Err(ZkError::NoNode) => {
                if let Some((parent, _)) = path.rsplit_once('/') {
                    match self.zk.mkdir(parent, &opts).await {
                        Ok(_) | Err(ZkError::NodeExists) => {}
                        Err(e) => return Err(zerr(parent, e)),
                    }
                }
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
        match self.zk.mkdir("/config/changes", &opts).await {
            Ok(_) | Err(ZkError::NodeExists) => {}
            Err(e) => return Err(zerr("/config/changes", e)),
        }
        let note = serde_json::json!({"version": 2, "entity_path": format!("{kind}/{name}")}).to_string();
        let seq = CreateMode::PersistentSequential.with_acls(Acls::anyone_all());
        self.zk.create("/config/changes/config_change_", note.as_bytes(), &seq).await.map_err(|e| zerr("/config/changes/config_change_", e))?;
        Ok(())
    }

    /// Every entity the command covers (`getAllEntities`).
    async fn all(&self, e: &Entity) -> Result<Vec<Entity>, Failure> {
        if e.root.name.is_none() {
            let mut out = Vec::new();
            for n in self.children(&format!("/config/{}", e.root.kind)).await? {
                let root = Level { kind: e.root.kind.clone(), name: Some(n) };
                match &e.child {
                    Some(c) => out.extend(Box::pin(self.all(&Entity { root, child: Some(Level { kind: c.kind.clone(), name: None }) })).await?),
                    None => out.push(Entity { root, child: None }),
                }
            }
            return Ok(out);
        }
        match &e.child {
            Some(c) if c.name.is_none() => {
                let base = format!("/config/{}/{}/{}", e.root.kind, e.root.name.clone().unwrap_or_default(), c.kind);
                Ok(self
                    .children(&base)
                    .await?
                    .into_iter()
                    .map(|n| Entity { root: e.root.clone(), child: Some(Level { kind: c.kind.clone(), name: Some(n) }) })
                    .collect())
            }
            _ => Ok(vec![e.clone()]),
        }
    }
}

fn validate_value(key: &str, value: &str, kind: char) -> Result<(), Failure> {
    let bad = |what: &str| Err(Failure::Exception(format!("org.apache.kafka.common.config.ConfigException: Invalid value {value} for configuration {key}: {what}")));
    let v = value.trim();
    match kind {
        'l' => match v.parse::<i64>() {
            Ok(x) if x >= -1 || matches!(key, "retention.ms" | "retention.bytes") => Ok(()),
            Ok(_) => bad("Value must be at least 0"),
            Err(_) => bad("Not a number of type LONG"),
        },
        'L' => v.parse::<i64>().map(|_| ()).or_else(|_| bad("Not a number of type LONG")),
        'i' => match v.parse::<i32>() {
            Ok(x) if key == "segment.bytes" && x < 14 => bad("Value must be at least 14"),
            Ok(x) if x >= 0 => Ok(()),
            Ok(_) => bad("Value must be at least 0"),
            Err(_) => bad("Not a number of type INT"),
        },
        'b' => match v.to_ascii_lowercase().as_str() {
            "true" | "false" => Ok(()),
            _ => bad("Expected value to be either true or false"),
        },
        'd' | 'D' => v.parse::<f64>().map(|_| ()).or_else(|_| bad("Not a number of type DOUBLE")),
        'p' => {
            if v.split(',').all(|p| matches!(p.trim(), "delete" | "compact")) {
                Ok(())
            } else {
                bad("String must be one of: compact, delete")
            }
        }
        'c' => {
            if ["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"].contains(&v) {
                Ok(())
            } else {
                bad("String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer")
            }
        }
        't' => {
            if v == "CreateTime" || v == "LogAppendTime" {
                Ok(())
            } else {
                bad("String must be one of: CreateTime, LogAppendTime")
            }
        }
        _ => Ok(()),
    }
}

/// Checks the final config set of an entity as 2.5's `changeConfigs` does.
async fn validate(zk: &ZkConfigs, e: &Entity, configs: &Map<String, Value>, added: &[(String, String)]) -> Result<(), Failure> {
    let text = |v: &Value| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
    match e.root.kind.as_str() {
        "topics" => {
            let topic = e.root.name.clone().unwrap_or_default();
            if !zk.exists(&format!("/brokers/topics/{topic}")).await? {
                return Err(Failure::Exception(format!("kafka.admin.AdminOperationException: Topic \"{topic}\" does not exist.")));
            }
            for k in configs.keys() {
                if !TOPIC_KEYS.iter().any(|(n, _)| n == k) {
                    return Err(Failure::Message(format!("Unknown topic config name: {k}")));
                }
            }
            for (k, v) in configs {
                if let Some((_, kind)) = TOPIC_KEYS.iter().find(|(n, _)| n == k) {
                    validate_value(k, &text(v), *kind)?;
                }
            }
        }
        "clients" | "users" => {
            let user_level = e.root.kind == "users" && e.child.is_none() && e.root.name.as_deref() != Some("<default>");
            let scram = ["SCRAM-SHA-256", "SCRAM-SHA-512"];
            if user_level && added.iter().any(|(k, _)| scram.contains(&k.as_str())) {
                return Err(Failure::Message("SCRAM credentials (SCRAM-SHA-256, SCRAM-SHA-512) cannot be set by this tool yet".into()));
            }
            let unknown: Vec<String> = configs.keys().filter(|k| !(CLIENT_KEYS.iter().any(|(n, _)| n == k) || (user_level && scram.contains(&k.as_str())))).cloned().collect();
            if !unknown.is_empty() {
                return Err(require(format!("Unknown Dynamic Configuration: {}.", scala_set(&unknown))));
            }
            for (k, v) in configs {
                if let Some((_, kind)) = CLIENT_KEYS.iter().find(|(n, _)| n == k) {
                    validate_value(k, &text(v), *kind)?;
                }
            }
        }
        "brokers" => {
            let name = e.root.name.clone().unwrap_or_default();
            let dynamic: Vec<String> = added.iter().map(|(k, _)| k.clone()).filter(|k| !BROKER_ZK_WHILE_RUNNING.contains(&k.as_str())).collect();
            if !dynamic.is_empty() {
                let msg = format!("--bootstrap-server option must be specified to update broker configs {}.", scala_set(&dynamic));
                let info = "Broker configuration updates using ZooKeeper are supported for bootstrapping before brokers are started to enable encrypted password configs to be stored in ZooKeeper.";
                if name != "<default>" {
                    if zk.exists(&format!("/brokers/ids/{name}")).await? {
                        return Err(require(format!("{msg} when broker {name} is running. {info}")));
                    }
                } else if !zk.children("/brokers/ids").await?.is_empty() {
                    return Err(require(format!("{msg} for default cluster if any broker is running. {info}")));
                }
                if let Some(k) = dynamic.iter().find(|k| k.contains("password") || k.ends_with(".jaas.config")) {
                    return Err(Failure::Message(format!("Password config {k} cannot be stored by this tool (password encoding is not supported)")));
                }
            }
            for k in ["leader.replication.throttled.rate", "follower.replication.throttled.rate", "replica.alter.log.dirs.io.max.bytes.per.second"] {
                if let Some(v) = configs.get(k) {
                    validate_value(k, &text(v), 'L')?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Runs the `--zookeeper` command; the caller prints failures.
pub async fn run(p: &Parsed, args: &[String], add: Vec<(String, String)>, del: Vec<String>) -> Result<(), Failure> {
    let alter = p.has("alter");
    let e = entity(p, args, alter)?;
    println!("Warning: --zookeeper is deprecated and will be removed in a future version of Kafka.");
    println!("Use --bootstrap-server instead to specify a broker to connect to.");
    let zk = ZkConfigs::connect(p.value("zookeeper").unwrap_or_default()).await?;
    let kind = e.root.kind.clone();
    if !alter {
        let describe_all_users = kind == "users" && e.root.name.is_none() && e.child.is_none();
        for ent in zk.all(&e).await? {
            let configs = zk.fetch(&kind, &ent.full_name()).await?;
            if configs.is_empty() && describe_all_users {
                continue;
            }
            let list: Vec<String> = configs.iter().map(|(k, v)| format!("{k}={}", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))).collect();
            println!("Configs for {} are {}", ent.describe(), list.join(","));
        }
        return Ok(());
    }
    let name = e.full_name();
    let mut configs = zk.fetch(&kind, &name).await?;
    let invalid: Vec<&String> = del.iter().filter(|k| !configs.contains_key(*k)).collect();
    if !invalid.is_empty() {
        return Err(Failure::Message(format!("Invalid config(s): {}", invalid.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","))));
    }
    for (k, v) in &add {
        configs.insert(k.clone(), Value::String(v.clone()));
    }
    for k in &del {
        configs.remove(k);
    }
    validate(&zk, &e, &configs, &add).await?;
    zk.store(&kind, &name, &configs).await?;
    println!("Completed updating config for entity: {}.", e.describe());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_round_trip() {
        assert_eq!(sanitize("User:alice"), "User%3Aalice");
        assert_eq!(sanitize("a b*"), "a%20b%2A");
        assert_eq!(desanitize(&sanitize("User:alice")), "User:alice");
        assert_eq!(desanitize("%"), "%");
        assert_eq!(desanitize("%4"), "%4");
        assert_eq!(desanitize("%é1"), "%é1");
    }
}
