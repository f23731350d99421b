//! `zk-bench`: a load generator for any ZooKeeper-compatible server (ours or Apache's).
//!
//! N concurrent sessions, each on its own connection. By default each runs a closed loop of
//! requests (one outstanding at a time, like a synchronous client); with `--inflight K` each
//! keeps K requests outstanding (pipelined, how Kafka's and Curator's asynchronous clients load
//! ZooKeeper), reads the replies in order, and when its connection breaks counts what was in
//! flight as connection losses and reconnects to the next server of the list. Prints throughput,
//! latency percentiles, error replies and connection losses. Uses this crate's jute codec;
//! nothing server-specific.
//!
//! `zk-bench --server 127.0.0.1:2181 --mix create|set|get|mixed --sessions 32 --payload 100 --duration 10 [--inflight 32]`

use anyhow::{anyhow, bail, Context};
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zk::proto::*;

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
enum Mix {
    /// 100% create of new persistent znodes.
    Create,
    /// 100% setData on one znode per session.
    Set,
    /// 100% getData of one znode per session.
    Get,
    /// 90% getData / 10% setData.
    Mixed,
}

#[derive(Parser, Debug)]
#[command(name = "zk-bench", about = "Load generator for ZooKeeper-compatible servers")]
struct Args {
    /// host:port of the server; a comma-separated list spreads the sessions over the members
    /// of an ensemble round-robin.
    #[arg(long, default_value = "127.0.0.1:2181")]
    server: String,
    #[arg(long, value_enum, default_value = "mixed")]
    mix: Mix,
    /// Concurrent sessions (one connection each).
    #[arg(long, default_value_t = 32)]
    sessions: usize,
    /// Payload size in bytes for create/setData.
    #[arg(long, default_value_t = 100)]
    payload: usize,
    /// Measured run time in seconds (after a 1 s warm-up).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Parent znode for the benchmark's nodes (created if missing).
    #[arg(long, default_value = "/zk-bench")]
    root: String,
    /// Requests outstanding per session: 1 is the closed loop; more pipelines them.
    #[arg(long, default_value_t = 1)]
    inflight: usize,
}

struct Client {
    stream: TcpStream,
    xid: i32,
    buf: Vec<u8>,
}

impl Client {
    async fn connect(addr: &str) -> anyhow::Result<Client> {
        let mut stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let mut w = Writer::framed();
        ConnectRequest { protocol_version: 0, last_zxid_seen: 0, timeout: 30_000, session_id: 0, passwd: vec![0; 16], read_only: Some(false) }.write(&mut w);
        stream.write_all(&w.finish_frame()).await?;
        let mut c = Client { stream, xid: 0, buf: Vec::new() };
        c.read_frame().await?;
        let resp = ConnectResponse::read(&mut Reader::new(&c.buf)).map_err(|e| anyhow!("bad connect response: {e}"))?;
        if resp.timeout <= 0 {
            bail!("server refused the session");
        }
        Ok(c)
    }

    async fn read_frame(&mut self) -> anyhow::Result<()> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).await?;
        let n = i32::from_be_bytes(len);
        if !(0..=64 << 20).contains(&n) {
            bail!("bad frame length {n}");
        }
        self.buf.resize(n as usize, 0);
        self.stream.read_exact(&mut self.buf).await?;
        Ok(())
    }

    /// Sends one request and waits for its reply; returns the error code.
    async fn call(&mut self, op: OpCode, req: Request) -> anyhow::Result<i32> {
        self.xid += 1;
        let frame = RequestFrame { xid: self.xid, op, req }.to_frame();
        self.stream.write_all(&frame).await?;
        loop {
            self.read_frame().await?;
            let h = ReplyHeader::read(&mut Reader::new(&self.buf)).map_err(|e| anyhow!("bad reply: {e}"))?;
            if h.xid == self.xid {
                return Ok(h.err);
            }
        }
    }
}

fn create(path: String, data: Vec<u8>) -> Request {
    Request::Create(CreateRequest { path, data: Some(data), acl: Acl::world_all(), flags: 0, ttl: None })
}

struct Outcome {
    hist: Histogram<u64>,
    ops: u64,
    errors: u64,
    /// Requests whose connection broke before their reply (ZooKeeper's ConnectionLoss).
    lost: u64,
}

/// The request a session sends as its `n`th.
fn nth_request(mix: Mix, own: &str, n: u64, payload: &[u8]) -> (OpCode, Request) {
    match mix {
        Mix::Create => (OpCode::Create, create(format!("{own}-{n}"), payload.to_vec())),
        Mix::Set => (OpCode::SetData, Request::SetData { path: own.to_string(), data: Some(payload.to_vec()), version: -1 }),
        Mix::Get => (OpCode::GetData, Request::GetData { path: own.to_string(), watch: false }),
        Mix::Mixed => {
            if n % 10 == 0 {
                (OpCode::SetData, Request::SetData { path: own.to_string(), data: Some(payload.to_vec()), version: -1 })
            } else {
                (OpCode::GetData, Request::GetData { path: own.to_string(), watch: false })
            }
        }
    }
}

/// Creates the session's own znode (every mix but create works on it).
async fn own_node(c: &mut Client, args: &Args, own: &str, payload: &[u8]) -> anyhow::Result<()> {
    if args.mix != Mix::Create {
        let e = c.call(OpCode::Create, create(own.to_string(), payload.to_vec())).await?;
        if e != 0 && e != ErrorCode::NodeExists.code() {
            bail!("creating {own}: error {e}");
        }
    }
    Ok(())
}

/// A pipelined session: `--inflight` requests outstanding; replies come back in order (as
/// ZooKeeper answers a session's requests), so a reader task pairs each with the oldest one
/// sent. A broken connection loses what was in flight; the session reconnects and goes on.
async fn pipelined(args: &Args, i: usize, run_id: u64, warmup_end: Instant, end: Instant) -> anyhow::Result<Outcome> {
    use std::sync::Arc;
    use tokio::sync::{mpsc, Semaphore};
    let servers: Vec<String> = args.server.split(',').map(str::to_string).collect();
    let payload = vec![b'x'; args.payload];
    let own = format!("{}/r{run_id}-s{i}", args.root);
    let mut out = Outcome { hist: Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?, ops: 0, errors: 0, lost: 0 };
    let (mut n, mut k) = (0u64, i);
    let mut first = true;
    while Instant::now() < end {
        let addr = &servers[k % servers.len()];
        k += 1;
        let mut c = match Client::connect(addr).await {
            Ok(c) => c,
            // Refused while the group elects: the losses were counted when the old connection
            // broke; try the next member.
            Err(_) if !first => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        if first {
            own_node(&mut c, args, &own, &payload).await?;
            first = false;
        }
        let (mut rd, mut wr) = c.stream.into_split();
        let window = Arc::new(Semaphore::new(args.inflight));
        let (tx, mut rx) = mpsc::unbounded_channel::<(i32, Instant)>();
        let w2 = window.clone();
        // Reader: for each request sent, its reply; returns (latencies, errors, ok, lost).
        let reader = tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let (mut ops, mut errors) = (0u64, 0u64);
            let mut buf = Vec::new();
            while let Some((xid, t)) = rx.recv().await {
                let got = async {
                    let mut len = [0u8; 4];
                    rd.read_exact(&mut len).await?;
                    let n = i32::from_be_bytes(len);
                    if !(0..=64 << 20).contains(&n) {
                        bail!("bad frame length {n}");
                    }
                    buf.resize(n as usize, 0);
                    rd.read_exact(&mut buf).await?;
                    let h = ReplyHeader::read(&mut Reader::new(&buf)).map_err(|e| anyhow!("bad reply: {e}"))?;
                    if h.xid != xid {
                        bail!("reply {} out of order (expected {xid})", h.xid);
                    }
                    Ok(h.err)
                }
                .await;
                match got {
                    Ok(err) => {
                        if t >= warmup_end {
                            let _ = hist.record(t.elapsed().as_micros().max(1) as u64);
                            ops += 1;
                            if err != 0 {
                                errors += 1;
                            }
                        }
                        w2.add_permits(1);
                    }
                    Err(_) => {
                        // This one and everything still queued were lost with the connection.
                        let mut lost = u64::from(t >= warmup_end);
                        rx.close();
                        while let Some((_, t)) = rx.recv().await {
                            lost += u64::from(t >= warmup_end);
                        }
                        w2.close();
                        return anyhow::Ok((hist, ops, errors, lost));
                    }
                }
            }
            anyhow::Ok((hist, ops, errors, 0))
        });
        let mut xid = c.xid;
        loop {
            if Instant::now() >= end {
                break;
            }
            let Ok(permit) = window.acquire().await else { break };
            permit.forget();
            n += 1;
            xid += 1;
            let (op, req) = nth_request(args.mix, &own, n, &payload);
            let frame = RequestFrame { xid, op, req }.to_frame();
            if tx.send((xid, Instant::now())).is_err() {
                break;
            }
            if wr.write_all(&frame).await.is_err() {
                break;
            }
        }
        drop(tx);
        let (hist, ops, errors, lost) = reader.await??;
        out.hist.add(&hist)?;
        out.ops += ops;
        out.errors += errors;
        out.lost += lost;
        if lost == 0 {
            // The run ended with the connection whole: close the session.
            let frame = RequestFrame { xid: xid + 1, op: OpCode::CloseSession, req: Request::CloseSession }.to_frame();
            let _ = wr.write_all(&frame).await;
            break;
        }
    }
    Ok(out)
}

async fn session(args: &Args, i: usize, run_id: u64, warmup_end: Instant, end: Instant) -> anyhow::Result<Outcome> {
    if args.inflight > 1 {
        return pipelined(args, i, run_id, warmup_end, end).await;
    }
    let servers: Vec<&str> = args.server.split(',').collect();
    let mut c = Client::connect(servers[i % servers.len()]).await?;
    let payload = vec![b'x'; args.payload];
    let own = format!("{}/r{run_id}-s{i}", args.root);
    own_node(&mut c, args, &own, &payload).await?;
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut ops, mut errors, mut n) = (0u64, 0u64, 0u64);
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        n += 1;
        let (op, req) = nth_request(args.mix, &own, n, &payload);
        let t = Instant::now();
        let err = c.call(op, req).await?;
        if t >= warmup_end {
            let _ = hist.record(t.elapsed().as_micros().max(1) as u64);
            ops += 1;
            if err != 0 {
                errors += 1;
            }
        }
    }
    let _ = c.call(OpCode::CloseSession, Request::CloseSession).await;
    Ok(Outcome { hist, ops, errors, lost: 0 })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.sessions == 0 || args.duration == 0 || args.inflight == 0 {
        bail!("--sessions, --duration and --inflight must be positive");
    }
    if !args.root.starts_with('/') || args.root.len() < 2 {
        bail!("--root must be an absolute path below /");
    }
    let mut setup = Client::connect(args.server.split(',').next().unwrap_or_default()).await?;
    let e = setup.call(OpCode::Create, create(args.root.clone(), Vec::new())).await?;
    if e != 0 && e != ErrorCode::NodeExists.code() {
        bail!("creating {}: error {e}", args.root);
    }
    let run_id = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as u64 % 1_000_000_000;
    let start = Instant::now() + Duration::from_millis(500);
    let warmup_end = start + Duration::from_secs(1);
    let end = warmup_end + Duration::from_secs(args.duration);
    let args = std::sync::Arc::new(args);
    let mut tasks = Vec::new();
    for i in 0..args.sessions {
        let a = args.clone();
        tasks.push(tokio::spawn(async move { session(&a, i, run_id, warmup_end, end).await }));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut ops, mut errors, mut lost) = (0u64, 0u64, 0u64);
    for t in tasks {
        let o = t.await??;
        hist.add(&o.hist)?;
        ops += o.ops;
        errors += o.errors;
        lost += o.lost;
    }
    let secs = args.duration as f64;
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "server={} mix={:?} sessions={} inflight={} payload={}B duration={}s",
        args.server,
        args.mix,
        args.sessions,
        args.inflight,
        args.payload,
        args.duration
    );
    println!(
        "ops={} ops/s={:.0} p50={:.3}ms p99={:.3}ms p99.9={:.3}ms max={:.3}ms errors={} connection_loss={}",
        ops,
        ops as f64 / secs,
        ms(0.5),
        ms(0.99),
        ms(0.999),
        hist.max() as f64 / 1000.0,
        errors,
        lost
    );
    Ok(())
}
