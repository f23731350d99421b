//! `kafka-configs.sh`: describe and alter topic and broker configs (DescribeConfigs,
//! IncrementalAlterConfigs), printing Kafka 2.5's `Dynamic configs for topic t are:` blocks.

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::{DescribeConfigsRequest, IncrementalAlterConfigsRequest};

use super::{connect, load_props};
use crate::kafka::client::{sb, Client};
use crate::kafka::error::{check, KafkaError};
use crate::kafka::opts::{arg, flag, split_kv_list, OptSpec, Parsed};
use crate::kafka::{start, usage_error, Start};

const INTRO: &str = "This tool helps to manipulate and describe entity config for a topic, client, user or broker";

const SPECS: &[OptSpec] = &[
    arg("add-config", "String", "Key Value pairs of configs to add. Square brackets can be used to group values which contain commas: 'k1=v1,k2=[v1,v2,v2],k3=v3'. See the Kafka documentation for the topic and broker configs."),
    flag("all", "List all configs for the given topic, broker, or broker-logger entity (includes static configuration when the entity type is brokers)"),
    flag("alter", "Alter the configuration for the entity."),
    arg("bootstrap-server", "String: server to connect to", "The Kafka server to connect to. This is required for describing and altering broker configs."),
    arg("broker", "String", "The broker's ID."),
    flag("broker-logger", "The broker's ID for its logger config."),
    arg("command-config", "String: command config property file", "Property file containing configs to be passed to Admin Client. This is used only with --bootstrap-server option for describing and altering broker configs."),
    arg("delete-config", "String", "config keys to remove 'k1,k2'"),
    flag("describe", "List configs for the given entity."),
    flag("entity-default", "Default entity name for clients/users/brokers (applies to corresponding entity type in command line)"),
    arg("entity-name", "String", "Name of entity (topic name/client id/user principal name/broker id)"),
    arg("entity-type", "String", "Type of entity (topics/clients/users/brokers/broker-loggers)"),
    flag("force", "Suppress console prompts"),
    arg("topic", "String", "The topic's name."),
    arg("zookeeper", "String: urls", "DEPRECATED. The connection string for the zookeeper connection in the form host:port. Multiple URLS can be given to allow fail-over. Replaced by --bootstrap-server, REQUIRED unless --bootstrap-server is given."),
];

/// Kafka's ConfigEntry.ConfigSource names by wire value.
fn source_name(s: i8) -> &'static str {
    match s {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        _ => "UNKNOWN",
    }
}

struct Entity {
    /// "topics" or "brokers".
    kind: &'static str,
    /// None = all entities of the type (describe), "" = the cluster default (brokers).
    name: Option<String>,
}

pub async fn main(args: &[String]) -> i32 {
    let p = match start(INTRO, SPECS, args) {
        Start::Go(p) => p,
        Start::Exit(c) => return c,
    };
    if p.has("zookeeper") {
        return main_zk(&p, args).await;
    }
    let entity = match entity(&p) {
        Ok(e) => e,
        Err(m) => return usage_error(&m),
    };
    if p.has("alter") == p.has("describe") {
        return usage_error("Command must include exactly one action: --describe, --alter");
    }
    if p.has("alter") && !p.has("add-config") && !p.has("delete-config") {
        return usage_error("At least one of --add-config or --delete-config must be specified with --alter");
    }
    if p.has("alter") && entity.name.is_none() {
        return usage_error("an entity name must be specified with --alter of topics");
    }
    if !p.has("bootstrap-server") {
        return usage_error("One of the required --bootstrap-server or --zookeeper arguments must be specified");
    }
    let props = match load_props(&p, "command-config", &[]) {
        Ok(x) => x,
        Err(m) => return usage_error(&m),
    };
    let mut client = match connect(p.value("bootstrap-server").unwrap_or_default(), "adminclient-1", &props).await {
        Ok(c) => c,
        Err(e) => return fail(args, &e),
    };
    let r = if p.has("alter") { alter(&mut client, &p, &entity).await } else { describe(&mut client, &p, &entity).await };
    match r {
        Ok(()) => 0,
        Err(e) => fail(args, &e),
    }
}

/// `--zookeeper`: ConfigCommand's checks shared with the broker path, then `configs_zk`.
async fn main_zk(p: &Parsed, args: &[String]) -> i32 {
    if p.has("alter") == p.has("describe") {
        return usage_error("Command must include exactly one action: --describe, --alter");
    }
    if p.has("describe") && (p.has("add-config") || p.has("delete-config")) {
        let o = if p.has("add-config") { "add-config" } else { "delete-config" };
        return usage_error(&format!("Option \"[describe]\" can't be used with option \"[{o}]\""));
    }
    if p.has("bootstrap-server") {
        return usage_error("Only one of --bootstrap-server or --zookeeper must be specified");
    }
    if p.has("all") {
        return usage_error("--bootstrap-server must be specified for --all");
    }
    if p.has("alter") && !p.has("add-config") && !p.has("delete-config") {
        return usage_error("At least one of --add-config or --delete-config must be specified with --alter");
    }
    let mut add = Vec::new();
    for a in p.values("add-config") {
        match split_kv_list(&a) {
            Ok(kv) => add.extend(kv),
            Err(m) => return usage_error(&m),
        }
    }
    let mut del: Vec<String> = Vec::new();
    for d in p.values("delete-config") {
        del.extend(d.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()));
    }
    match super::configs_zk::run(p, args, add, del).await {
        Ok(()) => 0,
        Err(super::configs_zk::Failure::Message(m)) => usage_error(&m),
        Err(super::configs_zk::Failure::Exception(m)) => {
            eprintln!("Error while executing config command with args '{}'", args.join(" "));
            eprintln!("{m}");
            1
        }
    }
}

fn fail(args: &[String], e: &KafkaError) -> i32 {
    eprintln!("Error while executing config command with args '{}'", args.join(" "));
    eprintln!("{e}");
    1
}

fn entity(p: &Parsed) -> Result<Entity, String> {
    if let Some(t) = p.value("topic") {
        return Ok(Entity { kind: "topics", name: Some(t.to_string()) });
    }
    if let Some(b) = p.value("broker") {
        return Ok(Entity { kind: "brokers", name: Some(b.to_string()) });
    }
    let kind = match p.value("entity-type") {
        Some("topics") => "topics",
        Some("brokers") => "brokers",
        Some(t @ ("clients" | "users" | "broker-loggers")) => return Err(format!("--entity-type {t} is not supported by this broker (topics and brokers are)")),
        Some(t) => return Err(format!("Invalid entity type {t}, the entity type must be one of users, brokers, clients, topics, broker-loggers")),
        None => return Err("Missing required argument \"[entity-type]\"".into()),
    };
    let name = if p.has("entity-default") {
        if kind != "brokers" {
            return Err("--entity-default is valid only for brokers, clients and users".into());
        }
        Some(String::new())
    } else {
        p.value("entity-name").map(str::to_string)
    };
    if let (Some(n), "brokers") = (&name, kind) {
        if !n.is_empty() && n.parse::<i32>().is_err() {
            return Err(format!("The entity name for brokers must be a valid integer broker id, found: {n}"));
        }
    }
    Ok(Entity { kind, name })
}

fn resource_type(kind: &str) -> i8 {
    if kind == "topics" {
        2
    } else {
        4
    }
}

struct ConfigLine {
    name: String,
    value: Option<String>,
    sensitive: bool,
    source: i8,
    synonyms: Vec<(String, Option<String>, i8)>,
}

async fn fetch(client: &mut Client, kind: &str, name: &str) -> Result<Vec<ConfigLine>, KafkaError> {
    let mut r = DescribeConfigsResource::default();
    r.resource_type = resource_type(kind);
    r.resource_name = sb(name);
    r.configuration_keys = None;
    let mut req = DescribeConfigsRequest::default();
    req.resources = vec![r];
    req.include_synonyms = true;
    let conn = if kind == "brokers" && !name.is_empty() {
        let id: i32 = name.parse().unwrap_or(-1);
        client.node(id).await?
    } else {
        client.controller().await?
    };
    let resp = conn.send(&req, 2).await?;
    let mut out = Vec::new();
    for res in resp.results {
        check(res.error_code, res.error_message.map(|m| m.to_string()))?;
        for c in res.configs {
            out.push(ConfigLine {
                name: c.name.to_string(),
                value: c.value.map(|v| v.to_string()),
                sensitive: c.is_sensitive,
                source: c.config_source,
                synonyms: c.synonyms.into_iter().map(|s| (s.name.to_string(), s.value.map(|v| v.to_string()), s.source)).collect(),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

async fn describe(client: &mut Client, p: &Parsed, e: &Entity) -> Result<(), KafkaError> {
    let names: Vec<String> = match &e.name {
        Some(n) => vec![n.clone()],
        None if e.kind == "topics" => {
            client.refresh(None).await?;
            client.meta.topics.keys().cloned().collect()
        }
        None => client.meta.brokers.keys().map(|b| b.to_string()).collect(),
    };
    let all = p.has("all");
    for name in names {
        if e.kind == "topics" {
            client.refresh(Some(std::slice::from_ref(&name))).await?;
            let known = client.meta.topics.get(&name).map(|t| t.error == 0).unwrap_or(false);
            if !known {
                return Err(KafkaError::code(3, Some(format!("Topic '{name}' does not exist"))));
            }
        }
        let lines = fetch(client, e.kind, &name).await?;
        let wanted: i8 = match (e.kind, name.is_empty()) {
            ("topics", _) => 1,
            (_, true) => 3,
            _ => 2,
        };
        let singular = if e.kind == "topics" { "topic" } else { "broker" };
        let head = if all { "All" } else { "Dynamic" };
        if name.is_empty() {
            println!("Default configs for brokers in the cluster are:");
        } else {
            println!("{head} configs for {singular} {name} are:");
        }
        for l in lines.iter().filter(|l| all || l.source == wanted) {
            let v = if l.sensitive { "null".to_string() } else { l.value.clone().unwrap_or_else(|| "null".into()) };
            let syn: Vec<String> = l
                .synonyms
                .iter()
                .map(|(n, v, s)| format!("{}:{}={}", source_name(*s), n, if l.sensitive { "null".into() } else { v.clone().unwrap_or_else(|| "null".into()) }))
                .collect();
            println!("  {}={} sensitive={} synonyms={{{}}}", l.name, v, l.sensitive, syn.join(", "));
        }
    }
    Ok(())
}

async fn alter(client: &mut Client, p: &Parsed, e: &Entity) -> Result<(), KafkaError> {
    let name = e.name.clone().unwrap_or_default();
    let mut add = Vec::new();
    for a in p.values("add-config") {
        add.extend(split_kv_list(&a).map_err(KafkaError::Other)?);
    }
    let mut del: Vec<String> = Vec::new();
    for d in p.values("delete-config") {
        del.extend(d.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()));
    }
    if e.kind == "topics" {
        client.refresh(Some(std::slice::from_ref(&name))).await?;
        if !client.meta.topics.get(&name).map(|t| t.error == 0).unwrap_or(false) {
            return Err(KafkaError::code(3, Some(format!("Topic '{name}' does not exist"))));
        }
    }
    if !del.is_empty() {
        let current = fetch(client, e.kind, &name).await?;
        let wanted: i8 = match (e.kind, name.is_empty()) {
            ("topics", _) => 1,
            (_, true) => 3,
            _ => 2,
        };
        let invalid: Vec<&String> = del.iter().filter(|k| !current.iter().any(|c| &c.name == *k && c.source == wanted)).collect();
        if !invalid.is_empty() {
            return Err(KafkaError::code(40, Some(format!("Invalid config(s): {}", invalid.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")))));
        }
    }
    let mut res = AlterConfigsResource::default();
    res.resource_type = resource_type(e.kind);
    res.resource_name = sb(&name);
    for (k, v) in &add {
        let mut c = AlterableConfig::default();
        c.name = sb(k);
        c.config_operation = 0;
        c.value = Some(sb(v));
        res.configs.push(c);
    }
    for k in &del {
        let mut c = AlterableConfig::default();
        c.name = sb(k);
        c.config_operation = 1;
        c.value = None;
        res.configs.push(c);
    }
    let mut req = IncrementalAlterConfigsRequest::default();
    req.resources = vec![res];
    let conn = if e.kind == "brokers" && !name.is_empty() {
        let id: i32 = name.parse().unwrap_or(-1);
        client.node(id).await?
    } else {
        client.controller().await?
    };
    let resp = conn.send(&req, 1).await?;
    for r in resp.responses {
        check(r.error_code, r.error_message.map(|m| m.to_string()))?;
    }
    if name.is_empty() {
        println!("Completed updating default config for brokers in the cluster.");
    } else {
        let singular = if e.kind == "topics" { "topic" } else { "broker" };
        println!("Completed updating config for {singular} {name}.");
    }
    Ok(())
}
