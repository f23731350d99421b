//! ControlledShutdown (API key 7, v1-v2): a broker about to stop asks the controller to move
//! its partition leadership away first. The `kafka-protocol` codec dropped this
//! inter-broker API with Kafka 4.0, so its small fixed layout is encoded here:
//!
//! ```text
//! request  (header v1: api_key i16, api_version i16, correlation_id i32, client_id string)
//!          broker_id i32 [v2: broker_epoch i64]
//! response (header v0: correlation_id i32)
//!          error_code i16, remaining_partitions [topic_name string, partition_index i32]
//! ```

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::broker::Broker;
use crate::controller::Command;
use crate::error_code::ErrorCode;
use crate::ids::BrokerId;

pub const API_KEY: i16 = 7;
pub const MIN_VERSION: i16 = 1;
pub const MAX_VERSION: i16 = 2;

pub struct Request {
    pub version: i16,
    pub correlation_id: i32,
    pub broker_id: i32,
}

fn get_string(b: &mut Bytes) -> Option<Option<String>> {
    if b.remaining() < 2 {
        return None;
    }
    let n = b.get_i16();
    if n < 0 {
        return Some(None);
    }
    if b.remaining() < n as usize {
        return None;
    }
    let s = b.split_to(n as usize);
    Some(Some(String::from_utf8_lossy(&s).into_owned()))
}

/// Parses a whole request frame (without its length prefix).
pub fn decode_request(mut frame: Bytes) -> Option<Request> {
    if frame.remaining() < 8 {
        return None;
    }
    let key = frame.get_i16();
    let version = frame.get_i16();
    let correlation_id = frame.get_i32();
    if key != API_KEY || !(MIN_VERSION..=MAX_VERSION).contains(&version) {
        return None;
    }
    get_string(&mut frame)?;
    if frame.remaining() < 4 {
        return None;
    }
    let broker_id = frame.get_i32();
    if version >= 2 {
        if frame.remaining() < 8 {
            return None;
        }
        frame.get_i64();
    }
    Some(Request { version, correlation_id, broker_id })
}

pub fn encode_request(correlation_id: i32, client_id: &str, broker_id: i32) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i32(0);
    b.put_i16(API_KEY);
    b.put_i16(1);
    b.put_i32(correlation_id);
    b.put_i16(client_id.len() as i16);
    b.put_slice(client_id.as_bytes());
    b.put_i32(broker_id);
    let len = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&len.to_be_bytes());
    b.freeze()
}

pub fn encode_response(correlation_id: i32, error: ErrorCode, remaining: &[(String, i32)]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i32(0);
    b.put_i32(correlation_id);
    b.put_i16(error.code());
    b.put_i32(remaining.len() as i32);
    for (t, p) in remaining {
        b.put_i16(t.len() as i16);
        b.put_slice(t.as_bytes());
        b.put_i32(*p);
    }
    let len = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&len.to_be_bytes());
    b.freeze()
}

/// Parses a response body (after the correlation id).
pub fn decode_response(mut b: Bytes) -> Option<(ErrorCode, Vec<(String, i32)>)> {
    if b.remaining() < 6 {
        return None;
    }
    let error = ErrorCode(b.get_i16());
    let n = b.get_i32();
    let mut out = Vec::new();
    for _ in 0..n.clamp(0, 1 << 20) {
        let t = get_string(&mut b)??;
        if b.remaining() < 4 {
            return None;
        }
        out.push((t, b.get_i32()));
    }
    Some((error, out))
}

/// The controller's side, through the controller task.
pub async fn ask_controller(broker: &Broker, broker_id: BrokerId) -> (ErrorCode, Vec<(String, i32)>) {
    match broker.controller.ask(|reply| Command::ControlledShutdown { broker: broker_id, reply }, Duration::from_secs(30)).await {
        Ok(remaining) => (ErrorCode::NONE, remaining),
        Err(code) => (code, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut f = encode_request(9, "broker-1", 1);
        f.advance(4);
        let r = decode_request(f).unwrap();
        assert_eq!((r.version, r.correlation_id, r.broker_id), (1, 9, 1));
        let mut resp = encode_response(9, ErrorCode::NONE, &[("t".into(), 3)]);
        resp.advance(8);
        assert_eq!(decode_response(resp), Some((ErrorCode::NONE, vec![("t".to_string(), 3)])));
        assert!(decode_request(Bytes::from_static(&[0, 7, 0, 1, 0])).is_none(), "truncated");
        assert!(decode_response(Bytes::from_static(&[0, 0, 0, 0, 0, 9, 0, 5])).is_none(), "truncated list");
    }
}
