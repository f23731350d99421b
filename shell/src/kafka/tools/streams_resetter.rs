//! `kafka-streams-application-reset.sh` (Kafka 2.5's StreamsResetter): for the consumer group
//! named by `--application-id`, refuses while it has members, then commits new offsets on the
//! `--input-topics` (earliest by default, or `--to-latest` / `--to-offset` / `--shift-by` /
//! `--to-datetime` / `--by-duration` / `--from-file`), the end offsets on the
//! `--intermediate-topics`, and deletes the application's internal topics
//! (`<application.id>-...-changelog|-repartition|-subscription-registration-topic|
//! -subscription-response-topic`). `--dry-run` prints the same plan and changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::DeleteTopicsRequest;

use super::consumer_groups::{describe_group, parse_datetime};
use super::{connect, list_offsets, load_props, now_ms, partitions_of};
use crate::kafka::client::Client;
use crate::kafka::error::KafkaError;
use crate::kafka::group::{commit_offsets, fetch_offsets, Tp};
use crate::kafka::opts::{arg, flag, OptSpec, Parsed};
use crate::kafka::{start, usage_error, Start};

const INTRO: &str = "The Streams Reset Tool allows you to quickly reset an application in order to reprocess its data from scratch.
* This tool resets offsets of input topics to the earliest available offset and it skips to the end of intermediate topics (topics used in the through() method).
* This tool deletes the internal topics that were created by Kafka Streams (topics starting with \"<application.id>-\").
You do not need to specify internal topics because the tool finds them automatically.
* This tool will not delete output topics (if you want to delete them, you need to do it yourself with the bin/kafka-topics.sh command).
* This tool will not clean up the local state on the stream application instances (the persisted stores used to cache aggregation results).
You need to call KafkaStreams#cleanUp() in your application or manually delete them from the directory specified by \"state.dir\" configuration (/tmp/kafka-streams/<application.id> by default).

*** Important! You will get wrong output if you don't clean up the local stores after running the reset tool!";

const SPECS: &[OptSpec] = &[
    arg("application-id", "String: id", "The Kafka Streams application ID (application.id)."),
    arg("bootstrap-servers", "String: urls", "Comma-separated list of broker urls with format: HOST1:PORT1,HOST2:PORT2 (default: localhost:9092)"),
    arg("by-duration", "String", "Reset offsets to offset by duration from current timestamp. Format: 'PnDTnHnMnS'"),
    arg("config-file", "String: file name", "Property file containing configs to be passed to admin clients and embedded consumer."),
    flag("dry-run", "Display the actions that would be performed without executing the reset commands."),
    flag("execute", "Execute the command."),
    arg("from-file", "String", "Reset offsets to values defined in CSV file."),
    arg("input-topics", "String: list", "Comma-separated list of user input topics. For these topics, the tool will reset the offset to the earliest available offset."),
    arg("intermediate-topics", "String: list", "Comma-separated list of intermediate user topics (topics used in the through() method). For these topics, the tool will skip to the end."),
    arg("shift-by", "Long", "Reset offsets shifting current offset by 'n', where 'n' can be positive or negative"),
    arg("to-datetime", "String", "Reset offsets to offset from datetime. Format: 'YYYY-MM-DDTHH:mm:SS.sss'"),
    flag("to-earliest", "Reset offsets to earliest offset."),
    flag("to-latest", "Reset offsets to latest offset."),
    arg("to-offset", "Long", "Reset offsets to a specific offset."),
    arg("zookeeper", "String", "Zookeeper option is deprecated by bootstrap.servers, as the reset tool would no longer access Zookeeper directly."),
];

const SCENARIOS: &[&str] = &["to-offset", "to-datetime", "by-duration", "to-earliest", "to-latest", "from-file", "shift-by"];

fn list(p: &Parsed, name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in p.values(name) {
        for t in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if !out.iter().any(|x| x == t) {
                out.push(t.to_string());
            }
        }
    }
    out
}

/// Java's `List.toString`: `[a, b]`.
fn jlist(v: &[String]) -> String {
    format!("[{}]", v.join(", "))
}

pub async fn main(args: &[String]) -> i32 {
    let p = match start(INTRO, SPECS, args) {
        Start::Go(p) => p,
        Start::Exit(c) => return c,
    };
    if !p.has("application-id") {
        return usage_error("Missing required option(s) [application-id]");
    }
    if p.has("execute") && p.has("dry-run") {
        return usage_error("Only one of --dry-run and --execute can be specified");
    }
    let given: Vec<&&str> = SCENARIOS.iter().filter(|s| p.has(s)).collect();
    if given.len() > 1 {
        let others: Vec<String> = given[1..].iter().map(|s| s.to_string()).collect();
        return usage_error(&format!("Option \"[{}]\" can't be used with option \"[{}]\"", given[0], others.join(", ")));
    }
    for n in ["to-offset", "shift-by"] {
        if let Err(m) = p.num::<i64>(n) {
            return usage_error(&m);
        }
    }
    let props = match load_props(&p, "config-file", &[]) {
        Ok(x) => x,
        Err(m) => return usage_error(&m),
    };
    let servers = p.value("bootstrap-servers").unwrap_or("localhost:9092").to_string();
    let mut client = match connect(&servers, "adminclient-1", &props).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return 1;
        }
    };
    match run(&mut client, &p).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ERROR: {e}");
            1
        }
    }
}

async fn run(client: &mut Client, p: &Parsed) -> Result<i32, KafkaError> {
    let group = p.value("application-id").unwrap_or_default().to_string();
    let dry_run = p.has("dry-run");
    let info = describe_group(client, &group).await?;
    if !info.members.is_empty() {
        let members: Vec<String> = info
            .members
            .iter()
            .map(|m| {
                let parts: Vec<String> = m.assignment.iter().map(|(t, pn)| format!("{t}-{pn}")).collect();
                format!("(memberId={}, groupInstanceId=null, clientId={}, host={}, assignment=(topicPartitions={}))", m.id, m.client_id, m.host, parts.join(","))
            })
            .collect();
        return Err(KafkaError::Other(format!(
            "java.lang.IllegalStateException: Consumer group '{group}' is still active and has following members: [{}]. Make sure to stop all running application instances before running the reset tool.",
            members.join(", ")
        )));
    }
    client.refresh(None).await?;
    let all_topics: BTreeSet<String> = client.meta.topics.keys().cloned().collect();
    if dry_run {
        println!("----Dry run displays the actions which will be performed when running Streams Reset Tool----");
    }
    let inputs = list(p, "input-topics");
    let intermediates = list(p, "intermediate-topics");
    let code = reset_offsets(client, p, &group, &all_topics, &inputs, &intermediates, info.coordinator, dry_run).await?;
    delete_internal(client, p, &group, &all_topics, &inputs, &intermediates, dry_run).await?;
    Ok(code)
}

#[allow(clippy::too_many_arguments)]
async fn reset_offsets(client: &mut Client, p: &Parsed, group: &str, all: &BTreeSet<String>, inputs: &[String], intermediates: &[String], coordinator: i32, dry_run: bool) -> Result<i32, KafkaError> {
    if inputs.is_empty() && intermediates.is_empty() {
        println!("No input or intermediate topics specified. Skipping seek.");
        return Ok(0);
    }
    if !inputs.is_empty() {
        println!("Reset-offsets for input topics {}", jlist(inputs));
    }
    if !intermediates.is_empty() {
        println!("Seek-to-end for intermediate topics {}", jlist(intermediates));
    }
    let mut code = 0;
    let missing_in: Vec<&String> = inputs.iter().filter(|t| !all.contains(*t)).collect();
    let missing_mid: Vec<&String> = intermediates.iter().filter(|t| !all.contains(*t)).collect();
    if !missing_in.is_empty() {
        println!("Following input topics are not found, skipping them");
        for t in &missing_in {
            println!("Topic: {t}");
        }
        code = 1;
    }
    if !missing_mid.is_empty() {
        println!("Following intermediate topics are not found, skipping them");
        for t in &missing_mid {
            println!("Topic:{t}");
        }
        code = 1;
    }
    let input_parts: Vec<Tp> = inputs.iter().filter(|t| all.contains(*t)).flat_map(|t| partitions_of(client, t).into_iter().map(move |pn| (t.clone(), pn))).collect();
    let mid_parts: Vec<Tp> = intermediates.iter().filter(|t| all.contains(*t) && !inputs.contains(t)).flat_map(|t| partitions_of(client, t).into_iter().map(move |pn| (t.clone(), pn))).collect();
    if input_parts.is_empty() && mid_parts.is_empty() {
        return Ok(code);
    }
    let mut everything = input_parts.clone();
    everything.extend(mid_parts.iter().cloned());
    let earliest = list_offsets(client, &everything, -2).await?;
    let latest = list_offsets(client, &everything, -1).await?;
    let mut new: BTreeMap<Tp, i64> = BTreeMap::new();
    if !input_parts.is_empty() {
        println!("Following input topics offsets will be reset to (for consumer group {group})");
        let committed = fetch_offsets(client, coordinator, group, Some(&input_parts)).await?;
        let clamp = |tp: &Tp, o: i64| -> i64 {
            let lo = earliest.get(tp).copied().unwrap_or(0);
            let hi = latest.get(tp).copied().unwrap_or(0);
            if o >= hi {
                if o > hi {
                    println!("New offset ({o}) is higher than latest offset. Value will be set to {hi}");
                }
                hi
            } else if o > lo {
                o
            } else {
                if o < lo {
                    println!("New offset ({o}) is lower than earliest offset. Value will be set to {lo}");
                }
                lo
            }
        };
        let plan: Option<BTreeMap<Tp, i64>> = match p.value("from-file") {
            Some(f) => Some(read_plan(f)?),
            None => None,
        };
        for tp in &input_parts {
            let lo = earliest.get(tp).copied().unwrap_or(0);
            let hi = latest.get(tp).copied().unwrap_or(0);
            // The consumer's position: the committed offset, else auto.offset.reset=latest.
            let position = committed.get(tp).copied().filter(|o| *o >= 0).unwrap_or(hi);
            let o = if let Some(o) = p.num::<i64>("to-offset").map_err(KafkaError::Other)? {
                clamp(tp, o)
            } else if p.has("to-latest") {
                hi
            } else if let Some(s) = p.num::<i64>("shift-by").map_err(KafkaError::Other)? {
                clamp(tp, position.saturating_add(s))
            } else if p.has("to-datetime") || p.has("by-duration") {
                let ts = match p.value("to-datetime") {
                    Some(d) => parse_datetime(d)?,
                    None => {
                        let d = p.value("by-duration").unwrap_or("");
                        let span: jiff::Span = d.parse().map_err(|_| KafkaError::Other(format!("java.time.format.DateTimeParseException: Text cannot be parsed to a Duration: {d}")))?;
                        let now = jiff::Timestamp::from_millisecond(now_ms()).map_err(|e| KafkaError::Other(e.to_string()))?;
                        now.checked_sub(span).map_err(|e| KafkaError::Other(format!("Duration {d}: {e}")))?.as_millisecond()
                    }
                };
                let found = list_offsets(client, std::slice::from_ref(tp), ts).await?;
                found.get(tp).copied().filter(|o| *o >= 0).unwrap_or(hi)
            } else if let Some(plan) = &plan {
                match plan.get(tp) {
                    Some(o) => clamp(tp, *o),
                    None => position,
                }
            } else {
                lo
            };
            new.insert(tp.clone(), o);
        }
        for tp in &input_parts {
            println!("Topic: {} Partition: {} Offset: {}", tp.0, tp.1, new.get(tp).copied().unwrap_or(0));
        }
    }
    if !mid_parts.is_empty() {
        println!("Following intermediate topics offsets will be reset to end (for consumer group {group})");
        for tp in &mid_parts {
            println!("Topic: {}", tp.0);
            new.insert(tp.clone(), latest.get(tp).copied().unwrap_or(0));
        }
    }
    if !dry_run {
        commit_offsets(client, coordinator, group, -1, "", &new).await?;
    }
    println!("Done.");
    Ok(code)
}

/// A `--from-file` reset plan: `TOPIC,PARTITION,OFFSET` lines.
fn read_plan(path: &str) -> Result<BTreeMap<Tp, i64>, KafkaError> {
    let text = std::fs::read_to_string(path).map_err(|e| KafkaError::Other(format!("java.nio.file.NoSuchFileException: {path} ({e})")))?;
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        let bad = || KafkaError::Other("java.text.ParseException: Reset plan CSV file is not following the format `TOPIC,PARTITION,OFFSET`.".into());
        let [t, pn, o] = cols.as_slice() else { return Err(bad()) };
        out.insert((t.to_string(), pn.parse::<i32>().map_err(|_| bad())?), o.parse::<i64>().map_err(|_| bad())?);
    }
    if out.is_empty() {
        return Err(KafkaError::Other("java.text.ParseException: Error parsing reset plan CSV file. It is empty,".into()));
    }
    Ok(out)
}

/// Whether a topic is one Kafka Streams made for the application (KAFKA-7930: never a topic
/// named as input or intermediate).
fn is_internal(app: &str, topic: &str, inputs: &[String], intermediates: &[String]) -> bool {
    !inputs.iter().any(|t| t == topic)
        && !intermediates.iter().any(|t| t == topic)
        && topic.starts_with(&format!("{app}-"))
        && (topic.ends_with("-changelog") || topic.ends_with("-repartition") || topic.ends_with("-subscription-registration-topic") || topic.ends_with("-subscription-response-topic"))
}

async fn delete_internal(client: &mut Client, p: &Parsed, app: &str, all: &BTreeSet<String>, inputs: &[String], intermediates: &[String], dry_run: bool) -> Result<(), KafkaError> {
    let _ = p;
    println!("Deleting all internal/auto-created topics for application {app}");
    let doomed: Vec<String> = all.iter().filter(|t| is_internal(app, t, inputs, intermediates)).cloned().collect();
    if dry_run {
        for t in &doomed {
            println!("Topic: {t}");
        }
    } else if !doomed.is_empty() {
        let timeout = client.timeout;
        let conn = client.controller().await?;
        let v = conn.version_for::<DeleteTopicsRequest>(4)?;
        let req = super::topics::delete_topics_request(&doomed, timeout, v);
        let resp = conn.call(&req, v).await?;
        let mut failed = false;
        for r in resp.responses {
            if let Err(e) = crate::kafka::error::check(r.error_code, r.error_message.map(|m| m.to_string())) {
                eprintln!("ERROR: deleting topic {}", r.name.map(|n| n.0.to_string()).unwrap_or_default());
                eprintln!("{e}");
                failed = true;
            }
        }
        if failed {
            return Err(KafkaError::Other("java.lang.RuntimeException: Encountered an error deleting one or more topics".into()));
        }
    }
    println!("Done.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_topics_as_2_5() {
        let inputs = vec!["app-in-changelog".to_string()];
        assert!(is_internal("app", "app-store-changelog", &inputs, &[]));
        assert!(is_internal("app", "app-KSTREAM-AGG-0000000003-repartition", &inputs, &[]));
        assert!(!is_internal("app", "app-in-changelog", &inputs, &[]));
        assert!(!is_internal("app", "other-store-changelog", &inputs, &[]));
        assert!(!is_internal("app", "app-output", &inputs, &[]));
    }
}
