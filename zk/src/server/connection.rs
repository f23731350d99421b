//! One client connection: cuts the TCP byte stream into frames (length checked against
//! `jute.maxbuffer` before anything is allocated), answers four-letter words, decodes the
//! connect handshake and requests, and passes them, decoded once, to the core. A writer task sends what the
//! core queues for this connection, batching frames into as few writes as possible.
//!
//! Like ZooKeeper (which stops reading a connection while its session is being set up),
//! nothing after the connect request is read until the core has queued the connect response:
//! requests pipelined in the same TCP write as the handshake are answered after it, in order.
//!
//! Bad input (oversized or negative length, undecodable frame, unknown opcode in a place
//! where it cannot be answered) closes this connection with a log line naming the client;
//! nothing else is affected. A frame's buffer grows with the bytes that actually arrive, so a
//! length prefix alone (even one within `jute.maxbuffer`) allocates nothing up front.
//!
//! The frames queued for the client are counted ([`super::outbox`]): while more than
//! [`outbox::PAUSE_READING_AT`] bytes wait for a client that reads slowly, no further request
//! is read from it; the core closes a connection whose backlog passes the outbox's limit.

use super::core::{CoreMsg, Out};
use super::fourlw;
use super::outbox::{self, OutRx};
use crate::ids::ConnId;
use crate::proto::{ConnectRequest, Reader, RequestError, RequestFrame};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Notify};

/// How long a client may take to send its connect request.
const CONNECT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

pub struct ConnCtx {
    pub id: ConnId,
    pub addr: SocketAddr,
    pub core: mpsc::UnboundedSender<CoreMsg>,
    pub max_frame: usize,
    pub four_letter_allowed: Arc<dyn Fn(&str) -> bool + Send + Sync>,
}

enum ReadError {
    Closed,
    Bad(String),
}

async fn read_frame<R: AsyncReadExt + Unpin>(rd: &mut R, len_bytes: [u8; 4], max: usize, buf: &mut Vec<u8>) -> Result<(), ReadError> {
    let len = i32::from_be_bytes(len_bytes);
    if len < 0 || len as usize > max {
        return Err(ReadError::Bad(format!("frame length {len} outside 0..={max} (jute.maxbuffer)")));
    }
    buf.clear();
    // Grow with what arrives rather than trusting the prefix: a client that announces a big
    // frame and sends nothing holds no memory for it.
    let len = len as usize;
    buf.reserve(len.min(64 * 1024));
    let got = rd.take(len as u64).read_to_end(buf).await.map_err(|_| ReadError::Closed)?;
    if got < len {
        return Err(ReadError::Closed);
    }
    Ok(())
}

pub async fn handle(stream: TcpStream, ctx: ConnCtx) {
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    let mut len = [0u8; 4];
    let first = tokio::time::timeout(CONNECT_DEADLINE, rd.read_exact(&mut len)).await;
    if !matches!(first, Ok(Ok(_))) {
        return;
    }
    if let Some(cmd) = fourlw::is_four_letter(&len) {
        let text = if cmd == "ruok" && (ctx.four_letter_allowed)(cmd) {
            "imok".to_string()
        } else {
            let (tx, rx) = oneshot::channel();
            if ctx.core.send(CoreMsg::FourLetter { cmd: cmd.to_string(), reply: tx }).is_err() {
                return;
            }
            rx.await.unwrap_or_default()
        };
        let _ = wr.write_all(text.as_bytes()).await;
        let _ = wr.shutdown().await;
        return;
    }
    let mut buf = Vec::with_capacity(1024);
    match tokio::time::timeout(CONNECT_DEADLINE, read_frame(&mut rd, len, ctx.max_frame, &mut buf)).await {
        Ok(Ok(())) => {}
        Ok(Err(ReadError::Bad(why))) => {
            tracing::warn!(client = %ctx.addr, "closing connection: {why}");
            return;
        }
        _ => return,
    }
    let req = match ConnectRequest::read(&mut Reader::new(&buf)) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(client = %ctx.addr, "closing connection: malformed connect request: {e}");
            return;
        }
    };
    let (out_tx, out_rx) = outbox::channel();
    let closer = Arc::new(Notify::new());
    let writer = tokio::spawn(write_loop(wr, out_rx, closer.clone(), ctx.addr));
    let (answered_tx, answered_rx) = oneshot::channel();
    let backlog = out_tx.clone();
    if ctx.core.send(CoreMsg::Connect { conn: ctx.id, addr: ctx.addr, req, out: out_tx, closer: closer.clone(), answered: answered_tx }).is_err() {
        return;
    }
    // Read nothing more until the connect response is queued (or the core refused the
    // session, dropping `answered`): whatever the client pipelined behind its handshake is
    // answered after the handshake.
    let answered = tokio::select! {
        r = answered_rx => r.is_ok(),
        _ = closer.notified() => false,
    };
    if !answered {
        let _ = ctx.core.send(CoreMsg::Disconnected { conn: ctx.id });
        let _ = writer.await;
        return;
    }
    'frames: loop {
        // A client that leaves its replies unread is not read from until they drain.
        while backlog.queued() > outbox::PAUSE_READING_AT {
            tokio::select! {
                _ = backlog.drained() => {}
                _ = closer.notified() => break 'frames,
            }
        }
        let got = tokio::select! {
            r = rd.read_exact(&mut len) => r.is_ok(),
            _ = closer.notified() => false,
        };
        if !got {
            break;
        }
        let received = tokio::time::Instant::now();
        let frame = tokio::select! {
            r = read_frame(&mut rd, len, ctx.max_frame, &mut buf) => r,
            _ = closer.notified() => Err(ReadError::Closed),
        };
        match frame {
            Ok(()) => {}
            Err(ReadError::Closed) => break,
            Err(ReadError::Bad(why)) => {
                tracing::warn!(client = %ctx.addr, "closing connection: {why}");
                break;
            }
        }
        let msg = match RequestFrame::read(&buf) {
            Ok(frame) => CoreMsg::Request { conn: ctx.id, frame, received },
            Err(RequestError::Unsupported { xid, op }) => {
                tracing::info!(client = %ctx.addr, op, "unsupported opcode; answering Unimplemented");
                CoreMsg::Unsupported { conn: ctx.id, xid }
            }
            Err(RequestError::Decode(e)) => {
                tracing::warn!(client = %ctx.addr, "closing connection: malformed request: {e}");
                break;
            }
        };
        if ctx.core.send(msg).is_err() {
            break;
        }
    }
    let _ = ctx.core.send(CoreMsg::Disconnected { conn: ctx.id });
    let _ = writer.await;
}

async fn write_loop(mut wr: tokio::net::tcp::OwnedWriteHalf, mut rx: OutRx, closer: Arc<Notify>, client: SocketAddr) {
    let mut batch: Vec<u8> = Vec::with_capacity(64 * 1024);
    'outer: while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut close = false;
        while let Some(o) = next.take() {
            match o {
                Out::Frame(f) => batch.extend_from_slice(&f),
                Out::Close => {
                    close = true;
                    break;
                }
            }
            if batch.len() < 256 * 1024 {
                next = rx.try_recv();
            }
        }
        if !batch.is_empty() {
            // A client that does not read blocks this write: it is given up when the
            // connection is aborted, or once closing has waited long enough (outbox).
            let wrote = tokio::select! {
                r = wr.write_all(&batch) => r.is_ok(),
                _ = rx.stopped() => {
                    tracing::warn!(client = %client, unsent = batch.len(), "closing connection: the client is not reading its replies");
                    // Reset rather than leave the kernel holding unsendable bytes for it.
                    let _ = wr.as_ref().set_zero_linger();
                    closer.notify_one();
                    return;
                }
            };
            if !wrote {
                break 'outer;
            }
            rx.written(batch.len());
            batch.clear();
        }
        if close {
            break;
        }
    }
    let _ = wr.shutdown().await;
    closer.notify_one();
}
