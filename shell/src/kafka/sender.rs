//! The batching producer (`BatchProducer`) as Kafka 2.5's Java producer works: `send` appends
//! to the `accumulator` (blocking up to `max.block.ms` while `buffer.memory` is used up) and
//! a network thread of its own (the Java producer's I/O thread, with its own runtime) drains
//! ready batches into Produce requests, up to `max.in.flight.requests.per.connection`
//! pipelined per broker connection, completing each batch through a channel when it is
//! acknowledged.
//!
//! ```text
//! caller: send -> Accumulator::append       network thread: ready -> drain -> encode (codec)
//!                     (shared, locked)        -> frame -> write (one conn per leader)
//! reader task per conn: frames -> sender -> ProduceResponse -> Completion / retry
//! ```
//!
//! Retriable errors (leader moves, broken connections, requests unanswered for
//! `request.timeout.ms`) put batches back at their partition's head until
//! `delivery.timeout.ms`; `acks=0` batches complete once written. Not done: idempotence and
//! transactions (2.5's defaults leave both off).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Notify};

use super::accumulator::{Accumulator, AccumulatorConfig, Append, Batch, Pending, BATCH_OVERHEAD};
use super::client::{tn, Client};
use super::error::KafkaError;
use super::producer::{partition_for_key, retriable, Producer};
use super::props::Props;
use super::records::{encode_batch, parse_codec, Outgoing};

/// The producer settings this client honours (Java's names and 2.5's defaults).
#[derive(Clone, Debug)]
pub struct ProducerConfig {
    pub acc: AccumulatorConfig,
    pub acks: i16,
    pub max_in_flight: usize,
    pub max_block: Duration,
    pub max_request_size: usize,
    pub request_timeout: Duration,
    pub delivery_timeout: Duration,
}

fn num<T: std::str::FromStr>(p: &Props, k: &str, default: T) -> Result<T, String> {
    match p.get(k) {
        None => Ok(default),
        Some(v) => v.trim().parse::<T>().map_err(|_| format!("Invalid value {v} for configuration {k}: Not a number of type {}", if std::mem::size_of::<T>() > 4 { "LONG" } else { "INT" })),
    }
}

impl ProducerConfig {
    /// Reads the producer properties (`acks`, `batch.size`, `linger.ms`, ...).
    pub fn from_props(p: &Props) -> Result<ProducerConfig, String> {
        let acks = super::producer::parse_acks(p.get("acks").map(|s| s.as_str()).unwrap_or("1"))?;
        let codec = parse_codec(p.get("compression.type").map(|s| s.as_str()).unwrap_or("none")).map_err(|e| e.to_string())?;
        let batch_size: i32 = num(p, "batch.size", 16384)?;
        let linger: i64 = num(p, "linger.ms", 0)?;
        let backoff: i64 = num(p, "retry.backoff.ms", 100)?;
        let memory: i64 = num(p, "buffer.memory", 32 << 20)?;
        let in_flight: i32 = num(p, "max.in.flight.requests.per.connection", 5)?;
        let max_block: i64 = num(p, "max.block.ms", 60000)?;
        let max_request: i32 = num(p, "max.request.size", 1 << 20)?;
        let request_timeout: i32 = num(p, "request.timeout.ms", 30000)?;
        let delivery: i32 = num(p, "delivery.timeout.ms", 120000)?;
        let at_least = |k: &str, v: i64, min: i64| if v < min { Err(format!("Invalid value {v} for configuration {k}: Value must be at least {min}")) } else { Ok(()) };
        at_least("batch.size", batch_size as i64, 0)?;
        at_least("linger.ms", linger, 0)?;
        at_least("retry.backoff.ms", backoff, 0)?;
        at_least("buffer.memory", memory, 0)?;
        at_least("max.in.flight.requests.per.connection", in_flight as i64, 1)?;
        at_least("max.block.ms", max_block, 0)?;
        at_least("max.request.size", max_request as i64, 0)?;
        at_least("request.timeout.ms", request_timeout as i64, 0)?;
        at_least("delivery.timeout.ms", delivery as i64, 0)?;
        if p.get("enable.idempotence").map(|v| v.trim().eq_ignore_ascii_case("true")).unwrap_or(false) {
            return Err("enable.idempotence=true is not supported by this producer".into());
        }
        Ok(ProducerConfig {
            acc: AccumulatorConfig {
                batch_size: batch_size as usize,
                linger: Duration::from_millis(linger as u64),
                retry_backoff: Duration::from_millis(backoff as u64),
                buffer_memory: memory as usize,
                codec,
            },
            acks,
            max_in_flight: in_flight as usize,
            max_block: Duration::from_millis(max_block as u64),
            max_request_size: max_request as usize,
            request_timeout: Duration::from_millis(request_timeout as u64),
            delivery_timeout: Duration::from_millis(delivery as u64),
        })
    }
}

/// A batch's outcome, for each of its records' callbacks.
#[derive(Debug)]
pub struct Completion {
    pub topic: String,
    pub partition: i32,
    pub pending: Vec<Pending>,
    /// Base offset (-1 with acks=0), or the error.
    pub result: Result<i64, KafkaError>,
    /// When the acknowledgement (or failure) arrived.
    pub at: Instant,
}

struct Shared {
    acc: Mutex<Accumulator>,
    wake: Notify,
    freed: Notify,
}

impl Shared {
    fn acc(&self) -> MutexGuard<'_, Accumulator> {
        // A poisoned lock means a panic elsewhere already ended the program's useful life;
        // the state itself is still consistent for reading and releasing.
        self.acc.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct BatchProducer {
    shared: Arc<Shared>,
    thread: Option<(std::thread::JoinHandle<()>, oneshot::Receiver<()>)>,
    pub completions: mpsc::UnboundedReceiver<Completion>,
    partitions: HashMap<String, i32>,
    sticky: HashMap<String, i32>,
    cfg: ProducerConfig,
}

impl BatchProducer {
    /// Starts the producer's network thread (as the Java producer has one): it bootstraps
    /// from `servers`, fetches the metadata of `topics` (auto-creating them where the broker
    /// allows, as the Java producer's first send does) and then runs the sender.
    pub async fn start(servers: &str, timeout: Duration, cfg: ProducerConfig, client_id: &str, topics: &[String]) -> Result<BatchProducer, KafkaError> {
        let shared = Arc::new(Shared { acc: Mutex::new(Accumulator::new(cfg.acc.clone())), wake: Notify::new(), freed: Notify::new() });
        let (tx, completions) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel::<Result<HashMap<String, i32>, KafkaError>>();
        let (done_tx, done_rx) = oneshot::channel::<()>();
        let (servers, client_id, topics, shared2, cfg2) = (servers.to_string(), client_id.to_string(), topics.to_vec(), shared.clone(), cfg.clone());
        let thread = std::thread::Builder::new().name(format!("kafka-producer-network-thread | {client_id}")).spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(KafkaError::Other(format!("cannot start the producer's network thread: {e}"))));
                    return;
                }
            };
            rt.block_on(async move {
                let start = async {
                    let client = Client::bootstrap(&servers, &client_id, timeout).await?;
                    let mut p = Producer::new(client, cfg2.acks, cfg2.acc.codec);
                    let mut partitions = HashMap::new();
                    for t in &topics {
                        partitions.insert(t.clone(), p.partitions(t).await?);
                    }
                    Ok::<_, KafkaError>((p.client, partitions))
                };
                let (client, partitions) = match start.await {
                    Ok(x) => x,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(partitions));
                let (resp_tx, resp_rx) = mpsc::unbounded_channel();
                let sender = SenderTask { shared: shared2, client, cfg: cfg2, client_id, topics, nodes: HashMap::new(), done: tx, resp_tx, resp_rx, next_conn_id: 0, need_metadata: false };
                sender.run().await;
            });
            let _ = done_tx.send(());
        });
        let thread = thread.map_err(|e| KafkaError::Other(format!("cannot start the producer's network thread: {e}")))?;
        let partitions = match ready_rx.await {
            Ok(r) => r?,
            Err(_) => return Err(KafkaError::Other("the producer's network thread ended".into())),
        };
        Ok(BatchProducer { shared, thread: Some((thread, done_rx)), completions, partitions, sticky: HashMap::new(), cfg })
    }

    /// Partition count of a started topic.
    pub fn partition_count(&self, topic: &str) -> i32 {
        self.partitions.get(topic).copied().unwrap_or(0)
    }

    fn sticky_partition(&mut self, topic: &str, n: i32, prev: Option<i32>) -> i32 {
        let cur = self.sticky.get(topic).copied();
        match (cur, prev) {
            (Some(c), None) if c < n => c,
            (Some(c), Some(p)) if c != p && c < n => c,
            _ => {
                let mut next = (rand::random::<u32>() % n.max(1) as u32) as i32;
                if let Some(p) = prev.or(cur) {
                    if n > 1 && next == p {
                        next = (next + 1) % n;
                    }
                }
                self.sticky.insert(topic.to_string(), next);
                next
            }
        }
    }

    /// Appends a record (Java's `send`): keyed records go by murmur2, keyless ones to the
    /// sticky partition, which moves on when a new batch would start. Waits up to
    /// `max.block.ms` for buffer memory.
    pub async fn send(&mut self, topic: &str, partition: Option<i32>, rec: Outgoing, pending: Pending) -> Result<(), KafkaError> {
        let n = self.partition_count(topic).max(1);
        let size = super::accumulator::record_size(0, 0, &rec) + BATCH_OVERHEAD;
        if size > self.cfg.max_request_size {
            return Err(KafkaError::Other(format!(
                "The message is {size} bytes when serialized which is larger than {}, which is the value of the max.request.size configuration.",
                self.cfg.max_request_size
            )));
        }
        if size > self.cfg.acc.buffer_memory {
            return Err(KafkaError::Other(format!(
                "The message is {size} bytes when serialized which is larger than the total memory buffer you have configured with the buffer.memory configuration."
            )));
        }
        let keyed = partition.or_else(|| rec.key.as_deref().map(|k| partition_for_key(k, n)));
        let mut part = match keyed {
            Some(p) => p,
            None => self.sticky_partition(topic, n, None),
        };
        let mut abort = keyed.is_none() && n > 1;
        let deadline = Instant::now() + self.cfg.max_block;
        let mut rec = Some(rec);
        loop {
            let Some(r) = rec.take() else { break };
            let outcome = {
                let mut acc = self.shared.acc();
                let out = acc.append(topic, part, r.clone(), pending, abort, Instant::now());
                if out == Append::NoMemory {
                    acc.exhausted = true;
                }
                out
            };
            match outcome {
                Append::Done { new_batch, full } => {
                    if new_batch || full {
                        self.shared.wake.notify_one();
                    }
                }
                Append::NeedsNewBatch => {
                    part = self.sticky_partition(topic, n, Some(part));
                    abort = false;
                    rec = Some(r);
                }
                Append::NoMemory => {
                    self.shared.wake.notify_one();
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(KafkaError::Timeout(format!("Failed to allocate memory within the configured max blocking time {} ms.", self.cfg.max_block.as_millis())));
                    }
                    // Re-checked at least every 10 ms, so a wake-up missed between the check
                    // and the wait costs no more than that.
                    let _ = tokio::time::timeout(left.min(Duration::from_millis(10)), self.shared.freed.notified()).await;
                    rec = Some(r);
                }
            }
        }
        Ok(())
    }

    /// Sends everything accumulated and waits for the sender to finish (Java's `close`).
    pub async fn close(&mut self) {
        self.shared.acc().closed = true;
        self.shared.wake.notify_one();
        if let Some((t, done)) = self.thread.take() {
            let _ = done.await;
            let _ = t.join();
        }
    }
}

/// One Produce request awaiting its response.
struct InFlight {
    corr: i32,
    version: i16,
    sent: Instant,
    batches: Vec<Batch>,
}

struct NodeConn {
    id: u64,
    write: OwnedWriteHalf,
    version: i16,
    next_corr: i32,
    in_flight: VecDeque<InFlight>,
    reader: tokio::task::JoinHandle<()>,
}

/// A response frame (or the connection's end) from a reader task.
struct Frame {
    node: i32,
    conn: u64,
    data: Result<Bytes, String>,
}

struct SenderTask {
    shared: Arc<Shared>,
    client: Client,
    cfg: ProducerConfig,
    client_id: String,
    topics: Vec<String>,
    nodes: HashMap<i32, NodeConn>,
    done: mpsc::UnboundedSender<Completion>,
    resp_tx: mpsc::UnboundedSender<Frame>,
    resp_rx: mpsc::UnboundedReceiver<Frame>,
    next_conn_id: u64,
    need_metadata: bool,
}

fn encode_frame<R: Request>(req: &R, version: i16, corr: i32, client_id: &str) -> Result<BytesMut, KafkaError> {
    let mut header = RequestHeader::default();
    header.request_api_key = R::KEY;
    header.request_api_version = version;
    header.correlation_id = corr;
    header.client_id = Some(StrBytes::from_string(client_id.to_string()));
    let mut buf = BytesMut::new();
    bytes::BufMut::put_i32(&mut buf, 0);
    let enc = |e: anyhow::Error| KafkaError::Protocol(format!("cannot encode request: {e}"));
    header.encode(&mut buf, R::header_version(version)).map_err(enc)?;
    req.encode(&mut buf, version).map_err(enc)?;
    let len = (buf.len() - 4) as i32;
    buf[0..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf)
}

async fn read_frame(r: &mut (impl AsyncReadExt + Unpin)) -> Result<Bytes, String> {
    let n = r.read_i32().await.map_err(|e| e.to_string())?;
    if n < 4 || n as usize > kafka_wire::conn::MAX_RESPONSE {
        return Err(format!("response frame of {n} bytes"));
    }
    let mut buf = BytesMut::zeroed(n as usize);
    r.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}

impl SenderTask {
    async fn run(mut self) {
        loop {
            while let Ok(f) = self.resp_rx.try_recv() {
                self.on_frame(f);
            }
            self.expire_requests();
            let expired = self.shared.acc().expired(Instant::now(), self.cfg.delivery_timeout);
            for b in expired {
                let e = KafkaError::Timeout(format!("Expiring {} record(s) for {}-{}:{} ms has passed since batch creation", b.len(), b.topic, b.partition, b.created.elapsed().as_millis()));
                self.complete(b, Err(e));
            }
            if self.need_metadata {
                self.need_metadata = false;
                if self.client.refresh(Some(&self.topics)).await.is_err() {
                    self.client.forget_all();
                }
            }
            let next_check = self.send_ready().await;
            let (closed, empty) = {
                let acc = self.shared.acc();
                (acc.closed, acc.is_empty())
            };
            if closed && empty && self.nodes.values().all(|n| n.in_flight.is_empty()) {
                break;
            }
            let mut wait = next_check.map(|t| t.saturating_duration_since(Instant::now())).unwrap_or(Duration::from_secs(1));
            if let Some(oldest) = self.nodes.values().filter_map(|n| n.in_flight.front()).map(|f| f.sent).min() {
                wait = wait.min((oldest + self.cfg.request_timeout).saturating_duration_since(Instant::now()));
            }
            tokio::select! {
                _ = self.shared.wake.notified() => {}
                f = self.resp_rx.recv() => {
                    if let Some(f) = f {
                        self.on_frame(f);
                    }
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
        for (_, n) in self.nodes.drain() {
            n.reader.abort();
        }
    }

    /// Drains every sendable batch into requests on connections with room; returns when to
    /// look again for lingering or backing-off batches.
    async fn send_ready(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let ready = self.shared.acc().ready(now);
        let mut by_node: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
        for (t, p) in ready.partitions {
            match self.client.leader(&t, p) {
                Some(l) => by_node.entry(l).or_default().push((t, p)),
                None => self.need_metadata = true,
            }
        }
        for (node, parts) in by_node {
            if let Err(e) = self.ensure_conn(node).await {
                warn(&format!("cannot connect to broker {node}: {e}"));
                self.need_metadata = true;
                // reconnect.backoff.ms (50 ms by default) before the next attempt.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            loop {
                let room = self.nodes.get(&node).map(|n| n.in_flight.len() < self.cfg.max_in_flight).unwrap_or(false);
                if !room {
                    break;
                }
                // One batch per partition per request, within max.request.size (the first
                // always goes).
                let mut batches = Vec::new();
                let mut size = 0usize;
                {
                    let mut acc = self.shared.acc();
                    let ready_now = acc.ready(Instant::now()).partitions;
                    for (t, p) in &parts {
                        if !ready_now.contains(&(t.clone(), *p)) {
                            continue;
                        }
                        let s = acc.head_size(t, *p);
                        if !batches.is_empty() && size + s > self.cfg.max_request_size {
                            break;
                        }
                        if let Some(b) = acc.drain(t, *p) {
                            size += s;
                            batches.push(b);
                        }
                    }
                }
                if batches.is_empty() {
                    break;
                }
                self.send_request(node, batches).await;
            }
        }
        self.shared.acc().ready(Instant::now()).next_check
    }

    async fn ensure_conn(&mut self, node: i32) -> Result<(), KafkaError> {
        if self.nodes.contains_key(&node) {
            return Ok(());
        }
        let addr = self.client.meta.brokers.get(&node).map(|b| b.addr()).ok_or_else(|| KafkaError::Other(format!("broker {node} is not in the cluster metadata")))?;
        let timeout = self.cfg.request_timeout;
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(&addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(KafkaError::Connect(addr, e.to_string())),
            Err(_) => return Err(KafkaError::Connect(addr, format!("no answer within {} ms", timeout.as_millis()))),
        };
        let _ = stream.set_nodelay(true);
        let (mut read, mut write) = stream.into_split();
        // ApiVersions first, as the Java client opens every connection.
        let mut req = ApiVersionsRequest::default();
        req.client_software_name = StrBytes::from_static_str("kafka-tools-rs");
        req.client_software_version = StrBytes::from_static_str("2.5.0");
        let frame = encode_frame(&req, 2, 0, &self.client_id)?;
        let io = async {
            write.write_all(&frame).await.map_err(|e| e.to_string())?;
            read_frame(&mut read).await
        };
        let mut resp = tokio::time::timeout(timeout, io).await.map_err(|_| KafkaError::Timeout(format!("ApiVersions to {addr} got no response")))?.map_err(|e| KafkaError::Io(addr.clone(), e))?;
        let dec = |e: anyhow::Error| KafkaError::Protocol(format!("cannot decode ApiVersions response: {e}"));
        ResponseHeader::decode(&mut resp, ApiVersionsResponse::header_version(2)).map_err(dec)?;
        let av = ApiVersionsResponse::decode(&mut resp, 2).map_err(dec)?;
        let (min, max) = av.api_keys.iter().find(|k| k.api_key == ProduceRequest::KEY).map(|k| (k.min_version, k.max_version)).ok_or_else(|| KafkaError::Unsupported(format!("The broker at {addr} does not support Produce")))?;
        // v3 is the first with v2 record batches; 8 is Kafka 2.5's newest.
        let version = max.min(8);
        if version < 3.max(min) {
            return Err(KafkaError::Unsupported(format!("The broker at {addr} supports Produce versions {min} to {max}; this producer needs 3 to 8")));
        }
        self.next_conn_id += 1;
        let id = self.next_conn_id;
        let tx = self.resp_tx.clone();
        let reader = tokio::spawn(async move {
            loop {
                let r = read_frame(&mut read).await;
                let end = r.is_err();
                if tx.send(Frame { node, conn: id, data: r }).is_err() || end {
                    break;
                }
            }
        });
        self.nodes.insert(node, NodeConn { id, write, version, next_corr: 1, in_flight: VecDeque::new(), reader });
        Ok(())
    }

    async fn send_request(&mut self, node: i32, mut batches: Vec<Batch>) {
        let mut topics: BTreeMap<String, Vec<PartitionProduceData>> = BTreeMap::new();
        let mut failed = Vec::new();
        let mut kept = Vec::new();
        for b in batches.drain(..) {
            match encode_batch(&b.records, self.cfg.acc.codec) {
                Ok(bytes) => {
                    if b.attempts == 0 && b.records_bytes > 0 {
                        let observed = bytes.len().saturating_sub(BATCH_OVERHEAD) as f64 / b.records_bytes as f64;
                        self.shared.acc().observe_ratio(&b.topic, observed);
                    }
                    let mut pd = PartitionProduceData::default();
                    pd.index = b.partition;
                    pd.records = Some(bytes);
                    topics.entry(b.topic.clone()).or_default().push(pd);
                    kept.push(b);
                }
                Err(e) => failed.push((b, e)),
            }
        }
        for (b, e) in failed {
            self.complete(b, Err(e));
        }
        if kept.is_empty() {
            return;
        }
        let mut req = ProduceRequest::default();
        req.acks = self.cfg.acks;
        req.timeout_ms = self.cfg.request_timeout.as_millis().min(i32::MAX as u128) as i32;
        req.topic_data = topics
            .into_iter()
            .map(|(t, parts)| {
                let mut td = TopicProduceData::default();
                td.name = tn(&t);
                td.partition_data = parts;
                td
            })
            .collect();
        let Some(conn) = self.nodes.get_mut(&node) else {
            self.retry_or_fail(kept, "no connection".into());
            return;
        };
        let corr = conn.next_corr;
        conn.next_corr = conn.next_corr.wrapping_add(1);
        let version = conn.version;
        let frame = match encode_frame(&req, version, corr, &self.client_id) {
            Ok(f) => f,
            Err(e) => {
                for b in kept {
                    self.complete(b, Err(KafkaError::Protocol(e.to_string())));
                }
                return;
            }
        };
        let write = tokio::time::timeout(self.cfg.request_timeout, conn.write.write_all(&frame)).await;
        match write {
            Ok(Ok(())) => {
                if self.cfg.acks == 0 {
                    for b in kept {
                        self.complete(b, Ok(-1));
                    }
                } else {
                    conn.in_flight.push_back(InFlight { corr, version, sent: Instant::now(), batches: kept });
                }
            }
            _ => {
                self.drop_conn(node, "write failed".into());
                self.retry_or_fail(kept, "the connection broke while sending".into());
            }
        }
    }

    fn on_frame(&mut self, f: Frame) {
        let Some(conn) = self.nodes.get_mut(&f.node) else { return };
        if conn.id != f.conn {
            return;
        }
        let mut data = match f.data {
            Ok(d) => d,
            Err(e) => {
                self.drop_conn(f.node, e);
                return;
            }
        };
        let Some(inf) = conn.in_flight.pop_front() else {
            self.drop_conn(f.node, "a response nobody asked for".into());
            return;
        };
        let decoded = (|| -> Result<ProduceResponse, String> {
            let h = ResponseHeader::decode(&mut data, ProduceResponse::header_version(inf.version)).map_err(|e| e.to_string())?;
            if h.correlation_id != inf.corr {
                return Err(format!("correlation id {} where {} was expected", h.correlation_id, inf.corr));
            }
            ProduceResponse::decode(&mut data, inf.version).map_err(|e| e.to_string())
        })();
        let resp = match decoded {
            Ok(r) => r,
            Err(e) => {
                let node = f.node;
                self.drop_conn(node, e.clone());
                self.retry_or_fail(inf.batches, e);
                return;
            }
        };
        let mut results: HashMap<(String, i32), (i16, Option<String>, i64)> = HashMap::new();
        for t in resp.responses {
            for p in t.partition_responses {
                results.insert((t.name.0.to_string(), p.index), (p.error_code, p.error_message.map(|m| m.to_string()), p.base_offset));
            }
        }
        for b in inf.batches {
            match results.remove(&(b.topic.clone(), b.partition)) {
                Some((0, _, base)) => self.complete(b, Ok(base)),
                Some((code, msg, _)) => {
                    let e = KafkaError::code(code, msg);
                    if retriable(&e) {
                        self.need_metadata = true;
                        self.retry_or_fail(vec![b], e.to_string());
                    } else {
                        self.complete(b, Err(e));
                    }
                }
                None => self.complete(b, Err(KafkaError::Protocol("the produce response left out a partition".into()))),
            }
        }
    }

    /// Requests unanswered for `request.timeout.ms` break their connection (as Java does).
    fn expire_requests(&mut self) {
        let now = Instant::now();
        let late: Vec<i32> = self.nodes.iter().filter(|(_, n)| n.in_flight.front().map(|f| now.duration_since(f.sent) >= self.cfg.request_timeout).unwrap_or(false)).map(|(id, _)| *id).collect();
        for node in late {
            self.drop_conn(node, format!("no response within {} ms", self.cfg.request_timeout.as_millis()));
        }
    }

    fn drop_conn(&mut self, node: i32, why: String) {
        if let Some(c) = self.nodes.remove(&node) {
            c.reader.abort();
            let batches: Vec<Batch> = c.in_flight.into_iter().flat_map(|f| f.batches).collect();
            self.retry_or_fail(batches, format!("Disconnected from broker {node}: {why}"));
        }
        self.need_metadata = true;
    }

    fn retry_or_fail(&mut self, batches: Vec<Batch>, why: String) {
        let now = Instant::now();
        for b in batches {
            if now.duration_since(b.created) + self.cfg.acc.retry_backoff < self.cfg.delivery_timeout {
                self.shared.acc().reenqueue(b, now);
            } else {
                let e = KafkaError::Timeout(format!(
                    "Expiring {} record(s) for {}-{}:{} ms has passed since batch creation ({why})",
                    b.len(),
                    b.topic,
                    b.partition,
                    now.duration_since(b.created).as_millis()
                ));
                self.complete(b, Err(e));
            }
        }
        self.shared.wake.notify_one();
    }

    fn complete(&mut self, b: Batch, result: Result<i64, KafkaError>) {
        {
            let mut acc = self.shared.acc();
            acc.release(&b);
            acc.exhausted = false;
        }
        self.shared.freed.notify_waiters();
        let _ = self.done.send(Completion { topic: b.topic, partition: b.partition, pending: b.pending, result, at: Instant::now() });
    }
}

/// The tools have no logger configured: connection trouble goes to stderr as Kafka's WARN lines.
fn warn(msg: &str) {
    eprintln!("WARN {msg}");
}
