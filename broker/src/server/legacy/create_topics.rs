//! CreateTopics v0-1. The request is v2's (= v1's) layout, v0 without the trailing
//! `validate_only`: a 0 byte is appended and the crate decodes it at v2. Answers: v0
//! `[name error_code]`, v1 adds `error_message`; neither has throttle_time_ms.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::Decodable;

use super::Writer;

pub fn decode(body: Bytes, version: i16) -> Option<CreateTopicsRequest> {
    let mut b = BytesMut::from(&body[..]);
    if version == 0 {
        b.put_u8(0); // validate_only = false
    }
    let mut b = b.freeze();
    let req = CreateTopicsRequest::decode(&mut b, 2).ok()?;
    b.is_empty().then_some(req)
}

pub fn encode(resp: &CreateTopicsResponse, version: i16, correlation_id: i32) -> Bytes {
    let mut w = Writer::new(correlation_id);
    w.count(resp.topics.len());
    for t in &resp.topics {
        w.string(t.name.0.as_str());
        w.i16(t.error_code);
        if version >= 1 {
            w.nullable_string(t.error_message.as_ref().map(|s| s.as_str()));
        }
    }
    w.finish()
}
