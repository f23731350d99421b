//! Log cleaner benchmark (issue 14): how fast one cleaner thread compacts a dirty log, next
//! to what the disk does for the same bytes in the same run.
//!
//! ```text
//! cargo run --release -p broker --example cleaner_bench -- DIR RECORDS KEYS VALUE_BYTES [DEDUPE_MB]
//! ```
//! Writes RECORDS records (keys `key%07d` drawn at random from KEYS, values of VALUE_BYTES,
//! 100 records per batch, uncompressed, 256 MiB segments) into a compacted log under DIR,
//! rolls it, then times one clean of the whole dirty section with a dedupe buffer of
//! DEDUPE_MB (default 128, Kafka's `log.cleaner.dedupe.buffer.size`). Then, as the limit,
//! it reads the same segment files sequentially and writes + fsyncs as many bytes as the
//! cleaner wrote. Prints both in MB/s, their ratio, and the process's peak RSS (VmHWM).
//! The page cache is dropped (as root) before the limit's read and before the clean, so
//! both read the disk.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Instant;

use broker::config::{parse_properties, BrokerConfig};
use broker::log::batch;
use broker::log::cleaner::clean::{clean_log, Budget};
use broker::log::cleaner::plan::cleanable_offsets;
use broker::log::partition_log::now_ms;
use broker::log::{Log, Partition};
use broker::topic_config::TopicConfig;

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Writes dirty pages out and drops the page cache (root only); false if it cannot.
fn drop_caches() -> bool {
    let synced = std::process::Command::new("sync").status().map(|s| s.success()).unwrap_or(false);
    synced && std::fs::write("/proc/sys/vm/drop_caches", "1").is_ok()
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: Option<T>) -> T {
    match args.get(i).map(|s| s.parse::<T>()) {
        Some(Ok(v)) => v,
        _ => match default {
            Some(d) => d,
            None => {
                eprintln!("usage: cleaner_bench DIR RECORDS KEYS VALUE_BYTES [DEDUPE_MB]");
                std::process::exit(2);
            }
        },
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(args.get(1).map(String::as_str).unwrap_or("")).join("bench-0");
    let records: u64 = arg(&args, 2, None);
    let keys: u64 = arg(&args, 3, None);
    let value_bytes: usize = arg(&args, 4, None);
    let dedupe_mb: u64 = arg(&args, 5, Some(128));
    if dir.exists() {
        eprintln!("{} exists: give an empty directory", dir.display());
        std::process::exit(2);
    }
    let b = BrokerConfig::from_pairs(parse_properties("zookeeper.connect=x:1\n")).expect("config");
    let o = BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string()), ("segment.bytes".to_string(), (256u64 << 20).to_string())]);
    let mut log = Log::open(&dir, "bench", 0, TopicConfig::resolve(&b, &o), 0, 0).expect("open");

    // A small xorshift: the same key sequence on every run.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let value = vec![b'v'; value_bytes];
    let t = Instant::now();
    let mut written = 0;
    while written < records {
        let n = (records - written).min(100);
        let ks: Vec<String> = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                format!("key{:07}", x % keys)
            })
            .collect();
        let recs: Vec<(Option<&[u8]>, Option<&[u8]>)> = ks.iter().map(|k| (Some(k.as_bytes()), Some(value.as_slice()))).collect();
        let mut bt = batch::build(&recs, now_ms());
        log.append(&mut bt, 0).expect("append");
        written += n;
    }
    log.roll_now().expect("roll");
    log.set_high_watermark(log.log_end_offset);
    log.flush().expect("flush");
    let fill_secs = t.elapsed().as_secs_f64();
    let segs: Vec<std::path::PathBuf> = {
        let mut v: Vec<_> = std::fs::read_dir(&dir).expect("dir").filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().map(|e| e == "log").unwrap_or(false)).collect();
        v.sort();
        v
    };
    let dirty_bytes: u64 = segs.iter().map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)).sum();
    let health = log.health.clone();
    let part = Partition { log: std::sync::Mutex::new(log), leader_epoch: Default::default(), repl: Default::default(), health };

    // The limit, read half: the same files read sequentially from a cold cache.
    let cold = drop_caches();
    let t = Instant::now();
    let mut buf = vec![0u8; 1 << 20];
    let mut read = 0u64;
    for p in &segs {
        if let Ok(mut f) = std::fs::File::open(p) {
            while let Ok(n) = f.read(&mut buf) {
                if n == 0 {
                    break;
                }
                read += n as u64;
            }
        }
    }
    let disk_read_secs = t.elapsed().as_secs_f64();

    let hwm_before = vm_hwm_kb();
    let cold = cold && drop_caches();
    let frozen = part.lock().freeze_for_cleaning(None, 0.0);
    let c = cleanable_offsets(&frozen.view, now_ms());
    let budget = Budget { map_bytes: dedupe_mb << 20, io_buffer: 524_288 };
    let t = Instant::now();
    let (end, stats) = clean_log(&part, &frozen, &c, budget, now_ms()).expect("clean");
    let clean_secs = t.elapsed().as_secs_f64();
    drop(frozen);
    let hwm_after = vm_hwm_kb();

    // The limit, write half: as many bytes as the cleaner wrote, written and fsynced.
    let probe = dir.with_file_name("disk-probe");
    let t = Instant::now();
    let mut f = std::fs::File::create(&probe).expect("probe");
    let mut left = stats.bytes_written;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n]).expect("write");
        left -= n as u64;
    }
    f.sync_all().expect("fsync");
    let disk_secs = disk_read_secs + t.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&probe);

    let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
    let processed = stats.bytes_read + stats.map_bytes_read;
    println!(
        "records={records} keys={keys} value_bytes={value_bytes} dedupe_buffer={dedupe_mb}MiB dirty_log={:.1}MB (filled in {fill_secs:.1}s)",
        mb(dirty_bytes)
    );
    println!("{}", stats.line(0, "bench-0"));
    println!(
        "cleaner: {:.2}s, {:.1} MB/s of dirty log (map pass + copy pass read {:.1} MB, wrote {:.1} MB), clean up to {end}, map utilization {:.1}%",
        clean_secs,
        mb(dirty_bytes) / clean_secs,
        mb(processed),
        mb(stats.bytes_written),
        stats.buffer_utilization * 100.0
    );
    println!(
        "disk limit (same run): read {:.1} MB + write/fsync {:.1} MB in {disk_secs:.2}s = {:.1} MB/s of dirty log; cleaner/limit = {:.2}",
        mb(read),
        mb(stats.bytes_written),
        mb(dirty_bytes) / disk_secs,
        disk_secs / clean_secs
    );
    println!("page cache: {}", if cold { "dropped before the read half of the limit and before the clean (cold)" } else { "not dropped (warm: not root?)" });
    println!("peak RSS: {} KiB before the clean, {} KiB after (the dedupe buffer is {} KiB)", hwm_before, hwm_after, dedupe_mb << 10);
}
