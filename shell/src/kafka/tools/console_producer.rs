//! `kafka-console-producer.sh`: one record per stdin line (`parse.key` splits the key off at
//! `key.separator`), batched per partition and sent when a batch fills, when `--timeout` ms
//! pass, or at end of input; `--sync` sends each line on its own.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use bytes::Bytes;

use super::{connect, load_props, now_ms};
use crate::kafka::error::KafkaError;
use crate::kafka::opts::{arg, flag, OptSpec};
use crate::kafka::producer::{parse_acks, Producer};
use crate::kafka::props::{is_true, unescape, Props};
use crate::kafka::records::{parse_codec, Outgoing};
use crate::kafka::{start, usage_error, Start};

const INTRO: &str = "This tool helps to read data from standard input and publish it to Kafka.";

const SPECS: &[OptSpec] = &[
    arg("batch-size", "Integer: size", "Number of messages to send in a single batch if they are not being sent synchronously. (default: 200)"),
    arg("bootstrap-server", "String: server to connect to", "REQUIRED unless --broker-list(deprecated) is specified. The server(s) to connect to. The broker list string in the form HOST1:PORT1,HOST2:PORT2."),
    arg("broker-list", "String: broker-list", "DEPRECATED, use --bootstrap-server instead; ignored if --bootstrap-server is specified.  The broker list string in the form HOST1:PORT1,HOST2:PORT2."),
    arg("compression-codec", "String: compression-codec", "The compression codec: either 'none', 'gzip', 'snappy', 'lz4', or 'zstd'.If specified without value, then it defaults to 'gzip'"),
    arg("line-reader", "String: reader_class", "The class name of the class to use for reading lines from standard in. By default each line is read as a separate message. (default: kafka.tools.ConsoleProducer$LineMessageReader)"),
    arg("max-block-ms", "Long: max block on send", "The max time that the producer will block for during a send request (default: 60000)"),
    arg("max-memory-bytes", "Long: total memory in bytes", "The total memory used by the producer to buffer records waiting to be sent to the server. (default: 33554432)"),
    arg("max-partition-memory-bytes", "Long: memory in bytes per partition", "The buffer size allocated for a partition. When records are received which are smaller than this size the producer will attempt to optimistically group them together until this size is reached. (default: 16384)"),
    arg("message-send-max-retries", "Integer", "Brokers can fail receiving the message for multiple reasons, and being unavailable transiently is just one of them. This property specifies the number of retires before the producer give up and drop this message. (default: 3)"),
    arg("metadata-expiry-ms", "Long: metadata expiration interval", "The period of time in milliseconds after which we force a refresh of metadata even if we haven't seen any leadership changes. (default: 300000)"),
    arg("producer-property", "String: producer_prop", "A mechanism to pass user-defined properties in the form key=value to the producer."),
    arg("producer.config", "String: config file", "Producer config properties file. Note that [producer-property] takes precedence over this config."),
    arg("property", "String: prop", "A mechanism to pass user-defined properties in the form key=value to the message reader. This allows custom configuration for a user-defined message reader. Default properties include:\n\tparse.key=true|false\n\tkey.separator=<key.separator>\n\tignore.error=true|false"),
    arg("request-required-acks", "String: request required acks", "The required acks of the producer requests (default: 1)"),
    arg("request-timeout-ms", "Integer: request timeout ms", "The ack timeout of the producer requests. Value must be non-negative and non-zero (default: 1500)"),
    arg("retry-backoff-ms", "Integer", "Before each retry, the producer refreshes the metadata of relevant topics. Since leader election takes a bit of time, this property specifies the amount of time that the producer waits before refreshing the metadata. (default: 100)"),
    arg("socket-buffer-size", "Integer: size", "The size of the tcp RECV size. (default: 102400)"),
    flag("sync", "If set message send requests to the brokers are synchronously, one at a time as they arrive."),
    arg("timeout", "Integer: timeout_ms", "If set and the producer is running in asynchronous mode, this gives the maximum amount of time a message will queue awaiting sufficient batch size. The value is given in ms. (default: 1000)"),
    arg("topic", "String: topic", "REQUIRED: The topic id to produce messages to."),
];

enum Input {
    Line(String),
    Eof,
    Error(String),
}

pub async fn main(args: &[String]) -> i32 {
    let p = match start(INTRO, SPECS, args) {
        Start::Go(p) => p,
        Start::Exit(c) => return c,
    };
    let Some(server) = p.value("bootstrap-server").or(p.value("broker-list")).map(str::to_string) else {
        return usage_error("Missing required argument \"[bootstrap-server]\"");
    };
    let topic = match p.required("topic") {
        Ok(t) => t.to_string(),
        Err(m) => return usage_error(&m),
    };
    let mut producer_props = match load_props(&p, "producer.config", &["producer-property"]) {
        Ok(x) => x,
        Err(m) => return usage_error(&m),
    };
    let mut reader_props = Props::new();
    if let Err(m) = crate::kafka::props::add_pairs(&mut reader_props, &p.values("property")) {
        return usage_error(&m);
    }
    let batch_size = match p.num::<usize>("batch-size") {
        Ok(v) => v.unwrap_or(200).max(1),
        Err(m) => return usage_error(&m),
    };
    let linger = match p.num::<u64>("timeout") {
        Ok(v) => Duration::from_millis(v.unwrap_or(1000)),
        Err(m) => return usage_error(&m),
    };
    let retries = match p.num::<u32>("message-send-max-retries") {
        Ok(v) => v.unwrap_or(3),
        Err(m) => return usage_error(&m),
    };
    if let Some(t) = p.value("request-timeout-ms") {
        producer_props.entry("request.timeout.ms".into()).or_insert_with(|| t.to_string());
    }
    let acks_s = p.value("request-required-acks").map(str::to_string).or_else(|| producer_props.get("acks").cloned()).unwrap_or_else(|| "1".into());
    let acks = match parse_acks(&acks_s) {
        Ok(a) => a,
        Err(m) => return usage_error(&m),
    };
    let codec_s = p.value("compression-codec").map(|c| if c.is_empty() { "gzip".to_string() } else { c.to_string() }).or_else(|| producer_props.get("compression.type").cloned()).unwrap_or_else(|| "none".into());
    let codec = match parse_codec(&codec_s) {
        Ok(c) => c,
        Err(e) => return usage_error(&e.to_string()),
    };
    let sync = p.has("sync");
    let parse_key = is_true(&reader_props, "parse.key");
    let ignore_error = is_true(&reader_props, "ignore.error");
    let sep = reader_props.get("key.separator").map(|s| unescape(s)).unwrap_or_else(|| "\t".into());

    let client = match connect(&server, "console-producer", &producer_props).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ERROR {e}");
            return 1;
        }
    };
    let mut producer = Producer::new(client, acks, codec);
    producer.retries = retries;
    if let Err(e) = producer.partitions(&topic).await {
        eprintln!("ERROR Error when sending message to topic {topic}: {e}");
        return 1;
    }

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Input>(1024);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let prompt = stdin.is_terminal();
        let mut lock = stdin.lock();
        loop {
            if prompt {
                print!(">");
                let _ = std::io::stdout().flush();
            }
            let mut line = String::new();
            let msg = match lock.read_line(&mut line) {
                Ok(0) => Input::Eof,
                Ok(_) => {
                    let l = line.strip_suffix('\n').unwrap_or(&line);
                    Input::Line(l.strip_suffix('\r').unwrap_or(l).to_string())
                }
                Err(e) => Input::Error(e.to_string()),
            };
            let end = !matches!(msg, Input::Line(_));
            if tx.blocking_send(msg).is_err() || end {
                return;
            }
        }
    });

    let mut pending: BTreeMap<i32, Vec<Outgoing>> = BTreeMap::new();
    let mut line_no = 0u64;
    let mut failed = false;
    let mut exit = 0;
    loop {
        let next = if pending.is_empty() {
            rx.recv().await
        } else {
            match tokio::time::timeout(linger, rx.recv()).await {
                Ok(m) => m,
                Err(_) => {
                    failed |= flush_all(&mut producer, &topic, &mut pending).await;
                    continue;
                }
            }
        };
        let line = match next {
            Some(Input::Line(l)) => l,
            Some(Input::Error(e)) => {
                eprintln!("ERROR reading standard input: {e}");
                exit = 1;
                break;
            }
            Some(Input::Eof) | None => break,
        };
        line_no += 1;
        let (key, value) = if parse_key {
            match line.find(&sep) {
                Some(i) => (Some(Bytes::from(line[..i].to_string())), Bytes::from(line[i + sep.len()..].to_string())),
                None if ignore_error => (None, Bytes::from(line)),
                None => {
                    let _ = flush_all(&mut producer, &topic, &mut pending).await;
                    eprintln!("org.apache.kafka.common.KafkaException: No key found on line {line_no}: {line}");
                    return 1;
                }
            }
        } else {
            (None, Bytes::from(line))
        };
        let part = match producer.choose(&topic, key.as_deref()).await {
            Ok(p) => p,
            Err(e) => {
                report(&topic, key.as_ref(), value.len(), &e);
                failed = true;
                continue;
            }
        };
        let rec = Outgoing { key, value: Some(value), headers: Vec::new(), timestamp: now_ms() };
        let batch = pending.entry(part).or_default();
        batch.push(rec);
        if sync || batch.len() >= batch_size {
            let recs = pending.remove(&part).unwrap_or_default();
            failed |= send(&mut producer, &topic, part, recs).await;
        }
    }
    failed |= flush_all(&mut producer, &topic, &mut pending).await;
    if failed && exit == 0 {
        exit = 1;
    }
    exit
}

fn report(topic: &str, key: Option<&Bytes>, value_len: usize, e: &KafkaError) {
    let k = match key {
        Some(k) => format!("{} bytes", k.len()),
        None => "null".into(),
    };
    eprintln!("ERROR Error when sending message to topic {topic} with key: {k}, value: {value_len} bytes with error: (org.apache.kafka.clients.producer.internals.ErrorLoggingCallback)");
    eprintln!("{e}");
}

/// Sends one partition's batch; true if it failed (already reported).
async fn send(producer: &mut Producer, topic: &str, part: i32, recs: Vec<Outgoing>) -> bool {
    let r = producer.send(topic, part, &recs).await;
    producer.new_sticky(topic);
    match r {
        Ok(_) => false,
        Err(e) => {
            for r in &recs {
                report(topic, r.key.as_ref(), r.value.as_ref().map(|v| v.len()).unwrap_or(0), &e);
            }
            true
        }
    }
}

async fn flush_all(producer: &mut Producer, topic: &str, pending: &mut BTreeMap<i32, Vec<Outgoing>>) -> bool {
    let mut failed = false;
    for (part, recs) in std::mem::take(pending) {
        failed |= send(producer, topic, part, recs).await;
    }
    failed
}
