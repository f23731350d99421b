//! `kafka-run-class.sh kafka.tools.GetOffsetShell` (Kafka 2.5): one line `topic:partition:offset`
//! per partition of one topic, sorted by partition, for `--time` -1 (the log end), -2 (the
//! log start) or a timestamp (the first offset at or after it; an empty offset when there is
//! none, as the Java consumer's `offsetsForTimes` gives null).
//!
//! Errors as 2.5 prints them on stderr: `Topic t does not exist`, `Topic t has 0 partitions`,
//! `Topic t does not have any of the requested partitions 5,6` (exit 1), and, going on,
//! `Error: partition 5 does not exist` / `Error: partition 0 does not have a leader. Skip
//! getting offsets`. `--offsets` and `--max-wait-ms` are accepted and ignored, as in 2.5.

use std::collections::BTreeSet;

use super::{connect, list_offsets};
use crate::kafka::client::parse_bootstrap;
use crate::kafka::opts::{arg, OptSpec};
use crate::kafka::props::Props;
use crate::kafka::{start, usage_error, Start};

const INTRO: &str = "An interactive shell for getting topic offsets.";

const SPECS: &[OptSpec] = &[
    arg("broker-list", "String: hostname:port,...,hostname:port", "REQUIRED: The list of hostname and port of the server to connect to."),
    arg("max-wait-ms", "Integer: ms", "DEPRECATED AND IGNORED: The max amount of time each fetch request waits. (default: 1000)"),
    arg("offsets", "Integer: count", "DEPRECATED AND IGNORED: number of offsets returned (default: 1)"),
    arg("partitions", "String: partition ids", "comma separated list of partition ids. If not specified, it will find offsets for all partitions (default: )"),
    arg("time", "Long: timestamp/-1(latest)/-2(earliest)", "timestamp of the offsets before that. [Note: No offset is returned, if the timestamp greater than recently commited record timestamp is given.] (default: -1)"),
    arg("topic", "String: topic", "REQUIRED: The topic to get offset from."),
];

/// `--partitions`: empty = all; otherwise numbers separated by commas (Kafka's message else).
pub fn parse_partitions(s: &str) -> Result<BTreeSet<i32>, String> {
    if s.is_empty() {
        return Ok(BTreeSet::new());
    }
    s.split(',')
        .map(|p| p.parse::<i32>().map_err(|_| format!("--partitions expects a comma separated list of numeric partition ids, but received: {s}")))
        .collect()
}

/// The line printed for one partition (`None`: no offset for that timestamp).
pub fn line(topic: &str, partition: i32, offset: Option<i64>) -> String {
    match offset {
        Some(o) => format!("{topic}:{partition}:{o}"),
        None => format!("{topic}:{partition}:"),
    }
}

pub async fn main(args: &[String]) -> i32 {
    let p = match start(INTRO, SPECS, args) {
        Start::Go(p) => p,
        Start::Exit(c) => return c,
    };
    for name in ["broker-list", "topic"] {
        if !p.has(name) {
            return usage_error(&format!("Missing required argument \"[{name}]\""));
        }
    }
    for name in ["offsets", "max-wait-ms"] {
        if let Err(m) = p.num::<i32>(name) {
            return usage_error(&m);
        }
    }
    let brokers = p.value("broker-list").unwrap_or_default();
    if brokers.split(',').any(|hp| hp.rsplit_once(':').and_then(|(_, port)| port.parse::<u16>().ok()).is_none()) || parse_bootstrap(brokers).is_err() {
        return usage_error("Please provide valid host:port like host1:9091,host2:9092\n ");
    }
    let topic = p.value("topic").unwrap_or_default().to_string();
    let wanted = match parse_partitions(p.value("partitions").unwrap_or_default()) {
        Ok(w) => w,
        Err(m) => {
            eprintln!("{m}");
            return 1;
        }
    };
    let time = match p.num::<i64>("time") {
        Ok(t) => t.unwrap_or(-1),
        Err(m) => return usage_error(&m),
    };
    let mut client = match connect(brokers, "GetOffsetShell", &Props::new()).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    if let Err(e) = client.refresh(None).await {
        eprintln!("{e}");
        return 1;
    }
    let Some(info) = client.meta.topics.get(&topic).filter(|t| t.error == 0 || !t.partitions.is_empty()) else {
        eprintln!("Topic {topic} does not exist");
        return 1;
    };
    let mut parts: Vec<(i32, i32)> = info.partitions.iter().filter(|p| wanted.is_empty() || wanted.contains(&p.id)).map(|p| (p.id, p.leader)).collect();
    parts.sort_unstable();
    if parts.is_empty() {
        if wanted.is_empty() {
            eprintln!("Topic {topic} has 0 partitions");
        } else {
            let list: Vec<String> = wanted.iter().map(|p| p.to_string()).collect();
            eprintln!("Topic {topic} does not have any of the requested partitions {}", list.join(","));
        }
        return 1;
    }
    for w in &wanted {
        if !parts.iter().any(|(id, _)| id == w) {
            eprintln!("Error: partition {w} does not exist");
        }
    }
    let mut ask = Vec::new();
    for (id, leader) in parts {
        if leader < 0 {
            eprintln!("Error: partition {id} does not have a leader. Skip getting offsets");
        } else {
            ask.push((topic.clone(), id));
        }
    }
    let offsets = match list_offsets(&mut client, &ask, time).await {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    for (t, part) in &ask {
        let offset = offsets.get(&(t.clone(), *part)).copied().filter(|o| *o >= 0 || time < 0);
        println!("{}", line(&topic, *part, offset));
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_as_kafka_reads_them() {
        assert!(parse_partitions("").unwrap().is_empty());
        assert_eq!(parse_partitions("2,0,2").unwrap().into_iter().collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(parse_partitions("0,x").unwrap_err(), "--partitions expects a comma separated list of numeric partition ids, but received: 0,x");
    }

    #[test]
    fn lines() {
        assert_eq!(line("t", 0, Some(42)), "t:0:42");
        assert_eq!(line("t", 3, None), "t:3:");
    }
}
