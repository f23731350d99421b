//! `GET /metrics` in the Prometheus text exposition format (version 0.0.4), under the metric
//! names ZooKeeper 3.8's PrometheusMetricsProvider exports, so dashboards and alerts written
//! for Apache ZooKeeper work unchanged.
//!
//! Where it sits: [`super::http`] receives the scrape and sends
//! [`super::core::CoreMsg::Metrics`] over the core's channel; the core calls [`render`] with
//! the read-only [`View`] the four-letter words use. The values are [`fourlw::monitor_values`],
//! the very computation behind `mntr`, so `/metrics` and `mntr` agree; plus `quorum_size`.
//!
//! 3.8 metrics we do not export, because we keep no such data (rather than export a made-up
//! value): the request-processor summaries (`fsynctime`, `election_time`,
//! `commit_propagation_latency`, `read_latency`, `update_latency`, `proposal_latency`,
//! `local_write_committed_time_ms`, ...), the per-stage queue times and sizes,
//! `connection_drop_probability`, `last_client_response_size` and the other response-size
//! gauges, `leader_uptime`, proposal sizes, `digest_mismatches_count`, the auth and TLS
//! counters, the `jvm_*` collectors (there is no JVM), and the strings (`version`,
//! `server_state`), which Prometheus gauges cannot carry.

use super::fourlw::{self, Mv, View};
use std::fmt::Write;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Prometheus' text rendering of a sample value, as its Java client writes it (`5.0`).
fn sample(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// Every metric as one `# HELP`/`# TYPE gauge`/sample block.
pub fn render(core: &View) -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, v: f64| {
        let _ = writeln!(out, "# HELP {name} {name}\n# TYPE {name} gauge\n{name} {}", sample(v));
    };
    for (k, v) in fourlw::monitor_values(core) {
        let x = match v {
            Mv::Int(i) => i as f64,
            Mv::Float(f) => f,
            Mv::Str(_) => continue,
        };
        // `mntr`'s followers is 3.8's learners; the provider has no separate gauge for it.
        if k == "followers" || k == "last_proposal_size" {
            continue;
        }
        gauge(k, x);
    }
    let voters = if core.standalone { 1 } else { core.cfg.servers.len().max(1) };
    gauge("quorum_size", voters as f64);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_look_like_the_java_client() {
        assert_eq!(sample(5.0), "5.0");
        assert_eq!(sample(0.25), "0.25");
        assert_eq!(sample(-1.0), "-1.0");
    }

    /// Every line is a comment or `name value`, names are valid, and each sample has a TYPE.
    pub fn check_exposition(text: &str) -> Vec<(String, f64)> {
        let mut typed = std::collections::HashSet::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut it = rest.split(' ');
                typed.insert(it.next().unwrap_or_default().to_string());
                assert_eq!(it.next(), Some("gauge"), "{line}");
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            let (name, value) = line.split_once(' ').unwrap_or_else(|| panic!("bad line {line:?}"));
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{name}");
            assert!(typed.contains(name), "{name} without TYPE");
            samples.push((name.to_string(), value.parse::<f64>().unwrap_or_else(|_| panic!("bad value {line:?}"))));
        }
        samples
    }

    #[test]
    fn render_matches_monitor_values() {
        let cfg = crate::config::Config::default();
        let tree = crate::tree::DataTree::default();
        let sessions = crate::session::SessionTracker::new(1, 0);
        let watches = crate::watch::WatchManager::default();
        let conns = std::collections::HashMap::new();
        let stats = super::super::stats::ServerStats::new();
        let v = View {
            cfg: &cfg,
            my_id: 1,
            standalone: true,
            role: super::super::roles::Role::Leader,
            log_blocked: false,
            tree: &tree,
            sessions: &sessions,
            watches: &watches,
            conns: &conns,
            stats: &stats,
            started: std::time::SystemTime::now(),
            outstanding: 0,
            metrics: None,
            last_snapshot: None,
        };
        let samples = check_exposition(&render(&v));
        let get = |n: &str| samples.iter().find(|(k, _)| k == n).map(|(_, x)| *x);
        assert_eq!(get("znode_count"), Some(tree.node_count() as f64));
        assert_eq!(get("watch_count"), Some(0.0));
        assert_eq!(get("quorum_size"), Some(1.0));
        assert_eq!(get("num_alive_connections"), Some(0.0));
        assert!(get("uptime").is_some() && get("open_file_descriptor_count").is_some());
        assert!(get("version").is_none() && get("synced_followers").is_none());
    }
}
