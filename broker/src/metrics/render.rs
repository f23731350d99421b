//! The Prometheus text exposition format (0.0.4) of the broker's metrics.
//!
//! Where it sits: [`super::http`] calls [`render`] on a blocking thread for each scrape. It
//! reads the counters of [`super::Metrics`] and computes the gauges from the broker's state:
//! the partition logs and their replica states (one short lock each), the metadata view, and
//! the group coordinator's committed offsets. Nothing here comes from the scrape request.
//!
//! Names follow the JMX exporter's `kafka-2_0_0.yml` rules (lowercased `kafka_<domain>_<type>_
//! <name>`, `PerSec` meters as `_total` counters, Yammer histograms as `quantile` series plus
//! `_count`); see the README's "Metrics (broker)" for the list and where ours differ.

use std::fmt::Write;

use crate::broker::Broker;
use crate::ids::BrokerId;

use super::requests::request_name;
use super::topics::COUNTERS;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Kafka's percentiles and the exporter's quantile label for each (`50thPercentile` -> "0.50").
pub const QUANTILES: &[(f64, &str)] = &[(0.5, "0.50"), (0.75, "0.75"), (0.95, "0.95"), (0.98, "0.98"), (0.99, "0.99"), (0.999, "0.999")];

/// A label value: backslash, double quote and newline escaped.
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// A sample value as Prometheus' Java client writes it (`5.0`, `NaN`, `+Inf`).
pub fn value(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// Builds the text: one `# HELP` / `# TYPE` header per family, then its samples.
#[derive(Default)]
pub struct Text {
    pub out: String,
}

impl Text {
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(val));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", value(v));
    }

    /// A family with one unlabelled sample.
    pub fn single(&mut self, name: &str, kind: &str, help: &str, v: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], v);
    }
}

/// One led or followed partition, as the gauges need it.
struct Local {
    topic: String,
    partition: i32,
    leader: bool,
    replicas: usize,
    isr: usize,
    min_isr: i64,
    offline: bool,
    size: u64,
    log_end: i64,
    log_start: i64,
    high_watermark: i64,
    segments: usize,
}

/// A per-partition log gauge: name, help, value.
type PerLog = (&'static str, &'static str, fn(&Local) -> f64);

pub fn render(broker: &Broker) -> String {
    let m = &broker.metrics;
    let mut t = Text::default();

    // kafka.server:type=BrokerTopicMetrics
    let topics = m.topics.snapshot();
    let all = m.topics.all.values();
    for (i, (short, help)) in COUNTERS.iter().enumerate() {
        let name = format!("kafka_server_brokertopicmetrics_{short}_total");
        t.family(&name, "counter", help);
        t.sample(&name, &[], all[i] as f64);
        for (topic, v) in &topics {
            t.sample(&name, &[("topic", topic)], v[i] as f64);
        }
    }
    t.single(
        "kafka_server_brokertopicmetrics_replicationbytesin_total",
        "counter",
        "Bytes appended by this broker as a follower (ReplicationBytesInPerSec)",
        m.topics.replication_bytes_in.load(std::sync::atomic::Ordering::Relaxed) as f64,
    );
    t.single(
        "kafka_server_brokertopicmetrics_replicationbytesout_total",
        "counter",
        "Bytes sent to follower replicas by Fetch (ReplicationBytesOutPerSec)",
        m.topics.replication_bytes_out.load(std::sync::atomic::Ordering::Relaxed) as f64,
    );

    // kafka.network:type=RequestMetrics
    let name = "kafka_network_requestmetrics_requests_total";
    t.family(name, "counter", "Requests answered, per API and version (RequestMetrics RequestsPerSec)");
    for (slot, version, n) in m.requests.counts() {
        if let Some(r) = request_name(slot) {
            t.sample(name, &[("request", &r), ("version", &version.to_string())], n as f64);
        }
    }
    let name = "kafka_network_requestmetrics_totaltimems";
    t.family(name, "summary", "Time from a request read to its answer ready, ms, since the broker started (RequestMetrics TotalTimeMs)");
    let qs: Vec<f64> = QUANTILES.iter().map(|(q, _)| *q).collect();
    for (slot, h) in m.requests.times() {
        let Some(r) = request_name(slot) else { continue };
        if let Some(values) = h.quantiles_us(&qs) {
            for ((_, label), us) in QUANTILES.iter().zip(values) {
                t.sample(name, &[("request", &r), ("quantile", label)], us / 1000.0);
            }
        }
        t.sample(&format!("{name}_sum"), &[("request", &r)], h.sum_us() as f64 / 1000.0);
        t.sample(&format!("{name}_count"), &[("request", &r)], h.count() as f64);
    }

    // The local replicas.
    let mut locals: Vec<Local> = broker
        .logs
        .all()
        .into_iter()
        .map(|((topic, partition), p)| {
            let (leader, replicas, isr) = {
                let r = p.repl();
                (r.role == crate::replica::state::Role::Leader, r.replicas.len(), r.isr.len())
            };
            let offline = p.offline();
            let log = p.lock();
            Local {
                topic,
                partition,
                leader,
                replicas,
                isr,
                min_isr: log.config.min_insync_replicas,
                offline,
                size: log.size_bytes(),
                log_end: log.log_end_offset,
                log_start: log.log_start_offset,
                high_watermark: log.high_watermark(),
                segments: log.segment_count(),
            }
        })
        .collect();
    locals.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));

    // kafka.server:type=ReplicaManager
    let count = |f: &dyn Fn(&Local) -> bool| locals.iter().filter(|l| f(l)).count() as f64;
    t.single("kafka_server_replicamanager_partitioncount", "gauge", "Partitions with a replica on this broker", locals.len() as f64);
    t.single("kafka_server_replicamanager_leadercount", "gauge", "Partitions this broker leads", count(&|l| l.leader));
    t.single(
        "kafka_server_replicamanager_underreplicatedpartitions",
        "gauge",
        "Led partitions whose ISR is smaller than their replica set",
        count(&|l| l.leader && l.isr < l.replicas),
    );
    t.single(
        "kafka_server_replicamanager_underminisrpartitioncount",
        "gauge",
        "Led partitions whose ISR is smaller than min.insync.replicas",
        count(&|l| l.leader && (l.isr as i64) < l.min_isr),
    );
    t.single(
        "kafka_server_replicamanager_atminisrpartitioncount",
        "gauge",
        "Led partitions whose ISR is exactly min.insync.replicas",
        count(&|l| l.leader && l.isr as i64 == l.min_isr),
    );
    t.single("kafka_server_replicamanager_offlinereplicacount", "gauge", "Replicas here whose log dir is offline", count(&|l| l.offline));
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed) as f64;
    t.single("kafka_server_replicamanager_isrshrinks_total", "counter", "ISR shrinks written by this broker as leader (IsrShrinksPerSec)", load(&m.isr_shrinks));
    t.single("kafka_server_replicamanager_isrexpands_total", "counter", "ISR expansions written by this broker as leader (IsrExpandsPerSec)", load(&m.isr_expands));

    // kafka.controller:type=KafkaController (non-zero on the active controller only, as Kafka).
    let meta = broker.meta.get();
    let active = meta.controller == broker.id;
    t.single("kafka_controller_kafkacontroller_activecontrollercount", "gauge", "1 on the active controller, else 0", if active { 1.0 } else { 0.0 });
    let offline = if active {
        meta.topics
            .values()
            .flat_map(|tm| tm.partitions.values())
            .filter(|pm| {
                let l = pm.leader();
                l == BrokerId::NONE || !meta.brokers.contains_key(&l.0)
            })
            .count()
    } else {
        0
    };
    t.single("kafka_controller_kafkacontroller_offlinepartitionscount", "gauge", "Partitions without a live leader (on the active controller)", offline as f64);
    let (gt, gp) = if active { (meta.topics.len(), meta.topics.values().map(|tm| tm.partitions.len()).sum::<usize>()) } else { (0, 0) };
    t.single("kafka_controller_kafkacontroller_globaltopiccount", "gauge", "Topics in the cluster (on the active controller)", gt as f64);
    t.single("kafka_controller_kafkacontroller_globalpartitioncount", "gauge", "Partitions in the cluster (on the active controller)", gp as f64);

    // kafka.log:type=Log
    let per_log: [PerLog; 4] = [
        ("kafka_log_log_size", "Bytes of the partition's log segments on this broker", |l| l.size as f64),
        ("kafka_log_log_logendoffset", "The partition's log end offset on this broker", |l| l.log_end as f64),
        ("kafka_log_log_logstartoffset", "The partition's log start offset on this broker", |l| l.log_start as f64),
        ("kafka_log_log_numlogsegments", "The partition's segment count on this broker", |l| l.segments as f64),
    ];
    for (name, help, f) in per_log {
        t.family(name, "gauge", help);
        for l in &locals {
            t.sample(name, &[("topic", &l.topic), ("partition", &l.partition.to_string())], f(l));
        }
    }

    // kafka.server:type=socket-server-metrics
    let name = "kafka_server_socket_server_metrics_connection_count";
    t.family(name, "gauge", "Open client connections on the listener (socket-server-metrics connection-count)");
    let listener = broker.cfg.listeners.first().map(|l| l.name.clone()).unwrap_or_default();
    t.sample(name, &[("listener", &listener), ("networkProcessor", "0")], m.connection_count() as f64);

    // kafka_exporter's consumer group lag, for the groups coordinated here.
    let hw: std::collections::HashMap<(&str, i32), i64> = locals.iter().map(|l| ((l.topic.as_str(), l.partition), l.high_watermark)).collect();
    let committed = broker.groups.committed_offsets();
    let name = "kafka_consumergroup_current_offset";
    t.family(name, "gauge", "Committed offset of a group on a partition (groups coordinated by this broker)");
    for (g, topic, p, off) in &committed {
        t.sample(name, &[("consumergroup", g), ("topic", topic), ("partition", &p.to_string())], *off as f64);
    }
    let name = "kafka_consumergroup_lag";
    t.family(name, "gauge", "High watermark minus the committed offset (groups coordinated here, partitions with a replica here)");
    for (g, topic, p, off) in &committed {
        if let Some(h) = hw.get(&(topic.as_str(), *p)) {
            t.sample(name, &[("consumergroup", g), ("topic", topic), ("partition", &p.to_string())], (h - off).max(0) as f64);
        }
    }
    t.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_headers_written() {
        let mut t = Text::default();
        t.family("kafka_x_total", "counter", "a\\b\nc");
        t.sample("kafka_x_total", &[], 3.0);
        t.sample("kafka_x_total", &[("topic", "a\"b\\c\nd"), ("partition", "0")], 1.5);
        let want = "# HELP kafka_x_total a\\\\b\\nc\n# TYPE kafka_x_total counter\nkafka_x_total 3.0\nkafka_x_total{topic=\"a\\\"b\\\\c\\nd\",partition=\"0\"} 1.5\n";
        assert_eq!(t.out, want);
    }

    #[test]
    fn values_look_like_the_java_client() {
        assert_eq!(value(5.0), "5.0");
        assert_eq!(value(0.25), "0.25");
        assert_eq!(value(f64::NAN), "NaN");
        assert_eq!(value(f64::INFINITY), "+Inf");
        assert_eq!(value(1e20), "100000000000000000000");
    }

    #[test]
    fn quantile_labels_are_the_exporters() {
        let labels: Vec<&str> = QUANTILES.iter().map(|(_, l)| *l).collect();
        assert_eq!(labels, ["0.50", "0.75", "0.95", "0.98", "0.99", "0.999"]);
    }
}
