//! The text formats of ZooKeeper's quota znodes (`StatsTrack`): the limits a client writes
//! under `/zookeeper/quota/<path>/zookeeper_limits` (zkCli's `setquota`) and the usage the
//! server keeps in `.../zookeeper_stats`. Shared by the server (which keeps the stats and
//! enforces hard limits) and the shell (setquota, listquota, delquota).

pub const QUOTA_ROOT: &str = "/zookeeper/quota";
pub const LIMITS_NODE: &str = "zookeeper_limits";
pub const STATS_NODE: &str = "zookeeper_stats";

/// Parsed `StatsTrack` text: counts or limits (-1 when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsTrack {
    pub count: i64,
    pub bytes: i64,
    pub count_hard: i64,
    pub bytes_hard: i64,
}

impl Default for StatsTrack {
    fn default() -> Self {
        StatsTrack { count: -1, bytes: -1, count_hard: -1, bytes_hard: -1 }
    }
}

impl StatsTrack {
    /// Reads either format; unknown keys and unreadable values are ignored (as -1).
    pub fn parse(text: &str) -> StatsTrack {
        let mut t = StatsTrack::default();
        for part in text.split([',', ';']) {
            let Some((k, v)) = part.split_once('=') else { continue };
            let Ok(v) = v.trim().trim_end_matches('=').parse::<i64>() else { continue };
            match k.trim() {
                "count" => t.count = v,
                "bytes" => t.bytes = v,
                "countHardLimit" => t.count_hard = v,
                "byteHardLimit" => t.bytes_hard = v,
                _ => {}
            }
        }
        t
    }

    /// A stats node's text.
    pub fn stats_text(count: i64, bytes: i64) -> String {
        format!("count={count},bytes={bytes}")
    }

    /// A limits node's text as ZooKeeper 3.8's client writes it.
    pub fn limits_text(&self) -> String {
        format!("count={},bytes={}=;byteHardLimit={};countHardLimit={}", self.count, self.bytes, self.bytes_hard, self.count_hard)
    }
}

/// `/app` for `/zookeeper/quota/app/zookeeper_limits` (or `.../zookeeper_stats` with `node`).
pub fn quota_target(path: &str, node: &str) -> Option<String> {
    let rest = path.strip_prefix(QUOTA_ROOT)?;
    let target = rest.strip_suffix(node)?.strip_suffix('/')?;
    (target.starts_with('/') && target.len() > 1).then(|| target.to_string())
}

pub fn limits_path(target: &str) -> String {
    format!("{QUOTA_ROOT}{target}/{LIMITS_NODE}")
}

pub fn stats_path(target: &str) -> String {
    format!("{QUOTA_ROOT}{target}/{STATS_NODE}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_formats_and_writes_3_8s() {
        let t = StatsTrack::parse("count=10,bytes=-1=;byteHardLimit=200;countHardLimit=2");
        assert_eq!(t, StatsTrack { count: 10, bytes: -1, count_hard: 2, bytes_hard: 200 });
        assert_eq!(t.limits_text(), "count=10,bytes=-1=;byteHardLimit=200;countHardLimit=2");
        assert_eq!(StatsTrack::parse("count=3,bytes=8"), StatsTrack { count: 3, bytes: 8, ..Default::default() });
        assert_eq!(StatsTrack::parse("garbage=;=,count=x"), StatsTrack::default());
        assert_eq!(StatsTrack::stats_text(2, 1), "count=2,bytes=1");
    }

    #[test]
    fn quota_paths() {
        assert_eq!(quota_target("/zookeeper/quota/app/zookeeper_limits", LIMITS_NODE).as_deref(), Some("/app"));
        assert_eq!(quota_target("/zookeeper/quota/a/b/zookeeper_stats", STATS_NODE).as_deref(), Some("/a/b"));
        assert_eq!(quota_target("/zookeeper/quota/zookeeper_limits", LIMITS_NODE), None);
        assert_eq!(quota_target("/app/zookeeper_limits", LIMITS_NODE), None);
        assert_eq!(limits_path("/app"), "/zookeeper/quota/app/zookeeper_limits");
        assert_eq!(stats_path("/app"), "/zookeeper/quota/app/zookeeper_stats");
    }
}
