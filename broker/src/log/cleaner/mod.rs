//! Log compaction: Kafka 2.5's log cleaner, so that a topic with `cleanup.policy=compact`
//! (or `compact,delete`, which retention also shrinks) keeps the latest record of each key,
//! `__consumer_offsets` included. Beside retention in the log manager's background work;
//! below it, each partition log (`partition_log::cleaning`) swaps cleaned segments in.
//!
//! ```text
//! cleaner thread (log.cleaner.threads, every log.cleaner.backoff.ms when idle)
//!   -> plan: the dirtiest compacted log (min.cleanable.dirty.ratio, max.compaction.lag.ms)
//!   -> clean: offset map of the dirty section (offset_map), then each group of segments
//!      through the filter (filter) into <base>.log.cleaned -> .swap -> live
//!   -> cleaner-offset-checkpoint of the log dir: the offset the log is clean up to
//! ```
//! Offsets never change (consumers see gaps), the active segment is never cleaned, nor
//! anything at or above the segment holding the last stable offset (an open transaction
//! is never cleaned). Records of aborted transactions are removed, and markers once their
//! transaction's data is gone and delete.retention.ms has passed (`txn`). Records without a key are refused at
//! produce for compacted topics (`refuse_keyless`: INVALID_RECORD, Kafka 2.5's "Compacted
//! topic cannot accept message without key").
//!
//! `<log.dir>/cleaner-offset-checkpoint` has the format of the other checkpoints (version
//! line 0, a count line, then `topic partition offset` lines); one that does not parse is
//! ignored with a warning (every log is then dirty from its start: one extra clean).
//!
//! Broker keys: `log.cleaner.enable` (true), `log.cleaner.threads` (1),
//! `log.cleaner.dedupe.buffer.size` (134217728, shared by the threads),
//! `log.cleaner.io.buffer.size` (524288), `log.cleaner.backoff.ms` (15000); topic keys
//! (with their broker synonyms): `min.cleanable.dirty.ratio`, `min.compaction.lag.ms`,
//! `max.compaction.lag.ms`, `delete.retention.ms`, `segment.bytes`. Topic changes apply at
//! the next pass (each pass reads the logs' current configs); `log.cleaner.threads`,
//! `log.cleaner.backoff.ms`, `log.cleaner.dedupe.buffer.size` and `log.cleaner.io.buffer.size`
//! are also dynamic broker configs, as in Kafka 2.5 (`apply_dynamic`).

pub mod clean;
mod manager;
pub mod filter;
pub mod offset_map;
pub mod plan;
pub mod txn;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use crate::config::ConfigError;
use crate::log::batch::{self, BatchError};
use crate::log::TopicPartition;

pub const CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";

/// Refuses a Produce payload with a keyless record (for a compacted topic), as Kafka 2.5's
/// LogValidator.validateKey: INVALID_RECORD (87) with its message.
pub fn refuse_keyless(data: &[u8], topic: &str, partition: i32) -> Result<(), BatchError> {
    for (_, b) in batch::split(data) {
        if batch::rewrite::has_keyless_record(b)? {
            return Err(BatchError::InvalidRecord(format!(
                "Compacted topic cannot accept message without key in topic partition {topic}-{partition}."
            )));
        }
    }
    Ok(())
}

/// The broker's `log.cleaner.*` keys.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanerConfig {
    pub enable: bool,
    pub threads: usize,
    pub dedupe_buffer_size: u64,
    pub io_buffer_size: usize,
    pub backoff_ms: u64,
}

impl Default for CleanerConfig {
    fn default() -> CleanerConfig {
        CleanerConfig { enable: true, threads: 1, dedupe_buffer_size: 134_217_728, io_buffer_size: 524_288, backoff_ms: 15_000 }
    }
}

impl CleanerConfig {
    /// Reads the keys from the broker's properties; a bad value names its key.
    pub fn from_raw(raw: &BTreeMap<String, String>) -> Result<CleanerConfig, ConfigError> {
        let d = CleanerConfig::default();
        let bad = |k: &str, v: &str, why: &str| ConfigError::Value { key: k.into(), value: v.into(), why: why.into() };
        let num = |k: &str, min: i64, dflt: i64| -> Result<i64, ConfigError> {
            match raw.get(k) {
                None => Ok(dflt),
                Some(v) => match v.trim().parse::<i64>() {
                    Ok(n) if n >= min => Ok(n),
                    Ok(_) => Err(bad(k, v, &format!("Value must be at least {min}"))),
                    Err(_) => Err(bad(k, v, "Not a number of type LONG")),
                },
            }
        };
        let enable = match raw.get("log.cleaner.enable").map(|v| v.trim().to_ascii_lowercase()) {
            None => d.enable,
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            Some(v) => return Err(bad("log.cleaner.enable", &v, "Expected value to be either true or false")),
        };
        let threads = num("log.cleaner.threads", 0, 1)? as usize;
        let dedupe = num("log.cleaner.dedupe.buffer.size", 0, d.dedupe_buffer_size as i64)? as u64;
        let io = num("log.cleaner.io.buffer.size", 0, d.io_buffer_size as i64)? as usize;
        let backoff = num("log.cleaner.backoff.ms", 0, d.backoff_ms as i64)? as u64;
        if let Some(v) = raw.get("log.cleaner.min.cleanable.ratio") {
            match v.trim().parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => {}
                _ => return Err(bad("log.cleaner.min.cleanable.ratio", v, "Value must be between 0 and 1")),
            }
        }
        for k in ["log.cleaner.delete.retention.ms", "log.cleaner.min.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms"] {
            num(k, 0, 0)?;
        }
        Ok(CleanerConfig { enable, threads, dedupe_buffer_size: dedupe, io_buffer_size: io, backoff_ms: backoff })
    }

    /// Map memory of one thread (Kafka divides the buffer between the threads).
    pub fn budget(&self) -> clean::Budget {
        clean::Budget { map_bytes: self.dedupe_buffer_size / self.threads.max(1) as u64, io_buffer: self.io_buffer_size.max(4096) }
    }
}

/// The cleaner's shared state: checkpoints per log dir, the logs being cleaned, and the
/// logs that failed (not tried again until a restart).
pub struct Cleaner {
    pub config: Mutex<CleanerConfig>,
    checkpoints: Mutex<HashMap<PathBuf, BTreeMap<TopicPartition, i64>>>,
    busy: Mutex<HashSet<TopicPartition>>,
    uncleanable: Mutex<HashSet<TopicPartition>>,
    started: std::sync::atomic::AtomicUsize,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Cleaner {
    /// Reads the checkpoints of `dirs`.
    pub fn new(config: CleanerConfig, dirs: &[PathBuf]) -> Cleaner {
        let mut checkpoints = HashMap::new();
        for d in dirs {
            let path = d.join(CHECKPOINT_FILE);
            let _ = std::fs::remove_file(path.with_extension("tmp"));
            let m = match crate::log::read_checkpoint(&path) {
                Ok(m) => m,
                Err(why) => {
                    tracing::warn!("Error occurred while reading checkpoint file {}: {why}; ignoring it: compacted logs are cleaned again from their start", path.display());
                    BTreeMap::new()
                }
            };
            checkpoints.insert(d.clone(), m);
        }
        Cleaner { config: Mutex::new(config), checkpoints: Mutex::new(checkpoints), busy: Mutex::new(HashSet::new()), uncleanable: Mutex::new(HashSet::new()), started: Default::default() }
    }

    pub fn config(&self) -> CleanerConfig {
        locked(&self.config).clone()
    }

    /// Applies the dynamic broker configs (`/config/brokers/<default>` then
    /// `/config/brokers/<id>`, the latter winning, both over `server.properties`). A value
    /// that does not parse is ignored with a warning. Returns the config now in force.
    pub fn apply_dynamic(&self, raw: &BTreeMap<String, String>, defaults: &[(String, String)], per_broker: &[(String, String)]) -> CleanerConfig {
        let mut merged = raw.clone();
        for (k, v) in defaults.iter().chain(per_broker) {
            if k.starts_with("log.cleaner.") {
                merged.insert(k.clone(), v.clone());
            }
        }
        match CleanerConfig::from_raw(&merged) {
            Ok(new) => {
                let mut cur = locked(&self.config);
                if *cur != new {
                    tracing::info!("log cleaner config now {new:?}");
                    *cur = new;
                }
                cur.clone()
            }
            Err(e) => {
                tracing::warn!("ignoring a dynamic log cleaner config: {e}");
                self.config()
            }
        }
    }

    /// Counts a started thread; returns how many were started before.
    pub fn thread_started(&self) -> usize {
        self.started.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    }

    pub fn threads_started(&self) -> usize {
        self.started.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn checkpoint_of(&self, dir: &Path, tp: &TopicPartition) -> Option<i64> {
        locked(&self.checkpoints).get(dir).and_then(|m| m.get(tp)).copied()
    }

    /// Lowers the checkpoint of `tp` to `offset` (the log was truncated below it); written
    /// with the dir's next checkpoint.
    pub fn lower_checkpoint(&self, dir: &Path, tp: &TopicPartition, offset: i64) {
        if let Some(cp) = locked(&self.checkpoints).get_mut(dir).and_then(|m| m.get_mut(tp)) {
            if *cp > offset {
                *cp = offset;
            }
        }
    }

    /// Marks `tp` busy; false when another thread has it or it failed before.
    pub fn claim(&self, tp: &TopicPartition) -> bool {
        if locked(&self.uncleanable).contains(tp) {
            return false;
        }
        locked(&self.busy).insert(tp.clone())
    }

    pub fn release(&self, tp: &TopicPartition) {
        locked(&self.busy).remove(tp);
    }

    pub fn is_busy_or_failed(&self, tp: &TopicPartition) -> bool {
        locked(&self.busy).contains(tp) || locked(&self.uncleanable).contains(tp)
    }

    pub fn mark_uncleanable(&self, tp: &TopicPartition) {
        locked(&self.uncleanable).insert(tp.clone());
    }

    /// Records that `tp` in `dir` is clean up to `offset` and rewrites the dir's checkpoint
    /// file with the partitions of `live` (those that still exist there).
    pub fn set_checkpoint(&self, dir: &Path, tp: &TopicPartition, offset: i64, live: &HashSet<TopicPartition>) -> std::io::Result<()> {
        let text = {
            let mut all = locked(&self.checkpoints);
            let m = all.entry(dir.to_path_buf()).or_default();
            m.insert(tp.clone(), offset);
            m.retain(|k, _| live.contains(k));
            crate::log::checkpoint_text(m)
        };
        crate::log::write_atomically(&dir.join(CHECKPOINT_FILE), text.as_bytes())
    }
}

/// An idle cleaner thread sleeps in slices of this, so that it stops promptly and sees a
/// new `log.cleaner.backoff.ms` at once.
pub const IDLE_SLICE: Duration = Duration::from_millis(100);
