//! DescribeLogDirs (v0-v4): for every `log.dirs` entry, its absolute path, an error code, and
//! the partitions it holds here with their size in bytes (the sum of their segments, as
//! Kafka's `Log.size`), offset lag (`max(high watermark - log end offset, 0)`, 0 on a leader)
//! and `is_future_key` (always false: we have no AlterReplicaLogDirs, so no future replicas).
//! v4 adds the volume's total and usable bytes (`statvfs`: `f_blocks` and `f_bavail` times
//! `f_frsize`, as Java's FileStore.getTotalSpace/getUsableSpace), -1 when unknown.
//!
//! `topics = null` describes every partition; otherwise only the listed ones (unknown ones are
//! left out, as Kafka does). A directory that went offline (see `log::dir_health`), or is
//! missing or not a directory, is reported with KAFKA_STORAGE_ERROR and no topics, as Kafka
//! reports an offline log dir.
//!
//! The `kafka-protocol` crate starts this API at v1; v0 has the same bytes on the wire
//! (Kafka's schema: "Version 1 is the same as version 0"), so the listener decodes and
//! encodes a v0 request as v1 (see [`wire_version`]).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use kafka_protocol::messages::describe_log_dirs_response::{DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse};

use super::{sb, tn};
use crate::broker::Broker;
use crate::server::errors::ErrorCode;

/// The version the codec is driven with for a request of `version` (v0 travels as v1).
pub fn wire_version(version: i16) -> i16 {
    version.max(1)
}

/// One hosted partition as this API reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaInfo {
    pub topic: String,
    pub partition: i32,
    /// The partition's directory (`<log.dir>/<topic>-<partition>`).
    pub dir: PathBuf,
    pub size: i64,
    pub offset_lag: i64,
}

pub async fn handle(broker: &Broker, req: DescribeLogDirsRequest, _version: i16) -> DescribeLogDirsResponse {
    let wanted: Option<HashSet<(String, i32)>> = req.topics.as_ref().map(|ts| {
        ts.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.topic.0.as_str().to_string(), *p))).collect()
    });
    let mut replicas = Vec::new();
    for ((topic, partition), p) in broker.logs.all() {
        if let Some(w) = &wanted {
            if !w.contains(&(topic.clone(), partition)) {
                continue;
            }
        }
        let log = p.lock();
        replicas.push(ReplicaInfo {
            topic,
            partition,
            dir: log.dir.clone(),
            size: i64::try_from(log.size_bytes()).unwrap_or(i64::MAX),
            offset_lag: (log.high_watermark() - log.log_end_offset).max(0),
        });
    }
    let mut resp = DescribeLogDirsResponse::default();
    resp.results = describe(&broker.cfg.log_dirs, &broker.logs.offline_dirs(), &replicas);
    resp
}

/// Builds the per-directory results from the configured dirs and the hosted partitions.
pub fn describe(dirs: &[PathBuf], offline: &[PathBuf], replicas: &[ReplicaInfo]) -> Vec<DescribeLogDirsResult> {
    let mut out = Vec::new();
    for d in dirs {
        let mut r = DescribeLogDirsResult::default();
        r.log_dir = sb(&absolute(d).to_string_lossy());
        if offline.contains(d) || !d.is_dir() {
            r.error_code = ErrorCode::KAFKA_STORAGE_ERROR.code();
            out.push(r);
            continue;
        }
        if let Some((total, usable)) = volume_bytes(d) {
            r.total_bytes = total;
            r.usable_bytes = usable;
        }
        // A partition belongs to the dir its own directory sits in (as the log manager
        // assigns them); sorted by topic then partition for a stable answer.
        let mut by_topic: BTreeMap<&str, Vec<&ReplicaInfo>> = BTreeMap::new();
        for rep in replicas.iter().filter(|rep| rep.dir.parent() == Some(d.as_path())) {
            by_topic.entry(rep.topic.as_str()).or_default().push(rep);
        }
        for (topic, mut reps) in by_topic {
            reps.sort_by_key(|rep| rep.partition);
            let mut t = DescribeLogDirsTopic::default();
            t.name = tn(topic);
            t.partitions = reps
                .iter()
                .map(|rep| {
                    let mut p = DescribeLogDirsPartition::default();
                    p.partition_index = rep.partition;
                    p.partition_size = rep.size;
                    p.offset_lag = rep.offset_lag;
                    p.is_future_key = false;
                    p
                })
                .collect();
            r.topics.push(t);
        }
        out.push(r);
    }
    out
}

/// The path as Kafka prints it (`File.getAbsolutePath`: joined to the working directory,
/// not resolved through symlinks).
fn absolute(d: &Path) -> PathBuf {
    std::path::absolute(d).unwrap_or_else(|_| d.to_path_buf())
}

/// (total, usable) bytes of the filesystem holding `d`, or None if statvfs fails.
fn volume_bytes(d: &Path) -> Option<(i64, i64)> {
    let st = nix::sys::statvfs::statvfs(d).ok()?;
    let frsize = st.fragment_size() as u128;
    let clamp = |blocks: u128| i64::try_from(blocks.saturating_mul(frsize)).unwrap_or(i64::MAX);
    Some((clamp(st.blocks() as u128), clamp(st.blocks_available() as u128)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(dir: &Path, topic: &str, partition: i32, size: i64) -> ReplicaInfo {
        ReplicaInfo { topic: topic.into(), partition, dir: dir.join(format!("{topic}-{partition}")), size, offset_lag: 0 }
    }

    #[test]
    fn partitions_grouped_by_dir_and_topic() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let missing = a.path().join("not-there");
        let dirs = vec![a.path().to_path_buf(), b.path().to_path_buf(), missing.clone()];
        let reps = vec![rep(a.path(), "t", 1, 30), rep(a.path(), "t", 0, 20), rep(b.path(), "u", 0, 5), rep(a.path(), "a-b", 2, 0)];
        let res = describe(&dirs, &[], &reps);
        // An offline dir: an error and nothing else, even though it exists.
        let off = describe(&dirs, &[b.path().to_path_buf()], &reps);
        assert_eq!(off[1].error_code, ErrorCode::KAFKA_STORAGE_ERROR);
        assert!(off[1].topics.is_empty());
        assert_eq!(off[0].error_code, ErrorCode::NONE);
        assert_eq!(res.len(), 3);
        assert_eq!(res[0].log_dir.as_str(), a.path().to_str().unwrap());
        assert_eq!(res[0].error_code, ErrorCode::NONE);
        let names: Vec<&str> = res[0].topics.iter().map(|t| t.name.0.as_str()).collect();
        assert_eq!(names, ["a-b", "t"]);
        let t = &res[0].topics[1];
        assert_eq!(t.partitions.iter().map(|p| (p.partition_index, p.partition_size)).collect::<Vec<_>>(), [(0, 20), (1, 30)]);
        assert!(t.partitions.iter().all(|p| !p.is_future_key && p.offset_lag == 0));
        assert_eq!(res[1].topics.len(), 1);
        assert_eq!(res[1].topics[0].partitions[0].partition_size, 5);
        assert!(res[0].total_bytes > 0 && res[0].usable_bytes >= 0 && res[0].usable_bytes <= res[0].total_bytes);
        // A missing dir is an offline one.
        assert_eq!(res[2].error_code, ErrorCode::KAFKA_STORAGE_ERROR);
        assert!(res[2].topics.is_empty());
        assert_eq!((res[2].total_bytes, res[2].usable_bytes), (-1, -1));
    }

    #[test]
    fn every_version_encodes_and_v0_is_v1() {
        use kafka_protocol::protocol::{Decodable, Encodable};
        let a = tempfile::tempdir().unwrap();
        let mut resp = DescribeLogDirsResponse::default();
        resp.results = describe(&[a.path().to_path_buf()], &[], &[rep(a.path(), "t", 0, 7)]);
        for v in 0..=4 {
            let mut buf = bytes::BytesMut::new();
            resp.encode(&mut buf, wire_version(v)).unwrap();
            let back = DescribeLogDirsResponse::decode(&mut buf.freeze(), wire_version(v)).unwrap();
            assert_eq!(back.results[0].topics[0].partitions[0].partition_size, 7);
            assert_eq!(back.results[0].total_bytes == -1, v < 4, "v{v}");
        }
    }
}
