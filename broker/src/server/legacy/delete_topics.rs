//! DeleteTopics v0: the request is v1's layout (`[topic_names] timeout_ms`, the crate decodes
//! it at v1); the answer is v1's without the leading throttle_time_ms.

use bytes::Bytes;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};
use kafka_protocol::protocol::Decodable;

pub fn decode(mut body: Bytes) -> Option<DeleteTopicsRequest> {
    let req = DeleteTopicsRequest::decode(&mut body, 1).ok()?;
    body.is_empty().then_some(req)
}

pub fn encode(resp: &DeleteTopicsResponse, correlation_id: i32) -> Option<Bytes> {
    super::crate_encoded(resp, 1, correlation_id, 4)
}
