//! `kafka-topics.sh`: create, list, describe, alter (partitions) and delete topics, with
//! Kafka 2.5's flags and output (`Created topic t.`, the `Topic: t\tPartitionCount: ...`
//! description lines).

use std::collections::BTreeMap;

use kafka_protocol::messages::create_partitions_request::{CreatePartitionsAssignment, CreatePartitionsTopic};
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{BrokerId, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest};

use super::{connect, load_props, Whitelist};
use crate::kafka::client::{sb, tn, Client};
use crate::kafka::error::{exception, KafkaError};
use crate::kafka::opts::{arg, flag, split_kv_list, OptSpec, Parsed};
use crate::kafka::{start, usage_error, Start};

const INTRO: &str = "This tool helps to create, delete, describe, or change a topic.";

const SPECS: &[OptSpec] = &[
    flag("alter", "Alter the number of partitions, replica assignment, and/or configuration for the topic."),
    flag("at-min-isr-partitions", "if set when describing topics, only show partitions whose isr count is equal to the configured minimum. Not supported with the --zookeeper option."),
    arg("bootstrap-server", "String: server to connect to", "REQUIRED: The Kafka server to connect to. In case of providing this, a direct Zookeeper connection won't be required."),
    arg("command-config", "String: command config property file", "Property file containing configs to be passed to Admin Client. This is used only with --bootstrap-server option for describing and altering broker configs."),
    arg("config", "String: name=value", "A topic configuration override for the topic being created or altered. The following is a list of valid configurations: cleanup.policy compression.type delete.retention.ms file.delete.delay.ms flush.messages flush.ms follower.replication.throttled.replicas index.interval.bytes leader.replication.throttled.replicas max.compaction.lag.ms max.message.bytes message.downconversion.enable message.format.version message.timestamp.difference.max.ms message.timestamp.type min.cleanable.dirty.ratio min.compaction.lag.ms min.insync.replicas preallocate retention.bytes retention.ms segment.bytes segment.index.bytes segment.jitter.ms segment.ms unclean.leader.election.enable See the Kafka documentation for full details on the topic configs. It is supported only in combination with --create if --bootstrap-server option is used."),
    flag("create", "Create a new topic."),
    flag("delete", "Delete a topic"),
    arg("delete-config", "String: name", "A topic configuration override to be removed for an existing topic (see the list of configurations under the --config option). Not supported with the --bootstrap-server option."),
    flag("describe", "List details for the given topics."),
    flag("disable-rack-aware", "Disable rack aware replica assignment"),
    flag("exclude-internal", "exclude internal topics when running list or describe command. The internal topics will be listed by default"),
    flag("force", "Suppress console prompts"),
    flag("if-exists", "if set when altering or deleting or describing topics, the action will only execute if the topic exists. Not supported with the --bootstrap-server option."),
    flag("if-not-exists", "if set when creating topics, the action will only execute if the topic does not already exist. Not supported with the --bootstrap-server option."),
    flag("list", "List all available topics."),
    arg("partitions", "Integer: # of partitions", "The number of partitions for the topic being created or altered (WARNING: If partitions are increased for a topic that has a key, the partition logic or ordering of the messages will be affected). If not supplied for create, defaults to the cluster default."),
    arg("replica-assignment", "String: broker_id_for_part1_replica1 : broker_id_for_part1_replica2 , broker_id_for_part2_replica1 : broker_id_for_part2_replica2 , ...", "A list of manual partition-to-broker assignments for the topic being created or altered."),
    arg("replication-factor", "Integer: replication factor", "The replication factor for each partition in the topic being created. If not supplied, defaults to the cluster default."),
    arg("topic", "String: topic", "The topic to create, alter, describe or delete. It also accepts a regular expression, except for --create option. Put topic name in double quotes and use the '\\' prefix to escape regular expression symbols; e.g. \"test\\.topic\"."),
    flag("topics-with-overrides", "if set when describing topics, only show topics that have overridden configs"),
    flag("unavailable-partitions", "if set when describing topics, only show partitions whose leader is not available"),
    flag("under-min-isr-partitions", "if set when describing topics, only show partitions whose isr count is less than the configured minimum. Not supported with the --zookeeper option."),
    flag("under-replicated-partitions", "if set when describing topics, only show under replicated partitions"),
    arg("zookeeper", "String: hosts", "DEPRECATED, The connection string for the zookeeper connection in the form host:port. Multiple hosts can be given to allow fail-over."),
];

pub async fn main(args: &[String]) -> i32 {
    let p = match start(INTRO, SPECS, args) {
        Start::Go(p) => p,
        Start::Exit(c) => return c,
    };
    let actions = ["list", "describe", "create", "alter", "delete"].iter().filter(|a| p.has(a)).count();
    if actions != 1 {
        return usage_error("Command must include exactly one action: --list, --describe, --create, --alter or --delete");
    }
    match (p.has("bootstrap-server"), p.has("zookeeper")) {
        (true, true) | (false, false) => return usage_error("Only one of --bootstrap-server or --zookeeper must be specified"),
        _ => {}
    }
    if (p.has("create") || p.has("alter") || p.has("delete")) && !p.has("topic") {
        return usage_error("Missing required argument \"[topic]\"");
    }
    if p.has("if-not-exists") && !p.has("create") {
        return usage_error("Option \"[if-not-exists]\" can't be used with option \"[list]\", \"[describe]\", \"[alter]\" or \"[delete]\"");
    }
    if p.has("replica-assignment") && (p.has("partitions") && p.has("create") || p.has("replication-factor")) {
        return usage_error("Option \"[replica-assignment]\" can't be used with option \"[partitions]\" or \"[replication-factor]\"");
    }
    if p.has("create") && p.has("topic") && p.value("topic").map(|t| t.contains(',')).unwrap_or(false) {
        return usage_error("--create takes a single topic name, not a list");
    }
    if p.has("alter") && p.has("bootstrap-server") && (p.has("config") || p.has("delete-config")) {
        return usage_error("Option \"[config]\" and \"[delete-config]\" are not supported with --alter when --bootstrap-server is used; use kafka-configs.sh");
    }
    if p.has("zookeeper") {
        if !(p.has("list") || p.has("describe")) {
            return usage_error("--zookeeper supports --list and --describe only here; use --bootstrap-server for --create, --alter and --delete");
        }
        return super::topics_zk::main(&p).await;
    }
    let props = match load_props(&p, "command-config", &[]) {
        Ok(x) => x,
        Err(m) => return usage_error(&m),
    };
    for (name, what) in [("partitions", "partitions"), ("replication-factor", "replication factor")] {
        if let Err(m) = p.num::<i32>(name) {
            return usage_error(&m);
        }
        if let Ok(Some(n)) = p.num::<i32>(name) {
            if n < 1 {
                return usage_error(&format!("The {what} must be greater than 0"));
            }
        }
    }
    let server = p.value("bootstrap-server").unwrap_or_default();
    let mut client = match connect(server, "adminclient-1", &props).await {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let r = if p.has("create") {
        create(&mut client, &p).await
    } else if p.has("list") {
        list(&mut client, &p).await
    } else if p.has("describe") {
        describe(&mut client, &p).await
    } else if p.has("alter") {
        alter(&mut client, &p).await
    } else {
        delete(&mut client, &p).await
    };
    match r {
        Ok(()) => 0,
        Err(e) => fail(&e),
    }
}

/// The message the Java tool prints for a failure (the exception's message only).
pub fn message(e: &KafkaError) -> String {
    match e {
        KafkaError::Code(c, m) => match m.as_deref() {
            Some(m) if !m.is_empty() => m.to_string(),
            _ => {
                let (_, d) = exception(*c);
                if d.is_empty() {
                    format!("error code {c}")
                } else {
                    d.to_string()
                }
            }
        },
        other => other.to_string(),
    }
}

fn fail(e: &KafkaError) -> i32 {
    eprintln!("Error while executing topic command : {}", message(e));
    1
}

fn parse_assignment(s: &str) -> Result<BTreeMap<i32, Vec<i32>>, KafkaError> {
    let mut out = BTreeMap::new();
    for (i, group) in s.split(',').enumerate() {
        let mut ids = Vec::new();
        for id in group.split(':') {
            let id = id.trim().parse::<i32>().map_err(|_| KafkaError::Other(format!("Invalid replica assignment '{s}': '{id}' is not a broker id")))?;
            if ids.contains(&id) {
                return Err(KafkaError::Other(format!("Partition replica lists may not contain duplicate entries: {id}")));
            }
            ids.push(id);
        }
        out.insert(i as i32, ids);
    }
    Ok(out)
}

async fn create(client: &mut Client, p: &Parsed) -> Result<(), KafkaError> {
    let topic = p.value("topic").unwrap_or_default().to_string();
    let mut configs = Vec::new();
    for c in p.values("config") {
        configs.extend(split_kv_list(&c).map_err(KafkaError::Other)?);
    }
    if topic.contains('.') || topic.contains('_') {
        println!("WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. To avoid issues it is best to use either, but not both.");
    }
    let mut t = CreatableTopic::default();
    t.name = tn(&topic);
    t.num_partitions = p.num::<i32>("partitions").map_err(KafkaError::Other)?.unwrap_or(-1);
    t.replication_factor = p.num::<i16>("replication-factor").map_err(KafkaError::Other)?.unwrap_or(-1);
    if let Some(a) = p.value("replica-assignment") {
        t.num_partitions = -1;
        t.replication_factor = -1;
        t.assignments = parse_assignment(a)?
            .into_iter()
            .map(|(i, ids)| {
                let mut x = CreatableReplicaAssignment::default();
                x.partition_index = i;
                x.broker_ids = ids.into_iter().map(BrokerId).collect();
                x
            })
            .collect();
    }
    t.configs = configs
        .into_iter()
        .map(|(k, v)| {
            let mut c = CreatableTopicConfig::default();
            c.name = sb(&k);
            c.value = Some(sb(&v));
            c
        })
        .collect();
    let mut req = CreateTopicsRequest::default();
    req.timeout_ms = client.timeout.as_millis() as i32;
    req.topics = vec![t];
    let conn = client.controller().await?;
    let v = conn.version_for::<CreateTopicsRequest>(5)?;
    if v < 4 && (req.topics[0].num_partitions == -1 || req.topics[0].replication_factor == -1) && req.topics[0].assignments.is_empty() {
        return Err(KafkaError::Other("this broker needs --partitions and --replication-factor".into()));
    }
    let resp = conn.call(&req, v).await?;
    for r in resp.topics {
        if r.error_code == 36 && p.has("if-not-exists") {
            continue;
        }
        crate::kafka::error::check(r.error_code, r.error_message.map(|m| m.to_string()))?;
        println!("Created topic {topic}.");
    }
    Ok(())
}

async fn topic_names(client: &mut Client, p: &Parsed) -> Result<Vec<String>, KafkaError> {
    client.refresh(None).await?;
    let wl = match p.value("topic") {
        Some(t) => Some(Whitelist::new(t).map_err(KafkaError::Other)?),
        None => None,
    };
    let exclude = p.has("exclude-internal");
    let names: Vec<String> = client
        .meta
        .topics
        .values()
        .filter(|t| t.error == 0 || t.error == 5)
        .filter(|t| !(exclude && t.internal))
        .filter(|t| wl.as_ref().map(|w| w.matches(&t.name)).unwrap_or(true))
        .map(|t| t.name.clone())
        .collect();
    if let Some(t) = p.value("topic") {
        if names.is_empty() && !p.has("if-exists") && !p.has("list") {
            return Err(KafkaError::Other(format!("Topic '{t}' does not exist as expected")));
        }
    }
    Ok(names)
}

async fn list(client: &mut Client, p: &Parsed) -> Result<(), KafkaError> {
    for n in topic_names(client, p).await? {
        println!("{n}");
    }
    Ok(())
}

/// (name, value, is_default) of each topic's configs.
pub async fn topic_configs(client: &mut Client, topics: &[String]) -> Result<BTreeMap<String, Vec<(String, String, bool)>>, KafkaError> {
    let mut out = BTreeMap::new();
    if topics.is_empty() {
        return Ok(out);
    }
    let mut req = DescribeConfigsRequest::default();
    req.resources = topics
        .iter()
        .map(|t| {
            let mut r = DescribeConfigsResource::default();
            r.resource_type = 2;
            r.resource_name = sb(t);
            r.configuration_keys = None;
            r
        })
        .collect();
    let conn = client.controller().await?;
    let resp = conn.send(&req, 2).await?;
    for r in resp.results {
        if r.error_code != 0 {
            continue;
        }
        let list = r
            .configs
            .into_iter()
            .map(|c| {
                // config_source 5 = DEFAULT_CONFIG (v1+).
                let is_default = c.config_source == 5;
                (c.name.to_string(), c.value.map(|v| v.to_string()).unwrap_or_else(|| "null".into()), is_default)
            })
            .collect();
        out.insert(r.resource_name.to_string(), list);
    }
    Ok(out)
}

/// DeleteTopics for `names` at version `v` (v6+ names topics in `topics`, older in
/// `topic_names`), with the tool's timeout.
pub fn delete_topics_request(names: &[String], timeout: std::time::Duration, v: i16) -> DeleteTopicsRequest {
    let mut req = DeleteTopicsRequest::default();
    req.timeout_ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    if v >= 6 {
        req.topics = names
            .iter()
            .map(|n| {
                let mut s = DeleteTopicState::default();
                s.name = Some(tn(n));
                s
            })
            .collect();
    } else {
        req.topic_names = names.iter().map(|n| tn(n)).collect();
    }
    req
}

pub fn ids(v: &[i32]) -> String {
    v.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")
}

async fn describe(client: &mut Client, p: &Parsed) -> Result<(), KafkaError> {
    let names = topic_names(client, p).await?;
    let configs = topic_configs(client, &names).await?;
    let live: Vec<i32> = client.meta.brokers.keys().copied().collect();
    let under_rep = p.has("under-replicated-partitions");
    let unavail = p.has("unavailable-partitions");
    let under_min = p.has("under-min-isr-partitions");
    let at_min = p.has("at-min-isr-partitions");
    let overrides = p.has("topics-with-overrides");
    let describe_configs = !(under_rep || unavail || under_min || at_min);
    let describe_partitions = !overrides;
    for name in names {
        let Some(t) = client.meta.topics.get(&name) else { continue };
        let cfg = configs.get(&name).cloned().unwrap_or_default();
        let non_default: Vec<String> = cfg.iter().filter(|c| !c.2).map(|c| format!("{}={}", c.0, c.1)).collect();
        let min_isr: usize = cfg.iter().find(|c| c.0 == "min.insync.replicas").and_then(|c| c.1.parse().ok()).unwrap_or(1);
        if describe_configs && (!overrides || !non_default.is_empty()) {
            let rf = t.partitions.first().map(|p| p.replicas.len()).unwrap_or(0);
            println!("Topic: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}", name, t.partitions.len(), rf, non_default.join(","));
        }
        if !describe_partitions {
            continue;
        }
        for part in &t.partitions {
            let has_leader = part.leader >= 0 && live.contains(&part.leader);
            let show = (!under_rep || part.isr.len() < part.replicas.len())
                && (!unavail || !has_leader)
                && (!under_min || part.isr.len() < min_isr)
                && (!at_min || part.isr.len() == min_isr);
            if !show {
                continue;
            }
            let leader = if part.leader >= 0 { part.leader.to_string() } else { "none".to_string() };
            println!("\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}", name, part.id, leader, ids(&part.replicas), ids(&part.isr));
        }
    }
    Ok(())
}

async fn alter(client: &mut Client, p: &Parsed) -> Result<(), KafkaError> {
    let names = topic_names(client, p).await?;
    if names.is_empty() {
        return Ok(());
    }
    let count = p.num::<i32>("partitions").map_err(KafkaError::Other)?;
    let assignment = match p.value("replica-assignment") {
        Some(a) => Some(parse_assignment(a)?),
        None => None,
    };
    let Some(count) = count.or(assignment.as_ref().map(|a| a.len() as i32)) else {
        return Err(KafkaError::Other("--alter needs --partitions (configs are altered with kafka-configs.sh)".into()));
    };
    let mut req = CreatePartitionsRequest::default();
    req.timeout_ms = client.timeout.as_millis() as i32;
    for name in &names {
        let existing = client.meta.topics.get(name).map(|t| t.partitions.len()).unwrap_or(0);
        let mut t = CreatePartitionsTopic::default();
        t.name = tn(name);
        t.count = count;
        t.assignments = None;
        if let Some(a) = &assignment {
            t.assignments = Some(
                a.iter()
                    .filter(|(i, _)| **i as usize >= existing)
                    .map(|(_, ids)| {
                        let mut x = CreatePartitionsAssignment::default();
                        x.broker_ids = ids.iter().copied().map(BrokerId).collect();
                        x
                    })
                    .collect(),
            );
        }
        req.topics.push(t);
    }
    let conn = client.controller().await?;
    let resp = conn.send(&req, 1).await?;
    for r in resp.results {
        crate::kafka::error::check(r.error_code, r.error_message.map(|m| m.to_string()))?;
    }
    Ok(())
}

async fn delete(client: &mut Client, p: &Parsed) -> Result<(), KafkaError> {
    let names = topic_names(client, p).await?;
    if names.is_empty() {
        return Ok(());
    }
    if let Some(internal) = names.iter().find(|n| client.meta.topics.get(*n).map(|t| t.internal).unwrap_or(false)) {
        return Err(KafkaError::Other(format!("Topic {internal} is a kafka internal topic and is not allowed to be marked for deletion.")));
    }
    let timeout = client.timeout;
    let conn = client.controller().await?;
    let v = conn.version_for::<DeleteTopicsRequest>(4)?;
    let req = delete_topics_request(&names, timeout, v);
    let resp = conn.call(&req, v).await?;
    for r in resp.responses {
        crate::kafka::error::check(r.error_code, r.error_message.map(|m| m.to_string()))?;
    }
    Ok(())
}
