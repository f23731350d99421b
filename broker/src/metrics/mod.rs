//! Broker metrics (issue 16): counters kept on the request path, gauges read from the
//! broker's state at scrape time, served as `GET /metrics` in the Prometheus text format
//! under the names the Prometheus JMX exporter's Kafka rules (`kafka-2_0_0.yml`) give
//! Kafka 2.5's MBeans, so dashboards written for Kafka work unchanged.
//!
//! Where it sits: `server::serve` counts connections ([`Metrics::connection`]);
//! `server::handle_frame` times every answered request ([`requests`]); the produce and
//! fetch handlers count bytes and messages per topic ([`topics`]); `replica::isr` counts
//! ISR shrinks and expands. [`http`] serves the scrape; [`render`] reads the counters and
//! walks the logs, the replica states, the metadata view and the group coordinator.
//!
//! Cost on the hot path: relaxed atomic adds, plus one read lock per topic per produce or
//! fetch request to find the topic's counters. Nothing allocates per record.

pub mod histogram;
pub mod http;
pub mod render;
pub mod requests;
pub mod topics;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Default)]
pub struct Metrics {
    pub topics: topics::BrokerTopicStats,
    pub requests: requests::RequestStats,
    pub isr_shrinks: AtomicU64,
    pub isr_expands: AtomicU64,
    connections: Arc<AtomicI64>,
}

/// Held by a connection's task: counts it in `connection_count` until dropped.
pub struct ConnectionGuard(Arc<AtomicI64>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    pub fn connection(&self) -> ConnectionGuard {
        self.connections.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(self.connections.clone())
    }

    pub fn connection_count(&self) -> i64 {
        self.connections.load(Ordering::Relaxed).max(0)
    }

    /// An ISR change the leader wrote: `old` members became `new`.
    pub fn isr_changed(&self, old: usize, new: usize) {
        if new < old {
            self.isr_shrinks.fetch_add(1, Ordering::Relaxed);
        } else if new > old {
            self.isr_expands.fetch_add(1, Ordering::Relaxed);
        }
    }
}
