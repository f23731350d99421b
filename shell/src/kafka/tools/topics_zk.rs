//! `kafka-topics.sh --zookeeper host:port[/chroot] --list|--describe`: Kafka 2.5's deprecated
//! path, reading the topic znodes (`/brokers/topics/<t>`, its partition `state` nodes,
//! `/config/topics/<t>`, `/admin/delete_topics`) directly.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use zookeeper_client::Client as Zk;

use super::topics::ids;
use super::Whitelist;
use crate::kafka::opts::Parsed;

const INTERNAL: &[&str] = &["__consumer_offsets", "__transaction_state"];

pub async fn main(p: &Parsed) -> i32 {
    match run(p).await {
        Ok(()) => 0,
        Err(m) => {
            eprintln!("Error while executing topic command : {m}");
            1
        }
    }
}

async fn json(zk: &Zk, path: &str) -> Result<Option<Value>, String> {
    match zk.get_data(path).await {
        Ok((data, _)) => Ok(serde_json::from_slice(&data).ok()),
        Err(zookeeper_client::Error::NoNode) => Ok(None),
        Err(e) => Err(format!("reading {path}: {e}")),
    }
}

fn int_list(v: Option<&Value>) -> Vec<i32> {
    v.and_then(|x| x.as_array()).map(|a| a.iter().filter_map(|i| i.as_i64()).map(|i| i as i32).collect()).unwrap_or_default()
}

async fn run(p: &Parsed) -> Result<(), String> {
    let connect = p.value("zookeeper").unwrap_or_default();
    let fut = Zk::connector().with_session_timeout(Duration::from_secs(30)).with_connection_timeout(Duration::from_secs(5)).connect(connect);
    let zk = match tokio::time::timeout(Duration::from_secs(10), fut).await {
        Ok(Ok(z)) => z,
        Ok(Err(e)) => return Err(format!("Unable to connect to ZooKeeper at {connect}: {e}")),
        Err(_) => return Err(format!("Timed out waiting for connection to ZooKeeper at {connect}")),
    };
    let mut topics = match zk.list_children("/brokers/topics").await {
        Ok(c) => c,
        Err(zookeeper_client::Error::NoNode) => Vec::new(),
        Err(e) => return Err(format!("reading /brokers/topics: {e}")),
    };
    topics.sort();
    let deleting = zk.list_children("/admin/delete_topics").await.unwrap_or_default();
    let live: Vec<i32> = zk.list_children("/brokers/ids").await.unwrap_or_default().iter().filter_map(|s| s.parse().ok()).collect();
    let wl = match p.value("topic") {
        Some(t) => Some(Whitelist::new(t)?),
        None => None,
    };
    let exclude = p.has("exclude-internal");
    let names: Vec<String> = topics
        .into_iter()
        .filter(|t| !(exclude && INTERNAL.contains(&t.as_str())))
        .filter(|t| wl.as_ref().map(|w| w.matches(t)).unwrap_or(true))
        .collect();
    if let Some(t) = p.value("topic") {
        if names.is_empty() && !p.has("if-exists") && p.has("describe") {
            return Err(format!("Topic '{t}' does not exist as expected"));
        }
    }
    if p.has("list") {
        for n in names {
            if deleting.contains(&n) {
                println!("{n} - marked for deletion");
            } else {
                println!("{n}");
            }
        }
        return Ok(());
    }
    let under_rep = p.has("under-replicated-partitions");
    let unavail = p.has("unavailable-partitions");
    let overrides = p.has("topics-with-overrides");
    for name in names {
        let Some(t) = json(&zk, &format!("/brokers/topics/{name}")).await? else { continue };
        let mut assignment: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
        if let Some(parts) = t.get("partitions").and_then(|v| v.as_object()) {
            for (k, v) in parts {
                if let Ok(i) = k.parse::<i32>() {
                    assignment.insert(i, int_list(Some(v)));
                }
            }
        }
        let cfg = json(&zk, &format!("/config/topics/{name}")).await?;
        let configs: Vec<String> = cfg
            .as_ref()
            .and_then(|c| c.get("config"))
            .and_then(|c| c.as_object())
            .map(|o| o.iter().map(|(k, v)| format!("{k}={}", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))).collect())
            .unwrap_or_default();
        let marked = deleting.contains(&name);
        let mark = if marked { "\tMarkedForDeletion: true" } else { "" };
        if !(under_rep || unavail) && (!overrides || !configs.is_empty()) {
            let rf = assignment.values().next().map(|r| r.len()).unwrap_or(0);
            println!("Topic: {name}\tPartitionCount: {}\tReplicationFactor: {rf}\tConfigs: {}{mark}", assignment.len(), configs.join(","));
        }
        if overrides {
            continue;
        }
        for (part, replicas) in &assignment {
            let state = json(&zk, &format!("/brokers/topics/{name}/partitions/{part}/state")).await?;
            let leader = state.as_ref().and_then(|s| s.get("leader")).and_then(|l| l.as_i64()).unwrap_or(-1) as i32;
            let isr = int_list(state.as_ref().and_then(|s| s.get("isr")));
            let has_leader = leader >= 0 && live.contains(&leader);
            if (under_rep && isr.len() >= replicas.len()) || (unavail && has_leader) {
                continue;
            }
            let l = if leader >= 0 { leader.to_string() } else { "none".into() };
            println!("\tTopic: {name}\tPartition: {part}\tLeader: {l}\tReplicas: {}\tIsr: {}{mark}", ids(replicas), ids(&isr));
        }
    }
    Ok(())
}
