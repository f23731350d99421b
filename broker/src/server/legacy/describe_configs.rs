//! DescribeConfigs v0: the request is v1's without the trailing `include_synonyms` (a 0 byte
//! is appended and the crate decodes it at v1). The answer: `throttle_time_ms [error_code
//! error_message resource_type resource_name [name value read_only is_default
//! is_sensitive]]`: v1's `config_source` becomes `is_default` (source DEFAULT_CONFIG, 5)
//! and there are no synonyms.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::Decodable;

use super::Writer;

/// Kafka's ConfigSource.DEFAULT_CONFIG.
const DEFAULT_CONFIG: i8 = 5;

pub fn decode(body: Bytes) -> Option<DescribeConfigsRequest> {
    let mut b = BytesMut::from(&body[..]);
    b.put_u8(0); // include_synonyms = false
    let mut b = b.freeze();
    let req = DescribeConfigsRequest::decode(&mut b, 1).ok()?;
    b.is_empty().then_some(req)
}

pub fn encode(resp: &DescribeConfigsResponse, correlation_id: i32) -> Bytes {
    let mut w = Writer::new(correlation_id);
    w.i32(resp.throttle_time_ms);
    w.count(resp.results.len());
    for r in &resp.results {
        w.i16(r.error_code);
        w.nullable_string(r.error_message.as_ref().map(|s| s.as_str()));
        w.i8(r.resource_type);
        w.string(r.resource_name.as_str());
        w.count(r.configs.len());
        for c in &r.configs {
            w.string(c.name.as_str());
            w.nullable_string(c.value.as_ref().map(|s| s.as_str()));
            w.bool(c.read_only);
            w.bool(c.config_source == DEFAULT_CONFIG);
            w.bool(c.is_sensitive);
        }
    }
    w.finish()
}
