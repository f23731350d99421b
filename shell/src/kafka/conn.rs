//! One connection to one broker with the API versions negotiated when it opens: the
//! framing, timeouts and frame bounds are `kafka_wire::Conn` (the broker's fetchers use it
//! too); this adds ApiVersions, version choice and the tools' error wording.
//!
//! The tools sit on `client::Client`, which routes requests to connections like this one.

use std::collections::HashMap;
use std::time::Duration;

use kafka_protocol::messages::ApiVersionsRequest;
use kafka_protocol::protocol::{Message, Request, StrBytes};
use kafka_wire::WireError;

use super::error::KafkaError;

pub use kafka_wire::conn::api_name;

pub struct Conn {
    wire: kafka_wire::Conn,
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
        let wire = kafka_wire::Conn::connect(addr, client_id, timeout).await.map_err(|e| match e {
            WireError::Connect { addr, reason } => KafkaError::Connect(addr, reason),
            other => KafkaError::Connect(addr.to_string(), other.to_string()),
        })?;
        let mut c = Conn { wire, addr: addr.to_string(), versions: HashMap::new(), api_versions_error: 0, timeout };
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
        self.call_within::<R>(req, version, timeout).await
    }

    /// Like `call`, with a longer deadline (long-polling fetches).
    pub async fn call_with_timeout<R: Request>(&mut self, req: &R, cap: i16, extra: Duration) -> Result<R::Response, KafkaError> {
        let v = self.version_for::<R>(cap)?;
        let timeout = self.timeout + extra;
        self.call_within::<R>(req, v, timeout).await
    }

    /// Writes `req` and does not wait (Produce with acks=0 gets no response).
    pub async fn send_no_response<R: Request>(&mut self, req: &R, version: i16) -> Result<(), KafkaError> {
        let r = self.wire.send_only(req, version).await;
        r.map_err(|e| self.error::<R>(e))
    }

    async fn call_within<R: Request>(&mut self, req: &R, version: i16, timeout: Duration) -> Result<R::Response, KafkaError> {
        let r = self.wire.call(req, version, timeout).await;
        r.map_err(|e| self.error::<R>(e))
    }

    /// The tools' wording for a connection failure.
    fn error<R: Request>(&self, e: WireError) -> KafkaError {
        match e {
            WireError::Timeout(t) => KafkaError::Timeout(format!("{} to {} got no response within {} ms", api_name(R::KEY), self.addr, t.as_millis())),
            WireError::Io(e) => KafkaError::Io(self.addr.clone(), e.to_string()),
            WireError::Connect { addr, reason } => KafkaError::Connect(addr, reason),
            WireError::Protocol(m) => KafkaError::Protocol(m),
        }
    }
}

/// Keeps the `Message` trait in scope for `R::VERSIONS`.
#[allow(dead_code)]
fn _versions<M: Message>() -> i16 {
    M::VERSIONS.max
}
