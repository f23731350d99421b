//! Request counters: per connection and server-wide, updated by the core as requests arrive
//! and replies leave, read by the four-letter words ([`super::fourlw`]: srvr, stat, cons,
//! mntr) and reset by crst/srst.

use crate::ids::Zxid;
use crate::proto::OpCode;
use tokio::time::Instant;

/// Per-connection counters for `cons` and `stat`.
#[derive(Debug, Clone)]
pub struct ConnStats {
    pub received: u64,
    pub sent: u64,
    pub last_op: &'static str,
    pub last_cxid: i32,
    pub last_zxid: Zxid,
    pub last_latency: u64,
    pub min_latency: u64,
    pub max_latency: u64,
    pub total_latency: u64,
    pub count: u64,
    pub established: std::time::SystemTime,
    pub last_response: std::time::SystemTime,
}

impl ConnStats {
    pub fn new() -> Self {
        ConnStats {
            received: 0,
            sent: 0,
            last_op: "NA",
            last_cxid: 0,
            last_zxid: Zxid(0),
            last_latency: 0,
            min_latency: u64::MAX,
            max_latency: 0,
            total_latency: 0,
            count: 0,
            established: std::time::SystemTime::now(),
            last_response: std::time::SystemTime::now(),
        }
    }

    /// `crst`: counters back to zero; the connection's establishment time stays.
    pub fn reset(&mut self) {
        self.received = 0;
        self.sent = 0;
        self.count = 0;
        self.total_latency = 0;
        self.min_latency = u64::MAX;
        self.max_latency = 0;
    }
}

impl Default for ConnStats {
    fn default() -> Self {
        ConnStats::new()
    }
}

/// Server-wide counters for `srvr`, `stat`, `mntr`.
#[derive(Debug, Clone)]
pub struct ServerStats {
    pub received: u64,
    pub sent: u64,
    pub min_latency: u64,
    pub max_latency: u64,
    pub total_latency: u64,
    pub count: u64,
}

impl ServerStats {
    pub fn new() -> Self {
        ServerStats { received: 0, sent: 0, min_latency: u64::MAX, max_latency: 0, total_latency: 0, count: 0 }
    }

    /// (min, avg, max) latency in ms, zeros before the first request.
    pub fn latency(&self) -> (u64, f64, u64) {
        if self.count == 0 {
            (0, 0.0, 0)
        } else {
            (self.min_latency, self.total_latency as f64 / self.count as f64, self.max_latency)
        }
    }
}

impl Default for ServerStats {
    fn default() -> Self {
        ServerStats::new()
    }
}

/// Counts one answered request (pings are not counted) in the server's and, if the
/// connection is still there, its own counters.
pub fn record_latency(server: &mut ServerStats, conn: Option<&mut ConnStats>, op: OpCode, zxid: Zxid, received: Instant) {
    if op == OpCode::Ping {
        return;
    }
    let lat = received.elapsed().as_millis() as u64;
    server.count += 1;
    server.total_latency += lat;
    server.min_latency = server.min_latency.min(lat);
    server.max_latency = server.max_latency.max(lat);
    if let Some(cs) = conn {
        cs.count += 1;
        cs.total_latency += lat;
        cs.last_latency = lat;
        cs.min_latency = cs.min_latency.min(lat);
        cs.max_latency = cs.max_latency.max(lat);
        cs.last_zxid = zxid;
        cs.last_response = std::time::SystemTime::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn latency_is_counted_for_requests_not_pings() {
        let mut s = ServerStats::new();
        let mut c = ConnStats::new();
        let t = Instant::now();
        tokio::time::advance(Duration::from_millis(7)).await;
        record_latency(&mut s, Some(&mut c), OpCode::Ping, Zxid(1), t);
        assert_eq!(s.count, 0);
        record_latency(&mut s, Some(&mut c), OpCode::GetData, Zxid(5), t);
        assert_eq!((s.count, s.min_latency, s.max_latency), (1, 7, 7));
        assert_eq!((c.count, c.last_latency, c.last_zxid), (1, 7, Zxid(5)));
        assert_eq!(s.latency(), (7, 7.0, 7));
        c.reset();
        assert_eq!((c.count, c.min_latency), (0, u64::MAX));
    }
}
