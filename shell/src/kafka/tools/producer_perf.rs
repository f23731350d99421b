//! `kafka-producer-perf-test.sh`: sends `--num-records` records of `--record-size` bytes at
//! up to `--throughput` records/sec, printing a progress line every 5 s and Kafka's summary
//! line (records/sec, MB/sec, avg/max latency, 50th/95th/99th/99.9th percentiles).
//!
//! Batches of up to `batch.size` bytes per partition are sent one request at a time; a
//! record's latency runs from its creation to its batch's acknowledgement.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{connect, now_ms};
use crate::kafka::opts::{arg, flag, OptSpec};
use crate::kafka::producer::{parse_acks, Producer};
use crate::kafka::props::{add_pairs, load_file, Props};
use crate::kafka::records::{parse_codec, Outgoing};
use crate::kafka::{start, usage_error, Start};

const INTRO: &str = "This tool is used to verify the producer performance.";

const SPECS: &[OptSpec] = &[
    arg("num-records", "NUM-RECORDS", "number of messages to produce"),
    arg("payload-delimiter", "PAYLOAD-DELIMITER", "provides delimiter to be used when --payload-file is provided. Defaults to new line. Note that this parameter will be ignored if --payload-file is not provided. (default: \\n)"),
    arg("payload-file", "PAYLOAD-FILE", "file to read the message payloads from. This works only for UTF-8 encoded text files. Payloads will be read from this file and a payload will be randomly selected when sending messages. Note that you must provide exactly one of --record-size or --payload-file."),
    flag("print-metrics", "print out metrics at the end of the test. (default: false)"),
    arg("producer-props", "PROP-NAME=PROP-VALUE", "kafka producer related configuration properties like bootstrap.servers,client.id etc. These configs take precedence over those passed via --producer.config."),
    arg("producer.config", "CONFIG-FILE", "producer config properties file."),
    arg("record-size", "RECORD-SIZE", "message size in bytes. Note that you must provide exactly one of --record-size or --payload-file."),
    arg("throughput", "THROUGHPUT", "throttle maximum message throughput to *approximately* THROUGHPUT messages/sec. Set this to -1 to disable throttling."),
    arg("topic", "TOPIC", "produce messages to this topic"),
    arg("transaction-duration-ms", "TRANSACTION-DURATION", "The max age of each transaction. The commitTransaction will be called after this time has elapsed. Transactions are only enabled if this value is positive. (default: 0)"),
    arg("transactional-id", "TRANSACTIONAL-ID", "The transactionalId to use if transaction-duration-ms is > 0. Useful when testing the performance of concurrent transactions. (default: performance-producer-default-transactional-id)"),
];

struct Stats {
    start: Instant,
    count: u64,
    bytes: u64,
    latencies: Vec<u32>,
    window_start: Instant,
    window_count: u64,
    window_bytes: u64,
    window_max: u32,
    window_total: u64,
}

impl Stats {
    fn record(&mut self, latency_ms: u32, bytes: u64) {
        self.count += 1;
        self.bytes += bytes;
        self.latencies.push(latency_ms);
        self.window_count += 1;
        self.window_bytes += bytes;
        self.window_total += latency_ms as u64;
        self.window_max = self.window_max.max(latency_ms);
    }
    fn maybe_print_window(&mut self) {
        if self.window_start.elapsed() < Duration::from_secs(5) {
            return;
        }
        let secs = self.window_start.elapsed().as_secs_f64();
        println!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
            self.window_count,
            self.window_count as f64 / secs,
            self.window_bytes as f64 / secs / (1024.0 * 1024.0),
            self.window_total as f64 / self.window_count.max(1) as f64,
            self.window_max as f64
        );
        self.window_start = Instant::now();
        self.window_count = 0;
        self.window_bytes = 0;
        self.window_total = 0;
        self.window_max = 0;
    }
    fn summary(&mut self) {
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        self.latencies.sort_unstable();
        let pct = |q: f64| -> u32 {
            if self.latencies.is_empty() {
                0
            } else {
                self.latencies[((self.latencies.len() as f64 * q) as usize).min(self.latencies.len() - 1)]
            }
        };
        let avg = self.latencies.iter().map(|l| *l as f64).sum::<f64>() / self.latencies.len().max(1) as f64;
        let max = self.latencies.last().copied().unwrap_or(0);
        println!(
            "{} records sent, {:.6} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.count,
            self.count as f64 / secs,
            self.bytes as f64 / secs / (1024.0 * 1024.0),
            avg,
            max as f64,
            pct(0.5),
            pct(0.95),
            pct(0.99),
            pct(0.999)
        );
    }
}

pub async fn main(args: &[String]) -> i32 {
    let p = match start(INTRO, SPECS, args) {
        Start::Go(p) => p,
        Start::Exit(c) => return c,
    };
    for r in ["topic", "num-records", "throughput"] {
        if !p.has(r) {
            return usage_error(&format!("argument --{r} is required"));
        }
    }
    if p.has("record-size") == p.has("payload-file") {
        return usage_error("Either --record-size or --payload-file must be specified but not both.");
    }
    if !p.has("producer-props") && !p.has("producer.config") {
        return usage_error("Either --producer-props or --producer.config must be specified.");
    }
    let topic = p.value("topic").unwrap_or_default().to_string();
    let nums = (|| -> Result<(u64, f64, Option<usize>), String> { Ok((p.num::<u64>("num-records")?.unwrap_or(0), p.num::<f64>("throughput")?.unwrap_or(-1.0), p.num::<usize>("record-size")?)) })();
    let (num, throughput, size) = match nums {
        Ok(v) => v,
        Err(m) => return usage_error(&m),
    };
    let mut props = match p.value("producer.config") {
        Some(f) => match load_file(f) {
            Ok(x) => x,
            Err(m) => return usage_error(&m),
        },
        None => Props::new(),
    };
    let mut pairs = Vec::new();
    for v in p.values("producer-props") {
        pairs.extend(v.split_whitespace().map(str::to_string));
    }
    if let Err(m) = add_pairs(&mut props, &pairs) {
        return usage_error(&m);
    }
    let Some(servers) = props.get("bootstrap.servers").cloned() else {
        return usage_error("Missing required configuration \"bootstrap.servers\" which has no default value.");
    };
    let payloads: Vec<Bytes> = match (size, p.value("payload-file")) {
        (Some(s), _) => vec![Bytes::from((0..s).map(|_| b'A' + (rand::random::<u8>() % 26)).collect::<Vec<u8>>())],
        (None, Some(f)) => match std::fs::read_to_string(f) {
            Ok(t) => {
                let delim = p.value("payload-delimiter").map(crate::kafka::props::unescape).unwrap_or_else(|| "\n".into());
                let v: Vec<Bytes> = t.split(delim.as_str()).filter(|s| !s.is_empty()).map(|s| Bytes::from(s.to_string())).collect();
                if v.is_empty() {
                    return usage_error(&format!("File {f} does not contain any payloads"));
                }
                println!("Reading payloads from: {f}");
                println!("Number of messages read: {}", v.len());
                v
            }
            Err(e) => return usage_error(&format!("Cannot read {f}: {e}")),
        },
        _ => return usage_error("Either --record-size or --payload-file must be specified but not both."),
    };
    let acks = match parse_acks(props.get("acks").map(|s| s.as_str()).unwrap_or("1")) {
        Ok(a) => a,
        Err(m) => return usage_error(&m),
    };
    let codec = match parse_codec(props.get("compression.type").map(|s| s.as_str()).unwrap_or("none")) {
        Ok(c) => c,
        Err(e) => return usage_error(&e.to_string()),
    };
    let batch_bytes: usize = props.get("batch.size").and_then(|v| v.parse().ok()).unwrap_or(16384).max(1);
    let client = match connect(&servers, "producer-1", &props).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ERROR {e}");
            return 1;
        }
    };
    let mut producer = Producer::new(client, acks, codec);
    let nparts = match producer.partitions(&topic).await {
        Ok(n) => n.max(1),
        Err(e) => {
            eprintln!("ERROR {e}");
            return 1;
        }
    };
    let now = Instant::now();
    let mut stats = Stats { start: now, count: 0, bytes: 0, latencies: Vec::with_capacity(num as usize), window_start: now, window_count: 0, window_bytes: 0, window_max: 0, window_total: 0 };
    let mut sent = 0u64;
    let mut part = 0i32;
    let mut failed = 0u64;
    while sent < num {
        // Build one batch for the next partition, honouring the throughput limit.
        let mut batch = Vec::new();
        let mut created = Vec::new();
        let mut bytes = 0usize;
        while sent < num && (batch.is_empty() || bytes < batch_bytes) {
            if throughput > 0.0 {
                let due = Duration::from_secs_f64(sent as f64 / throughput);
                let el = stats.start.elapsed();
                if due > el {
                    if !batch.is_empty() {
                        break;
                    }
                    tokio::time::sleep(due - el).await;
                }
            }
            let payload = payloads[(rand::random::<u32>() as usize) % payloads.len()].clone();
            bytes += payload.len();
            batch.push(Outgoing { key: None, value: Some(payload), headers: Vec::new(), timestamp: now_ms() });
            created.push(Instant::now());
            sent += 1;
        }
        let r = producer.send(&topic, part, &batch).await;
        part = (part + 1) % nparts;
        match r {
            Ok(_) => {
                for (c, rec) in created.iter().zip(&batch) {
                    stats.record(c.elapsed().as_millis() as u32, rec.value.as_ref().map(|v| v.len()).unwrap_or(0) as u64);
                }
            }
            Err(e) => {
                failed += batch.len() as u64;
                eprintln!("ERROR Error when sending message to topic {topic}: {e}");
            }
        }
        stats.maybe_print_window();
    }
    stats.summary();
    if failed > 0 {
        1
    } else {
        0
    }
}
