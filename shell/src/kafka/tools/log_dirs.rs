//! `kafka-log-dirs.sh --describe`: DescribeLogDirs on each broker, printed as Kafka 2.5 does
//! (`Querying brokers for log directories information`, `Received log directory
//! information from brokers 0`, then one JSON line). A broker without DescribeLogDirs is a
//! clear error naming it.

use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::DescribeLogDirsRequest;
use serde_json::json;

use super::{connect, load_props};
use crate::kafka::client::tn;
use crate::kafka::opts::{arg, flag, OptSpec};
use crate::kafka::{start, usage_error, Start};

const INTRO: &str = "This tool helps to query log directory usage on the specified brokers.";

const SPECS: &[OptSpec] = &[
    arg("bootstrap-server", "String: The server(s) to use for bootstrapping", "REQUIRED: the server(s) to use for bootstrapping"),
    arg("broker-list", "String: Broker list", "The list of brokers to be queried in the form \"0,1,2\". All brokers in the cluster will be queried if no broker list is specified"),
    arg("command-config", "String: Admin client property file", "Property file containing configs to be passed to Admin Client."),
    flag("describe", "Describe the specified log directories on the specified brokers."),
    arg("topic-list", "String: Topic list", "The list of topics to be queried in the form \"topic1,topic2,topic3\". All topics will be queried if no topic list is specified (default: )"),
];

pub async fn main(args: &[String]) -> i32 {
    let p = match start(INTRO, SPECS, args) {
        Start::Go(p) => p,
        Start::Exit(c) => return c,
    };
    if !p.has("describe") {
        return usage_error("Missing required argument \"[describe]\"");
    }
    let server = match p.required("bootstrap-server") {
        Ok(s) => s.to_string(),
        Err(m) => return usage_error(&m),
    };
    let props = match load_props(&p, "command-config", &[]) {
        Ok(x) => x,
        Err(m) => return usage_error(&m),
    };
    let topics: Vec<String> = p.value("topic-list").map(|t| t.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()).unwrap_or_default();
    let mut client = match connect(&server, "adminclient-1", &props).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    let brokers: Vec<i32> = match p.value("broker-list") {
        Some(l) => match l.split(',').map(|s| s.trim().parse::<i32>()).collect::<Result<Vec<_>, _>>() {
            Ok(v) => v,
            Err(_) => return usage_error(&format!("Invalid broker list '{l}'")),
        },
        None => client.meta.brokers.keys().copied().collect(),
    };
    if let Err(e) = client.refresh(None).await {
        eprintln!("Error: {e}");
        return 1;
    }
    println!("Querying brokers for log directories information");
    let mut out = Vec::new();
    for b in &brokers {
        let mut req = DescribeLogDirsRequest::default();
        req.topics = if topics.is_empty() {
            None
        } else {
            Some(
                topics
                    .iter()
                    .map(|t| {
                        let mut x = DescribableLogDirTopic::default();
                        x.topic = tn(t);
                        x.partitions = client.meta.topics.get(t).map(|i| i.partitions.iter().map(|p| p.id).collect()).unwrap_or_default();
                        x
                    })
                    .collect(),
            )
        };
        let resp = match client.node(*b).await {
            Ok(conn) => conn.send(&req, 1).await,
            Err(e) => Err(e),
        };
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                eprintln!("Error: broker {b}: {e}");
                return 1;
            }
        };
        let dirs: Vec<serde_json::Value> = resp
            .results
            .iter()
            .map(|d| {
                let parts: Vec<serde_json::Value> = d
                    .topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions.iter().map(move |p| {
                            json!({"partition": format!("{}-{}", t.name.0, p.partition_index), "size": p.partition_size, "offsetLag": p.offset_lag, "isFuture": p.is_future_key})
                        })
                    })
                    .collect();
                let err = if d.error_code == 0 { serde_json::Value::Null } else { json!(crate::kafka::error::exception(d.error_code).0) };
                json!({"logDir": d.log_dir.to_string(), "error": err, "partitions": parts})
            })
            .collect();
        out.push(json!({"broker": b, "logDirs": dirs}));
    }
    println!("Received log directory information from brokers {}", brokers.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(","));
    println!("{}", json!({"version": 1, "brokers": out}));
    0
}
