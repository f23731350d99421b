//! Storage: Kafka's on-disk layout under each `log.dirs` entry.
//!
//! ```text
//! <log.dir>/meta.properties                    version=0, broker.id, cluster.id
//! <log.dir>/recovery-point-offset-checkpoint   "0\n<n>\n<topic> <partition> <offset>\n"...
//! <log.dir>/log-start-offset-checkpoint        same format
//! <log.dir>/replication-offset-checkpoint      same format (high watermarks)
//! <log.dir>/<topic>-<partition>/               one partition: see partition_log / segment
//! ```
//! The manager owns every partition's [`Log`], chooses a directory for new ones, writes the
//! checkpoints, applies retention on `log.retention.check.interval.ms`, scrubs data not yet
//! checked (see `segment`), and wakes long-polling fetches when anything is appended.
//!
//! Damaged files: `meta.properties` must parse as Kafka's version 0 (`version=0`, an
//! integer `broker.id`, optional `cluster.id`), else the broker refuses to start naming the
//! file, as Kafka does. A checkpoint file must parse whole (version line 0, a count equal to
//! the number of entries, each `topic partition offset` with numbers in range), else it is
//! ignored with a warning naming it: recovery points then restart at 0 (every segment is
//! scanned, as Kafka's "Resetting the recovery checkpoint to 0"), log start offsets fall
//! back to the first segment, high watermarks to what the replicas report. Files are read
//! only when no bigger than `partition_log::MAX_SMALL_FILE`. Checkpoints are written through
//! a temp file + fsync + rename; a write that fails for lack of space keeps the old file
//! (retried at the next checkpoint), any other failure takes the dir offline (see
//! `dir_health`).

pub mod batch;
pub mod cleaner;
pub mod dir_health;
pub mod partition_log;
pub mod producer_state;
pub mod replica_state;
mod replay;
pub mod segment;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

pub use partition_log::{Log, LogError};

use crate::config::BrokerConfig;
use crate::topic_config::TopicConfig;
use dir_health::DirHealth;

/// Writes a file through a temp file + fsync + rename, so a crash leaves old or new. On
/// failure the temp file is removed and the old file stays.
pub fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

pub type TopicPartition = (String, i32);

/// One partition hosted here: its log, the leader epoch it is served at, and its
/// replication state (see `crate::replica`). Lock order: `repl` before `log`.
pub struct Partition {
    pub log: Mutex<Log>,
    pub leader_epoch: std::sync::atomic::AtomicI32,
    pub repl: Mutex<replica_state::ReplicaState>,
    /// The health of the log dir it lives in (readable without the log lock).
    pub health: Arc<DirHealth>,
}

impl Partition {
    /// Locks the log; a poisoned lock (a panic elsewhere) still gives the data.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub fn repl(&self) -> std::sync::MutexGuard<'_, replica_state::ReplicaState> {
        self.repl.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub fn offline(&self) -> bool {
        self.health.is_offline()
    }
}

pub struct LogManager {
    dirs: Vec<PathBuf>,
    health: Vec<Arc<DirHealth>>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    recovery_points: HashMap<PathBuf, BTreeMap<TopicPartition, i64>>,
    log_starts: HashMap<PathBuf, BTreeMap<TopicPartition, i64>>,
    high_watermarks: HashMap<PathBuf, BTreeMap<TopicPartition, i64>>,
    /// Woken on every append and high watermark move (fetch long polling).
    pub appended: tokio::sync::Notify,
    /// Woken when a high watermark moves or a partition changes role (acks=all waits).
    pub hw_changed: tokio::sync::Notify,
    /// Woken when a log dir goes offline.
    pub dir_failed: Arc<tokio::sync::Notify>,
    /// This broker's id (set once it is known; leaders compute high watermarks with it).
    pub broker_id: std::sync::atomic::AtomicI32,
    broker: BrokerConfig,
    /// Log compaction's shared state (see `cleaner`).
    pub cleaner: cleaner::Cleaner,
}

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("{0}")]
    Mismatch(String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("Failed to read meta.properties file under dir {0} due to {1}")]
    Damaged(String, String),
}

/// Reads a checkpoint file strictly. Ok(empty) when it does not exist; Err(why) when it
/// does not parse.
pub fn read_checkpoint(path: &Path) -> Result<BTreeMap<TopicPartition, i64>, String> {
    let bytes = match partition_log::read_small(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e.to_string()),
    };
    parse_checkpoint(&bytes)
}

pub fn parse_checkpoint(bytes: &[u8]) -> Result<BTreeMap<TopicPartition, i64>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not text".to_string())?;
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("0") {
        return Err("the first line is not version 0".into());
    }
    let count: usize = lines.next().and_then(|l| l.trim().parse().ok()).ok_or("the second line is not an entry count")?;
    let mut out = BTreeMap::new();
    let mut n = 0usize;
    for l in lines {
        if l.trim().is_empty() {
            continue;
        }
        n += 1;
        if n > count {
            return Err(format!("more entries than the count {count}"));
        }
        let parts: Vec<&str> = l.split_whitespace().collect();
        let [t, p, o] = parts[..] else { return Err(format!("malformed line {l:?}")) };
        let (Ok(p), Ok(o)) = (p.parse::<i32>(), o.parse::<i64>()) else { return Err(format!("malformed line {l:?}")) };
        if p < 0 || o < 0 {
            return Err(format!("negative partition or offset in line {l:?}"));
        }
        out.insert((t.to_string(), p), o);
    }
    if n != count {
        return Err(format!("{n} entries but the count says {count}"));
    }
    Ok(out)
}

pub fn checkpoint_text(entries: &BTreeMap<TopicPartition, i64>) -> String {
    let mut s = format!("0\n{}\n", entries.len());
    for ((t, p), o) in entries {
        s.push_str(&format!("{t} {p} {o}\n"));
    }
    s
}

/// Splits `<topic>-<partition>` (topics may contain '-').
pub fn parse_dir_name(name: &str) -> Option<TopicPartition> {
    let (t, p) = name.rsplit_once('-')?;
    if t.is_empty() || t.contains(".") && t.ends_with("-delete") {
        return None;
    }
    Some((t.to_string(), p.parse().ok()?))
}

/// meta.properties as Kafka 2.5 reads it: (broker.id, cluster.id). Err names what is wrong.
fn parse_meta(bytes: &[u8]) -> Result<(i32, Option<String>), String> {
    // Java reads properties as ISO-8859-1, so any bytes are "text"; garbage then lacks keys.
    let text: String = bytes.iter().map(|&b| b as char).collect();
    let kv = crate::config::parse_properties(&text);
    let get = |k: &str| kv.iter().rev().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let version = get("version").ok_or("Missing required property 'version'")?;
    match version.parse::<i64>() {
        Ok(0) => {}
        Ok(v) if (0..=i32::MAX as i64).contains(&v) => return Err(format!("Unrecognized version of the server meta.properties file: {v}")),
        _ => return Err(format!("Invalid value {version:?} for property 'version'")),
    }
    let id = get("broker.id").ok_or("Missing required property 'broker.id'")?;
    let id = match id.parse::<i32>() {
        Ok(v) if v >= 0 => v,
        _ => return Err(format!("Invalid value {id:?} for property 'broker.id'")),
    };
    Ok((id, get("cluster.id")))
}

/// The meta.properties of `dir`: None when there is none, Err when it cannot be used.
fn read_meta(dir: &Path) -> Result<Option<(i32, Option<String>)>, MetaError> {
    let p = dir.join("meta.properties");
    match partition_log::read_small(&p) {
        Ok(bytes) => parse_meta(&bytes).map(Some).map_err(|why| MetaError::Damaged(p.display().to_string(), why)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(MetaError::Damaged(p.display().to_string(), e.to_string())),
    }
}

impl LogManager {
    /// Checks or writes `meta.properties` in every log dir. A damaged file, or a cluster id
    /// or broker id that differs from ZooKeeper's, refuses to start (Kafka's "clusterId
    /// doesn't match").
    pub fn check_meta(dirs: &[PathBuf], broker_id: i32, cluster_id: &str) -> Result<(), MetaError> {
        for d in dirs {
            std::fs::create_dir_all(d).map_err(|e| MetaError::Io(d.display().to_string(), e))?;
            let p = d.join("meta.properties");
            if let Some((b, c)) = read_meta(d)? {
                if let Some(c) = c {
                    if c != cluster_id {
                        return Err(MetaError::Mismatch(format!(
                            "The Cluster ID {cluster_id} doesn't match stored clusterId Some({c}) in {}. The broker is trying to join the wrong cluster: either point zookeeper.connect at the cluster that wrote this log dir, or (if the data may be discarded) remove {} and restart.",
                            p.display(),
                            p.display()
                        )));
                    }
                }
                if b != broker_id {
                    return Err(MetaError::Mismatch(format!(
                        "Stored broker.id {b} in {} doesn't match configured broker.id {broker_id}. Set broker.id={b} in server.properties, or use a log dir that belongs to broker {broker_id}.",
                        p.display()
                    )));
                }
                continue;
            }
            let text = format!("#\n#{}\ncluster.id={cluster_id}\nversion=0\nbroker.id={broker_id}\n", partition_log::now_ms());
            write_atomically(&p, text.as_bytes()).map_err(|e| MetaError::Io(p.display().to_string(), e))?;
        }
        Ok(())
    }

    /// Reads `broker.id` from meta.properties, for broker.id=-1 restarts (a damaged file is
    /// refused later by `check_meta`).
    pub fn stored_broker_id(dirs: &[PathBuf]) -> Option<i32> {
        dirs.iter().find_map(|d| read_meta(d).ok().flatten().map(|(id, _)| id))
    }

    pub fn new(broker: &BrokerConfig) -> LogManager {
        let mut recovery_points = HashMap::new();
        let mut log_starts = HashMap::new();
        let mut high_watermarks = HashMap::new();
        let dir_failed = Arc::new(tokio::sync::Notify::new());
        for d in &broker.log_dirs {
            for name in ["recovery-point-offset-checkpoint", "log-start-offset-checkpoint", "replication-offset-checkpoint"] {
                let path = d.join(name);
                // A leftover temp file of an interrupted checkpoint write.
                let _ = std::fs::remove_file(path.with_extension("tmp"));
                let m = match read_checkpoint(&path) {
                    Ok(m) => m,
                    Err(why) => {
                        let what = match name {
                            "recovery-point-offset-checkpoint" => "resetting the recovery points to 0 (every segment is checked)",
                            "log-start-offset-checkpoint" => "log start offsets fall back to the first segments",
                            _ => "high watermarks are learnt again from the replicas",
                        };
                        tracing::warn!("Error occurred while reading checkpoint file {}: {why}; ignoring it: {what}", path.display());
                        BTreeMap::new()
                    }
                };
                let target = match name {
                    "recovery-point-offset-checkpoint" => &mut recovery_points,
                    "log-start-offset-checkpoint" => &mut log_starts,
                    _ => &mut high_watermarks,
                };
                target.insert(d.clone(), m);
            }
        }
        LogManager {
            dirs: broker.log_dirs.clone(),
            health: broker.log_dirs.iter().map(|d| Arc::new(DirHealth::new(d, dir_failed.clone()))).collect(),
            partitions: RwLock::new(HashMap::new()),
            recovery_points,
            log_starts,
            high_watermarks,
            appended: tokio::sync::Notify::new(),
            hw_changed: tokio::sync::Notify::new(),
            dir_failed,
            broker_id: std::sync::atomic::AtomicI32::new(broker.broker_id),
            broker: broker.clone(),
            // Validated with the rest of the config at startup.
            cleaner: cleaner::Cleaner::new(cleaner::CleanerConfig::from_raw(&broker.raw).unwrap_or_default(), &broker.log_dirs),
        }
    }

    fn health_of(&self, dir: &Path) -> Arc<DirHealth> {
        self.dirs
            .iter()
            .zip(&self.health)
            .find(|(d, _)| d.as_path() == dir)
            .map(|(_, h)| h.clone())
            .unwrap_or_else(|| DirHealth::standalone(dir))
    }

    /// The configured dirs that went offline.
    pub fn offline_dirs(&self) -> Vec<PathBuf> {
        self.health.iter().filter(|h| h.is_offline()).map(|h| h.path.clone()).collect()
    }

    pub fn all_offline(&self) -> bool {
        !self.health.is_empty() && self.health.iter().all(|h| h.is_offline())
    }

    /// Opens every partition directory found on disk (recovering as needed).
    pub fn load_existing(&self) -> Result<usize, LogError> {
        let mut n = 0;
        for d in &self.dirs {
            let Ok(rd) = std::fs::read_dir(d) else { continue };
            for e in rd.flatten() {
                if !e.path().is_dir() {
                    continue;
                }
                let name = e.file_name().to_string_lossy().to_string();
                let Some(tp) = parse_dir_name(&name) else { continue };
                let cfg = TopicConfig::resolve(&self.broker, &BTreeMap::new());
                self.open_in(d, &tp, cfg)?;
                n += 1;
            }
        }
        Ok(n)
    }

    fn open_in(&self, dir: &Path, tp: &TopicPartition, cfg: TopicConfig) -> Result<Arc<Partition>, LogError> {
        let rp = self.recovery_points.get(dir).and_then(|m| m.get(tp)).copied().unwrap_or(0);
        let ls = self.log_starts.get(dir).and_then(|m| m.get(tp)).copied().unwrap_or(0);
        let path = dir.join(format!("{}-{}", tp.0, tp.1));
        let health = self.health_of(dir);
        let mut log = Log::open_in(&path, &tp.0, tp.1, cfg, rp, ls, health.clone())?;
        if let Some(hw) = self.high_watermarks.get(dir).and_then(|m| m.get(tp)) {
            log.set_high_watermark(*hw);
        }
        let p = Arc::new(Partition {
            log: Mutex::new(log),
            leader_epoch: std::sync::atomic::AtomicI32::new(0),
            repl: Mutex::new(Default::default()),
            health,
        });
        self.partitions.write().unwrap_or_else(|e| e.into_inner()).insert(tp.clone(), p.clone());
        Ok(p)
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.partitions.read().unwrap_or_else(|e| e.into_inner()).get(&(topic.to_string(), partition)).cloned()
    }

    /// The partition's log, created in the least-loaded online dir if it does not exist yet.
    pub fn get_or_create(&self, topic: &str, partition: i32, cfg: TopicConfig) -> Result<Arc<Partition>, LogError> {
        if let Some(p) = self.get(topic, partition) {
            return Ok(p);
        }
        let counts = {
            let map = self.partitions.read().unwrap_or_else(|e| e.into_inner());
            self.dirs
                .iter()
                .map(|d| map.values().filter(|p| p.lock().dir.starts_with(d)).count())
                .collect::<Vec<_>>()
        };
        let online = |i: &usize| self.health.get(*i).is_none_or(|h| !h.is_offline());
        let Some(i) = counts.iter().enumerate().filter(|(i, _)| online(i)).min_by_key(|(_, c)| **c).map(|(i, _)| i) else {
            return Err(LogError::Offline(self.dirs.first().cloned().unwrap_or_default()));
        };
        let dir = self.dirs.get(i).cloned().unwrap_or_else(|| PathBuf::from("/tmp/kafka-logs"));
        self.open_in(&dir, &(topic.to_string(), partition), cfg)
    }

    pub fn all(&self) -> Vec<(TopicPartition, Arc<Partition>)> {
        self.partitions.read().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Removes a partition and its directory (topic deletion).
    pub fn delete(&self, topic: &str, partition: i32) {
        let p = self.partitions.write().unwrap_or_else(|e| e.into_inner()).remove(&(topic.to_string(), partition));
        if let Some(p) = p {
            let dir = p.lock().dir.clone();
            tracing::info!("deleting log {}", dir.display());
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    pub fn update_config(&self, topic: &str, cfg: &TopicConfig) {
        for ((t, _), p) in self.all() {
            if t == topic {
                let mut log = p.lock();
                if log.config != *cfg {
                    log.config = cfg.clone();
                }
            }
        }
    }

    /// Writes the three checkpoint files of every online log dir (after flushing the logs
    /// when `flush`).
    pub fn checkpoint(&self, flush: bool) {
        let mut rp: HashMap<PathBuf, BTreeMap<TopicPartition, i64>> = HashMap::new();
        let mut ls: HashMap<PathBuf, BTreeMap<TopicPartition, i64>> = HashMap::new();
        let mut hw: HashMap<PathBuf, BTreeMap<TopicPartition, i64>> = HashMap::new();
        for (tp, p) in self.all() {
            if p.offline() {
                continue;
            }
            let mut log = p.lock();
            if flush {
                if let Err(e) = log.flush() {
                    if log.health.check(&format!("flushing {}-{}", tp.0, tp.1), &e) {
                        tracing::warn!("flush of {}-{} failed: {e}", tp.0, tp.1);
                    }
                }
                if let Err(e) = log.write_producer_snapshot() {
                    if log.health.check(&format!("writing a producer snapshot for {}-{}", tp.0, tp.1), &e) {
                        tracing::warn!("producer snapshot of {}-{} failed: {e}", tp.0, tp.1);
                    }
                }
            }
            let Some(dir) = self.dirs.iter().find(|d| log.dir.starts_with(d)).cloned() else { continue };
            rp.entry(dir.clone()).or_default().insert(tp.clone(), log.recovery_point);
            ls.entry(dir.clone()).or_default().insert(tp.clone(), log.log_start_offset);
            hw.entry(dir).or_default().insert(tp, log.high_watermark());
        }
        for (d, health) in self.dirs.iter().zip(&self.health) {
            for (name, m) in [
                ("recovery-point-offset-checkpoint", &rp),
                ("log-start-offset-checkpoint", &ls),
                ("replication-offset-checkpoint", &hw),
            ] {
                if health.is_offline() {
                    break;
                }
                let empty = BTreeMap::new();
                let entries = m.get(d).unwrap_or(&empty);
                if let Err(e) = write_atomically(&d.join(name), checkpoint_text(entries).as_bytes()) {
                    if health.check(&format!("writing {name}"), &e) {
                        tracing::warn!("cannot write {}/{name}: {e} (kept the previous one)", d.display());
                    }
                }
            }
        }
    }

    /// One retention pass over every log (and expiry of idle idempotent producers).
    pub fn apply_retention(&self) {
        let now = partition_log::now_ms();
        for (tp, p) in self.all() {
            if p.offline() {
                continue;
            }
            let n = p.lock().producers.expire(now, self.broker.transactional_id_expiration_ms);
            if n > 0 {
                tracing::info!("expired {n} idle producer id(s) of {}-{}", tp.0, tp.1);
            }
            match p.lock().apply_retention(now) {
                Ok(0) => {}
                Ok(n) => tracing::info!("retention deleted {n} segment(s) of {}-{}", tp.0, tp.1),
                Err(e) => tracing::error!("retention on {}-{} failed: {e}", tp.0, tp.1),
            }
        }
    }

    /// Checks up to `budget` bytes of data not checked yet, across the logs.
    pub fn scrub(&self, budget: u64) {
        let mut left = budget;
        let mut all = self.all();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        for (tp, p) in all {
            if left == 0 {
                break;
            }
            if p.offline() {
                continue;
            }
            match p.lock().scrub(left) {
                Ok(n) => left = left.saturating_sub(n),
                Err(e) => tracing::warn!("checking {}-{} failed: {e}", tp.0, tp.1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_names_and_checkpoints() {
        assert_eq!(parse_dir_name("hello.kafka-3"), Some(("hello.kafka".into(), 3)));
        assert_eq!(parse_dir_name("a-b-c-10"), Some(("a-b-c".into(), 10)));
        assert_eq!(parse_dir_name("nodash"), None);
        let mut m = BTreeMap::new();
        m.insert(("t".to_string(), 0), 5);
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("cp");
        std::fs::write(&p, checkpoint_text(&m)).unwrap();
        assert_eq!(read_checkpoint(&p).unwrap(), m);
    }

    #[test]
    fn meta_properties_mismatch_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let dirs = vec![d.path().to_path_buf()];
        LogManager::check_meta(&dirs, 0, "abc").unwrap();
        LogManager::check_meta(&dirs, 0, "abc").unwrap();
        let e = LogManager::check_meta(&dirs, 0, "xyz").unwrap_err().to_string();
        assert!(e.contains("doesn't match") && e.contains("meta.properties") && e.contains("abc") && e.contains("xyz"));
        assert!(LogManager::check_meta(&dirs, 1, "abc").is_err());
    }

    #[test]
    fn garbage_checkpoints_are_refused_whole() {
        for bad in [
            &b"\xff\xfe"[..],
            b"1\n0\n",
            b"0\nmany\n",
            b"0\n99999999999999999999999\n",
            b"0\n2\nt 0 5\n",
            b"0\n1\nt 0 5\nu 1 6\n",
            b"0\n1\nt -1 5\n",
            b"0\n1\nt 0 -5\n",
            b"0\n1\nt 0\n",
            b"0\n1\nt 0 5 7\n",
            b"",
        ] {
            assert!(parse_checkpoint(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_checkpoint(b"0\n0\n").unwrap().len(), 0);
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read_checkpoint(&d.path().join("none")).unwrap().len(), 0);
        let big = d.path().join("big");
        std::fs::File::create(&big).unwrap().set_len(partition_log::MAX_SMALL_FILE + 1).unwrap();
        assert!(read_checkpoint(&big).is_err());
    }

    #[test]
    fn a_garbage_meta_properties_refuses_to_start() {
        let d = tempfile::tempdir().unwrap();
        let dirs = vec![d.path().to_path_buf()];
        let meta = d.path().join("meta.properties");
        for (bytes, why) in [
            (&b"\x00\x01\x02garbage\xff"[..], "Missing required property 'version'"),
            (b"version=3\nbroker.id=0\n", "Unrecognized version"),
            (b"version=0\n", "Missing required property 'broker.id'"),
            (b"version=0\nbroker.id=zero\n", "broker.id"),
            (b"", "Missing required property 'version'"),
        ] {
            std::fs::write(&meta, bytes).unwrap();
            let e = LogManager::check_meta(&dirs, 0, "abc").unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(&meta.display().to_string()), "{e}");
            assert_eq!(std::fs::read(&meta).unwrap(), bytes, "left as it was");
        }
        std::fs::write(&meta, "#x\nversion=0\nbroker.id=0\n").unwrap();
        LogManager::check_meta(&dirs, 0, "abc").unwrap();
        assert_eq!(LogManager::stored_broker_id(&dirs), Some(0));
    }
}

impl LogError {
    /// The Kafka error code a client sees for this failure.
    pub fn error_code(&self) -> crate::error_code::ErrorCode {
        use crate::error_code::ErrorCode;
        use producer_state::ProducerError;
        match self {
            LogError::OffsetOutOfRange(_) => ErrorCode::OFFSET_OUT_OF_RANGE,
            LogError::Batch(b) => b.error_code(),
            LogError::Io(_) | LogError::Offline(_) | LogError::Damaged { .. } => ErrorCode::KAFKA_STORAGE_ERROR,
            LogError::Producer(p) => match p {
                ProducerError::InvalidEpoch { .. } => ErrorCode::INVALID_PRODUCER_EPOCH,
                ProducerError::OutOfOrder { .. } => ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
                ProducerError::UnknownProducer { .. } => ErrorCode::UNKNOWN_PRODUCER_ID,
                ProducerError::InvalidTxnState { .. } => ErrorCode::INVALID_TXN_STATE,
                ProducerError::CoordinatorFenced { .. } => ErrorCode::TRANSACTION_COORDINATOR_FENCED,
            },
        }
    }
}

impl batch::BatchError {
    /// The Kafka error code a client sees for this batch.
    pub fn error_code(&self) -> crate::error_code::ErrorCode {
        use crate::error_code::ErrorCode;
        use batch::BatchError;
        match self {
            BatchError::Corrupt(_) => ErrorCode::CORRUPT_MESSAGE,
            BatchError::TooLarge(..) => ErrorCode::MESSAGE_TOO_LARGE,
            BatchError::InvalidRecord(_) => ErrorCode::INVALID_RECORD,
            BatchError::Magic(_) => ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT,
            BatchError::Compression(_) => ErrorCode::UNSUPPORTED_COMPRESSION_TYPE,
        }
    }
}
