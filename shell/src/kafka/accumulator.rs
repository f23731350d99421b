//! The record accumulator of the batching producer (`sender::BatchProducer`), as Kafka 2.5's
//! Java producer keeps it: one queue of batches per partition, a batch closed when the next
//! record would take it past `batch.size` (estimated as the Java client estimates, with a
//! per-topic compression ratio for compressed batches), memory reserved per batch out of
//! `buffer.memory`, and "ready" when full, lingered `linger.ms`, retried after
//! `retry.backoff.ms`, memory exhausted or the producer closing.
//!
//! ```text
//! send() -> Accumulator::append (caller's task)      sender task -> ready / drain -> Produce
//!                                                    response   -> complete / reenqueue
//! ```
//!
//! Pure state: no I/O, no clock of its own (callers pass `now`), tested on values.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use kafka_protocol::records::Compression;

use super::records::Outgoing;

/// Size of a v2 record batch header (Java's `DefaultRecordBatch.RECORD_BATCH_OVERHEAD`).
pub const BATCH_OVERHEAD: usize = 61;

/// Java's `COMPRESSION_RATE_ESTIMATION_FACTOR`: compressed sizes are over-estimated by 5%.
const ESTIMATION_FACTOR: f64 = 1.05;
const IMPROVING_STEP: f64 = 0.005;
const DETERIORATING_STEP: f64 = 0.05;

fn varint_len(v: i64) -> usize {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while z >= 0x80 {
        z >>= 7;
        n += 1;
    }
    n
}

fn field_len(b: Option<&[u8]>) -> usize {
    match b {
        Some(b) => varint_len(b.len() as i64) + b.len(),
        None => varint_len(-1),
    }
}

/// Bytes a v2 record takes in a batch (Java's `DefaultRecord.sizeInBytes`), its length prefix
/// included.
pub fn record_size(offset_delta: i64, timestamp_delta: i64, r: &Outgoing) -> usize {
    let mut body = 1 + varint_len(timestamp_delta) + varint_len(offset_delta);
    body += field_len(r.key.as_deref()) + field_len(r.value.as_deref());
    body += varint_len(r.headers.len() as i64);
    for (k, v) in &r.headers {
        body += field_len(Some(k.as_bytes())) + field_len(v.as_deref());
    }
    varint_len(body as i64) + body
}

/// What the caller wants back when a record completes: when `send` was called and the
/// payload's size (ProducerPerformance's callback reads both).
#[derive(Clone, Copy, Debug)]
pub struct Pending {
    pub sent_at: Instant,
    pub bytes: usize,
}

/// A batch of records for one partition.
#[derive(Debug)]
pub struct Batch {
    pub topic: String,
    pub partition: i32,
    pub records: Vec<Outgoing>,
    pub pending: Vec<Pending>,
    /// Uncompressed bytes of the records (without the batch header).
    pub records_bytes: usize,
    /// Memory reserved from `buffer.memory` for this batch.
    pub reserved: usize,
    pub created: Instant,
    pub last_attempt: Instant,
    pub attempts: u32,
    first_timestamp: i64,
    full: bool,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.records.len()
    }
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// Settings the accumulator honours (the Java producer's names).
#[derive(Clone, Debug)]
pub struct AccumulatorConfig {
    pub batch_size: usize,
    pub linger: Duration,
    pub retry_backoff: Duration,
    pub buffer_memory: usize,
    pub codec: Compression,
}

/// What `append` did.
#[derive(Debug, PartialEq)]
pub enum Append {
    /// Appended; `new_batch` when it opened a batch, `full` when its batch is now full (or a
    /// fuller one waits behind it): either is a reason to wake the sender.
    Done { new_batch: bool, full: bool },
    /// Would need a new batch and the caller asked to be told first (the sticky partitioner
    /// moves to another partition then); nothing was appended.
    NeedsNewBatch,
    /// Not enough free memory for a new batch; nothing was appended.
    NoMemory,
}

pub struct Accumulator {
    cfg: AccumulatorConfig,
    queues: BTreeMap<(String, i32), VecDeque<Batch>>,
    used: usize,
    /// Per-topic compression ratio estimate (Java's CompressionRatioEstimator).
    ratios: HashMap<String, f64>,
    /// Appenders are waiting for memory: every batch is ready.
    pub exhausted: bool,
    /// Closing: every batch is ready.
    pub closed: bool,
}

/// The sendable state of the accumulator at `now`.
#[derive(Debug, Default)]
pub struct Ready {
    /// Partitions whose head batch may be sent now.
    pub partitions: Vec<(String, i32)>,
    /// When a waiting head batch becomes sendable (linger or backoff), if any.
    pub next_check: Option<Instant>,
}

impl Accumulator {
    pub fn new(cfg: AccumulatorConfig) -> Accumulator {
        Accumulator { cfg, queues: BTreeMap::new(), used: 0, ratios: HashMap::new(), exhausted: false, closed: false }
    }

    pub fn config(&self) -> &AccumulatorConfig {
        &self.cfg
    }

    fn ratio(&self, topic: &str) -> f64 {
        self.ratios.get(topic).copied().unwrap_or(1.0)
    }

    /// Java's `estimatedBytesWritten` for a batch holding `records_bytes` of records.
    fn estimated(&self, topic: &str, records_bytes: usize) -> usize {
        match self.cfg.codec {
            Compression::None => BATCH_OVERHEAD + records_bytes,
            _ => BATCH_OVERHEAD + (records_bytes as f64 * self.ratio(topic) * ESTIMATION_FACTOR) as usize,
        }
    }

    /// Records a closed batch's observed compression ratio (compressed/uncompressed).
    pub fn observe_ratio(&mut self, topic: &str, observed: f64) {
        if self.cfg.codec == Compression::None || !observed.is_finite() {
            return;
        }
        let cur = self.ratio(topic);
        let next = if observed > cur {
            (cur + DETERIORATING_STEP).max(observed)
        } else if observed < cur {
            (cur - IMPROVING_STEP).max(observed)
        } else {
            cur
        };
        self.ratios.insert(topic.to_string(), next);
    }

    /// Appends `rec` to the last batch of `topic`-`partition`, opening a batch (reserving
    /// memory) when the record does not fit; `abort_on_new_batch` returns `NeedsNewBatch`
    /// instead of opening one.
    pub fn append(&mut self, topic: &str, partition: i32, rec: Outgoing, pending: Pending, abort_on_new_batch: bool, now: Instant) -> Append {
        let key = (topic.to_string(), partition);
        if let Some(q) = self.queues.get(&key) {
            if let Some(last) = q.back() {
                if !last.full {
                    let size = record_size(last.records.len() as i64, rec.timestamp - last.first_timestamp, &rec);
                    // Java's `hasRoomFor`: estimated bytes so far plus this record within the buffer.
                    if self.estimated(topic, last.records_bytes) + size <= last.reserved {
                        let q = self.queues.entry(key.clone()).or_default();
                        let nq = q.len();
                        if let Some(last) = q.back_mut() {
                            last.records_bytes += size;
                            last.records.push(rec);
                            last.pending.push(pending);
                            return Append::Done { new_batch: false, full: nq > 1 };
                        }
                    }
                }
            }
        }
        // A new batch is needed: the last one (if any) is full from now on.
        if abort_on_new_batch {
            return Append::NeedsNewBatch;
        }
        let size = record_size(0, 0, &rec);
        let reserve = self.cfg.batch_size.max(BATCH_OVERHEAD + size);
        if self.used + reserve > self.cfg.buffer_memory {
            return Append::NoMemory;
        }
        self.used += reserve;
        let q = self.queues.entry(key).or_default();
        if let Some(last) = q.back_mut() {
            last.full = true;
        }
        q.push_back(Batch {
            topic: topic.to_string(),
            partition,
            first_timestamp: rec.timestamp,
            records: vec![rec],
            pending: vec![pending],
            records_bytes: size,
            reserved: reserve,
            created: now,
            last_attempt: now,
            attempts: 0,
            full: false,
        });
        Append::Done { new_batch: true, full: q.len() > 1 }
    }

    /// Which partitions' head batches may be sent at `now` (Java's `ready`, by partition).
    pub fn ready(&self, now: Instant) -> Ready {
        let mut out = Ready::default();
        for (key, q) in &self.queues {
            let Some(b) = q.front() else { continue };
            let waited = now.saturating_duration_since(b.last_attempt);
            let backing_off = b.attempts > 0 && waited < self.cfg.retry_backoff;
            let wait = if backing_off { self.cfg.retry_backoff } else { self.cfg.linger };
            let full = q.len() > 1 || b.full;
            let sendable = full || waited >= wait || self.exhausted || self.closed;
            if sendable && !backing_off {
                out.partitions.push(key.clone());
            } else {
                let at = b.last_attempt + wait;
                out.next_check = Some(out.next_check.map_or(at, |n: Instant| n.min(at)));
            }
        }
        out
    }

    /// Takes the head batch of a partition to send it (it is closed to appends).
    pub fn drain(&mut self, topic: &str, partition: i32) -> Option<Batch> {
        let key = (topic.to_string(), partition);
        let q = self.queues.get_mut(&key)?;
        let mut b = q.pop_front()?;
        if q.is_empty() {
            self.queues.remove(&key);
        }
        b.full = true;
        Some(b)
    }

    /// Estimated size of a partition's head batch on the wire.
    pub fn head_size(&self, topic: &str, partition: i32) -> usize {
        self.queues.get(&(topic.to_string(), partition)).and_then(|q| q.front()).map(|b| self.estimated(topic, b.records_bytes)).unwrap_or(0)
    }

    /// Puts a batch back at the head of its partition's queue for a retry.
    pub fn reenqueue(&mut self, mut b: Batch, now: Instant) {
        b.attempts += 1;
        b.last_attempt = now;
        b.full = true;
        self.queues.entry((b.topic.clone(), b.partition)).or_default().push_front(b);
    }

    /// Takes out the batches that have waited `delivery` since their creation (Java expires
    /// them with a TimeoutException).
    pub fn expired(&mut self, now: Instant, delivery: Duration) -> Vec<Batch> {
        let mut out = Vec::new();
        for q in self.queues.values_mut() {
            while q.front().map(|b| now.saturating_duration_since(b.created) >= delivery).unwrap_or(false) {
                if let Some(b) = q.pop_front() {
                    out.push(b);
                }
            }
        }
        self.queues.retain(|_, q| !q.is_empty());
        out
    }

    /// Returns a completed batch's memory.
    pub fn release(&mut self, b: &Batch) {
        self.used = self.used.saturating_sub(b.reserved);
    }

    pub fn used(&self) -> usize {
        self.used
    }

    /// No batch waits to be sent.
    pub fn is_empty(&self) -> bool {
        self.queues.values().all(|q| q.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn rec(n: usize) -> Outgoing {
        Outgoing { key: None, value: Some(Bytes::from(vec![b'a'; n])), headers: vec![], timestamp: 1 }
    }

    fn cfg(codec: Compression) -> AccumulatorConfig {
        AccumulatorConfig { batch_size: 16384, linger: Duration::ZERO, retry_backoff: Duration::from_millis(100), buffer_memory: 32 << 20, codec }
    }

    fn pend() -> Pending {
        Pending { sent_at: Instant::now(), bytes: 100 }
    }

    #[test]
    fn record_sizes_as_java() {
        // 100-byte value, no key, no headers, first record: 1+1+1+1+(2+100)+1 = 107 body, +2 length.
        assert_eq!(record_size(0, 0, &rec(100)), 109);
        assert_eq!(record_size(200, 0, &rec(100)), 110);
    }

    #[test]
    fn batches_fill_to_batch_size() {
        let mut a = Accumulator::new(cfg(Compression::None));
        let now = Instant::now();
        let mut batches = 0;
        for _ in 0..1000 {
            if let Append::Done { new_batch: true, .. } = a.append("t", 0, rec(100), pend(), false, now) {
                batches += 1;
            }
        }
        let b = a.drain("t", 0).unwrap_or_else(|| panic!("no batch"));
        assert!(b.len() > 140 && BATCH_OVERHEAD + b.records_bytes <= 16384, "{}", b.len());
        assert_eq!(batches, 1000usize.div_ceil(b.len()));
    }

    #[test]
    fn linger_and_full_readiness() {
        let mut c = cfg(Compression::None);
        c.linger = Duration::from_millis(50);
        let mut a = Accumulator::new(c);
        let now = Instant::now();
        a.append("t", 0, rec(10), pend(), false, now);
        let r = a.ready(now);
        assert!(r.partitions.is_empty() && r.next_check == Some(now + Duration::from_millis(50)));
        assert_eq!(a.ready(now + Duration::from_millis(50)).partitions.len(), 1);
        a.closed = true;
        assert_eq!(a.ready(now).partitions.len(), 1);
    }

    #[test]
    fn memory_is_bounded_and_released() {
        let mut c = cfg(Compression::None);
        c.buffer_memory = 16384 * 2;
        let mut a = Accumulator::new(c);
        let now = Instant::now();
        assert!(matches!(a.append("t", 0, rec(10), pend(), false, now), Append::Done { .. }));
        assert!(matches!(a.append("t", 1, rec(10), pend(), false, now), Append::Done { .. }));
        assert_eq!(a.append("t", 2, rec(10), pend(), false, now), Append::NoMemory);
        let b = a.drain("t", 0).unwrap_or_else(|| panic!("no batch"));
        a.release(&b);
        assert!(matches!(a.append("t", 2, rec(10), pend(), false, now), Append::Done { new_batch: true, .. }));
    }

    #[test]
    fn abort_on_new_batch_for_sticky_partitioner() {
        let mut a = Accumulator::new(cfg(Compression::None));
        let now = Instant::now();
        // As Java: any new batch (the first one too) is reported before it is opened.
        assert_eq!(a.append("t", 0, rec(10000), pend(), true, now), Append::NeedsNewBatch);
        assert!(matches!(a.append("t", 0, rec(10000), pend(), false, now), Append::Done { new_batch: true, .. }));
        assert_eq!(a.append("t", 0, rec(10000), pend(), true, now), Append::NeedsNewBatch);
        assert!(matches!(a.append("t", 0, rec(10), pend(), true, now), Append::Done { new_batch: false, .. }));
    }

    #[test]
    fn compression_ratio_estimate_moves_slowly_down() {
        let mut a = Accumulator::new(cfg(Compression::Lz4));
        a.observe_ratio("t", 0.1);
        assert!((a.ratio("t") - 0.995).abs() < 1e-9);
        a.observe_ratio("t", 2.0);
        assert!((a.ratio("t") - 2.0).abs() < 1e-9);
    }
}
