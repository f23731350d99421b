//! One outgoing connection to a Kafka broker: size-prefixed frames, one request in flight,
//! the `kafka-protocol` codec for headers and bodies, every call bounded by a timeout and
//! every response frame bounded in size before anything is allocated for it.
//!
//! Used by the broker (follower fetchers, OffsetsForLeaderEpoch, controlled shutdown) and
//! by the tools (`shell::kafka::conn` adds version negotiation on top).

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Most a response frame may be (a fetch answer is bounded by the request's max_bytes).
pub const MAX_RESPONSE: usize = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("protocol: {0}")]
    Protocol(String),
}

/// Kafka's name for an API key (`Metadata`, `Fetch`, ...), or `UNKNOWN(n)`.
pub fn api_name(key: i16) -> String {
    match kafka_protocol::messages::ApiKey::try_from(key) {
        Ok(k) => format!("{k:?}"),
        Err(_) => format!("UNKNOWN({key})"),
    }
}

pub struct Conn {
    stream: TcpStream,
    next_corr: i32,
    client_id: String,
    pub addr: String,
}

impl Conn {
    /// Connects within `timeout`, with Nagle off.
    pub async fn connect(addr: &str, client_id: &str, timeout: Duration) -> Result<Conn, WireError> {
        let fail = |reason: String| WireError::Connect { addr: addr.to_string(), reason };
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(fail(e.to_string())),
            Err(_) => return Err(fail(format!("no answer within {} ms", timeout.as_millis()))),
        };
        let _ = stream.set_nodelay(true);
        Ok(Conn { stream, next_corr: 1, client_id: client_id.to_string(), addr: addr.to_string() })
    }

    /// The next correlation id (for frames encoded by hand).
    pub fn next_correlation(&mut self) -> i32 {
        let corr = self.next_corr;
        self.next_corr = self.next_corr.wrapping_add(1);
        corr
    }

    /// The request frame (length, header, body) and the correlation id it carries.
    pub fn frame<R: Request>(&mut self, req: &R, version: i16) -> Result<(i32, BytesMut), WireError> {
        let corr = self.next_correlation();
        let mut header = RequestHeader::default();
        header.request_api_key = R::KEY;
        header.request_api_version = version;
        header.correlation_id = corr;
        header.client_id = Some(StrBytes::from_string(self.client_id.clone()));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        let enc = |e: anyhow::Error| WireError::Protocol(format!("cannot encode {} v{version}: {e}", api_name(R::KEY)));
        header.encode(&mut buf, R::header_version(version)).map_err(enc)?;
        req.encode(&mut buf, version).map_err(enc)?;
        let len = (buf.len() - 4) as i32;
        buf[0..4].copy_from_slice(&len.to_be_bytes());
        Ok((corr, buf))
    }

    /// Sends `req` at `version` and decodes its response, all within `timeout`.
    pub async fn call<R: Request>(&mut self, req: &R, version: i16, timeout: Duration) -> Result<R::Response, WireError> {
        let (corr, frame) = self.frame(req, version)?;
        let mut buf = self.round_trip(frame.freeze(), timeout).await?;
        let dec = |e: anyhow::Error| WireError::Protocol(format!("cannot decode {} v{version} response: {e}", api_name(R::KEY)));
        let rh = ResponseHeader::decode(&mut buf, R::Response::header_version(version)).map_err(dec)?;
        if rh.correlation_id != corr {
            return Err(WireError::Protocol(format!("correlation id {} where {corr} was expected", rh.correlation_id)));
        }
        R::Response::decode(&mut buf, version).map_err(dec)
    }

    /// Writes `req` and reads nothing (Produce with acks=0 gets no response).
    pub async fn send_only<R: Request>(&mut self, req: &R, version: i16) -> Result<(), WireError> {
        let (_, frame) = self.frame(req, version)?;
        self.stream.write_all(&frame).await?;
        Ok(())
    }

    /// Writes a whole frame and reads one whole response frame (without its length).
    pub async fn round_trip(&mut self, frame: Bytes, timeout: Duration) -> Result<Bytes, WireError> {
        let io = async {
            self.stream.write_all(&frame).await?;
            let n = self.stream.read_i32().await?;
            if n < 4 || n as usize > MAX_RESPONSE {
                return Err(WireError::Protocol(format!("response frame of {n} bytes from {}", self.addr)));
            }
            let mut buf = BytesMut::zeroed(n as usize);
            self.stream.read_exact(&mut buf).await?;
            Ok(buf.freeze())
        };
        tokio::time::timeout(timeout, io).await.map_err(|_| WireError::Timeout(timeout))?
    }
}

/// Reads the correlation id off a raw response frame (for hand-encoded APIs).
pub fn split_correlation(mut frame: Bytes) -> Option<(i32, Bytes)> {
    if frame.len() < 4 {
        return None;
    }
    let corr = frame.get_i32();
    Some((corr, frame))
}
