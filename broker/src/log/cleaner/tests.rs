//! Cleaner tests: the pure rules with values (offset map, filter, batch rewrite, planning),
//! then whole cleans of real logs in temp dirs, crashes at each step of the swap, damaged
//! segments and idempotent producers.

use std::collections::{BTreeMap, HashMap};

use super::clean::{clean_log, Budget, CleanError};
use super::filter::{map_batch, retain, Filter, Outcome};
use super::offset_map::OffsetMap;
use super::plan::*;
use crate::config::{parse_properties, BrokerConfig};
use crate::log::batch::{self, rewrite};
use crate::log::partition_log::now_ms;
use crate::log::{Log, Partition};
use crate::topic_config::TopicConfig;

fn kv(k: &str, v: Option<&str>) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    (Some(k.as_bytes().to_vec()), v.map(|v| v.as_bytes().to_vec()))
}

/// A batch of (key, value) records at `base`, timestamps ts, ts+1, ...
fn keyed(base: i64, recs: &[(Option<Vec<u8>>, Option<Vec<u8>>)], ts: i64) -> Vec<u8> {
    let refs: Vec<(Option<&[u8]>, Option<&[u8]>)> = recs.iter().map(|(k, v)| (k.as_deref(), v.as_deref())).collect();
    let mut b = batch::build(&refs, ts);
    batch::assign_offsets(&mut b, base, 0, None);
    b
}

/// Sets producer id, epoch and base sequence (and the CRC).
fn with_producer(mut b: Vec<u8>, pid: i64, epoch: i16, seq: i32) -> Vec<u8> {
    b[43..51].copy_from_slice(&pid.to_be_bytes());
    b[51..53].copy_from_slice(&epoch.to_be_bytes());
    b[53..57].copy_from_slice(&seq.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

fn map_of(entries: &[(&str, i64)]) -> OffsetMap {
    let mut m = OffsetMap::with_memory(1 << 20);
    for (k, o) in entries {
        assert!(m.put(k.as_bytes(), *o));
    }
    m
}

// ---- offset map -------------------------------------------------------------------------

#[test]
fn offset_map_keeps_the_latest_offset_and_fills_up_by_its_byte_budget() {
    let mut m = OffsetMap::with_memory(24 * 10);
    assert_eq!(m.capacity(), 9, "10 slots of 24 bytes, 90% of them usable");
    assert_eq!(m.latest_offset(), -1);
    assert!(m.put(b"a", 3));
    assert!(m.put(b"a", 7));
    assert_eq!(m.get(b"a"), Some(7));
    assert_eq!(m.get(b"b"), None);
    for i in 0..8 {
        assert!(m.put(format!("k{i}").as_bytes(), 10 + i));
    }
    assert_eq!(m.len(), 9);
    assert!(!m.put(b"another", 100), "full: refused");
    assert!(!m.put(b"a", 100), "full: even a known key stops the mapping, as Kafka's");
    assert_eq!(m.latest_offset(), 17);
    assert_eq!(m.get(b"a"), Some(7));
    assert!(m.utilization() > 0.8 && m.utilization() <= 0.9);
    let none = OffsetMap::with_memory(10);
    assert_eq!(none.capacity(), 0);
    // Two maps hash differently (random keys), the same map consistently.
    let (x, y) = (OffsetMap::with_memory(1 << 10), OffsetMap::with_memory(1 << 10));
    assert_eq!(x.hash(b"key"), x.hash(b"key"));
    assert_ne!(x.hash(b"key"), y.hash(b"key"));
}

// ---- retention rules --------------------------------------------------------------------

#[test]
fn a_record_is_kept_only_if_nothing_later_supersedes_it() {
    let m = map_of(&[("a", 5), ("b", 9), ("t", 8)]);
    assert!(retain(&m, true, 5, Some(b"a"), true), "the latest of its key");
    assert!(!retain(&m, true, 2, Some(b"a"), true), "superseded by offset 5");
    assert!(retain(&m, true, 3, Some(b"z"), true), "a key not in the dirty section");
    assert!(retain(&m, true, 10, Some(b"a"), true), "past the map's latest offset: not looked at");
    assert!(!retain(&m, true, 4, None, true), "no key: dropped");
    assert!(retain(&m, true, 8, Some(b"t"), false), "a tombstone within delete.retention.ms");
    assert!(!retain(&m, false, 8, Some(b"t"), false), "a tombstone past its delete horizon");
    assert!(!retain(&m, true, 7, Some(b"t"), false), "an older tombstone is superseded like any record");
}

#[test]
fn a_batch_all_kept_is_written_byte_for_byte() {
    let b = keyed(10, &[kv("a", Some("1")), kv("b", Some("2"))], 1000);
    let m = map_of(&[("a", 10), ("b", 11)]);
    let last = HashMap::new();
    let f = Filter { map: &m, retain_deletes: true, producer_last: &last };
    let (out, counts) = f.batch(&b).unwrap();
    assert_eq!(out, Outcome::Kept(&b[..]));
    assert_eq!((counts.read, counts.kept), (2, 2));
}

#[test]
fn a_rewritten_batch_keeps_offsets_codec_and_producer_fields() {
    for codec in [0i16, 1, 2, 3, 4] {
        let plain = with_producer(keyed(100, &[kv("a", Some("1")), kv("b", Some("2")), kv("a", Some("3")), kv("c", Some("4"))], 5000), 77, 3, 40);
        let b = batch::recompress(&plain, codec).unwrap();
        // a is superseded inside the batch (offset 102); c later in the log (offset 500).
        let m = map_of(&[("a", 102), ("b", 101), ("c", 500)]);
        let last = HashMap::new();
        let f = Filter { map: &m, retain_deletes: true, producer_last: &last };
        let (out, counts) = f.batch(&b).unwrap();
        let Outcome::Rewritten(nb) = out else { panic!("codec {codec}: {out:?}") };
        assert_eq!((counts.read, counts.kept), (4, 2));
        assert!(batch::crc_ok(&nb), "codec {codec}");
        let (h, o) = (batch::parse_header(&nb).unwrap(), batch::parse_header(&b).unwrap());
        assert_eq!(h.total_size(), nb.len());
        assert_eq!((h.base_offset, h.last_offset_delta, h.compression()), (100, 3, codec), "same offset range and codec");
        assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence, h.last_sequence()), (77, 3, 40, o.last_sequence()));
        assert_eq!(h.records_count, 2);
        assert_eq!(h.leader_epoch, o.leader_epoch);
        assert!(batch::validate_produce(&nb, 1 << 20).is_err(), "offset deltas have gaps: not a producer's batch");
        let recs = batch::records(&nb).unwrap();
        let got: Vec<(i64, Vec<u8>, i64)> = recs.iter().map(|r| (r.offset, r.key.clone().unwrap(), r.timestamp)).collect();
        assert_eq!(got, vec![(101, b"b".to_vec(), 5000), (102, b"a".to_vec(), 5000)]);
        assert_eq!(recs[1].value.as_deref(), Some(&b"3"[..]));
    }
}

#[test]
fn timestamps_are_recomputed_from_the_kept_records() {
    // Records at 1000, 1001, 1002 (deltas set by hand).
    let refs: Vec<(Option<&[u8]>, Option<&[u8]>)> = vec![(Some(b"a"), Some(b"1")), (Some(b"b"), Some(b"2")), (Some(b"c"), Some(b"3"))];
    let b = batch::build(&refs, 1000);
    let (h, body) = rewrite::body(&b).unwrap();
    let mut recs = rewrite::raw_records(&h, &body).unwrap();
    for (i, r) in recs.iter_mut().enumerate() {
        r.timestamp = 1000 + i as i64;
    }
    let nb = rewrite::rebuild(&h, &recs[1..]).unwrap();
    let nh = batch::parse_header(&nb).unwrap();
    assert_eq!((nh.first_timestamp, nh.max_timestamp), (1001, 1002));
    let ts: Vec<i64> = batch::records(&nb).unwrap().iter().map(|r| r.timestamp).collect();
    assert_eq!(ts, vec![1001, 1002]);
}

#[test]
fn an_emptied_batch_is_dropped_unless_it_is_a_producers_last() {
    let b = with_producer(keyed(20, &[kv("a", Some("1")), kv("b", Some("2"))], 1000), 9, 0, 5);
    let m = map_of(&[("a", 30), ("b", 31)]);
    let none = HashMap::new();
    let f = Filter { map: &m, retain_deletes: true, producer_last: &none };
    assert_eq!(f.batch(&b).unwrap().0, Outcome::Dropped);
    let other = HashMap::from([(9i64, 25i64)]);
    let f = Filter { map: &m, retain_deletes: true, producer_last: &other };
    assert_eq!(f.batch(&b).unwrap().0, Outcome::Dropped, "not the producer's last batch");
    let last = HashMap::from([(9i64, 21i64)]);
    let f = Filter { map: &m, retain_deletes: true, producer_last: &last };
    let Outcome::Empty(e) = f.batch(&b).unwrap().0 else { panic!("kept empty") };
    let h = batch::parse_header(&e).unwrap();
    assert!(batch::crc_ok(&e));
    assert_eq!((h.base_offset, h.last_offset(), h.records_count, h.compression()), (20, 21, 0, 0));
    assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence, h.last_sequence()), (9, 0, 5, 6));
    assert_eq!(e.len(), batch::HEADER_LEN);
    assert!(batch::records(&e).unwrap().is_empty());
}

#[test]
fn control_batches_are_left_alone() {
    let mut b = keyed(0, &[kv("marker", Some("x"))], 1);
    b[22] |= 0x20;
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    let m = map_of(&[("marker", 50)]);
    let last = HashMap::new();
    let f = Filter { map: &m, retain_deletes: false, producer_last: &last };
    assert_eq!(f.batch(&b).unwrap().0, Outcome::Kept(&b[..]));
    let mut m2 = OffsetMap::with_memory(1 << 10);
    assert!(map_batch(&mut m2, &b, 0).unwrap());
    assert!(m2.is_empty(), "markers are not mapped");
}

#[test]
fn mapping_starts_at_the_first_dirty_offset_and_stops_when_full() {
    let b = keyed(10, &[kv("a", Some("1")), kv("b", Some("2")), (None, Some(b"x".to_vec())), kv("c", Some("3"))], 1);
    let mut m = OffsetMap::with_memory(1 << 10);
    assert!(map_batch(&mut m, &b, 11).unwrap());
    assert_eq!((m.get(b"a"), m.get(b"b"), m.get(b"c"), m.latest_offset()), (None, Some(11), Some(13), 13));
    let mut small = OffsetMap::with_memory(24 * 2);
    assert!(!map_batch(&mut small, &b, 0).unwrap(), "one key fits");
    assert_eq!((small.len(), small.latest_offset()), (1, 10));
}

#[test]
fn hostile_record_bodies_are_errors_not_panics() {
    let b = keyed(0, &[kv("a", Some("1"))], 1);
    // Claim more records than there are, and a record length beyond the batch.
    for (at, val) in [(60usize, 0u8), (61, 0x7f)] {
        let mut x = b.clone();
        x[at] = val;
        let crc = crc32c::crc32c(&x[21..]);
        x[17..21].copy_from_slice(&crc.to_be_bytes());
        let m = map_of(&[("a", 0)]);
        let last = HashMap::new();
        let f = Filter { map: &m, retain_deletes: true, producer_last: &last };
        let _ = f.batch(&x);
        let mut mm = OffsetMap::with_memory(1 << 10);
        assert!(map_batch(&mut mm, &x, 0).is_err(), "byte {at}");
    }
    assert!(rewrite::body(&b[..30]).is_err());
}

#[test]
fn keyless_records_are_refused_for_compacted_topics() {
    assert!(super::refuse_keyless(&keyed(0, &[kv("a", Some("1"))], 1), "t", 0).is_ok());
    let e = super::refuse_keyless(&keyed(0, &[kv("a", Some("1")), (None, Some(b"v".to_vec()))], 1), "t", 3).unwrap_err();
    assert!(e.to_string().contains("Compacted topic cannot accept message without key in topic partition t-3."), "{e}");
    assert_eq!(e.error_code(), crate::error_code::ErrorCode::INVALID_RECORD);
}

// ---- planning ---------------------------------------------------------------------------

fn seg(base: i64, next: i64, size: u64, ts: i64) -> SegmentInfo {
    SegmentInfo { base, next_offset: next, size, index_bytes: 0, largest_timestamp: ts, first_batch_timestamp: ts, last_modified_ms: ts }
}

fn view(segs: Vec<SegmentInfo>, checkpoint: Option<i64>) -> LogView {
    let end = segs.last().map(|s| s.next_offset).unwrap_or(0);
    LogView { segments: segs, log_start: 0, log_end: end, high_watermark: end, checkpoint, min_compaction_lag_ms: 0, max_compaction_lag_ms: i64::MAX, min_cleanable_ratio: 0.5 }
}

#[test]
fn the_dirty_section_runs_from_the_checkpoint_to_the_active_segment() {
    let segs = vec![seg(0, 100, 1000, 10), seg(100, 200, 1000, 20), seg(200, 300, 1000, 30), seg(300, 350, 500, 40)];
    let c = cleanable_offsets(&view(segs.clone(), None), 1000);
    assert_eq!((c.first_dirty, c.first_uncleanable, c.clean_bytes, c.cleanable_bytes), (0, 300, 0, 3000));
    assert_eq!(c.ratio(), 1.0);
    let c = cleanable_offsets(&view(segs.clone(), Some(200)), 1000);
    assert_eq!((c.first_dirty, c.clean_bytes, c.cleanable_bytes), (200, 2000, 1000));
    assert!((c.ratio() - 1.0 / 3.0).abs() < 1e-9);
    assert!(!c.worth_it(0.5) && c.worth_it(0.3));
    // A checkpoint past the log end (a truncated log) or below its start is ignored.
    assert_eq!(cleanable_offsets(&view(segs.clone(), Some(9999)), 1000).first_dirty, 0);
    let mut v = view(segs.clone(), Some(10));
    v.log_start = 50;
    assert_eq!(cleanable_offsets(&v, 1000).first_dirty, 50);
    // The high watermark's segment is not cleaned.
    let mut v = view(segs.clone(), None);
    v.high_watermark = 150;
    assert_eq!(cleanable_offsets(&v, 1000).first_uncleanable, 100);
    // Only the active segment: nothing to clean.
    let c = cleanable_offsets(&view(vec![seg(0, 10, 100, 1)], None), 1000);
    assert_eq!((c.cleanable_bytes, c.worth_it(0.0)), (0, false));
}

#[test]
fn min_and_max_compaction_lag() {
    let segs = vec![seg(0, 100, 1000, 100), seg(100, 200, 1000, 900), seg(200, 300, 1000, 950), seg(300, 350, 500, 990)];
    let mut v = view(segs, None);
    v.min_compaction_lag_ms = 200;
    // now 1000: segments with records newer than 800 are protected.
    assert_eq!(cleanable_offsets(&v, 1000).first_uncleanable, 100);
    v.min_compaction_lag_ms = 0;
    v.max_compaction_lag_ms = 500;
    let c = cleanable_offsets(&v, 1000);
    assert_eq!(c.compaction_delay_ms, 400, "the first dirty batch (100) is 900 old: 400 overdue");
    assert!(c.need_now());
    v.checkpoint = Some(100);
    let c = cleanable_offsets(&v, 1000);
    assert_eq!(c.compaction_delay_ms, 0);
    assert!(c.worth_it(0.5) && !c.need_now(), "2/3 dirty anyway");
    v.checkpoint = Some(200);
    let c = cleanable_offsets(&v, 1000);
    assert!(!c.worth_it(0.5));
}

#[test]
fn the_dirtiest_log_worth_it_is_chosen() {
    let mk = |clean, cleanable, delay| Cleanable { first_dirty: 0, first_uncleanable: 0, clean_bytes: clean, cleanable_bytes: cleanable, compaction_delay_ms: delay };
    let cands = vec![(mk(100, 100, 0), 0.5), (mk(100, 300, 0), 0.5), (mk(0, 0, 0), 0.0), (mk(100, 200, 0), 0.9)];
    assert_eq!(filthiest(&cands), Some(1));
    assert_eq!(filthiest(&[(mk(900, 10, 0), 0.5)]), None);
    assert_eq!(filthiest(&[(mk(900, 10, 5), 0.5)]), Some(0), "overdue by max.compaction.lag.ms");
}

#[test]
fn segments_are_grouped_up_to_the_segment_size() {
    let segs = vec![seg(0, 10, 300, 0), seg(10, 20, 300, 0), seg(20, 30, 500, 0), seg(30, 40, 100, 0), seg(40, 50, 900, 0)];
    assert_eq!(group_by_size(&segs, 1000, u64::MAX, 50), vec![vec![0, 1], vec![2, 3], vec![4]]);
    assert_eq!(group_by_size(&segs, 10_000, u64::MAX, 50), vec![vec![0, 1, 2, 3, 4]]);
    let mut idx = segs.clone();
    for s in &mut idx {
        s.index_bytes = 60;
    }
    assert_eq!(group_by_size(&idx, 10_000, 100, 50).len(), 5, "index sizes bound a group too");
    let far = vec![seg(0, 10, 1, 0), seg(i32::MAX as i64 + 5, i32::MAX as i64 + 6, 1, 0)];
    assert_eq!(group_by_size(&far, 10_000, u64::MAX, i32::MAX as i64 + 6).len(), 2, "offsets must fit an i32 of the base");
}

#[test]
fn the_delete_horizon_follows_the_last_clean_segment() {
    let segs = vec![seg(0, 100, 1, 5000), seg(100, 200, 1, 7000), seg(200, 300, 1, 9000)];
    assert_eq!(delete_horizon(&segs, 0, 1000), 0, "nothing clean yet: every tombstone stays");
    assert_eq!(delete_horizon(&segs, 200, 1000), 6000);
    assert_eq!(delete_horizon(&segs, 150, 1000), 6000);
}

// ---- cleaning real logs -----------------------------------------------------------------

fn compact_cfg(seg_bytes: i64) -> TopicConfig {
    let b = BrokerConfig::from_pairs(parse_properties("zookeeper.connect=x:1\nlog.index.interval.bytes=100\n")).unwrap();
    let o = BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string()), ("segment.bytes".to_string(), seg_bytes.to_string())]);
    TopicConfig::resolve(&b, &o)
}

fn partition(log: Log) -> Partition {
    let health = log.health.clone();
    Partition { log: std::sync::Mutex::new(log), leader_epoch: Default::default(), repl: Default::default(), health }
}

const BUDGET: Budget = Budget { map_bytes: 1 << 20, io_buffer: 4096 };

/// Every record of the log from its start: (offset, key, value).
fn all_records(log: &mut Log) -> Vec<(i64, String, Option<String>)> {
    let mut out = Vec::new();
    let mut at = log.log_start_offset;
    while at < log.log_end_offset {
        let data = log.read(at, 1 << 16).unwrap();
        let batches = batch::split(&data);
        if batches.is_empty() {
            break;
        }
        for (h, b) in batches {
            for r in batch::records(b).unwrap() {
                let s = |v: Option<Vec<u8>>| v.map(|v| String::from_utf8(v).unwrap());
                out.push((r.offset, s(r.key).unwrap_or_default(), s(r.value)));
            }
            at = h.next_offset();
        }
    }
    out
}

/// Key -> (offset, value) of the latest record of each key, as a consumer applying the log
/// in order ends up with.
fn final_map(recs: &[(i64, String, Option<String>)]) -> BTreeMap<String, (i64, Option<String>)> {
    let mut m = BTreeMap::new();
    for (o, k, v) in recs {
        m.insert(k.clone(), (*o, v.clone()));
    }
    m
}

/// Appends `rounds` overwrites of `keys` keys (one record per batch), value "k-round".
fn fill(log: &mut Log, keys: usize, rounds: usize) {
    for r in 0..rounds {
        for k in 0..keys {
            let mut b = batch::build(&[(Some(format!("key{k}").as_bytes()), Some(format!("{k}-{r}").as_bytes()))], 1000 + r as i64);
            log.append(&mut b, 0).unwrap();
        }
    }
    log.set_high_watermark(log.log_end_offset);
}

fn clean(part: &Partition, checkpoint: Option<i64>) -> Result<(i64, super::clean::CleanStats), CleanError> {
    let frozen = part.lock().freeze_for_cleaning(checkpoint, 0.0);
    let c = cleanable_offsets(&frozen.view, now_ms());
    clean_log(part, &frozen, &c, BUDGET, now_ms())
}

fn log_files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
    v.sort();
    v
}

#[test]
fn cleaning_keeps_the_latest_value_of_each_key_at_its_offset() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("t-0");
    let mut log = Log::open(&dir, "t", 0, compact_cfg(2000), 0, 0).unwrap();
    fill(&mut log, 20, 15);
    let before = all_records(&mut log);
    assert_eq!(before.len(), 300);
    let expected = final_map(&before);
    let size_before = log.size_bytes();
    let nsegs = log.segment_bases().len();
    assert!(nsegs > 5);
    let part = partition(log);
    let (end, stats) = clean(&part, None).unwrap();
    let mut log = part.lock();
    assert_eq!(end, *log.segment_bases().last().unwrap(), "clean up to the active segment");
    assert!(stats.bytes_written < stats.bytes_read && stats.records_written < stats.records_read, "{stats:?}");
    assert!(stats.line(0, "t-0").contains("size reduction"));
    let after = all_records(&mut log);
    // Below the active segment one record per key is left; the active one is untouched.
    let active = *log.segment_bases().last().unwrap();
    let cleaned: Vec<_> = after.iter().filter(|r| r.0 < active).collect();
    let keys: std::collections::HashSet<_> = cleaned.iter().map(|r| r.1.clone()).collect();
    assert_eq!(keys.len(), cleaned.len(), "one record per key below the active segment");
    assert_eq!(final_map(&after), expected, "the same key -> value map, with the original offsets");
    assert!(after.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(log.size_bytes() < size_before / 3, "{} -> {}", size_before, log.size_bytes());
    drop(log);
    // The next clean (nothing new is dirty) groups the small cleaned segments.
    clean(&part, Some(end)).unwrap();
    let mut log = part.lock();
    assert!(log.segment_bases().len() < nsegs / 2, "segments were grouped: {:?}", log.segment_bases());
    assert_eq!(all_records(&mut log), after);
    assert!(!log_files(&dir).iter().any(|f| f.ends_with(".cleaned") || f.ends_with(".swap") || f.ends_with(".deleted")));
    // A group that lost every record leaves no (empty) segment behind: retention would stop
    // at one.
    let active_name = format!("{active:020}.log");
    assert!(log_files(&dir).iter().filter(|f| f.ends_with(".log") && **f != active_name).all(|f| std::fs::metadata(dir.join(f)).unwrap().len() > 0));
    assert!(log.segment_bases()[0] > 0, "the first segments lost every record");
    // Reads at the log start and inside gaps find the next record.
    let first = log.read(0, 100).unwrap();
    assert!(!first.is_empty());
    let leo = log.log_end_offset;
    drop(log);
    // The indexes the cleaner wrote are the ones a rebuild makes (recovery point 0 rescans
    // every segment and rewrites them).
    let indexes = |dir: &std::path::Path| -> Vec<(String, Vec<u8>)> {
        log_files(dir).into_iter().filter(|f| f.ends_with("index")).map(|f| (f.clone(), std::fs::read(dir.join(&f)).unwrap())).collect()
    };
    let written = indexes(&dir);
    assert!(written.iter().any(|(f, b)| f.ends_with(".index") && !b.is_empty()), "{:?}", written.iter().map(|(f, b)| (f, b.len())).collect::<Vec<_>>());
    // The same after a restart, and appends go on at the same offsets.
    let part_log = part.log.into_inner().unwrap();
    drop(part_log);
    let mut log = Log::open(&dir, "t", 0, compact_cfg(2000), 0, 0).unwrap();
    assert_eq!(indexes(&dir), written);
    assert_eq!(log.log_end_offset, leo);
    assert_eq!(all_records(&mut log), after);
    let mut b = batch::build(&[(Some(b"key0"), Some(b"new"))], 5);
    assert_eq!(log.append(&mut b, 0).unwrap().base_offset, leo);
}

#[test]
fn a_second_clean_only_maps_the_new_dirty_section_and_drops_expired_tombstones() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("t-0");
    let mut cfg = compact_cfg(1500);
    cfg.delete_retention_ms = 0;
    let mut log = Log::open(&dir, "t", 0, cfg, 0, 0).unwrap();
    fill(&mut log, 10, 5);
    // Tombstones for key0..key4.
    for k in 0..5 {
        let mut b = batch::build(&[(Some(format!("key{k}").as_bytes()), None)], 2000);
        log.append(&mut b, 0).unwrap();
    }
    fill(&mut log, 1, 30); // more of key0 ... then its tombstone again
    let mut b = batch::build(&[(Some(b"key0"), None)], 3000);
    log.append(&mut b, 0).unwrap();
    fill(&mut log, 3, 10); // pushes everything before into cleanable segments
    let mut b = batch::build(&[(Some(b"key9"), Some(b"x"))], 9999);
    log.append(&mut b, 0).unwrap();
    log.set_high_watermark(log.log_end_offset);
    let part = partition(log);
    let (end1, _) = clean(&part, None).unwrap();
    let tombstones = |log: &mut Log| all_records(log).iter().filter(|r| r.2.is_none()).map(|r| r.1.clone()).collect::<Vec<_>>();
    {
        let mut log = part.lock();
        let t = tombstones(&mut log);
        assert!(t.contains(&"key3".to_string()) && t.contains(&"key4".to_string()), "first clean: every tombstone stays ({t:?})");
    }
    // Age the clean segments so that the horizon has passed them (delete.retention.ms = 0
    // counts from the last clean segment's time).
    let more = {
        let mut log = part.lock();
        let mut b = batch::build(&[(Some(b"key8"), Some(b"y"))], 10_000);
        log.append(&mut b, 0).unwrap();
        log.roll_now().unwrap();
        let mut b = batch::build(&[(Some(b"key8"), Some(b"z"))], 10_001);
        log.append(&mut b, 0).unwrap();
        let leo = log.log_end_offset;
        log.set_high_watermark(leo);
        leo
    };
    let (end2, stats2) = clean(&part, Some(end1)).unwrap();
    assert!(end2 > end1 && end2 < more);
    assert!(stats2.map_records <= (end2 - end1) as u64, "only the new dirty section is mapped: {stats2:?}");
    let mut log = part.lock();
    let t = tombstones(&mut log);
    assert!(!t.contains(&"key3".to_string()) && !t.contains(&"key4".to_string()), "tombstones past the horizon are gone: {t:?}");
    let recs = all_records(&mut log);
    assert!(!recs.iter().any(|r| r.1 == "key3" || r.1 == "key4"), "and no older value of their keys came back");
}

#[test]
fn min_compaction_lag_protects_recent_segments() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("t-0");
    let mut cfg = compact_cfg(1000);
    cfg.min_compaction_lag_ms = 3_600_000;
    let mut log = Log::open(&dir, "t", 0, cfg, 0, 0).unwrap();
    // Old records (timestamps in 1970) then recent ones.
    fill(&mut log, 5, 10);
    let recent_from = log.log_end_offset;
    let now = now_ms();
    for r in 0..10 {
        let mut b = batch::build(&[(Some(b"key0"), Some(format!("recent{r}").as_bytes()))], now);
        log.append(&mut b, 0).unwrap();
    }
    log.set_high_watermark(log.log_end_offset);
    let part = partition(log);
    let (end, _) = clean(&part, None).unwrap();
    assert!(end <= recent_from + 1);
    let mut log = part.lock();
    let recs = all_records(&mut log);
    let recent = recs.iter().filter(|r| r.2.as_deref().is_some_and(|v| v.starts_with("recent"))).count();
    assert_eq!(recent, 10, "records within min.compaction.lag.ms are all still there");
}

#[test]
fn an_idempotent_producer_goes_on_after_its_batches_were_cleaned() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("t-0");
    let mut log = Log::open(&dir, "t", 0, compact_cfg(800), 0, 0).unwrap();
    for seq in 0..20 {
        let b = batch::build(&[(Some(b"k"), Some(format!("v{seq}").as_bytes()))], 1000);
        let mut b = with_producer(b, 42, 0, seq);
        log.append(&mut b, 0).unwrap();
    }
    // Another writer overwrites the producer's key afterwards.
    fill(&mut log, 1, 1);
    let mut b = batch::build(&[(Some(b"k"), Some(b"other"))], 2000);
    log.append(&mut b, 0).unwrap();
    fill(&mut log, 3, 20);
    let part = partition(log);
    clean(&part, None).unwrap();
    let mut log = part.lock();
    assert!(!all_records(&mut log).iter().any(|r| r.2.as_deref().is_some_and(|v| v.starts_with('v'))), "every record of the producer is superseded");
    // Its last batch stays as an empty batch: its sequence survives a restart without snapshots.
    let leo = log.log_end_offset;
    drop(log);
    drop(part);
    for f in log_files(&dir) {
        if f.ends_with(".snapshot") {
            std::fs::remove_file(dir.join(f)).unwrap();
        }
    }
    let mut log = Log::open(&dir, "t", 0, compact_cfg(800), 0, 0).unwrap();
    assert_eq!(log.log_end_offset, leo);
    let e = log.producers.producers.get(&42).expect("the producer is known from the log");
    assert_eq!(e.batches.back().map(|b| b.last_seq), Some(19));
    let mut next = with_producer(batch::build(&[(Some(b"k"), Some(b"v20"))], 3000), 42, 0, 20);
    log.append(&mut next, 0).expect("sequence 20 continues, no OUT_OF_ORDER_SEQUENCE");
}

#[test]
fn a_damaged_segment_stops_the_clean_and_leaves_the_log_as_it_was() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("t-0");
    let mut log = Log::open(&dir, "t", 0, compact_cfg(1000), 0, 0).unwrap();
    fill(&mut log, 5, 20);
    let before = all_records(&mut log);
    let first = crate::log::segment::file_name(&dir, 0, "log");
    let part = partition(log);
    let frozen = part.lock().freeze_for_cleaning(None, 0.0);
    // Flip a byte of a record after the freeze (the log has not seen it yet).
    let mut bytes = std::fs::read(&first).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0xff;
    std::fs::write(&first, &bytes).unwrap();
    let c = cleanable_offsets(&frozen.view, now_ms());
    let e = clean_log(&part, &frozen, &c, BUDGET, now_ms()).unwrap_err();
    assert!(matches!(e, CleanError::Damaged { .. }), "{e}");
    assert!(e.to_string().contains("00000000000000000000.log"), "{e}");
    bytes[n - 3] ^= 0xff;
    std::fs::write(&first, &bytes).unwrap();
    let mut log = part.lock();
    assert_eq!(all_records(&mut log), before);
    assert!(!log_files(&dir).iter().any(|f| f.contains(".cleaned") || f.contains(".swap")));
}

#[test]
fn a_log_that_changed_during_the_clean_is_not_swapped() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("t-0");
    let mut log = Log::open(&dir, "t", 0, compact_cfg(1000), 0, 0).unwrap();
    fill(&mut log, 5, 20);
    let part = partition(log);
    let frozen = part.lock().freeze_for_cleaning(None, 0.0);
    // DeleteRecords drops the first segments meanwhile.
    let second = frozen.segments[2].info.base;
    part.lock().delete_records_before(second).unwrap();
    let c = cleanable_offsets(&frozen.view, now_ms());
    let (_, stats) = clean_log(&part, &frozen, &c, BUDGET, now_ms()).unwrap();
    assert!(stats.interrupted);
    assert!(!log_files(&dir).iter().any(|f| f.contains(".cleaned") || f.contains(".swap")));
    let mut log = part.lock();
    assert_eq!(log.log_start_offset, second);
    assert!(!all_records(&mut log).is_empty());
}

// ---- crashes at each step of a clean ----------------------------------------------------

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in log_files(from) {
        std::fs::copy(from.join(&f), to.join(&f)).unwrap();
    }
}

/// Records of a log dir opened as after a restart, and its `.log` files.
fn reopen(dir: &std::path::Path) -> (Vec<(i64, String, Option<String>)>, Vec<String>) {
    let mut log = Log::open(dir, "t", 0, compact_cfg(2000), 0, 0).unwrap();
    let recs = all_records(&mut log);
    drop(log);
    let files = log_files(dir);
    assert!(!files.iter().any(|f| f.ends_with(".cleaned") || f.ends_with(".swap") || f.ends_with(".deleted")), "{files:?}");
    (recs, files.into_iter().filter(|f| f.ends_with(".log")).collect())
}

#[test]
fn a_crash_at_any_step_of_the_swap_recovers_without_loss_or_duplicates() {
    let d = tempfile::tempdir().unwrap();
    let orig = d.path().join("orig").join("t-0");
    let mut log = Log::open(&orig, "t", 0, compact_cfg(2000), 0, 0).unwrap();
    fill(&mut log, 20, 15);
    // Cleaned once, then more overwrites: the next clean groups small segments.
    let part = partition(log);
    let (end, _) = clean(&part, None).unwrap();
    let mut log = part.log.into_inner().unwrap();
    fill(&mut log, 20, 3);
    log.roll_now().unwrap();
    let before = all_records(&mut log);
    let expected = final_map(&before);
    drop(log);
    let cleaned_dir = d.path().join("cleaned").join("t-0");
    copy_dir(&orig, &cleaned_dir);
    let mut log = Log::open(&cleaned_dir, "t", 0, compact_cfg(2000), 0, 0).unwrap();
    log.set_high_watermark(log.log_end_offset);
    // Bigger segments now: the next clean writes the old ones as one group.
    log.config.segment_bytes = 100_000;
    let old_bases: Vec<i64> = log.segment_bases();
    let part = partition(log);
    clean(&part, Some(end)).unwrap();
    let after = all_records(&mut part.lock());
    let new_bases: Vec<i64> = part.lock().segment_bases();
    drop(part);
    // The first group: from the first segment to the second cleaned segment's base.
    let g_end = new_bases[1];
    let group: Vec<i64> = old_bases.iter().copied().filter(|b| *b < g_end).collect();
    assert!(group.len() > 1, "{old_bases:?} -> {new_bases:?}");
    let g0 = new_bases[0];
    let cleaned_first = std::fs::read(crate::log::segment::file_name(&cleaned_dir, g0, "log")).unwrap();
    let swap_name = format!("{g0:020}.log.swap");

    let case = |name: &str, setup: &dyn Fn(&std::path::Path)| {
        let dir = d.path().join(name).join("t-0");
        copy_dir(&orig, &dir);
        setup(&dir);
        let (recs, logs) = reopen(&dir);
        assert_eq!(final_map(&recs), expected, "{name}: the same key -> value map");
        assert!(recs.windows(2).all(|w| w[0].0 < w[1].0), "{name}: offsets increase, no duplicates");
        let bases: Vec<i64> = logs.iter().map(|f| f[..20].parse().unwrap()).collect();
        (recs, bases)
    };
    // 1. Killed while writing the cleaned file (possibly torn): the old segments stay.
    let (recs, _) = case("writing", &|dir| {
        std::fs::write(dir.join(format!("{g0:020}.log.cleaned")), &cleaned_first[..cleaned_first.len() / 2]).unwrap();
    });
    assert_eq!(recs, before);
    // 2. Killed after the commit (the .swap rename), before anything else: the swap completes.
    let (recs, bases) = case("committed", &|dir| {
        std::fs::write(dir.join(&swap_name), &cleaned_first).unwrap();
    });
    assert_eq!(recs.iter().filter(|r| r.0 < g_end).collect::<Vec<_>>(), after.iter().filter(|r| r.0 < g_end).collect::<Vec<_>>());
    assert!(!bases.iter().any(|b| *b > g0 && *b < g_end), "{bases:?}: the group's old segments are gone");
    // 3. Killed while the old segments were being renamed to .deleted.
    let (recs, _) = case("renaming", &|dir| {
        std::fs::write(dir.join(&swap_name), &cleaned_first).unwrap();
        for b in &group[..group.len() / 2] {
            for ext in ["log", "index", "timeindex"] {
                let f = crate::log::segment::file_name(dir, *b, ext);
                std::fs::rename(&f, f.with_extension(format!("{ext}.deleted"))).unwrap();
            }
        }
    });
    assert_eq!(recs.iter().filter(|r| r.0 < g_end).count(), after.iter().filter(|r| r.0 < g_end).count());
    // 4. Killed after every old file was renamed, before the swap became live.
    case("renamed", &|dir| {
        std::fs::write(dir.join(&swap_name), &cleaned_first).unwrap();
        for b in &group {
            for ext in ["log", "index", "timeindex"] {
                let f = crate::log::segment::file_name(dir, *b, ext);
                std::fs::rename(&f, f.with_extension(format!("{ext}.deleted"))).unwrap();
            }
        }
    });
    // 5. Killed after the swap became live, before the .deleted files were removed.
    case("live", &|dir| {
        for b in &group {
            for ext in ["log", "index", "timeindex"] {
                let f = crate::log::segment::file_name(dir, *b, ext);
                std::fs::rename(&f, f.with_extension(format!("{ext}.deleted"))).unwrap();
            }
        }
        std::fs::write(crate::log::segment::file_name(dir, g0, "log"), &cleaned_first).unwrap();
    });
}

#[test]
fn a_follower_copies_a_cleaned_log_gaps_and_all() {
    let d = tempfile::tempdir().unwrap();
    let mut leader = Log::open(&d.path().join("l").join("t-0"), "t", 0, compact_cfg(1500), 0, 0).unwrap();
    fill(&mut leader, 10, 10);
    let part = partition(leader);
    clean(&part, None).unwrap();
    let mut leader = part.lock();
    let mut follower = Log::open(&d.path().join("f").join("t-0"), "t", 0, compact_cfg(1500), 0, 0).unwrap();
    // Fetch from offset 0 as a new replica does, whatever the gaps.
    while follower.log_end_offset < leader.log_end_offset {
        let data = leader.read(follower.log_end_offset, 4096).unwrap();
        assert!(!data.is_empty());
        follower.append_replica(&data).unwrap();
    }
    assert_eq!(follower.log_end_offset, leader.log_end_offset);
    follower.set_high_watermark(follower.log_end_offset);
    assert_eq!(all_records(&mut follower), all_records(&mut leader));
    // An overlap is still refused.
    let overlap = keyed(follower.log_end_offset - 1, &[kv("a", Some("1")), kv("b", Some("2"))], 1);
    assert!(follower.append_replica(&overlap).is_err());
}

#[test]
fn a_truncation_below_the_checkpoint_lowers_it() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("t-0");
    let mut log = Log::open(&dir, "t", 0, compact_cfg(1000), 0, 0).unwrap();
    fill(&mut log, 5, 10);
    let tp = ("t".to_string(), 0);
    let cleaner = super::Cleaner::new(super::CleanerConfig::default(), &[d.path().to_path_buf()]);
    let live = std::collections::HashSet::from([tp.clone()]);
    cleaner.set_checkpoint(d.path(), &tp, 40, &live).unwrap();
    assert_eq!(log.take_truncation(), None);
    log.truncate_to(30).unwrap();
    log.truncate_to(35).unwrap();
    let t = log.take_truncation().unwrap();
    assert_eq!(t, 30);
    cleaner.lower_checkpoint(d.path(), &tp, t);
    assert_eq!(cleaner.checkpoint_of(d.path(), &tp), Some(30));
    cleaner.lower_checkpoint(d.path(), &tp, 45);
    assert_eq!(cleaner.checkpoint_of(d.path(), &tp), Some(30), "never raised");
    // The file is Kafka's checkpoint format and is read back at startup.
    let text = std::fs::read_to_string(d.path().join(super::CHECKPOINT_FILE)).unwrap();
    assert_eq!(text, "0\n1\nt 0 40\n");
    let again = super::Cleaner::new(super::CleanerConfig::default(), &[d.path().to_path_buf()]);
    assert_eq!(again.checkpoint_of(d.path(), &tp), Some(40));
    std::fs::write(d.path().join(super::CHECKPOINT_FILE), "garbage").unwrap();
    let garbage = super::Cleaner::new(super::CleanerConfig::default(), &[d.path().to_path_buf()]);
    assert_eq!(garbage.checkpoint_of(d.path(), &tp), None, "a garbage checkpoint is ignored");
}

#[test]
fn cleaner_configs_are_validated_by_key() {
    let raw = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
    let d = super::CleanerConfig::from_raw(&raw(&[])).unwrap();
    assert_eq!(d, super::CleanerConfig::default());
    assert_eq!((d.threads, d.backoff_ms, d.dedupe_buffer_size), (1, 15000, 134_217_728));
    for (k, v) in [("log.cleaner.threads", "-1"), ("log.cleaner.backoff.ms", "x"), ("log.cleaner.enable", "yes"), ("log.cleaner.min.cleanable.ratio", "1.5")] {
        let e = super::CleanerConfig::from_raw(&raw(&[(k, v)])).unwrap_err().to_string();
        assert!(e.contains(k), "{e}");
    }
    let c = super::Cleaner::new(d, &[]);
    let now = c.apply_dynamic(&raw(&[("log.cleaner.backoff.ms", "100")]), &[("log.cleaner.threads".into(), "2".into())], &[("log.cleaner.threads".into(), "3".into())]);
    assert_eq!((now.backoff_ms, now.threads), (100, 3), "per broker over <default> over the file");
    let kept = c.apply_dynamic(&raw(&[]), &[("log.cleaner.backoff.ms".into(), "nope".into())], &[]);
    assert_eq!(kept.threads, 3, "a bad dynamic value changes nothing");
    assert_eq!(c.config().budget().map_bytes, 134_217_728 / 3, "the map memory is shared by the threads");
}

// ---- transactions -------------------------------------------------------------------------

/// A keyed batch from producer `pid` at sequence `seq`, transactional.
fn txn_keyed(recs: &[(Option<Vec<u8>>, Option<Vec<u8>>)], pid: i64, seq: i32) -> Vec<u8> {
    let mut b = keyed(0, recs, 1000);
    b[22] |= 0x10;
    with_producer(b, pid, 0, seq)
}

/// (offset, is control) of every batch of the log.
fn batch_kinds(log: &mut Log) -> Vec<(i64, bool)> {
    let mut out = Vec::new();
    let mut at = log.log_start_offset;
    while at < log.log_end_offset {
        let data = log.read(at, 1 << 16).unwrap();
        let batches = batch::split(&data);
        if batches.is_empty() {
            break;
        }
        for (h, _) in batches {
            out.push((h.base_offset, h.is_control()));
            at = h.next_offset();
        }
    }
    out
}

#[test]
fn aborted_records_go_committed_stay_and_markers_follow_their_data() {
    use crate::log::batch::control::build_marker;
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("t-0");
    let mut cfg = compact_cfg(1 << 20);
    cfg.delete_retention_ms = 0;
    let mut log = Log::open(&dir, "t", 0, cfg, 0, 0).unwrap();
    log.append(&mut keyed(0, &[kv("k1", Some("v1"))], 1000), 0).unwrap(); // 0
    log.append(&mut txn_keyed(&[kv("k1", Some("aborted"))], 7, 0), 0).unwrap(); // 1
    log.append(&mut txn_keyed(&[kv("k2", Some("committed"))], 8, 0), 0).unwrap(); // 2
    log.append(&mut build_marker(7, 0, false, 1, 1000), 0).unwrap(); // 3
    log.append(&mut build_marker(8, 0, true, 1, 1000), 0).unwrap(); // 4
    log.append(&mut keyed(0, &[kv("k3", Some("v3"))], 1000), 0).unwrap(); // 5
    // pid 9 opens a transaction in the next segment: nothing from there on is cleaned.
    log.roll_now().unwrap();
    log.append(&mut txn_keyed(&[kv("k3", Some("open"))], 9, 0), 0).unwrap(); // 6
    log.roll_now().unwrap();
    log.append(&mut keyed(0, &[kv("k3", Some("later"))], 1000), 0).unwrap(); // 7
    log.roll_now().unwrap();
    log.append(&mut keyed(0, &[kv("k4", Some("v4"))], 1000), 0).unwrap(); // 8
    let leo = log.log_end_offset;
    log.set_high_watermark(leo);
    assert_eq!(log.last_stable_offset(), 6);
    assert_eq!(log.aborted_txns().len(), 1);
    // pid 7 is no longer tracked (expired): its aborted batch may go entirely.
    log.producers.producers.remove(&7);
    let part = partition(log);
    let (end, _) = clean(&part, None).unwrap();
    assert_eq!(end, 6, "the clean stops at the first unstable offset's segment");
    {
        let mut log = part.lock();
        let recs = all_records(&mut log);
        let got: Vec<(i64, &str, Option<&str>)> = recs.iter().map(|(o, k, v)| (*o, k.as_str(), v.as_deref())).collect();
        assert_eq!(
            got[..3],
            [(0, "k1", Some("v1")), (2, "k2", Some("committed")), (5, "k3", Some("v3"))],
            "the aborted k1 neither stays nor supersedes the committed one"
        );
        assert_eq!(got[3], (6, "k3", Some("open")), "the open transaction is not cleaned");
        // First clean: nothing was clean before, so the markers stay (delete horizon 0).
        assert!(batch_kinds(&mut log).contains(&(3, true)) && batch_kinds(&mut log).contains(&(4, true)));
        assert_eq!(log.aborted_txns().len(), 1, "the marker stays, so does its entry (rewritten for the cleaned segment)");
    }
    // pid 9 commits; a second clean past the horizon drops the ABORT marker (its data is
    // gone) and keeps the COMMIT marker (its transaction's record is still there).
    {
        let mut log = part.lock();
        log.append(&mut build_marker(9, 0, true, 1, 1000), 0).unwrap();
        log.roll_now().unwrap();
        log.append(&mut keyed(0, &[kv("k5", Some("v5"))], 1000), 0).unwrap();
        let leo = log.log_end_offset;
        log.set_high_watermark(leo);
        assert_eq!(log.last_stable_offset(), leo);
    }
    let (end2, _) = clean(&part, Some(end)).unwrap();
    assert!(end2 > end);
    let mut log = part.lock();
    let kinds = batch_kinds(&mut log);
    assert!(!kinds.contains(&(3, true)), "the ABORT marker went: {kinds:?}");
    assert!(log.aborted_txns().is_empty(), "and its index entry");
    assert!(kinds.contains(&(4, true)), "the COMMIT marker of k2's transaction stays: {kinds:?}");
    let recs = all_records(&mut log);
    assert!(recs.iter().any(|r| r.1 == "k2" && r.2.as_deref() == Some("committed")));
    assert!(!recs.iter().any(|r| r.2.as_deref() == Some("aborted")));
}
