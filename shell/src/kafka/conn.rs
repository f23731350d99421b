//! One connection to one broker: size-prefixed frames, one request in flight, versions
//! negotiated with ApiVersions when the connection opens.
//!
//! The tools sit on `client::Client`, which routes requests to connections like this one.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiVersionsRequest, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Message, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::error::KafkaError;

/// Largest response frame we accept (fetches are bounded well below this).
const MAX_FRAME: usize = 256 * 1024 * 1024;

pub struct Conn {
    stream: TcpStream,
    next_corr: i32,
    client_id: String,
    pub addr: String,
    /// api key -> (min, max) as the broker reported them.
    pub versions: HashMap<i16, (i16, i16)>,
    /// ApiVersions error code (0 normally).
    pub api_versions_error: i16,
    timeout: Duration,
}

impl Conn {
    /// Connects and asks for the broker's API versions, all within `timeout`.
    pub async fn connect(addr: &str, client_id: &str, timeout: Duration) -> Result<Conn, KafkaError> {
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(KafkaError::Connect(addr.to_string(), e.to_string())),
            Err(_) => return Err(KafkaError::Connect(addr.to_string(), format!("no answer within {} ms", timeout.as_millis()))),
        };
        let _ = stream.set_nodelay(true);
        let mut c = Conn {
            stream,
            next_corr: 1,
            client_id: client_id.to_string(),
            addr: addr.to_string(),
            versions: HashMap::new(),
            api_versions_error: 0,
            timeout,
        };
        let mut req = ApiVersionsRequest::default();
        req.client_software_name = StrBytes::from_static_str("kafka-tools-rs");
        req.client_software_version = StrBytes::from_static_str("2.5.0");
        // v2: understood by every broker since Kafka 2.0 and not flexible.
        let resp = c.call(&req, 2).await?;
        c.api_versions_error = resp.error_code;
        for k in resp.api_keys {
            c.versions.insert(k.api_key, (k.min_version, k.max_version));
        }
        Ok(c)
    }

    /// The version to use for `R`: the highest both sides and `cap` allow.
    pub fn version_for<R: Request>(&self, cap: i16) -> Result<i16, KafkaError> {
        let name = api_name(R::KEY);
        let Some(&(bmin, bmax)) = self.versions.get(&R::KEY) else {
            return Err(KafkaError::Unsupported(format!("The broker at {} does not support {name}", self.addr)));
        };
        let v = bmax.min(cap).min(R::VERSIONS.max);
        if v < bmin.max(R::VERSIONS.min) {
            return Err(KafkaError::Unsupported(format!(
                "The broker at {} supports {name} versions {bmin} to {bmax}; this client needs {} to {}",
                self.addr,
                R::VERSIONS.min,
                cap.min(R::VERSIONS.max)
            )));
        }
        Ok(v)
    }

    /// Sends `req` at the negotiated version (at most `cap`) and waits for its response.
    pub async fn send<R: Request>(&mut self, req: &R, cap: i16) -> Result<R::Response, KafkaError> {
        let v = self.version_for::<R>(cap)?;
        self.call(req, v).await
    }

    /// Sends `req` at exactly `version`.
    pub async fn call<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response, KafkaError> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.call_inner(req, version)).await {
            Ok(r) => r,
            Err(_) => Err(KafkaError::Timeout(format!("{} to {} got no response within {} ms", api_name(R::KEY), self.addr, timeout.as_millis()))),
        }
    }

    /// Like `call`, with a longer deadline (long-polling fetches).
    pub async fn call_with_timeout<R: Request>(&mut self, req: &R, cap: i16, extra: Duration) -> Result<R::Response, KafkaError> {
        let v = self.version_for::<R>(cap)?;
        let timeout = self.timeout + extra;
        match tokio::time::timeout(timeout, self.call_inner(req, v)).await {
            Ok(r) => r,
            Err(_) => Err(KafkaError::Timeout(format!("{} to {} got no response within {} ms", api_name(R::KEY), self.addr, timeout.as_millis()))),
        }
    }

    /// Writes `req` and does not wait (Produce with acks=0 gets no response).
    pub async fn send_no_response<R: Request>(&mut self, req: &R, version: i16) -> Result<(), KafkaError> {
        let (_, buf) = self.frame(req, version)?;
        self.stream.write_all(&buf).await.map_err(|e| KafkaError::Io(self.addr.clone(), e.to_string()))
    }

    /// The request frame (length, header, body) and the correlation id it carries.
    fn frame<R: Request>(&mut self, req: &R, version: i16) -> Result<(i32, BytesMut), KafkaError> {
        let corr = self.next_corr;
        self.next_corr = self.next_corr.wrapping_add(1);
        let mut header = RequestHeader::default();
        header.request_api_key = R::KEY;
        header.request_api_version = version;
        header.correlation_id = corr;
        header.client_id = Some(StrBytes::from_string(self.client_id.clone()));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        let enc = |e: anyhow::Error| KafkaError::Protocol(format!("cannot encode {}: {e}", api_name(R::KEY)));
        header.encode(&mut buf, R::header_version(version)).map_err(enc)?;
        req.encode(&mut buf, version).map_err(enc)?;
        let len = (buf.len() - 4) as i32;
        buf[0..4].copy_from_slice(&len.to_be_bytes());
        Ok((corr, buf))
    }

    async fn call_inner<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response, KafkaError> {
        let (corr, buf) = self.frame(req, version)?;
        let io = |e: std::io::Error| KafkaError::Io(self.addr.clone(), e.to_string());
        self.stream.write_all(&buf).await.map_err(io)?;
        let mut lenb = [0u8; 4];
        self.stream.read_exact(&mut lenb).await.map_err(|e| KafkaError::Io(self.addr.clone(), e.to_string()))?;
        let n = i32::from_be_bytes(lenb);
        if n < 4 || n as usize > MAX_FRAME {
            return Err(KafkaError::Protocol(format!("bad response frame length {n} from {}", self.addr)));
        }
        let mut body = vec![0u8; n as usize];
        self.stream.read_exact(&mut body).await.map_err(|e| KafkaError::Io(self.addr.clone(), e.to_string()))?;
        let mut bytes = Bytes::from(body);
        let dec = |e: anyhow::Error| KafkaError::Protocol(format!("cannot decode {} v{version} response: {e}", api_name(R::KEY)));
        let rh = ResponseHeader::decode(&mut bytes, R::Response::header_version(version)).map_err(dec)?;
        if rh.correlation_id != corr {
            return Err(KafkaError::Protocol(format!("correlation id {} does not match {corr}", rh.correlation_id)));
        }
        let resp = R::Response::decode(&mut bytes, version).map_err(dec)?;
        let _ = bytes.remaining();
        Ok(resp)
    }
}

/// Kafka's name for an API key, as kafka-broker-api-versions.sh prints it.
pub fn api_name(key: i16) -> String {
    match kafka_protocol::messages::ApiKey::try_from(key) {
        Ok(k) => format!("{k:?}"),
        Err(_) => format!("UNKNOWN({key})"),
    }
}

/// Keeps the `Message` trait in scope for `R::VERSIONS`.
#[allow(dead_code)]
fn _versions<M: Message>() -> i16 {
    M::VERSIONS.max
}
