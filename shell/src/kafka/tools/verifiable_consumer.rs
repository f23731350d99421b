//! `kafka-verifiable-consumer.sh`: a group member that consumes and commits, reporting
//! Kafka's VerifiableConsumer JSON events (`startup_complete`, `partitions_revoked`,
//! `partitions_assigned`, `records_consumed`, `record_data` with --verbose,
//! `offsets_committed`, `shutdown_complete`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::{connect, load_props, now_ms};
use crate::kafka::consumer::Consumer;
use crate::kafka::error::KafkaError;
use crate::kafka::group::{fetch_offsets, Member, Tp};
use crate::kafka::opts::{arg, flag, OptSpec};
use crate::kafka::{start, usage_error, Start};

const INTRO: &str = "This tool consumes messages from a specific topic and emits consumer events (e.g. group rebalances, received messages, and offsets committed) as JSON objects to STDOUT.";

const SPECS: &[OptSpec] = &[
    arg("assignment-strategy", "ASSIGNMENT-STRATEGY", "Set assignment strategy (e.g. org.apache.kafka.clients.consumer.RoundRobinAssignor) (default: org.apache.kafka.clients.consumer.RangeAssignor)"),
    arg("bootstrap-server", "HOST1:PORT1[,HOST2:PORT2[...]]", "REQUIRED unless --broker-list(deprecated) is specified. The server(s) to connect to. Comma-separated list of Kafka brokers in the form HOST1:PORT1,HOST2:PORT2,..."),
    arg("broker-list", "HOST1:PORT1[,HOST2:PORT2[...]]", "DEPRECATED, use --bootstrap-server instead; ignored if --bootstrap-server is specified."),
    arg("consumer.config", "CONFIG_FILE", "Consumer config properties file (config options shared with command line parameters will be overridden)."),
    flag("enable-autocommit", "Enable offset auto-commit on consumer (default: false)"),
    arg("group-id", "GROUP_ID", "REQUIRED: The groupId shared among members of the consumer group"),
    arg("group-instance-id", "GROUP_INSTANCE_ID", "A unique identifier of the consumer instance"),
    arg("max-messages", "MAX-MESSAGES", "Consume this many messages. If -1 (the default), the consumer will consume until the process is killed externally (default: -1)"),
    arg("reset-policy", "RESETPOLICY", "Set reset policy (must be either 'earliest', 'latest', or 'none' (default: earliest)"),
    arg("session-timeout", "TIMEOUT_MS", "Set the consumer's session timeout (default: 30000)"),
    arg("topic", "TOPIC", "REQUIRED: Consumes messages from this topic."),
    flag("verbose", "Enable to log individual consumed records (default: false)"),
];

fn event(name: &str, extra: serde_json::Value) {
    let mut m = serde_json::Map::new();
    m.insert("timestamp".into(), json!(now_ms()));
    m.insert("name".into(), json!(name));
    if let serde_json::Value::Object(mut e) = extra {
        m.append(&mut e);
    }
    println!("{}", serde_json::Value::Object(m));
}

fn tp_list(parts: &[Tp]) -> serde_json::Value {
    json!(parts.iter().map(|(t, p)| json!({"topic": t, "partition": p})).collect::<Vec<_>>())
}

pub async fn main(args: &[String]) -> i32 {
    let p = match start(INTRO, SPECS, args) {
        Start::Go(p) => p,
        Start::Exit(c) => return c,
    };
    let Some(server) = p.value("bootstrap-server").or(p.value("broker-list")).map(str::to_string) else {
        return usage_error("argument --bootstrap-server is required");
    };
    let (Some(topic), Some(group)) = (p.value("topic").map(str::to_string), p.value("group-id").map(str::to_string)) else {
        return usage_error("arguments --topic and --group-id are required");
    };
    let max = match p.num::<i64>("max-messages") {
        Ok(v) => v.unwrap_or(-1),
        Err(m) => return usage_error(&m),
    };
    let session = match p.num::<u64>("session-timeout") {
        Ok(v) => Duration::from_millis(v.unwrap_or(30000)),
        Err(m) => return usage_error(&m),
    };
    let reset = match p.value("reset-policy").unwrap_or("earliest") {
        "earliest" => -2,
        "latest" | "none" => -1,
        x => return usage_error(&format!("Invalid reset policy {x}")),
    };
    let props = match load_props(&p, "consumer.config", &[]) {
        Ok(x) => x,
        Err(m) => return usage_error(&m),
    };
    let client_id = super::consumer_client_id(&props, Some(&group));
    let client = match connect(&server, &client_id, &props).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ERROR {e}");
            return 1;
        }
    };
    let mut c = Consumer::new(client, reset);
    let mut member = Member::new(&group, vec![topic.clone()], session);
    event("startup_complete", json!({}));
    let r = run(&mut c, &mut member, &topic, max, p.has("verbose")).await;
    c.client.forget_all();
    if let Err(e) = member.leave(&mut c.client).await {
        eprintln!("WARN Failed to leave group {group}: {e}");
    }
    let code = match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ERROR {e}");
            1
        }
    };
    event("shutdown_complete", json!({}));
    code
}

async fn commit(c: &mut Consumer, m: &mut Member, consumed: &BTreeMap<Tp, i64>) -> Result<(), KafkaError> {
    if consumed.is_empty() {
        return Ok(());
    }
    let r = m.commit(&mut c.client, consumed).await;
    let offsets: Vec<serde_json::Value> = consumed.iter().map(|((t, p), o)| json!({"topic": t, "partition": p, "offset": o})).collect();
    match &r {
        Ok(()) => event("offsets_committed", json!({"offsets": offsets, "success": true})),
        Err(e) => event("offsets_committed", json!({"offsets": offsets, "error": e.to_string(), "success": false})),
    }
    r
}

async fn run(c: &mut Consumer, m: &mut Member, topic: &str, max: i64, verbose: bool) -> Result<(), KafkaError> {
    c.client.wait_for_topics_auto_create(&[topic.to_string()]).await?;
    let mut assigned: Vec<Tp> = Vec::new();
    let mut total = 0i64;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| KafkaError::Other(e.to_string()))?;
    'rejoin: loop {
        event("partitions_revoked", json!({"partitions": tp_list(&assigned)}));
        assigned = m.join(&mut c.client).await?;
        event("partitions_assigned", json!({"partitions": tp_list(&assigned)}));
        let g = m.group.clone();
        let committed = fetch_offsets(&mut c.client, m.coordinator, &g, Some(&assigned)).await?;
        c.positions.clear();
        c.resolve(&assigned, &committed).await?;
        loop {
            if max >= 0 && total >= max {
                return Ok(());
            }
            let polled = tokio::select! {
                r = c.poll() => r?,
                _ = tokio::signal::ctrl_c() => return Ok(()),
                _ = sigterm.recv() => return Ok(()),
            };
            if !polled.is_empty() {
                let mut per: BTreeMap<Tp, (i64, i64, i64)> = BTreeMap::new();
                let mut next: BTreeMap<Tp, i64> = BTreeMap::new();
                let mut n = 0i64;
                for (tp, r) in &polled {
                    if max >= 0 && total + n >= max {
                        break;
                    }
                    n += 1;
                    let e = per.entry(tp.clone()).or_insert((0, r.offset, r.offset));
                    e.0 += 1;
                    e.1 = e.1.min(r.offset);
                    e.2 = e.2.max(r.offset);
                    next.insert(tp.clone(), r.offset + 1);
                    if verbose {
                        let k = r.key.as_ref().map(|k| String::from_utf8_lossy(k).to_string());
                        let v = r.value.as_ref().map(|v| String::from_utf8_lossy(v).to_string());
                        event("record_data", json!({"key": k, "value": v, "topic": tp.0, "partition": tp.1, "offset": r.offset}));
                    }
                }
                total += n;
                for (tp, o) in &next {
                    c.positions.insert(tp.clone(), *o);
                }
                let parts: Vec<serde_json::Value> = per.iter().map(|((t, p), (cnt, lo, hi))| json!({"topic": t, "partition": p, "count": cnt, "minOffset": lo, "maxOffset": hi})).collect();
                event("records_consumed", json!({"count": n, "partitions": parts}));
                commit(c, m, &next).await?;
            }
            match m.maybe_heartbeat(&mut c.client).await {
                Ok(true) => {}
                _ => continue 'rejoin,
            }
        }
    }
}
