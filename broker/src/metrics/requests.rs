//! Kafka's `kafka.network:type=RequestMetrics`: `RequestsPerSec{request,version}` (a count)
//! and `TotalTimeMs{request}` (a latency histogram) per API.
//!
//! Recorded in one place: `server::handle_frame`, after the handler returned and the answer
//! was encoded (before it is written to the socket; Kafka's TotalTimeMs also counts the
//! send). Only requests for an API and version we serve are counted. As in Kafka, Fetch is
//! split by who fetches: `FetchConsumer` (replica id -1) and `FetchFollower`.
//!
//! Storage is fixed arrays indexed by API key and version: no map, no lock, no allocation
//! on the request path.

use std::sync::atomic::{AtomicU64, Ordering};

use super::histogram::Histogram;

/// API keys 0..SLOTS-1 have a slot each; FetchFollower takes the last one.
const API_SLOTS: usize = 72;
pub const FETCH_FOLLOWER: usize = API_SLOTS - 1;
pub const MAX_VERSION: usize = 16;

pub struct RequestStats {
    counts: Vec<[AtomicU64; MAX_VERSION]>,
    times: Vec<Histogram>,
}

impl Default for RequestStats {
    fn default() -> Self {
        RequestStats {
            counts: (0..API_SLOTS).map(|_| std::array::from_fn(|_| AtomicU64::new(0))).collect(),
            times: (0..API_SLOTS).map(|_| Histogram::default()).collect(),
        }
    }
}

/// Kafka's request name of a slot (`ApiKeys.name`; Fetch as FetchConsumer / FetchFollower).
pub fn request_name(slot: usize) -> Option<String> {
    if slot == FETCH_FOLLOWER {
        return Some("FetchFollower".into());
    }
    if slot == 1 {
        return Some("FetchConsumer".into());
    }
    let api = kafka_protocol::messages::ApiKey::try_from(i16::try_from(slot).ok()?).ok()?;
    Some(format!("{api:?}"))
}

impl RequestStats {
    /// One answered request: `key` is the API key (Fetch from a follower: pass `follower`).
    pub fn record(&self, key: i16, version: i16, follower: bool, elapsed: std::time::Duration) {
        let slot = if key == 1 && follower { FETCH_FOLLOWER } else { key as usize };
        if key < 0 || slot >= API_SLOTS {
            return;
        }
        if let Some(c) = self.counts.get(slot).and_then(|v| v.get(version.max(0) as usize)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(h) = self.times.get(slot) {
            h.record_us(elapsed.as_micros().min(u64::MAX as u128) as u64);
        }
    }

    /// (slot, version, count) of every non-zero count.
    pub fn counts(&self) -> Vec<(usize, usize, u64)> {
        let mut out = Vec::new();
        for (slot, vs) in self.counts.iter().enumerate() {
            for (v, c) in vs.iter().enumerate() {
                let n = c.load(Ordering::Relaxed);
                if n > 0 {
                    out.push((slot, v, n));
                }
            }
        }
        out
    }

    /// (slot, histogram) of every API that was timed at least once.
    pub fn times(&self) -> impl Iterator<Item = (usize, &Histogram)> {
        self.times.iter().enumerate().filter(|(_, h)| h.count() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn counts_by_api_and_version_and_fetch_by_who() {
        let s = RequestStats::default();
        s.record(0, 8, false, Duration::from_millis(2));
        s.record(0, 8, false, Duration::from_millis(4));
        s.record(1, 11, false, Duration::from_millis(1));
        s.record(1, 11, true, Duration::from_millis(1));
        s.record(-1, 0, false, Duration::ZERO);
        s.record(500, 0, false, Duration::ZERO);
        s.record(3, 99, false, Duration::ZERO);
        let c = s.counts();
        assert!(c.contains(&(0, 8, 2)));
        assert!(c.contains(&(1, 11, 1)));
        assert!(c.contains(&(FETCH_FOLLOWER, 11, 1)));
        assert_eq!(request_name(0).as_deref(), Some("Produce"));
        assert_eq!(request_name(1).as_deref(), Some("FetchConsumer"));
        assert_eq!(request_name(FETCH_FOLLOWER).as_deref(), Some("FetchFollower"));
        assert_eq!(request_name(18).as_deref(), Some("ApiVersions"));
        assert_eq!(s.times().count(), 4);
    }
}
