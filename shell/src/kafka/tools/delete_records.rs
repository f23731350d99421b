//! `kafka-delete-records.sh --offset-json-file f.json`: moves each partition's log start
//! offset (DeleteRecords to the leader) and prints the new low watermarks as Kafka 2.5 does.
//! The file: `{"partitions": [{"topic": "t", "partition": 0, "offset": 5}], "version": 1}`.

use std::collections::BTreeMap;

use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_protocol::messages::DeleteRecordsRequest;

use super::{connect, load_props};
use crate::kafka::client::tn;
use crate::kafka::error::{describe as describe_code, KafkaError};
use crate::kafka::opts::{arg, OptSpec};
use crate::kafka::{start, usage_error, Start};

const INTRO: &str = "This tool helps to delete records of the given partitions down to the specified offset.";

const SPECS: &[OptSpec] = &[
    arg("bootstrap-server", "String: server(s) to use for bootstrapping", "REQUIRED: The server to connect to."),
    arg("command-config", "String: command config property file path", "A property file containing configs to be passed to Admin Client."),
    arg("offset-json-file", "String: Offset json file path", "REQUIRED: The JSON file with offset per partition. The format to use is:\n{\"partitions\":\n  [{\"topic\": \"foo\", \"partition\": 1, \"offset\": 1}],\n \"version\":1\n}"),
];

/// Parses the offset JSON; errors are Kafka's messages.
pub fn parse_offsets(text: &str) -> Result<Vec<((String, i32), i64)>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|_| "The input string is not a valid JSON".to_string())?;
    let parts = v.get("partitions").ok_or("Missing partitions field")?;
    let parts = parts.as_array().ok_or("The partitions field must be an array")?;
    let mut out = Vec::new();
    for p in parts {
        let topic = p.get("topic").and_then(|t| t.as_str()).ok_or("Missing or invalid topic field in a partition entry")?;
        let partition = p.get("partition").and_then(|t| t.as_i64()).ok_or("Missing or invalid partition field in a partition entry")?;
        let offset = p.get("offset").and_then(|t| t.as_i64()).ok_or("Missing or invalid offset field in a partition entry")?;
        out.push(((topic.to_string(), partition as i32), offset));
    }
    let mut seen = std::collections::BTreeSet::new();
    let dups: Vec<String> = out.iter().filter(|(tp, _)| !seen.insert(tp.clone())).map(|((t, p), _)| format!("{t}-{p}")).collect();
    if !dups.is_empty() {
        return Err(format!("Offset json file contains duplicate topic partitions: {}", dups.join(",")));
    }
    Ok(out)
}

pub async fn main(args: &[String]) -> i32 {
    let p = match start(INTRO, SPECS, args) {
        Start::Go(p) => p,
        Start::Exit(c) => return c,
    };
    let server = match p.required("bootstrap-server") {
        Ok(s) => s.to_string(),
        Err(m) => return usage_error(&m),
    };
    let file = match p.required("offset-json-file") {
        Ok(s) => s.to_string(),
        Err(m) => return usage_error(&m),
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => return usage_error(&format!("Cannot read {file}: {e}")),
    };
    let offsets = match parse_offsets(&text) {
        Ok(o) => o,
        Err(m) => {
            eprintln!("Error: {m}");
            return 1;
        }
    };
    let props = match load_props(&p, "command-config", &[]) {
        Ok(x) => x,
        Err(m) => return usage_error(&m),
    };
    let mut client = match connect(&server, "adminclient-1", &props).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    println!("Executing records delete operation");
    let mut results: BTreeMap<(String, i32), Result<i64, KafkaError>> = BTreeMap::new();
    let topics: Vec<String> = offsets.iter().map(|((t, _), _)| t.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    if let Err(e) = client.refresh(Some(&topics)).await {
        eprintln!("Error: {e}");
        return 1;
    }
    let mut by_leader: BTreeMap<i32, Vec<((String, i32), i64)>> = BTreeMap::new();
    for (tp, o) in &offsets {
        match client.leader(&tp.0, tp.1) {
            Some(l) => by_leader.entry(l).or_default().push((tp.clone(), *o)),
            None => {
                results.insert(tp.clone(), Err(KafkaError::code(3, None)));
            }
        }
    }
    for (leader, parts) in by_leader {
        let mut by_topic: BTreeMap<String, Vec<(i32, i64)>> = BTreeMap::new();
        for ((t, p), o) in &parts {
            by_topic.entry(t.clone()).or_default().push((*p, *o));
        }
        let mut req = DeleteRecordsRequest::default();
        req.timeout_ms = client.timeout.as_millis() as i32;
        req.topics = by_topic
            .into_iter()
            .map(|(t, ps)| {
                let mut x = DeleteRecordsTopic::default();
                x.name = tn(&t);
                x.partitions = ps
                    .into_iter()
                    .map(|(p, o)| {
                        let mut y = DeleteRecordsPartition::default();
                        y.partition_index = p;
                        y.offset = o;
                        y
                    })
                    .collect();
                x
            })
            .collect();
        let resp = match client.node(leader).await {
            Ok(conn) => conn.send(&req, 1).await,
            Err(e) => Err(e),
        };
        match resp {
            Ok(r) => {
                for t in r.topics {
                    for p in t.partitions {
                        let tp = (t.name.0.to_string(), p.partition_index);
                        let v = if p.error_code == 0 { Ok(p.low_watermark) } else { Err(KafkaError::code(p.error_code, None)) };
                        results.insert(tp, v);
                    }
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for (tp, _) in parts {
                    results.insert(tp, Err(KafkaError::Other(msg.clone())));
                }
            }
        }
    }
    println!("Records delete operation completed:");
    let mut code = 0;
    for ((t, p), r) in results {
        match r {
            Ok(lw) => println!("partition: {t}-{p}\tlow_watermark: {lw}"),
            Err(e) => {
                code = 1;
                let m = match &e {
                    KafkaError::Code(c, m) => describe_code(*c, m.as_deref()),
                    other => other.to_string(),
                };
                println!("partition: {t}-{p}\terror: {m}");
            }
        }
    }
    code
}
