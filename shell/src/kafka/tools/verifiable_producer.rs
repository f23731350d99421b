//! `kafka-verifiable-producer.sh`: sends `--max-messages` sequential values ("0", "1", ...)
//! at `--throughput` msgs/sec and reports each ack as Kafka's VerifiableProducer JSON events
//! (`startup_complete`, `producer_send_success`/`producer_send_error`, `shutdown_complete`,
//! `tool_data`).

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;

use super::{connect, load_props, now_ms};
use crate::kafka::opts::{arg, OptSpec};
use crate::kafka::producer::{parse_acks, Producer};
use crate::kafka::records::{parse_codec, Outgoing};
use crate::kafka::{start, usage_error, Start};

const INTRO: &str = "This tool produces increasing integers to the specified topic and prints JSON metadata to stdout on each \"send\" request, making externally visible which messages have been acked and which have not.";

const SPECS: &[OptSpec] = &[
    arg("acks", "ACKS", "Acks required on each produced message. See Kafka docs on acks for details. (default: -1)"),
    arg("bootstrap-server", "HOST1:PORT1[,HOST2:PORT2[...]]", "REQUIRED: The server(s) to connect to. Comma-separated list of Kafka brokers in the form HOST1:PORT1,HOST2:PORT2,..."),
    arg("broker-list", "HOST1:PORT1[,HOST2:PORT2[...]]", "DEPRECATED, use --bootstrap-server instead; ignored if --bootstrap-server is specified."),
    arg("max-messages", "MAX-MESSAGES", "Produce this many messages. If -1, produce messages until the process is killed externally. (default: -1)"),
    arg("message-create-time", "CREATETIME", "Send messages with creation time starting at the arguments value, in milliseconds since epoch (default: -1)"),
    arg("producer.config", "CONFIG_FILE", "Producer config properties file."),
    arg("repeating-keys", "REPEATING-KEYS", "If specified, each produced record will have a key starting at 0 increment by 1 up to the number specified (exclusive), then the key is set to 0 again"),
    arg("throughput", "THROUGHPUT", "If set >= 0, throttle maximum message throughput to *approximately* THROUGHPUT messages/sec. (default: -1)"),
    arg("topic", "TOPIC", "Produce messages to this topic."),
    arg("value-prefix", "VALUE-PREFIX", "If specified, each produced value will have this prefix with a dot separator"),
];

fn event(name: &str, mut extra: serde_json::Map<String, serde_json::Value>) {
    let mut m = serde_json::Map::new();
    m.insert("timestamp".into(), json!(now_ms()));
    m.insert("name".into(), json!(name));
    m.append(&mut extra);
    println!("{}", serde_json::Value::Object(m));
}

pub async fn main(args: &[String]) -> i32 {
    let p = match start(INTRO, SPECS, args) {
        Start::Go(p) => p,
        Start::Exit(c) => return c,
    };
    let Some(server) = p.value("bootstrap-server").or(p.value("broker-list")).map(str::to_string) else {
        return usage_error("argument --bootstrap-server is required");
    };
    let topic = match p.value("topic") {
        Some(t) => t.to_string(),
        None => return usage_error("argument --topic is required"),
    };
    let nums = (|| -> Result<(i64, f64, i64, Option<i64>), String> {
        Ok((
            p.num::<i64>("max-messages")?.unwrap_or(-1),
            p.num::<f64>("throughput")?.unwrap_or(-1.0),
            p.num::<i64>("message-create-time")?.unwrap_or(-1),
            p.num::<i64>("repeating-keys")?,
        ))
    })();
    let (max, throughput, create_time, repeating) = match nums {
        Ok(v) => v,
        Err(m) => return usage_error(&m),
    };
    let props = match load_props(&p, "producer.config", &[]) {
        Ok(x) => x,
        Err(m) => return usage_error(&m),
    };
    let acks = match parse_acks(p.value("acks").unwrap_or("-1")) {
        Ok(a) => a,
        Err(m) => return usage_error(&m),
    };
    let codec = match parse_codec(props.get("compression.type").map(|s| s.as_str()).unwrap_or("none")) {
        Ok(c) => c,
        Err(e) => return usage_error(&e.to_string()),
    };
    let client = match connect(&server, "producer-1", &props).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ERROR {e}");
            return 1;
        }
    };
    let mut producer = Producer::new(client, acks, codec);
    event("startup_complete", serde_json::Map::new());
    let start_t = Instant::now();
    let (mut sent, mut acked) = (0i64, 0i64);
    let prefix = p.value("value-prefix").map(|s| format!("{s}."));
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    loop {
        if max >= 0 && sent >= max {
            break;
        }
        if throughput > 0.0 {
            let due = Duration::from_secs_f64(sent as f64 / throughput);
            let el = start_t.elapsed();
            if due > el {
                tokio::time::sleep(due - el).await;
            }
        }
        let value = format!("{}{}", prefix.clone().unwrap_or_default(), sent);
        let key = repeating.map(|r| (sent % r.max(1)).to_string());
        let ts = if create_time >= 0 { create_time + sent } else { now_ms() };
        let rec = Outgoing { key: key.clone().map(Bytes::from), value: Some(Bytes::from(value.clone())), headers: Vec::new(), timestamp: ts };
        sent += 1;
        let send = async {
            let part = producer.choose(&topic, rec.key.as_deref()).await?;
            let r = producer.send(&topic, part, std::slice::from_ref(&rec)).await;
            producer.new_sticky(&topic);
            r.map(|o| (part, o))
        };
        let r = tokio::select! {
            r = send => r,
            _ = tokio::signal::ctrl_c() => break,
            _ = async { match sigterm.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending::<()>().await } } => break,
        };
        let mut m = serde_json::Map::new();
        match r {
            Ok((part, offset)) => {
                acked += 1;
                m.insert("key".into(), json!(key));
                m.insert("value".into(), json!(value));
                m.insert("topic".into(), json!(topic));
                m.insert("partition".into(), json!(part));
                m.insert("offset".into(), json!(offset));
                event("producer_send_success", m);
            }
            Err(e) => {
                let (class, msg) = match &e {
                    crate::kafka::error::KafkaError::Code(c, mm) => {
                        let (cl, d) = crate::kafka::error::exception(*c);
                        (format!("class org.apache.kafka.common.errors.{cl}"), mm.clone().unwrap_or_else(|| d.to_string()))
                    }
                    other => ("class org.apache.kafka.common.KafkaException".to_string(), other.to_string()),
                };
                m.insert("exception".into(), json!(class));
                m.insert("message".into(), json!(msg));
                m.insert("topic".into(), json!(topic));
                m.insert("key".into(), json!(key));
                m.insert("value".into(), json!(value));
                event("producer_send_error", m);
            }
        }
    }
    event("shutdown_complete", serde_json::Map::new());
    let secs = start_t.elapsed().as_secs_f64().max(1e-9);
    let mut m = serde_json::Map::new();
    m.insert("sent".into(), json!(sent));
    m.insert("acked".into(), json!(acked));
    m.insert("target_throughput".into(), json!(throughput as i64));
    m.insert("avg_throughput".into(), json!(acked as f64 / secs));
    event("tool_data", m);
    0
}
