//! `kafka-consumer-perf-test.sh`: reads `--messages` records from every partition of
//! `--topic` and prints Kafka's summary (start.time, end.time, data.consumed.in.MB,
//! MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms,
//! fetch.MB.sec, fetch.nMsg.sec). Partitions are assigned directly (no group rebalance,
//! so rebalance.time.ms is 0).

use std::time::{Duration, Instant};

use super::{connect, load_props, now_ms};
use crate::kafka::consumer::Consumer;
use crate::kafka::opts::{arg, flag, OptSpec};
use crate::kafka::{start, usage_error, Start};

const INTRO: &str = "This tool helps in performance test for the full zookeeper consumer";

const SPECS: &[OptSpec] = &[
    arg("bootstrap-server", "String: server to connect to", "REQUIRED unless --broker-list(deprecated) is specified. The server(s) to connect to."),
    arg("broker-list", "String: broker-list", "DEPRECATED, use --bootstrap-server instead; ignored if --bootstrap-server is specified. The broker list string in the form HOST1:PORT1,HOST2:PORT2."),
    arg("consumer.config", "String: config file", "Consumer config properties file."),
    arg("date-format", "String: date format", "The date format to use for formatting the time field. See java.text.SimpleDateFormat for options. (default: yyyy-MM-dd HH:mm:ss:SSS)"),
    arg("fetch-size", "Integer: size", "The amount of data to fetch in a single request. (default: 1048576)"),
    flag("from-latest", "If the consumer does not already have an established offset to consume from, start with the latest message present in the log rather than the earliest message."),
    arg("group", "String: gid", "The group id to consume on. (default: perf-consumer-NNNNN)"),
    flag("hide-header", "If set, skips printing the header for the stats "),
    arg("messages", "Long: count", "REQUIRED: The number of messages to send or consume"),
    arg("num-fetch-threads", "Integer: count", "Number of fetcher threads. (default: 1)"),
    flag("print-metrics", "Print out the metrics."),
    arg("reporting-interval", "Integer: interval_ms", "Interval in milliseconds at which to print progress info. (default: 5000)"),
    flag("show-detailed-stats", "If set, stats are reported for each reporting interval as configured by reporting-interval"),
    arg("socket-buffer-size", "Integer: size", "The size of the tcp RECV size. (default: 2097152)"),
    arg("threads", "Integer: count", "Number of processing threads. (default: 10)"),
    arg("timeout", "Long: milliseconds", "The maximum allowed time in milliseconds between returned records. (default: 10000)"),
    arg("topic", "String: topic", "REQUIRED: The topic to consume from."),
];

fn fmt_time(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.to_zoned(jiff::tz::TimeZone::system()).strftime("%Y-%m-%d %H:%M:%S:%3f").to_string(),
        Err(_) => ms.to_string(),
    }
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
    let nums = (|| -> Result<(u64, u64, i32), String> {
        Ok((p.num::<u64>("messages")?.ok_or("Missing required argument \"[messages]\"")?, p.num::<u64>("timeout")?.unwrap_or(10000), p.num::<i32>("fetch-size")?.unwrap_or(1048576)))
    })();
    let (messages, timeout, fetch_size) = match nums {
        Ok(v) => v,
        Err(m) => return usage_error(&m),
    };
    let props = match load_props(&p, "consumer.config", &[]) {
        Ok(x) => x,
        Err(m) => return usage_error(&m),
    };
    let client = match connect(&server, "perf-consumer-client", &props).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ERROR {e}");
            return 1;
        }
    };
    let mut c = Consumer::new(client, if p.has("from-latest") { -1 } else { -2 });
    c.max_partition_bytes = fetch_size;
    let start_ms = now_ms();
    if let Err(e) = c.client.wait_for_topics_auto_create(&[topic.clone()]).await {
        eprintln!("ERROR {e}");
        return 1;
    }
    let parts: Vec<(String, i32)> = super::partitions_of(&c.client, &topic).into_iter().map(|pn| (topic.clone(), pn)).collect();
    if let Err(e) = c.resolve(&parts, &Default::default()).await {
        eprintln!("ERROR {e}");
        return 1;
    }
    let fetch_start = Instant::now();
    let (mut count, mut bytes) = (0u64, 0u64);
    let mut last = Instant::now();
    while count < messages {
        let recs = match c.poll().await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("ERROR {e}");
                return 1;
            }
        };
        if recs.is_empty() {
            if last.elapsed() > Duration::from_millis(timeout) {
                println!("WARNING: Exiting before consuming the expected number of messages: timeout ({timeout} ms) exceeded. You can use the --timeout option to increase the timeout.");
                break;
            }
            continue;
        }
        last = Instant::now();
        for (_, r) in recs {
            if count >= messages {
                break;
            }
            count += 1;
            bytes += r.value.as_ref().map(|v| v.len()).unwrap_or(0) as u64 + r.key.as_ref().map(|k| k.len()).unwrap_or(0) as u64;
        }
    }
    let end_ms = now_ms();
    let elapsed = ((end_ms - start_ms) as f64 / 1000.0).max(1e-9);
    let fetch_secs = fetch_start.elapsed().as_secs_f64().max(1e-9);
    let mb = bytes as f64 / (1024.0 * 1024.0);
    if !p.has("hide-header") {
        println!("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec");
    }
    println!(
        "{}, {}, {:.4}, {:.4}, {}, {:.4}, {}, {}, {:.4}, {:.4}",
        fmt_time(start_ms),
        fmt_time(end_ms),
        mb,
        mb / elapsed,
        count,
        count as f64 / elapsed,
        0,
        (fetch_secs * 1000.0) as i64,
        mb / fetch_secs,
        count as f64 / fetch_secs
    );
    0
}
