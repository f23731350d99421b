//! The broker's ZooKeeper session: a small jute client over one TCP connection.
//!
//! Sits under `zkdata` (Kafka's znode layout) and `controller`. Why not the `zookeeper-client`
//! crate: Kafka 2.5 creates its persistent paths with *null* data (jute buffer length -1,
//! which zkCli and our shell print as `null`) and uses opcode create (1); `zookeeper-client`
//! 0.11 can only send byte slices (length >= 0) and uses create2, so the znode dump would
//! differ from a stock broker's. It encodes and decodes with the `jute` crate
//! the server uses too; independent clients (kazoo, zkCli, the C client, stock Kafka
//! brokers) check that codec against our server from outside.
//!
//! One task owns the socket. Requests go through a channel and are answered in order;
//! pings keep the session alive; watch notifications and session changes are broadcast as
//! [`ZkEvent`]s. A lost connection is re-established with the same session while it can
//! be; an expired session produces [`ZkEvent::NewSession`] so owners re-register their
//! ephemeral znodes and re-set their watches.

pub mod jute;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot};

use ::jute::{OpCode, Request, Response};

pub use self::jute::{Op, OpResult, Stat};
use self::jute::code;

/// Largest reply we accept (jute.maxbuffer default is 1 MB; listings can be larger).
const MAX_REPLY: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ZkError {
    #[error("ZooKeeper error code {0}")]
    Code(i32),
    #[error("ZooKeeper client closed")]
    Closed,
    #[error("malformed ZooKeeper reply")]
    Decode(#[from] self::jute::DecodeError),
}

impl ZkError {
    pub fn code(&self) -> i32 {
        match self {
            ZkError::Code(c) => *c,
            _ => code::CONNECTION_LOSS,
        }
    }
}

pub type ZkResult<T> = Result<T, ZkError>;

/// What the session tells its owners.
#[derive(Debug, Clone)]
pub enum ZkEvent {
    /// A watch fired: type (1 created, 2 deleted, 3 data changed, 4 children changed) and path
    /// relative to the chroot.
    Watch { typ: i32, path: String },
    /// The connection came back on the same session (watches may have been missed).
    Reconnected,
    /// The old session expired and a new one was created: ephemerals and watches are gone.
    NewSession,
}

struct Cmd {
    op: i32,
    body: Bytes,
    reply: oneshot::Sender<ZkResult<Bytes>>,
}

#[derive(Clone)]
pub struct ZkClient {
    tx: mpsc::Sender<Cmd>,
    chroot: String,
    events: broadcast::Sender<ZkEvent>,
    session: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

/// Splits `host:port,host:port/chroot` into the host list and the chroot ("" for none).
pub fn split_connect(connect: &str) -> (Vec<String>, String) {
    let (hosts, chroot) = match connect.find('/') {
        Some(i) => (&connect[..i], connect[i..].trim_end_matches('/').to_string()),
        None => (connect, String::new()),
    };
    let hosts = hosts.split(',').map(|h| h.trim().to_string()).filter(|h| !h.is_empty()).collect();
    (hosts, chroot)
}

impl ZkClient {
    /// Connects (waiting at most `connect_timeout` for the first session) to `hosts` with
    /// paths prefixed by `chroot`.
    pub async fn connect(
        hosts: Vec<String>,
        chroot: String,
        session_timeout: Duration,
        connect_timeout: Duration,
    ) -> anyhow::Result<ZkClient> {
        let (tx, rx) = mpsc::channel(1024);
        let (events, _) = broadcast::channel(4096);
        let session = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
        let mut conn = Conn {
            hosts,
            next_host: 0,
            session_id: 0,
            passwd: vec![0u8; 16],
            timeout_ms: session_timeout.as_millis() as i32,
            last_zxid: 0,
            events: events.clone(),
            session: session.clone(),
            chroot: chroot.clone(),
        };
        let stream = tokio::time::timeout(connect_timeout, conn.establish())
            .await
            .map_err(|_| anyhow::anyhow!("Timed out waiting for connection to ZooKeeper ({:?})", connect_timeout))??;
        tokio::spawn(conn.run(stream, rx));
        Ok(ZkClient { tx, chroot, events, session })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ZkEvent> {
        self.events.subscribe()
    }

    pub fn session_id(&self) -> i64 {
        self.session.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Same session, other chroot (used to create the chroot path itself).
    pub fn with_chroot(&self, chroot: &str) -> ZkClient {
        ZkClient { chroot: chroot.to_string(), ..self.clone() }
    }

    fn full(&self, path: &str) -> String {
        if self.chroot.is_empty() {
            path.to_string()
        } else if path == "/" {
            self.chroot.clone()
        } else {
            format!("{}{}", self.chroot, path)
        }
    }

    /// Sends `req` as `op` and decodes its answer.
    async fn call(&self, op: OpCode, req: Request) -> ZkResult<Response> {
        let body = jute::body(op, &req);
        let b = self.call_raw(op, body).await?;
        Ok(jute::response(op, &b)?)
    }

    async fn call_raw(&self, op: OpCode, body: Bytes) -> ZkResult<Bytes> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Cmd { op: op as i32, body, reply }).await.map_err(|_| ZkError::Closed)?;
        rx.await.map_err(|_| ZkError::Code(code::CONNECTION_LOSS))?
    }

    pub async fn create(&self, path: &str, data: Option<&[u8]>, ephemeral: bool) -> ZkResult<()> {
        self.create_flags(path, data, i32::from(ephemeral)).await.map(|_| ())
    }

    /// Create with raw flags (1 ephemeral, 2 sequential); returns the created path (chroot-relative).
    pub async fn create_flags(&self, path: &str, data: Option<&[u8]>, flags: i32) -> ZkResult<String> {
        let req = jute::create(self.full(path), data.map(<[u8]>::to_vec), flags);
        let Response::Path(p) = self.call(OpCode::Create, req).await? else { return Err(unexpected()) };
        Ok(strip_chroot(&self.chroot, &p).unwrap_or(&p).to_string())
    }

    /// Creates `path`, ignoring NodeExists.
    pub async fn ensure(&self, path: &str) -> ZkResult<()> {
        match self.create(path, None, false).await {
            Ok(()) | Err(ZkError::Code(code::NODE_EXISTS)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Kafka's createRecursive: try the node, create the parents on NoNode, try again.
    pub async fn create_recursive(&self, path: &str, data: Option<&[u8]>) -> ZkResult<()> {
        match self.create(path, data, false).await {
            Err(ZkError::Code(code::NO_NODE)) => {
                if let Some(i) = path.rfind('/') {
                    if i > 0 {
                        Box::pin(self.create_recursive_parent(&path[..i])).await?;
                    }
                }
                self.create(path, data, false).await
            }
            r => r,
        }
    }

    async fn create_recursive_parent(&self, path: &str) -> ZkResult<()> {
        match self.create_recursive(path, None).await {
            Ok(()) | Err(ZkError::Code(code::NODE_EXISTS)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn delete(&self, path: &str, version: i32) -> ZkResult<()> {
        self.call(OpCode::Delete, Request::Delete { path: self.full(path), version }).await.map(|_| ())
    }

    pub async fn exists(&self, path: &str, watch: bool) -> ZkResult<Option<Stat>> {
        match self.call(OpCode::Exists, Request::Exists { path: self.full(path), watch }).await {
            Ok(Response::Stat(s)) => Ok(Some(s)),
            Ok(_) => Err(unexpected()),
            Err(ZkError::Code(code::NO_NODE)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Data and stat, or None when the node does not exist.
    pub async fn get_data(&self, path: &str, watch: bool) -> ZkResult<Option<(Option<Bytes>, Stat)>> {
        match self.call(OpCode::GetData, Request::GetData { path: self.full(path), watch }).await {
            Ok(Response::Data(data, stat)) => Ok(Some((data.map(Bytes::from), stat))),
            Ok(_) => Err(unexpected()),
            Err(ZkError::Code(code::NO_NODE)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn set_data(&self, path: &str, data: Option<&[u8]>, version: i32) -> ZkResult<Stat> {
        let req = Request::SetData { path: self.full(path), data: data.map(<[u8]>::to_vec), version };
        match self.call(OpCode::SetData, req).await? {
            Response::Stat(s) => Ok(s),
            _ => Err(unexpected()),
        }
    }

    /// Children (getChildren2, as Kafka 2.5 sends), or None when the node does not exist.
    pub async fn get_children(&self, path: &str, watch: bool) -> ZkResult<Option<Vec<String>>> {
        match self.call(OpCode::GetChildren2, Request::GetChildren { path: self.full(path), watch }).await {
            Ok(Response::Children2(children, _)) => Ok(Some(children)),
            Ok(_) => Err(unexpected()),
            Err(ZkError::Code(code::NO_NODE)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A multi; the per-op results say which op failed (others are rolled back).
    pub async fn multi(&self, ops: &[Op]) -> ZkResult<Vec<OpResult>> {
        // A failed multi's first failing code comes in the header (an Err here).
        match self.call(OpCode::Multi, jute::multi(ops, &self.chroot)).await? {
            Response::Multi(results) => Ok(jute::multi_results(results, &self.chroot)?),
            _ => Err(unexpected()),
        }
    }

    /// First error of a multi's results, if any.
    pub fn multi_error(results: &[OpResult]) -> Option<i32> {
        results.iter().find_map(|r| match r {
            OpResult::Error(c) if *c != code::OK && *c != code::RUNTIME_INCONSISTENCY => Some(*c),
            _ => None,
        })
    }

    /// Closes the session (ephemerals disappear at once).
    pub async fn close(&self) {
        let _ = tokio::time::timeout(Duration::from_secs(3), self.call_raw(OpCode::CloseSession, Bytes::new())).await;
    }
}

struct Conn {
    hosts: Vec<String>,
    next_host: usize,
    session_id: i64,
    passwd: Vec<u8>,
    timeout_ms: i32,
    last_zxid: i64,
    events: broadcast::Sender<ZkEvent>,
    session: std::sync::Arc<std::sync::atomic::AtomicI64>,
    chroot: String,
}

async fn read_frame(s: &mut TcpStream) -> std::io::Result<Bytes> {
    let n = s.read_i32().await?;
    if n < 0 || n as usize > MAX_REPLY {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "bad ZooKeeper frame length"));
    }
    let mut b = BytesMut::zeroed(n as usize);
    s.read_exact(&mut b).await?;
    Ok(b.freeze())
}

async fn write_frame(s: &mut TcpStream, body: &[u8]) -> std::io::Result<()> {
    let mut b = BytesMut::with_capacity(body.len() + 4);
    b.extend_from_slice(&(body.len() as i32).to_be_bytes());
    b.extend_from_slice(body);
    s.write_all(&b).await
}

impl Conn {
    /// Connects to some host and performs the handshake; retries forever (callers bound it).
    async fn establish(&mut self) -> anyhow::Result<TcpStream> {
        let mut backoff = Duration::from_millis(50);
        loop {
            if self.hosts.is_empty() {
                anyhow::bail!("zookeeper.connect names no host");
            }
            let host = self.hosts[self.next_host % self.hosts.len()].clone();
            self.next_host = self.next_host.wrapping_add(1);
            match self.handshake(&host).await {
                Ok(Some(s)) => return Ok(s),
                Ok(None) => {
                    // Session expired: start a new one right away.
                    tracing::warn!("ZooKeeper session 0x{:x} expired; creating a new session", self.session_id);
                    self.session_id = 0;
                    self.passwd = vec![0u8; 16];
                    continue;
                }
                Err(e) => {
                    tracing::debug!("ZooKeeper connection to {host} failed: {e}");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    /// Ok(None) means the server told us the session is expired.
    async fn handshake(&mut self, host: &str) -> anyhow::Result<Option<TcpStream>> {
        let mut s = tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(host)).await??;
        s.set_nodelay(true)?;
        write_frame(&mut s, &jute::connect(self.last_zxid, self.timeout_ms, self.session_id, &self.passwd)).await?;
        let b = tokio::time::timeout(Duration::from_secs(5), read_frame(&mut s)).await??;
        let answer = jute::connected(&b)?;
        let (timeout, sid, passwd) = (answer.timeout, answer.session_id, answer.passwd);
        if timeout <= 0 {
            return Ok(None);
        }
        let was = self.session_id;
        self.session_id = sid;
        self.passwd = passwd.to_vec();
        self.timeout_ms = timeout;
        self.session.store(sid, std::sync::atomic::Ordering::Relaxed);
        if was == 0 {
            tracing::info!("ZooKeeper session 0x{sid:x} established with {host} (timeout {timeout} ms)");
        } else {
            tracing::info!("ZooKeeper session 0x{sid:x} re-established with {host}");
        }
        Ok(Some(s))
    }

    async fn run(mut self, mut stream: TcpStream, mut rx: mpsc::Receiver<Cmd>) {
        let mut xid: i32 = 0;
        loop {
            let session_before = self.session_id;
            let outcome = self.serve(&mut stream, &mut rx, &mut xid).await;
            match outcome {
                Serve::Closed => return,
                Serve::Lost => {}
            }
            tracing::warn!("ZooKeeper connection lost; reconnecting");
            match self.establish().await {
                Ok(s) => stream = s,
                Err(e) => {
                    tracing::error!("ZooKeeper reconnect failed: {e}");
                    return;
                }
            }
            let ev = if self.session_id == session_before { ZkEvent::Reconnected } else { ZkEvent::NewSession };
            let _ = self.events.send(ev);
        }
    }

    async fn serve(&mut self, stream: &mut TcpStream, rx: &mut mpsc::Receiver<Cmd>, xid: &mut i32) -> Serve {
        let (mut rd, mut wr) = stream.split();
        let mut pending: VecDeque<(i32, oneshot::Sender<ZkResult<Bytes>>)> = VecDeque::new();
        let ping_every = Duration::from_millis((self.timeout_ms / 3).max(100) as u64);
        let read_timeout = Duration::from_millis((self.timeout_ms as u64 * 2 / 3).max(300));
        let mut last_recv = Instant::now();
        let mut ticker = tokio::time::interval(ping_every);
        let mut closing = false;
        let mut len_buf = [0u8; 4];
        let result = loop {
            tokio::select! {
                cmd = rx.recv(), if !closing => {
                    let Some(cmd) = cmd else { break Serve::Closed };
                    *xid = xid.wrapping_add(1).max(1);
                    let mut b = BytesMut::with_capacity(cmd.body.len() + 12);
                    b.extend_from_slice(&((cmd.body.len() + 8) as i32).to_be_bytes());
                    b.extend_from_slice(&xid.to_be_bytes());
                    b.extend_from_slice(&cmd.op.to_be_bytes());
                    b.extend_from_slice(&cmd.body);
                    if wr.write_all(&b).await.is_err() {
                        let _ = cmd.reply.send(Err(ZkError::Code(code::CONNECTION_LOSS)));
                        break Serve::Lost;
                    }
                    if cmd.op == OpCode::CloseSession as i32 {
                        closing = true;
                    }
                    pending.push_back((*xid, cmd.reply));
                }
                _ = ticker.tick() => {
                    if last_recv.elapsed() > read_timeout {
                        tracing::warn!("no reply from ZooKeeper in {:?}", read_timeout);
                        break Serve::Lost;
                    }
                    let mut b = BytesMut::with_capacity(12);
                    b.extend_from_slice(&8i32.to_be_bytes());
                    b.extend_from_slice(&jute::XID_PING.to_be_bytes());
                    b.extend_from_slice(&(OpCode::Ping as i32).to_be_bytes());
                    if wr.write_all(&b).await.is_err() {
                        break Serve::Lost;
                    }
                }
                r = rd.read_exact(&mut len_buf) => {
                    if r.is_err() {
                        if closing { break Serve::Closed; }
                        break Serve::Lost;
                    }
                    let n = i32::from_be_bytes(len_buf);
                    if n < 16 || n as usize > MAX_REPLY {
                        break Serve::Lost;
                    }
                    let mut body = BytesMut::zeroed(n as usize);
                    if rd.read_exact(&mut body).await.is_err() {
                        break Serve::Lost;
                    }
                    last_recv = Instant::now();
                    let mut body = body.freeze();
                    let rxid = body.get_i32();
                    let zxid = body.get_i64();
                    let err = body.get_i32();
                    if zxid > 0 {
                        self.last_zxid = self.last_zxid.max(zxid);
                    }
                    match rxid {
                        jute::XID_PING => {}
                        jute::XID_WATCH => {
                            if let Ok((typ, path)) = jute::watch_event(&body) {
                                if let Some(p) = strip_chroot(&self.chroot, &path) {
                                    let _ = self.events.send(ZkEvent::Watch { typ, path: p.to_string() });
                                }
                            }
                        }
                        _ => {
                            let Some((want, reply)) = pending.pop_front() else { continue };
                            if want != rxid {
                                tracing::error!("ZooKeeper reply xid {rxid} out of order (expected {want})");
                                let _ = reply.send(Err(ZkError::Code(code::CONNECTION_LOSS)));
                                break Serve::Lost;
                            }
                            let res = if err == code::OK { Ok(body) } else { Err(ZkError::Code(err)) };
                            let _ = reply.send(res);
                            if closing && pending.is_empty() {
                                break Serve::Closed;
                            }
                        }
                    }
                }
            }
        };
        for (_, reply) in pending.drain(..) {
            let _ = reply.send(Err(ZkError::Code(code::CONNECTION_LOSS)));
        }
        result
    }
}

/// An answer of the wrong shape for its request (a server bug, treated as a decode error).
fn unexpected() -> ZkError {
    ZkError::Decode(self::jute::DecodeError::Unknown { what: "response shape", value: 0 })
}

enum Serve {
    Closed,
    Lost,
}

/// Watch events carry the server path; strip the chroot. Paths outside it are dropped.
pub fn strip_chroot<'a>(chroot: &str, path: &'a str) -> Option<&'a str> {
    if chroot.is_empty() {
        return Some(path);
    }
    match path.strip_prefix(chroot) {
        Some("") => Some("/"),
        Some(rest) if rest.starts_with('/') => Some(rest),
        _ => None,
    }
}

impl ZkClient {
    pub fn chroot(&self) -> &str {
        &self.chroot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_string_with_chroot() {
        let (h, c) = split_connect("a:2181,b:2181/kafka/test");
        assert_eq!(h, vec!["a:2181", "b:2181"]);
        assert_eq!(c, "/kafka/test");
        let (h, c) = split_connect("localhost:2181");
        assert_eq!(h, vec!["localhost:2181"]);
        assert_eq!(c, "");
        assert_eq!(strip_chroot("/k", "/k/brokers"), Some("/brokers"));
        assert_eq!(strip_chroot("/k", "/kx"), None);
    }
}
