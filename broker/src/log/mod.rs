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
//! checkpoints, applies retention on `log.retention.check.interval.ms`, and wakes long-polling
//! fetches when anything is appended.

pub mod batch;
pub mod partition_log;
pub mod producer_state;
pub mod segment;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

pub use partition_log::{Log, LogError};

use crate::config::BrokerConfig;
use crate::topic_config::TopicConfig;

/// Writes a file through a temp file + fsync + rename, so a crash leaves old or new.
pub fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

pub type TopicPartition = (String, i32);

/// One partition hosted here: its log, the leader epoch it is served at, and its
/// replication state (see `crate::replica`). Lock order: `repl` before `log`.
pub struct Partition {
    pub log: Mutex<Log>,
    pub leader_epoch: std::sync::atomic::AtomicI32,
    pub repl: Mutex<crate::replica::state::ReplicaState>,
}

impl Partition {
    /// Locks the log; a poisoned lock (a panic elsewhere) still gives the data.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub fn repl(&self) -> std::sync::MutexGuard<'_, crate::replica::state::ReplicaState> {
        self.repl.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct LogManager {
    dirs: Vec<PathBuf>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    recovery_points: HashMap<PathBuf, BTreeMap<TopicPartition, i64>>,
    log_starts: HashMap<PathBuf, BTreeMap<TopicPartition, i64>>,
    high_watermarks: HashMap<PathBuf, BTreeMap<TopicPartition, i64>>,
    /// Woken on every append and high watermark move (fetch long polling).
    pub appended: tokio::sync::Notify,
    /// Woken when a high watermark moves or a partition changes role (acks=all waits).
    pub hw_changed: tokio::sync::Notify,
    /// This broker's id (set once it is known; leaders compute high watermarks with it).
    pub broker_id: std::sync::atomic::AtomicI32,
    broker: BrokerConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("{0}")]
    Mismatch(String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

fn read_checkpoint(path: &Path) -> BTreeMap<TopicPartition, i64> {
    let mut out = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(path) else { return out };
    for l in text.lines().skip(2) {
        let parts: Vec<&str> = l.split_whitespace().collect();
        if let [t, p, o] = parts[..] {
            if let (Ok(p), Ok(o)) = (p.parse(), o.parse()) {
                out.insert((t.to_string(), p), o);
            }
        }
    }
    out
}

fn checkpoint_text(entries: &BTreeMap<TopicPartition, i64>) -> String {
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

impl LogManager {
    /// Checks or writes `meta.properties` in every log dir. A cluster id or broker id that
    /// differs from ZooKeeper's refuses to start (the "clusterId doesn't match" case).
    pub fn check_meta(dirs: &[PathBuf], broker_id: i32, cluster_id: &str) -> Result<(), MetaError> {
        for d in dirs {
            std::fs::create_dir_all(d).map_err(|e| MetaError::Io(d.display().to_string(), e))?;
            let p = d.join("meta.properties");
            if let Ok(text) = std::fs::read_to_string(&p) {
                let kv = crate::config::parse_properties(&text);
                let get = |k: &str| kv.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
                if let Some(c) = get("cluster.id") {
                    if c != cluster_id {
                        return Err(MetaError::Mismatch(format!(
                            "The Cluster ID {cluster_id} doesn't match stored clusterId Some({c}) in {}. The broker is trying to join the wrong cluster: either point zookeeper.connect at the cluster that wrote this log dir, or (if the data may be discarded) remove {} and restart.",
                            p.display(),
                            p.display()
                        )));
                    }
                }
                if let Some(b) = get("broker.id") {
                    if b != broker_id.to_string() {
                        return Err(MetaError::Mismatch(format!(
                            "Stored broker.id {b} in {} doesn't match configured broker.id {broker_id}. Set broker.id={b} in server.properties, or use a log dir that belongs to broker {broker_id}.",
                            p.display()
                        )));
                    }
                }
                continue;
            }
            let text = format!("#\n#{}\ncluster.id={cluster_id}\nversion=0\nbroker.id={broker_id}\n", partition_log::now_ms());
            write_atomically(&p, text.as_bytes()).map_err(|e| MetaError::Io(p.display().to_string(), e))?;
        }
        Ok(())
    }

    /// Reads `broker.id` from meta.properties, for broker.id=-1 restarts.
    pub fn stored_broker_id(dirs: &[PathBuf]) -> Option<i32> {
        for d in dirs {
            if let Ok(text) = std::fs::read_to_string(d.join("meta.properties")) {
                for (k, v) in crate::config::parse_properties(&text) {
                    if k == "broker.id" {
                        return v.parse().ok();
                    }
                }
            }
        }
        None
    }

    pub fn new(broker: &BrokerConfig) -> LogManager {
        let mut recovery_points = HashMap::new();
        let mut log_starts = HashMap::new();
        let mut high_watermarks = HashMap::new();
        for d in &broker.log_dirs {
            recovery_points.insert(d.clone(), read_checkpoint(&d.join("recovery-point-offset-checkpoint")));
            log_starts.insert(d.clone(), read_checkpoint(&d.join("log-start-offset-checkpoint")));
            high_watermarks.insert(d.clone(), read_checkpoint(&d.join("replication-offset-checkpoint")));
        }
        LogManager {
            dirs: broker.log_dirs.clone(),
            partitions: RwLock::new(HashMap::new()),
            recovery_points,
            log_starts,
            high_watermarks,
            appended: tokio::sync::Notify::new(),
            hw_changed: tokio::sync::Notify::new(),
            broker_id: std::sync::atomic::AtomicI32::new(broker.broker_id),
            broker: broker.clone(),
        }
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
        let mut log = Log::open(&path, &tp.0, tp.1, cfg, rp, ls)?;
        if let Some(hw) = self.high_watermarks.get(dir).and_then(|m| m.get(tp)) {
            log.set_high_watermark(*hw);
        }
        let p = Arc::new(Partition {
            log: Mutex::new(log),
            leader_epoch: std::sync::atomic::AtomicI32::new(0),
            repl: Mutex::new(Default::default()),
        });
        self.partitions.write().unwrap_or_else(|e| e.into_inner()).insert(tp.clone(), p.clone());
        Ok(p)
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.partitions.read().unwrap_or_else(|e| e.into_inner()).get(&(topic.to_string(), partition)).cloned()
    }

    /// The partition's log, created in the least-loaded dir if it does not exist yet.
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
        let i = counts.iter().enumerate().min_by_key(|(_, c)| **c).map(|(i, _)| i).unwrap_or(0);
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

    /// Writes the three checkpoint files of every log dir.
    pub fn checkpoint(&self, flush: bool) {
        let mut rp: HashMap<PathBuf, BTreeMap<TopicPartition, i64>> = HashMap::new();
        let mut ls: HashMap<PathBuf, BTreeMap<TopicPartition, i64>> = HashMap::new();
        let mut hw: HashMap<PathBuf, BTreeMap<TopicPartition, i64>> = HashMap::new();
        for (tp, p) in self.all() {
            let mut log = p.lock();
            if flush {
                if let Err(e) = log.flush() {
                    tracing::error!("flush of {}-{} failed: {e}", tp.0, tp.1);
                }
                if let Err(e) = log.write_producer_snapshot() {
                    tracing::error!("producer snapshot of {}-{} failed: {e}", tp.0, tp.1);
                }
            }
            let Some(dir) = self.dirs.iter().find(|d| log.dir.starts_with(d)).cloned() else { continue };
            rp.entry(dir.clone()).or_default().insert(tp.clone(), log.recovery_point);
            ls.entry(dir.clone()).or_default().insert(tp.clone(), log.log_start_offset);
            hw.entry(dir).or_default().insert(tp, log.high_watermark());
        }
        for d in &self.dirs {
            for (name, m) in [
                ("recovery-point-offset-checkpoint", &rp),
                ("log-start-offset-checkpoint", &ls),
                ("replication-offset-checkpoint", &hw),
            ] {
                let empty = BTreeMap::new();
                let entries = m.get(d).unwrap_or(&empty);
                if let Err(e) = write_atomically(&d.join(name), checkpoint_text(entries).as_bytes()) {
                    tracing::error!("cannot write {}/{name}: {e}", d.display());
                }
            }
        }
    }

    /// One retention pass over every log (and expiry of idle idempotent producers).
    pub fn apply_retention(&self) {
        let now = partition_log::now_ms();
        for (tp, p) in self.all() {
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
        assert_eq!(read_checkpoint(&p), m);
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
}
