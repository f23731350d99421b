//! `kafka-mirror-maker.sh` (Kafka 2.5's MirrorMaker 1, `kafka.tools.MirrorMaker`): copies the
//! topics matching `--whitelist` from a source cluster (`--consumer.config`, a consumer group)
//! to a target cluster (`--producer.config`), keeping each record's key, value, headers and
//! timestamp; the target partition is the producer's choice (murmur2 of the key, sticky for
//! keyless records), as with MirrorMaker's default message handler.
//!
//! As 2.5 runs it: `--num.streams` group members, offsets committed by hand (auto commit off)
//! every `--offset.commit.interval.ms`, at each rebalance and at shutdown, and only for records
//! the target acknowledged (producer defaults `acks=all`, one request in flight), so a crash
//! re-copies rather than loses. A failed send stops the whole mirror maker when
//! `--abort.on.send.failure` (default true) without committing; otherwise the record is
//! dropped and counted. SIGTERM/SIGINT: the streams commit, leave the group and exit 0.
//! Topics that start matching the whitelist later are picked up within 10 s (Kafka's consumer
//! within `metadata.max.age.ms`). Custom message handlers and rebalance listeners are Java
//! classes and are refused.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{connect, load_props, now_ms, Whitelist};
use crate::kafka::consumer::Consumer;
use crate::kafka::error::KafkaError;
use crate::kafka::group::{fetch_offsets, Member, Tp};
use crate::kafka::opts::{arg, flag, OptSpec};
use crate::kafka::producer::{parse_acks, Producer};
use crate::kafka::props::Props;
use crate::kafka::records::{parse_codec, Incoming, Outgoing};
use crate::kafka::{start, usage_error, Start};

const INTRO: &str = "This tool helps to continuously copy data between two Kafka clusters.";

const SPECS: &[OptSpec] = &[
    arg("abort.on.send.failure", "String: Stop the entire mirror maker when a send failure occurs", "Configure the mirror maker to exit on a failed send. (default: true)"),
    arg("consumer.config", "String: config file", "Embedded consumer config for consuming from the source cluster."),
    arg("consumer.rebalance.listener", "String: A custom rebalance listener of type ConsumerRebalanceListener", "The consumer rebalance listener to use for mirror maker consumer."),
    arg("message.handler", "String: A custom message handler of type MirrorMakerMessageHandler", "Message handler which will process every record in-between consumer and producer."),
    arg("message.handler.args", "String: Arguments passed to message handler constructor.", "Arguments used by custom message handler for mirror maker."),
    flag("new.consumer", "DEPRECATED Use new consumer in mirror maker (this is the default so this option will be removed in a future version)."),
    arg("num.streams", "Integer: Number of threads", "Number of consumption streams. (default: 1)"),
    arg("offset.commit.interval.ms", "Integer: offset commit interval in millisecond", "Offset commit interval in ms. (default: 60000)"),
    arg("producer.config", "String: config file", "Embedded producer config."),
    arg("rebalance.listener.args", "String: Arguments passed to custom rebalance listener constructor as a string.", "Arguments used by custom rebalance listener for mirror maker consumer."),
    arg("whitelist", "String: Java regex (String)", "Whitelist of topics to mirror."),
];

const LOGGER: &str = "(kafka.tools.MirrorMaker$)";
/// How often a stream looks for topics that newly match the whitelist.
const TOPIC_RECHECK: Duration = Duration::from_secs(10);

/// What one stream needs, fixed at start.
#[derive(Clone, Debug)]
struct Settings {
    consumer: Props,
    producer: Props,
    whitelist: String,
    group: String,
    commit_interval: Duration,
    abort_on_send_failure: bool,
    session_timeout: Duration,
    reset: i64,
    acks: i16,
}

/// Scala's `String.toBoolean`: true/false in any case, anything else is an error.
fn scala_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("java.lang.IllegalArgumentException: For input string: \"{s}\"")),
    }
}

fn start_failed(m: &str) -> i32 {
    eprintln!("ERROR Exception when starting mirror maker. {LOGGER}");
    eprintln!("{m}");
    1
}

pub async fn main(args: &[String]) -> i32 {
    let p = match start(INTRO, SPECS, args) {
        Start::Go(p) => p,
        Start::Exit(c) => return c,
    };
    for name in ["consumer.config", "producer.config"] {
        if !p.has(name) {
            return usage_error(&format!("Missing required argument \"[{name}]\""));
        }
    }
    let consumer = match load_props(&p, "consumer.config", &[]) {
        Ok(x) => x,
        Err(m) => return start_failed(&m),
    };
    let Some(whitelist) = p.value("whitelist").map(str::to_string) else {
        eprintln!("ERROR whitelist must be specified {LOGGER}");
        return 1;
    };
    if let Err(m) = Whitelist::new(&whitelist) {
        eprintln!("ERROR Invalid expression syntax: {whitelist} {LOGGER}");
        return start_failed(&m);
    }
    for opt in ["message.handler", "consumer.rebalance.listener"] {
        if let Some(class) = p.value(opt) {
            return start_failed(&format!("java.lang.ClassNotFoundException: {class} (custom --{opt} classes are Java code; this mirror maker has the default behaviour only)"));
        }
    }
    if !consumer.contains_key("partition.assignment.strategy") {
        eprintln!("WARNING: The default partition assignment strategy of the mirror maker will change from 'range' to 'roundrobin' in an upcoming release (so that better load balancing can be achieved). If you prefer to make this switch in advance of that release add the following to the corresponding config: 'partition.assignment.strategy=org.apache.kafka.clients.consumer.RoundRobinAssignor'");
    }
    let abort_on_send_failure = match scala_bool(p.value("abort.on.send.failure").unwrap_or("true")) {
        Ok(b) => b,
        Err(m) => return start_failed(&m),
    };
    let commit_ms = match p.num::<i32>("offset.commit.interval.ms") {
        Ok(v) => v.unwrap_or(60000).max(0),
        Err(m) => return usage_error(&m),
    };
    let streams = match p.num::<i32>("num.streams") {
        Ok(v) => v.unwrap_or(1),
        Err(m) => return usage_error(&m),
    };
    let producer = match load_props(&p, "producer.config", &[]) {
        Ok(x) => x,
        Err(m) => return start_failed(&m),
    };
    let settings = match settings(consumer, producer, whitelist, commit_ms, abort_on_send_failure) {
        Ok(s) => s,
        Err(m) => return start_failed(&m),
    };
    run(settings, streams.max(0) as usize).await
}

/// Checks the two configs as the Java clients would, with MirrorMaker's producer defaults.
fn settings(consumer: Props, mut producer: Props, whitelist: String, commit_ms: i32, abort_on_send_failure: bool) -> Result<Settings, String> {
    for (what, props) in [("consumer", &consumer), ("producer", &producer)] {
        if props.get("bootstrap.servers").map_or(true, |s| s.trim().is_empty()) {
            return Err(format!("org.apache.kafka.common.config.ConfigException: Missing required configuration \"bootstrap.servers\" which has no default value. ({what} config)"));
        }
    }
    let group = consumer.get("group.id").map(|g| g.trim().to_string()).filter(|g| !g.is_empty()).ok_or_else(|| {
        "org.apache.kafka.common.errors.InvalidGroupIdException: To use the group management or offset commit APIs, you must provide a valid group.id in the consumer configuration.".to_string()
    })?;
    let reset = match consumer.get("auto.offset.reset").map(|s| s.trim()) {
        None | Some("latest") => -1,
        Some("earliest") => -2,
        Some(x) => return Err(format!("org.apache.kafka.common.config.ConfigException: Invalid value {x} for configuration auto.offset.reset: String must be one of: latest, earliest, none")),
    };
    let session_timeout = consumer.get("session.timeout.ms").and_then(|s| s.trim().parse::<u64>().ok()).map(Duration::from_millis).unwrap_or(Duration::from_secs(10));
    // MirrorMaker's "no data loss" producer defaults.
    producer.entry("acks".into()).or_insert_with(|| "all".into());
    let acks = parse_acks(producer.get("acks").map(|s| s.as_str()).unwrap_or("all"))?;
    if let Some(c) = producer.get("compression.type") {
        parse_codec(c).map_err(|e| e.to_string())?;
    }
    Ok(Settings { consumer, producer, whitelist, group, commit_interval: Duration::from_millis(commit_ms as u64), abort_on_send_failure, session_timeout, reset, acks })
}

/// Runs the streams until a signal (exit 0) or a stream fails (exit 255, as `sys.exit(-1)`).
async fn run(s: Settings, streams: usize) -> i32 {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..streams {
        let (s, stop) = (s.clone(), stop_rx.clone());
        tasks.spawn(async move { (i, stream(i, s, stop).await) });
    }
    let mut sigterm = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(x) => x,
        Err(e) => return start_failed(&e.to_string()),
    };
    let mut failed = false;
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c(), if !stopping => {
                stopping = true;
                let _ = stop_tx.send(true);
            }
            _ = sigterm.recv(), if !stopping => {
                stopping = true;
                let _ = stop_tx.send(true);
            }
            done = tasks.join_next() => match done {
                None => break,
                Some(Ok((i, Ok(dropped)))) => {
                    if dropped > 0 {
                        eprintln!("WARN [mirrormaker-thread-{i}] dropped {dropped} records whose send failed (abort.on.send.failure=false) {LOGGER}");
                    }
                }
                Some(Ok((i, Err(m)))) => {
                    eprintln!("FATAL [mirrormaker-thread-{i}] Mirror maker thread failure due to {m} {LOGGER}");
                    failed = true;
                    stopping = true;
                    let _ = stop_tx.send(true);
                }
                Some(Err(e)) => {
                    eprintln!("FATAL Mirror maker thread failure due to {e} {LOGGER}");
                    failed = true;
                    stopping = true;
                    let _ = stop_tx.send(true);
                }
            },
        }
    }
    if failed {
        eprintln!("FATAL Mirror maker thread exited abnormally, stopping the whole mirror maker. {LOGGER}");
        255
    } else {
        0
    }
}

/// The non-internal topics of the source that match the whitelist, sorted.
async fn matching(c: &mut Consumer, w: &Whitelist) -> Result<Vec<String>, KafkaError> {
    c.client.refresh(None).await?;
    Ok(c.client.meta.topics.values().filter(|t| !t.internal && t.error == 0 && w.matches(&t.name)).map(|t| t.name.clone()).collect())
}

/// One stream: a group member copying its partitions. Returns the count of dropped records.
async fn stream(i: usize, s: Settings, mut stop: watch::Receiver<bool>) -> Result<u64, String> {
    let w = Whitelist::new(&s.whitelist)?;
    let source = connect("", &format!("{}-{i}", s.group), &s.consumer).await.map_err(|e| e.to_string())?;
    let target = connect("", &format!("producer-{}", i + 1), &s.producer).await.map_err(|e| e.to_string())?;
    let codec = parse_codec(s.producer.get("compression.type").map(|c| c.as_str()).unwrap_or("none")).map_err(|e| e.to_string())?;
    let mut c = Consumer::new(source, s.reset);
    c.max_wait_ms = 1000;
    let mut prod = Producer::new(target, s.acks, codec);
    let mut topics = Vec::new();
    // Wait (until stopped) for a topic to match.
    while topics.is_empty() {
        topics = matching(&mut c, &w).await.map_err(|e| e.to_string())?;
        if topics.is_empty() && wait_or_stop(&mut stop, Duration::from_secs(1)).await {
            return Ok(0);
        }
    }
    let mut m = Member::new(&s.group, topics, s.session_timeout);
    rejoin(&mut c, &mut m).await.map_err(|e| e.to_string())?;
    let mut dropped = 0u64;
    let mut last_commit = Instant::now();
    let mut last_recheck = Instant::now();
    let result = loop {
        if *stop.borrow() {
            break Ok(());
        }
        // Not raced against `stop`: a fetch dropped mid-flight would leave its answer unread
        // on the connection the commit then uses. A poll returns within max_wait_ms (1 s).
        let polled = match c.poll().await {
            Ok(p) => p,
            Err(e) => break Err(e.to_string()),
        };
        if let Err(e) = copy(&mut prod, polled, &mut dropped, s.abort_on_send_failure).await {
            // Nothing is committed past what the target acknowledged: stop without committing.
            let _ = m.leave(&mut c.client).await;
            return Err(format!("send failure, the mirror maker stops without committing: {e}"));
        }
        let mut rebalance = !matches!(m.maybe_heartbeat(&mut c.client).await, Ok(true));
        if last_recheck.elapsed() >= TOPIC_RECHECK {
            last_recheck = Instant::now();
            if let Ok(now) = matching(&mut c, &w).await {
                if !now.is_empty() && now != m.topics {
                    m.topics = now;
                    rebalance = true;
                }
            }
        }
        if rebalance {
            commit(&mut c, &mut m).await;
            last_commit = Instant::now();
            if let Err(e) = rejoin(&mut c, &mut m).await {
                break Err(e.to_string());
            }
        } else if last_commit.elapsed() >= s.commit_interval {
            commit(&mut c, &mut m).await;
            last_commit = Instant::now();
        }
    };
    commit(&mut c, &mut m).await;
    let _ = m.leave(&mut c.client).await;
    result.map(|()| dropped)
}

/// Sleeps for `d` unless stopped first; true when stopped.
async fn wait_or_stop(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// Joins (again) and starts each assigned partition at its committed offset (or the reset).
async fn rejoin(c: &mut Consumer, m: &mut Member) -> Result<(), KafkaError> {
    let assigned = m.join(&mut c.client).await?;
    let group = m.group.clone();
    let committed = fetch_offsets(&mut c.client, m.coordinator, &group, Some(&assigned)).await?;
    c.positions.clear();
    c.resolve(&assigned, &committed).await
}

/// Commits every position (each is past records the target acknowledged); failures are
/// logged, as MirrorMaker logs a commit that lost a rebalance race and goes on.
async fn commit(c: &mut Consumer, m: &mut Member) {
    let offsets = c.positions.clone();
    if offsets.is_empty() {
        return;
    }
    if let Err(e) = m.commit(&mut c.client, &offsets).await {
        eprintln!("WARN Failed to commit offsets: {e}. If you see this regularly, it could indicate that you need to either increase the consumer's session.timeout.ms or reduce the number of records handled on each iteration with max.poll.records {LOGGER}");
    }
}

/// The record MirrorMaker's default handler sends: same key, value, headers and timestamp
/// (the producer's time when the source has none), no partition.
fn outgoing(r: Incoming) -> Outgoing {
    let timestamp = if r.timestamp < 0 { now_ms() } else { r.timestamp };
    Outgoing { key: r.key, value: r.value, headers: r.headers, timestamp }
}

/// Sends one poll's records, in order, grouped into one batch per target partition run.
async fn copy(prod: &mut Producer, polled: Vec<(Tp, Incoming)>, dropped: &mut u64, abort: bool) -> Result<(), KafkaError> {
    // Runs of consecutive records bound for the same target partition keep per-key order.
    let mut runs: Vec<((String, i32), Vec<Outgoing>)> = Vec::new();
    for ((topic, _), r) in polled {
        let part = prod.choose(&topic, r.key.as_deref()).await?;
        let out = outgoing(r);
        match runs.last_mut() {
            Some(((t, p), v)) if *t == topic && *p == part => v.push(out),
            _ => runs.push(((topic, part), vec![out])),
        }
    }
    let mut sent_topics: BTreeSet<String> = BTreeSet::new();
    for ((topic, part), records) in runs {
        match prod.send(&topic, part, &records).await {
            Ok(_) => {}
            Err(e) if abort => return Err(e),
            Err(e) => {
                eprintln!("ERROR Error when sending message to topic {topic} with key: ..., value: ...: {e} (org.apache.kafka.clients.producer.internals.ErrorLoggingCallback)");
                *dropped += records.len() as u64;
            }
        }
        sent_topics.insert(topic);
    }
    for t in &sent_topics {
        prod.new_sticky(t);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::TimestampType;
    use bytes::Bytes;

    fn props(pairs: &[(&str, &str)]) -> Props {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn booleans_as_scala_reads_them() {
        assert_eq!(scala_bool("TRUE"), Ok(true));
        assert_eq!(scala_bool("false"), Ok(false));
        assert!(scala_bool("yes").unwrap_err().contains("For input string: \"yes\""));
    }

    #[test]
    fn settings_need_servers_and_a_group_and_default_to_no_data_loss() {
        let c = props(&[("bootstrap.servers", "a:1"), ("group.id", "mm"), ("auto.offset.reset", "earliest")]);
        let p = props(&[("bootstrap.servers", "b:1")]);
        let s = settings(c.clone(), p.clone(), "t.*".into(), 1000, true).unwrap();
        assert_eq!((s.group.as_str(), s.acks, s.reset), ("mm", -1, -2));
        assert!(settings(props(&[("bootstrap.servers", "a:1")]), p.clone(), "t".into(), 1, true).unwrap_err().contains("valid group.id"));
        assert!(settings(c.clone(), props(&[]), "t".into(), 1, true).unwrap_err().contains("bootstrap.servers"));
        let one = props(&[("bootstrap.servers", "b:1"), ("acks", "1")]);
        assert_eq!(settings(c, one, "t".into(), 1, true).unwrap().acks, 1);
    }

    #[test]
    fn records_keep_key_value_headers_and_time() {
        let r = Incoming {
            offset: 5,
            timestamp: 1234,
            timestamp_type: TimestampType::Creation,
            key: Some(Bytes::from_static(b"k")),
            value: None,
            headers: vec![("h".into(), Some(Bytes::from_static(b"v")))],
        };
        let o = outgoing(r);
        assert_eq!((o.key.as_deref(), o.value, o.timestamp), (Some(&b"k"[..]), None, 1234));
        assert_eq!(o.headers, vec![("h".to_string(), Some(Bytes::from_static(b"v")))]);
    }
}
