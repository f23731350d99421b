//! `kafka-console-consumer.sh`: prints records as Kafka's DefaultMessageFormatter does
//! (`print.key`, `print.timestamp`, `print.partition`, `print.offset`, `print.headers`,
//! `key.separator`, ...), from a group (`--group`: join, committed offsets, commits) or from
//! directly assigned partitions, and ends with `Processed a total of N messages`.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use kafka_protocol::records::TimestampType;

use super::{connect, load_props, Whitelist};
use crate::kafka::client::Client;
use crate::kafka::consumer::Consumer;
use crate::kafka::error::KafkaError;
use crate::kafka::group::{fetch_offsets, Member, Tp};
use crate::kafka::opts::{arg, flag, OptSpec};
use crate::kafka::props::{is_true, unescape, Props};
use crate::kafka::records::Incoming;
use crate::kafka::{start, usage_error, Start};

const INTRO: &str = "This tool helps to read data from Kafka topics and outputs it to standard output.";

const SPECS: &[OptSpec] = &[
    arg("bootstrap-server", "String: server to connect to", "REQUIRED: The server(s) to connect to."),
    arg("consumer-property", "String: consumer_prop", "A mechanism to pass user-defined properties in the form key=value to the consumer."),
    arg("consumer.config", "String: config file", "Consumer config properties file. Note that [consumer-property] takes precedence over this config."),
    flag("enable-systest-events", "Log lifecycle events of the consumer in addition to logging consumed messages. (This is specific for system tests.)"),
    arg("formatter", "String: class", "The name of a class to use for formatting kafka messages for display. (default: kafka.tools.DefaultMessageFormatter)"),
    flag("from-beginning", "If the consumer does not already have an established offset to consume from, start with the earliest message present in the log rather than the latest message."),
    arg("group", "String: consumer group id", "The consumer group id of the consumer."),
    arg("isolation-level", "String", "Set to read_committed in order to filter out transactional messages which are not committed. Set to read_uncommitted to read all messages. (default: read_uncommitted)"),
    arg("key-deserializer", "String: deserializer for key", ""),
    arg("max-messages", "Integer: num_messages", "The maximum number of messages to consume before exiting. If not set, consumption is continual."),
    arg("offset", "String: consume offset", "The offset id to consume from (a non-negative number), or 'earliest' which means from beginning, or 'latest' which means from end (default: latest)"),
    arg("partition", "Integer: partition", "The partition to consume from. Consumption starts from the end of the partition unless '--offset' is specified."),
    arg("property", "String: prop", "The properties to initialize the message formatter. Default properties include:\n\tprint.timestamp=true|false\n\tprint.key=true|false\n\tprint.offset=true|false\n\tprint.partition=true|false\n\tprint.headers=true|false\n\tprint.value=true|false\n\tkey.separator=<key.separator>\n\tline.separator=<line.separator>\n\theaders.separator=<line.separator>\n\tnull.literal=<null.literal>\n\tkey.deserializer=<key.deserializer>\n\tvalue.deserializer=<value.deserializer>\n\theader.deserializer=<header.deserializer>"),
    flag("skip-message-on-error", "If there is an error when processing a message, skip it instead of halt."),
    arg("timeout-ms", "Integer: timeout_ms", "If specified, exit if no message is available for consumption for the specified interval."),
    arg("topic", "String: topic", "The topic id to consume on."),
    arg("value-deserializer", "String: deserializer for values", ""),
    arg("whitelist", "String: whitelist", "Regular expression specifying whitelist of topics to include for consumption."),
];

/// DefaultMessageFormatter's settings.
pub struct Formatter {
    pub timestamp: bool,
    pub key: bool,
    pub value: bool,
    pub partition: bool,
    pub offset: bool,
    pub headers: bool,
    pub key_sep: String,
    pub line_sep: String,
    pub headers_sep: String,
    pub null_literal: String,
}

impl Formatter {
    pub fn from_props(p: &Props) -> Formatter {
        let get = |k: &str, d: &str| p.get(k).map(|s| unescape(s)).unwrap_or_else(|| d.to_string());
        Formatter {
            timestamp: is_true(p, "print.timestamp"),
            key: is_true(p, "print.key"),
            value: p.get("print.value").map(|v| v.trim().eq_ignore_ascii_case("true")).unwrap_or(true),
            partition: is_true(p, "print.partition"),
            offset: is_true(p, "print.offset"),
            headers: is_true(p, "print.headers"),
            key_sep: get("key.separator", "\t"),
            line_sep: get("line.separator", "\n"),
            headers_sep: get("headers.separator", ","),
            null_literal: get("null.literal", "null"),
        }
    }

    pub fn format(&self, partition: i32, r: &Incoming, out: &mut Vec<u8>) {
        let mut first = true;
        let mut sep = |out: &mut Vec<u8>| {
            if !first {
                out.extend_from_slice(self.key_sep.as_bytes());
            }
            first = false;
        };
        let bytes = |b: &Option<bytes::Bytes>, out: &mut Vec<u8>| match b {
            Some(b) => out.extend_from_slice(b),
            None => out.extend_from_slice(self.null_literal.as_bytes()),
        };
        if self.timestamp {
            sep(out);
            if r.timestamp < 0 {
                out.extend_from_slice(b"NO_TIMESTAMP");
            } else {
                let t = match r.timestamp_type {
                    TimestampType::Creation => "CreateTime",
                    TimestampType::LogAppend => "LogAppendTime",
                };
                out.extend_from_slice(format!("{t}:{}", r.timestamp).as_bytes());
            }
        }
        if self.partition {
            sep(out);
            out.extend_from_slice(format!("Partition:{partition}").as_bytes());
        }
        if self.offset {
            sep(out);
            out.extend_from_slice(format!("Offset:{}", r.offset).as_bytes());
        }
        if self.headers {
            sep(out);
            if r.headers.is_empty() {
                out.extend_from_slice(b"NO_HEADERS");
            } else {
                for (i, (k, v)) in r.headers.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(self.headers_sep.as_bytes());
                    }
                    out.extend_from_slice(k.as_bytes());
                    out.push(b':');
                    bytes(v, out);
                }
            }
        }
        if self.key {
            sep(out);
            bytes(&r.key, out);
        }
        if self.value {
            sep(out);
            bytes(&r.value, out);
        }
        out.extend_from_slice(self.line_sep.as_bytes());
    }
}

/// Where each partition starts when there is no committed offset.
enum StartAt {
    Reset(i64),
    Offset(i64),
}

pub async fn main(args: &[String]) -> i32 {
    let p = match start(INTRO, SPECS, args) {
        Start::Go(p) => p,
        Start::Exit(c) => return c,
    };
    let Some(server) = p.value("bootstrap-server").map(str::to_string) else {
        return usage_error("Missing required argument \"[bootstrap-server]\"");
    };
    if p.has("topic") == p.has("whitelist") {
        return usage_error("Exactly one of whitelist/topic is required.");
    }
    if p.has("partition") && !p.has("topic") {
        return usage_error("The topic is required when partition is specified.");
    }
    if p.has("offset") && !p.has("partition") {
        return usage_error("The partition is required when offset is specified.");
    }
    if p.has("from-beginning") && p.has("offset") {
        return usage_error("Options from-beginning and offset cannot be specified together.");
    }
    let consumer_props = match load_props(&p, "consumer.config", &["consumer-property"]) {
        Ok(x) => x,
        Err(m) => return usage_error(&m),
    };
    let mut fmt_props = Props::new();
    if let Err(m) = crate::kafka::props::add_pairs(&mut fmt_props, &p.values("property")) {
        return usage_error(&m);
    }
    let group = match (p.value("group"), consumer_props.get("group.id")) {
        (Some(a), Some(b)) if a != b => return usage_error(&format!("The group ids provided in different places (directly using '--group': {a}, via '--consumer-property': {b}) do not match.")),
        (Some(a), _) => Some(a.to_string()),
        (None, Some(b)) => Some(b.clone()),
        (None, None) => None,
    };
    if group.is_some() && p.has("partition") {
        return usage_error("Options group and partition cannot be specified together.");
    }
    let partition = match p.num::<i32>("partition") {
        Ok(v) => v,
        Err(m) => return usage_error(&m),
    };
    let max_messages = match p.num::<u64>("max-messages") {
        Ok(v) => v,
        Err(m) => return usage_error(&m),
    };
    let timeout_ms = match p.num::<u64>("timeout-ms") {
        Ok(v) => v,
        Err(m) => return usage_error(&m),
    };
    let isolation = match p.value("isolation-level").or(consumer_props.get("isolation.level").map(|s| s.as_str())) {
        None | Some("read_uncommitted") => 0,
        Some("read_committed") => 1,
        Some(x) => return usage_error(&format!("Invalid value {x} for configuration isolation.level: String must be one of: read_committed, read_uncommitted")),
    };
    let reset = if p.has("from-beginning") {
        -2
    } else {
        match consumer_props.get("auto.offset.reset").map(|s| s.as_str()) {
            Some("earliest") => -2,
            None | Some("latest") => -1,
            Some(x) => return usage_error(&format!("Invalid value {x} for configuration auto.offset.reset: String must be one of: latest, earliest, none")),
        }
    };
    let start_at = match p.value("offset") {
        None => StartAt::Reset(reset),
        Some("earliest") => StartAt::Reset(-2),
        Some("latest") => StartAt::Reset(-1),
        Some(x) => match x.parse::<i64>() {
            Ok(n) if n >= 0 => StartAt::Offset(n),
            _ => return usage_error(&format!("The provided offset value '{x}' is incorrect. Valid values are 'earliest', 'latest', or a non-negative long.")),
        },
    };
    let whitelist = match p.value("whitelist") {
        Some(w) => match Whitelist::new(w) {
            Ok(w) => Some(w),
            Err(m) => return usage_error(&m),
        },
        None => None,
    };
    let formatter = Formatter::from_props(&fmt_props);
    let auto_commit = consumer_props.get("enable.auto.commit").map(|v| v.trim() != "false").unwrap_or(true);

    let client_id = super::consumer_client_id(&consumer_props, group.as_deref());
    let client = match connect(&server, &client_id, &consumer_props).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ERROR Error processing message, terminating consumer process: {e}");
            eprintln!("Processed a total of 0 messages");
            return 1;
        }
    };
    let reset_for_group = match start_at {
        StartAt::Reset(r) => r,
        StartAt::Offset(_) => -1,
    };
    let mut consumer = Consumer::new(client, reset_for_group);
    consumer.isolation_level = isolation;
    let mut run = Run { count: 0, member: None, group_offsets_dirty: false };
    let r = run
        .go(&mut consumer, &p, group, partition, start_at, whitelist, &formatter, max_messages, timeout_ms, auto_commit)
        .await;
    // Leave cleanly: commit what was printed, then leave the group.
    if let Some(mut m) = run.member.take() {
        consumer.client.forget_all();
        if auto_commit && run.group_offsets_dirty {
            let offsets = consumer.positions.clone();
            if let Err(e) = m.commit(&mut consumer.client, &offsets).await {
                eprintln!("WARN Failed to commit offsets for group {}: {e}", m.group);
            }
        }
        if let Err(e) = m.leave(&mut consumer.client).await {
            eprintln!("WARN Failed to leave group {}: {e}", m.group);
        }
    }
    let code = match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ERROR Error processing message, terminating consumer process:  (kafka.tools.ConsoleConsumer$)");
            eprintln!("{e}");
            1
        }
    };
    eprintln!("Processed a total of {} messages", run.count);
    code
}

struct Run {
    count: u64,
    member: Option<Member>,
    group_offsets_dirty: bool,
}

async fn topics_for(client: &mut Client, topic: Option<&str>, whitelist: Option<&Whitelist>) -> Result<Vec<String>, KafkaError> {
    match (topic, whitelist) {
        (Some(t), _) => {
            client.wait_for_topics_auto_create(&[t.to_string()]).await?;
            Ok(vec![t.to_string()])
        }
        (None, Some(w)) => {
            client.refresh(None).await?;
            Ok(client.meta.topics.values().filter(|t| !t.internal && w.matches(&t.name)).map(|t| t.name.clone()).collect())
        }
        (None, None) => Ok(Vec::new()),
    }
}

impl Run {
    #[allow(clippy::too_many_arguments)]
    async fn go(
        &mut self,
        c: &mut Consumer,
        p: &crate::kafka::opts::Parsed,
        group: Option<String>,
        partition: Option<i32>,
        start_at: StartAt,
        whitelist: Option<Whitelist>,
        fmt: &Formatter,
        max: Option<u64>,
        timeout_ms: Option<u64>,
        auto_commit: bool,
    ) -> Result<(), KafkaError> {
        let topics = topics_for(&mut c.client, p.value("topic"), whitelist.as_ref()).await?;
        if let Some(g) = &group {
            let mut m = Member::new(g, topics.clone(), Duration::from_secs(10));
            let assigned = m.join(&mut c.client).await?;
            let committed = fetch_offsets(&mut c.client, m.coordinator, g, Some(&assigned)).await?;
            c.resolve(&assigned, &committed).await?;
            self.member = Some(m);
        } else {
            let mut parts: Vec<Tp> = Vec::new();
            for t in &topics {
                let all = super::partitions_of(&c.client, t);
                match partition {
                    Some(pn) if !all.contains(&pn) => {
                        return Err(KafkaError::Other(format!("Partition {pn} of topic {t} does not exist")));
                    }
                    Some(pn) => parts.push((t.clone(), pn)),
                    None => parts.extend(all.into_iter().map(|pn| (t.clone(), pn))),
                }
            }
            let mut known = BTreeMap::new();
            match start_at {
                StartAt::Offset(o) => {
                    for tp in &parts {
                        known.insert(tp.clone(), o);
                    }
                }
                StartAt::Reset(r) => c.reset = r,
            }
            c.resolve(&parts, &known).await?;
        }
        let mut last_record = Instant::now();
        let mut last_commit = Instant::now();
        let mut stdout = std::io::stdout();
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| KafkaError::Other(e.to_string()))?;
        loop {
            if let Some(t) = timeout_ms {
                let left = Duration::from_millis(t).saturating_sub(last_record.elapsed());
                if left.is_zero() {
                    // As Kafka 2.5: logged, then a normal exit with the count.
                    eprintln!("ERROR Error processing message, terminating consumer process:  (kafka.tools.ConsoleConsumer$)");
                    eprintln!("org.apache.kafka.common.errors.TimeoutException");
                    return Ok(());
                }
                c.max_wait_ms = left.as_millis().min(500) as i32;
            }
            let polled = tokio::select! {
                r = c.poll() => r?,
                _ = tokio::signal::ctrl_c() => return Ok(()),
                _ = sigterm.recv() => return Ok(()),
            };
            if !polled.is_empty() {
                last_record = Instant::now();
                self.group_offsets_dirty = true;
            }
            let mut buf = Vec::new();
            let mut done = false;
            for (tp, r) in polled {
                fmt.format(tp.1, &r, &mut buf);
                self.count += 1;
                if max.map(|m| self.count >= m).unwrap_or(false) {
                    // Positions (and so commits) reflect only what was printed.
                    done = true;
                    c.positions.insert(tp, r.offset + 1);
                    break;
                }
            }
            let _ = stdout.write_all(&buf);
            let _ = stdout.flush();
            if done {
                return Ok(());
            }
            if let Some(m) = self.member.as_mut() {
                match m.maybe_heartbeat(&mut c.client).await {
                    Ok(true) => {}
                    Ok(false) | Err(_) => {
                        if auto_commit && self.group_offsets_dirty {
                            let offsets = c.positions.clone();
                            let _ = m.commit(&mut c.client, &offsets).await;
                        }
                        let assigned = m.join(&mut c.client).await?;
                        let g = m.group.clone();
                        let committed = fetch_offsets(&mut c.client, m.coordinator, &g, Some(&assigned)).await?;
                        c.positions.clear();
                        c.resolve(&assigned, &committed).await?;
                    }
                }
                if auto_commit && self.group_offsets_dirty && last_commit.elapsed() >= Duration::from_secs(5) {
                    let offsets = c.positions.clone();
                    m.commit(&mut c.client, &offsets).await?;
                    last_commit = Instant::now();
                }
            }
        }
    }
}
