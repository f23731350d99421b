//! `kafka-producer-perf-test.sh`: sends `--num-records` records of `--record-size` bytes at
//! up to `--throughput` records/sec, printing a progress line every 5 s and Kafka's summary
//! line (records/sec, MB/sec, avg/max latency, 50th/95th/99th/99.9th percentiles).
//!
//! Records go through the batching producer (`kafka::sender`: Java's accumulator, linger,
//! pipelined in-flight requests, compression of whole batches); a record's latency runs from
//! its `send` call to its batch's acknowledgement, as ProducerPerformance's callback measures.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::now_ms;
use crate::kafka::accumulator::Pending;
use crate::kafka::opts::{arg, flag, OptSpec};
use crate::kafka::props::{add_pairs, load_file, Props};
use crate::kafka::records::Outgoing;
use crate::kafka::sender::{BatchProducer, Completion, ProducerConfig};
use crate::kafka::{start, timeout_from, usage_error, Start};

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

/// ProducerPerformance's `Stats`: every record counted, every `sampling`-th latency kept for
/// the percentiles, a progress line per 5 s window (printed as acknowledgements arrive).
struct Stats {
    start: Instant,
    count: u64,
    bytes: u64,
    total_latency: u64,
    max_latency: u32,
    sampling: u64,
    latencies: Vec<u32>,
    iteration: u64,
    window_start: Instant,
    window_count: u64,
    window_bytes: u64,
    window_max: u32,
    window_total: u64,
}

const REPORTING_INTERVAL: Duration = Duration::from_secs(5);

fn millis(d: Duration) -> f64 {
    d.as_millis() as f64
}

impl Stats {
    fn new(num: u64) -> Stats {
        let now = Instant::now();
        let sampling = (num / num.clamp(1, 500_000)).max(1);
        Stats {
            start: now,
            count: 0,
            bytes: 0,
            total_latency: 0,
            max_latency: 0,
            sampling,
            latencies: Vec::with_capacity((num / sampling + 1) as usize),
            iteration: 0,
            window_start: now,
            window_count: 0,
            window_bytes: 0,
            window_max: 0,
            window_total: 0,
        }
    }
    fn record(&mut self, latency_ms: u32, bytes: u64, now: Instant) {
        self.count += 1;
        self.bytes += bytes;
        self.total_latency += latency_ms as u64;
        self.max_latency = self.max_latency.max(latency_ms);
        self.window_count += 1;
        self.window_bytes += bytes;
        self.window_total += latency_ms as u64;
        self.window_max = self.window_max.max(latency_ms);
        if self.iteration.is_multiple_of(self.sampling) {
            self.latencies.push(latency_ms);
        }
        self.iteration += 1;
        if now.saturating_duration_since(self.window_start) >= REPORTING_INTERVAL {
            self.print_window(now);
        }
    }
    fn print_window(&mut self, now: Instant) {
        let ms = millis(now.saturating_duration_since(self.window_start)).max(1.0);
        println!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
            self.window_count,
            1000.0 * self.window_count as f64 / ms,
            1000.0 * self.window_bytes as f64 / ms / (1024.0 * 1024.0),
            self.window_total as f64 / self.window_count.max(1) as f64,
            self.window_max as f64
        );
        self.window_start = now;
        self.window_count = 0;
        self.window_bytes = 0;
        self.window_total = 0;
        self.window_max = 0;
    }
    fn summary(&mut self) {
        let ms = millis(self.start.elapsed()).max(1.0);
        self.latencies.sort_unstable();
        let pct = |q: f64| -> u32 {
            if self.latencies.is_empty() {
                0
            } else {
                self.latencies[((self.latencies.len() as f64 * q) as usize).min(self.latencies.len() - 1)]
            }
        };
        println!(
            "{} records sent, {:.6} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.count,
            1000.0 * self.count as f64 / ms,
            1000.0 * self.bytes as f64 / ms / (1024.0 * 1024.0),
            self.total_latency as f64 / self.count.max(1) as f64,
            self.max_latency as f64,
            pct(0.5),
            pct(0.95),
            pct(0.99),
            pct(0.999)
        );
    }
    /// A batch's callbacks: each record's latency runs from its `send` call to now.
    fn complete(&mut self, c: &Completion, topic: &str, failed: &mut u64) {
        if let Err(e) = &c.result {
            *failed += c.pending.len() as u64;
            eprintln!("ERROR Error when sending message to topic {topic}: {e}");
        }
        for p in &c.pending {
            let latency = c.at.saturating_duration_since(p.sent_at).as_millis().min(u32::MAX as u128) as u32;
            self.record(latency, p.bytes as u64, c.at);
        }
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
    // argparse's `nargs("+")`: the words after --producer-props are all its values.
    if !p.rest.is_empty() {
        if !p.has("producer-props") {
            return usage_error(&format!("unrecognized arguments: '{}'", p.rest.join(" ")));
        }
        pairs.extend(p.rest.iter().cloned());
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
    let cfg = match ProducerConfig::from_props(&props) {
        Ok(c) => c,
        Err(m) => return usage_error(&m),
    };
    let client_id = props.get("client.id").cloned().unwrap_or_else(|| "producer-1".to_string());
    let mut producer = match BatchProducer::start(&servers, timeout_from(&props), cfg, &client_id, std::slice::from_ref(&topic)).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ERROR {e}");
            return 1;
        }
    };
    let mut stats = Stats::new(num);
    let mut failed = 0u64;
    let mut send_error = None;
    for i in 0..num {
        if throughput > 0.0 {
            // Java's Throttler: sleep while ahead of THROUGHPUT records/sec.
            let due = Duration::from_secs_f64(i as f64 / throughput);
            let el = stats.start.elapsed();
            if due > el {
                tokio::time::sleep(due - el).await;
            }
        }
        let payload = payloads[(rand::random::<u32>() as usize) % payloads.len()].clone();
        let pending = Pending { sent_at: Instant::now(), bytes: payload.len() };
        let rec = Outgoing { key: None, value: Some(payload), headers: Vec::new(), timestamp: now_ms() };
        if let Err(e) = producer.send(&topic, None, rec, pending).await {
            // Java's send throws here (record too large, memory not freed in time).
            send_error = Some(e);
            break;
        }
        while let Ok(c) = producer.completions.try_recv() {
            stats.complete(&c, &topic, &mut failed);
        }
    }
    producer.close().await;
    while let Ok(c) = producer.completions.try_recv() {
        stats.complete(&c, &topic, &mut failed);
    }
    if let Some(e) = send_error {
        eprintln!("Exception in thread \"main\" {e}");
        return 1;
    }
    stats.summary();
    if failed > 0 {
        1
    } else {
        0
    }
}
