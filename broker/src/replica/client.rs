//! A broker's outgoing Kafka connection to another broker (follower fetches,
//! OffsetsForLeaderEpoch, controlled shutdown): one request at a time, framed with the
//! `kafka-protocol` codec, every call bounded by a timeout.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("protocol: {0}")]
    Protocol(String),
}

pub struct BrokerConn {
    stream: TcpStream,
    next_corr: i32,
    client_id: String,
    pub addr: String,
}

/// Most a response may be (a fetch answer is bounded by the request's max_bytes).
const MAX_RESPONSE: usize = 256 << 20;

impl BrokerConn {
    pub async fn connect(addr: &str, client_id: &str, timeout: Duration) -> Result<BrokerConn, ClientError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr)).await.map_err(|_| ClientError::Timeout(timeout))??;
        let _ = stream.set_nodelay(true);
        Ok(BrokerConn { stream, next_corr: 1, client_id: client_id.to_string(), addr: addr.to_string() })
    }

    /// Sends `req` as `api` v`version` and decodes the answer.
    pub async fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, ClientError> {
        let corr = self.next_corr;
        self.next_corr = self.next_corr.wrapping_add(1);
        let mut header = RequestHeader::default();
        header.request_api_key = api as i16;
        header.request_api_version = version;
        header.correlation_id = corr;
        header.client_id = Some(StrBytes::from_string(self.client_id.clone()));
        let mut body = BytesMut::new();
        body.put_i32(0);
        header
            .encode(&mut body, api.request_header_version(version))
            .map_err(|e| ClientError::Protocol(format!("encoding {api:?} header: {e}")))?;
        req.encode(&mut body, version).map_err(|e| ClientError::Protocol(format!("encoding {api:?} v{version}: {e}")))?;
        let len = (body.len() - 4) as i32;
        body[..4].copy_from_slice(&len.to_be_bytes());
        let frame = self.round_trip(body.freeze(), timeout).await?;
        let mut buf = frame;
        let rh = ResponseHeader::decode(&mut buf, api.response_header_version(version))
            .map_err(|e| ClientError::Protocol(format!("decoding {api:?} response header: {e}")))?;
        if rh.correlation_id != corr {
            return Err(ClientError::Protocol(format!("correlation id {} where {corr} was expected", rh.correlation_id)));
        }
        Resp::decode(&mut buf, version).map_err(|e| ClientError::Protocol(format!("decoding {api:?} v{version} response: {e}")))
    }

    /// Writes a whole frame and reads one whole response frame (without its length).
    pub async fn round_trip(&mut self, frame: Bytes, timeout: Duration) -> Result<Bytes, ClientError> {
        let io = async {
            self.stream.write_all(&frame).await?;
            let n = self.stream.read_i32().await?;
            if n < 4 || n as usize > MAX_RESPONSE {
                return Err(ClientError::Protocol(format!("response of {n} bytes")));
            }
            let mut buf = BytesMut::zeroed(n as usize);
            self.stream.read_exact(&mut buf).await?;
            Ok(buf.freeze())
        };
        tokio::time::timeout(timeout, io).await.map_err(|_| ClientError::Timeout(timeout))?
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
