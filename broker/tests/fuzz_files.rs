//! Fuzz target: the broker's readers of its own files — segments (`.log`), offset and time
//! indexes, the leader-epoch checkpoint, producer snapshots, and the log-dir checkpoints.
//!
//! A real partition log is written through `Log` (several segments, several leader epochs,
//! every codec); each case damages one of its files with `broker::fuzzgen::mutate` (huge or
//! negative lengths, cut-offs, flipped bits, repeated slices) and opens the log again, with
//! and without recovery. Opening may refuse; if it opens, every whole batch it hands to a
//! fetch (`Log::slice`, the zero-copy path) or a read (`Log::read`) must pass its CRC and
//! come in offset order — damaged data is never served — and nothing may panic. The dir
//! checkpoint and epoch-file parsers get mutated text too. Peak RSS is checked at the end.
//!
//! `FUZZ_CASES` (default 1,000: each case is file I/O) and `FUZZ_SEED`; the long run is in
//! FUZZING.md.

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::Path;

use broker::config::{parse_properties, BrokerConfig};
use broker::fuzzgen;
use broker::log::batch;
use broker::log::partition_log::{parse_epochs, Log, Sliced};
use broker::topic_config::TopicConfig;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn peak_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn cfg() -> TopicConfig {
    let b = BrokerConfig::from_pairs(parse_properties(
        "zookeeper.connect=x:1\nlog.segment.bytes=1500\nlog.index.interval.bytes=100\n",
    ))
    .expect("config");
    TopicConfig::resolve(&b, &BTreeMap::new())
}

/// Writes the pristine log and returns its files (name -> bytes) and its end offset.
fn pristine(dir: &Path, rng: &mut StdRng) -> (BTreeMap<String, Vec<u8>>, i64) {
    let mut log = Log::open(dir, "t", 0, cfg(), 0, 0).expect("open a new log");
    for i in 0..60 {
        if i % 20 == 0 {
            log.assign_epoch(i / 20).expect("epoch");
        }
        let vals: Vec<Vec<u8>> = (0..rng.gen_range(1..4)).map(|j| format!("value-{i}-{j}").into_bytes()).collect();
        let recs: Vec<(Option<&[u8]>, Option<&[u8]>)> = vals.iter().map(|v| (None, Some(&v[..]))).collect();
        let plain = batch::build(&recs, 1_700_000_000_000 + i as i64);
        let codec = rng.gen_range(0..5);
        let mut b = if codec == 0 { plain } else { batch::recompress(&plain, codec).expect("recompress") };
        log.append(&mut b, (i / 20) as i32).expect("append");
    }
    let _ = log.write_producer_snapshot();
    log.flush().expect("flush");
    let end = log.log_end_offset;
    drop(log);
    let mut files = BTreeMap::new();
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        files.insert(name, std::fs::read(e.path()).expect("read"));
    }
    (files, end)
}

/// Everything a fetch and a read hand out, checked: whole batches pass their CRC and
/// come in offset order.
fn check_served(log: &mut Log) -> u64 {
    let mut served = 0;
    let end = log.log_end_offset;
    let mut o = log.log_start_offset;
    let mut steps = 0;
    while o < end && steps < 400 {
        steps += 1;
        let mut sliced = None;
        for _ in 0..64 {
            match log.slice(o, 1 << 20, end) {
                Ok(Sliced::Checking) => continue,
                other => {
                    sliced = Some(other);
                    break;
                }
            }
        }
        let mut next = o + 1;
        if let Some(Ok(Sliced::Data(s))) = sliced {
            let mut buf = vec![0u8; s.len.min(2 << 20) as usize];
            let n = s.file.read_at(&mut buf, s.pos).expect("read the slice");
            buf.truncate(n);
            let mut last = -1;
            for (h, b) in batch::split(&buf) {
                assert!(batch::crc_ok(b), "a fetch served a damaged batch at offset {}", h.base_offset);
                served += 1;
                assert!(h.base_offset > last, "batches out of order");
                last = h.last_offset();
            }
            if last >= o {
                next = last + 1;
            }
        }
        if let Ok(bytes) = log.read(o, 1 << 20) {
            for (h, b) in batch::split(&bytes) {
                assert!(batch::crc_ok(b), "a read returned a damaged batch at offset {}", h.base_offset);
            }
        }
        o = next;
    }
    served
}

#[test]
fn damaged_files_are_refused_or_never_served() {
    let cases = env_u64("FUZZ_CASES", 1_000);
    let seed = env_u64("FUZZ_SEED", 6);
    let mut rng = StdRng::seed_from_u64(seed);
    let root = tempfile::tempdir().expect("tempdir");
    let (files, end) = pristine(&root.path().join("pristine"), &mut rng);
    let names: Vec<&String> = files.keys().collect();
    assert!(names.iter().filter(|n| n.ends_with(".log")).count() >= 3, "several segments: {names:?}");
    let work = root.path().join("t-0");
    let (mut opened, mut refused, mut served) = (0u64, 0u64, 0u64);
    for _ in 0..cases {
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).expect("mkdir");
        let victim = names[rng.gen_range(0..names.len())];
        for (name, bytes) in &files {
            let mut b = bytes.clone();
            if name == victim || rng.gen_bool(0.05) {
                fuzzgen::mutate(&mut b, &mut rng);
            }
            std::fs::write(work.join(name), &b).expect("write");
        }
        let recovery_point = if rng.gen_bool(0.5) { 0 } else { end };
        match Log::open(&work, "t", 0, cfg(), recovery_point, 0) {
            Ok(mut log) => {
                opened += 1;
                served += check_served(&mut log);
                let _ = log.scrub(1 << 20);
                let _ = log.first_damage();
                served += check_served(&mut log);
            }
            Err(_) => refused += 1,
        }
    }
    let rss = peak_rss_kib();
    println!(
        "{cases} damaged logs (seed {seed}): {opened} opened, {served} whole batches served (all CRC-valid), {refused} refused; peak RSS {rss} KiB"
    );
    assert!(served > cases, "the fetch path must still serve the undamaged data");
    assert!(rss < 1024 * 1024, "peak RSS {rss} KiB");
}

#[test]
fn checkpoint_and_epoch_parsers_take_any_bytes() {
    let mut rng = StdRng::seed_from_u64(env_u64("FUZZ_SEED", 8));
    let seeds: [&[u8]; 3] = [b"0\n2\nt 0 5\nu 3 77\n", b"0\n3\n0 0\n1 20\n2 41\n", b"0\n0\n"];
    for _ in 0..env_u64("FUZZ_CASES", 1_000) * 10 {
        let mut b = seeds[rng.gen_range(0..seeds.len())].to_vec();
        fuzzgen::mutate(&mut b, &mut rng);
        let _ = broker::log::parse_checkpoint(&b);
        let _ = parse_epochs(&b);
    }
    assert!(broker::log::parse_checkpoint(seeds[0]).is_ok());
    assert_eq!(parse_epochs(seeds[1]).expect("epochs").len(), 3);
}
