//! Kafka's `kafka.server:type=BrokerTopicMetrics` counters, per topic and for all topics
//! (the MBean without a `topic` key).
//!
//! Recorded by the handlers: `server::handlers::produce` after each leader append (bytes
//! and messages in, Kafka's `appendToLocalLog`: a produce request per partition, a failed
//! one when the append or its checks failed), and `server::handlers::fetch` when the answer
//! is final (bytes out for consumers, replication bytes out for followers, a fetch request
//! per partition, a failed one per partition answered with an error other than
//! not-leader/unknown-partition, as Kafka's `readFromLocalLog`). `replica::fetcher` counts
//! the replication bytes in (a follower's appends).
//!
//! The hot path takes a read lock on the topic map once per topic in a request to get the
//! topic's `Arc<TopicStats>`; a topic's counters are created on first use (write lock, once
//! per topic). Topics are removed when deleted (`forget`), so the map is bounded by the
//! topics that exist; names come from requests only after the topic was found in metadata.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

#[derive(Default)]
pub struct TopicStats {
    pub messages_in: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub total_produce_requests: AtomicU64,
    pub total_fetch_requests: AtomicU64,
    pub failed_produce_requests: AtomicU64,
    pub failed_fetch_requests: AtomicU64,
}

/// The counters in render order: (Kafka MBean name without `PerSec`, lowercased, help).
pub const COUNTERS: &[(&str, &str)] = &[
    ("messagesin", "Messages appended to leader logs (BrokerTopicMetrics MessagesInPerSec)"),
    ("bytesin", "Bytes of record batches appended to leader logs from producers (BytesInPerSec)"),
    ("bytesout", "Bytes of records sent to consumers by Fetch (BytesOutPerSec)"),
    ("totalproducerequests", "Produce requests, counted per partition (TotalProduceRequestsPerSec)"),
    ("totalfetchrequests", "Fetch requests, counted per partition (TotalFetchRequestsPerSec)"),
    ("failedproducerequests", "Produce requests that failed, per partition (FailedProduceRequestsPerSec)"),
    ("failedfetchrequests", "Fetch requests that failed, per partition (FailedFetchRequestsPerSec)"),
];

impl TopicStats {
    pub fn values(&self) -> [u64; 7] {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        [
            l(&self.messages_in),
            l(&self.bytes_in),
            l(&self.bytes_out),
            l(&self.total_produce_requests),
            l(&self.total_fetch_requests),
            l(&self.failed_produce_requests),
            l(&self.failed_fetch_requests),
        ]
    }
}

pub fn add(a: &AtomicU64, n: u64) {
    a.fetch_add(n, Ordering::Relaxed);
}

#[derive(Default)]
pub struct BrokerTopicStats {
    pub all: TopicStats,
    /// All-topics only, as Kafka: bytes appended by followers and sent to followers.
    pub replication_bytes_in: AtomicU64,
    pub replication_bytes_out: AtomicU64,
    topics: RwLock<HashMap<String, Arc<TopicStats>>>,
}

impl BrokerTopicStats {
    /// The topic's counters, created on first use.
    pub fn topic(&self, name: &str) -> Arc<TopicStats> {
        if let Some(t) = self.topics.read().unwrap_or_else(|p| p.into_inner()).get(name) {
            return t.clone();
        }
        let mut w = self.topics.write().unwrap_or_else(|p| p.into_inner());
        w.entry(name.to_string()).or_default().clone()
    }

    /// Drops a deleted topic's counters (Kafka removes its MBeans).
    pub fn forget(&self, name: &str) {
        self.topics.write().unwrap_or_else(|p| p.into_inner()).remove(name);
    }

    /// Topics with counters, sorted, with their values.
    pub fn snapshot(&self) -> Vec<(String, [u64; 7])> {
        let r = self.topics.read().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = r.iter().map(|(k, t)| (k.clone(), t.values())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// A leader append of `messages` records in `bytes` bytes.
    pub fn appended(&self, t: &TopicStats, messages: u64, bytes: u64) {
        for s in [t, &self.all] {
            add(&s.messages_in, messages);
            add(&s.bytes_in, bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_topic_and_all_topics() {
        let s = BrokerTopicStats::default();
        let a = s.topic("a");
        s.appended(&a, 3, 300);
        s.appended(&s.topic("b"), 1, 10);
        assert!(Arc::ptr_eq(&a, &s.topic("a")));
        assert_eq!(s.all.values()[0], 4);
        assert_eq!(s.all.values()[1], 310);
        let snap = s.snapshot();
        assert_eq!(snap[0].0, "a");
        assert_eq!(snap[0].1[0], 3);
        s.forget("a");
        assert_eq!(s.snapshot().len(), 1);
    }
}
