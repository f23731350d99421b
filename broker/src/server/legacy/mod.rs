//! The request versions Kafka 2.5 serves that the `kafka-protocol` crate (0.18) dropped
//! with Kafka 4.0: Produce v0-2, Fetch v0-3, ListOffsets v0, OffsetCommit v0-1,
//! OffsetFetch v0, OffsetForLeaderEpoch v0-1, CreateTopics v0-1, DeleteTopics v0,
//! DescribeConfigs v0. In the request flow this sits between the request guard (which has
//! already walked the body against its schema, so every count and length below is
//! bounded) and the ordinary handlers: each file here decodes its old request by hand into
//! the crate's *current* request struct (the old shapes are subsets of it), calls the one
//! handler every version shares, and encodes the answer at the old version from the crate's
//! response struct. Where an old version's bytes equal a newer version's minus a trailing
//! or leading field, the crate does the work (e.g. DescribeConfigs v0 = v1 without
//! `include_synonyms`, DeleteTopics v0 response = v1 without `throttle_time_ms`).
//!
//! Why by hand and not an older `kafka-protocol` release as a second dependency: the old
//! formats are nine small fixed layouts (about a dozen fields each); a second copy of the
//! crate would double the largest compile unit of the build and give two sets of types to
//! convert between, for less code than the conversions would take. The legacy *record*
//! format (magic 0/1), the part with real rules, lives in `kafka_wire::legacy`.
//!
//! Only two semantics differ from the current versions, as in Kafka 2.5: OffsetCommit v0 and
//! OffsetFetch v0 keep offsets in ZooKeeper (`/consumers/<group>/offsets/<topic>/<partition>`),
//! not in the group coordinator; and Produce/Fetch convert message formats.

pub mod create_topics;
pub mod delete_topics;
pub mod describe_configs;
pub mod fetch;
pub mod list_offsets;
pub mod offset_commit;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;

/// The (api, lowest crate-served version) pairs handled here for versions below it.
pub const LEGACY: &[(ApiKey, i16)] = &[
    (ApiKey::Produce, 3),
    (ApiKey::Fetch, 4),
    (ApiKey::ListOffsets, 1),
    (ApiKey::OffsetCommit, 2),
    (ApiKey::OffsetFetch, 1),
    (ApiKey::OffsetForLeaderEpoch, 2),
    (ApiKey::CreateTopics, 2),
    (ApiKey::DeleteTopics, 1),
    (ApiKey::DescribeConfigs, 1),
];

/// Whether `api` at `version` is served by this module.
pub fn handles(api: ApiKey, version: i16) -> bool {
    version >= 0 && LEGACY.iter().any(|(k, first)| *k == api && version < *first)
}

/// Decodes an old-version body as `serve_legacy` does, without serving it (the fuzz tests:
/// every body the guard passes must decode whole or be refused, never panic).
pub fn decode_only(api: ApiKey, version: i16, body: Bytes) -> Result<(), String> {
    let ok = match api {
        ApiKey::Produce => produce::decode(body).is_some(),
        ApiKey::Fetch => fetch::decode(body, version).is_some(),
        ApiKey::ListOffsets => list_offsets::decode(body).is_some(),
        ApiKey::OffsetCommit => offset_commit::decode(body, version).is_some(),
        ApiKey::OffsetFetch => offset_fetch::decode(body).is_some(),
        ApiKey::OffsetForLeaderEpoch => offset_for_leader_epoch::decode(body).is_some(),
        ApiKey::CreateTopics => create_topics::decode(body, version).is_some(),
        ApiKey::DeleteTopics => delete_topics::decode(body).is_some(),
        ApiKey::DescribeConfigs => describe_configs::decode(body).is_some(),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{api:?} v{version}: refused by the legacy decoder"))
    }
}

/// A bounds-checked reader over a request body (every getter is `None` past the end).
pub struct Reader {
    b: Bytes,
}

impl Reader {
    pub fn new(b: Bytes) -> Self {
        Reader { b }
    }
    pub fn i8(&mut self) -> Option<i8> {
        (self.b.remaining() >= 1).then(|| self.b.get_i8())
    }
    pub fn i16(&mut self) -> Option<i16> {
        (self.b.remaining() >= 2).then(|| self.b.get_i16())
    }
    pub fn i32(&mut self) -> Option<i32> {
        (self.b.remaining() >= 4).then(|| self.b.get_i32())
    }
    pub fn i64(&mut self) -> Option<i64> {
        (self.b.remaining() >= 8).then(|| self.b.get_i64())
    }
    /// An array count: -1 (null) reads as 0; a count larger than the bytes left is refused.
    pub fn count(&mut self) -> Option<usize> {
        let n = self.i32()?;
        if n < 0 {
            return Some(0);
        }
        (n as usize <= self.b.remaining()).then_some(n as usize)
    }
    fn take(&mut self, n: usize) -> Option<Bytes> {
        (self.b.remaining() >= n).then(|| self.b.split_to(n))
    }
    pub fn nullable_string(&mut self) -> Option<Option<String>> {
        let n = self.i16()?;
        if n < 0 {
            return Some(None);
        }
        let s = self.take(n as usize)?;
        Some(Some(String::from_utf8(s.to_vec()).ok()?))
    }
    pub fn string(&mut self) -> Option<String> {
        self.nullable_string()?
    }
    pub fn nullable_bytes(&mut self) -> Option<Option<Bytes>> {
        let n = self.i32()?;
        if n < 0 {
            return Some(None);
        }
        self.take(n as usize).map(Some)
    }
    pub fn rest(self) -> Bytes {
        self.b
    }
}

/// Response writer: big-endian fields after a length and correlation id (header v0).
pub struct Writer {
    pub b: BytesMut,
}

impl Writer {
    pub fn new(correlation_id: i32) -> Self {
        let mut b = BytesMut::with_capacity(128);
        b.put_i32(0); // frame length, patched in `finish`
        b.put_i32(correlation_id);
        Writer { b }
    }
    pub fn i8(&mut self, v: i8) {
        self.b.put_i8(v);
    }
    pub fn i16(&mut self, v: i16) {
        self.b.put_i16(v);
    }
    pub fn i32(&mut self, v: i32) {
        self.b.put_i32(v);
    }
    pub fn i64(&mut self, v: i64) {
        self.b.put_i64(v);
    }
    pub fn bool(&mut self, v: bool) {
        self.b.put_u8(v as u8);
    }
    pub fn count(&mut self, n: usize) {
        self.b.put_i32(n as i32);
    }
    pub fn string(&mut self, s: &str) {
        let n = s.len().min(i16::MAX as usize);
        self.b.put_i16(n as i16);
        self.b.put_slice(&s.as_bytes()[..n]);
    }
    pub fn nullable_string(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.string(s),
            None => self.b.put_i16(-1),
        }
    }
    pub fn bytes(&mut self, v: &[u8]) {
        self.b.put_i32(v.len() as i32);
        self.b.put_slice(v);
    }
    pub fn finish(mut self) -> Bytes {
        let len = (self.b.len() - 4) as i32;
        self.b[..4].copy_from_slice(&len.to_be_bytes());
        self.b.freeze()
    }
}

/// Encodes `resp` with the crate at `crate_version` (header v0), then drops `skip_front`
/// bytes of the body's start (e.g. a leading throttle_time_ms the old version lacks).
pub fn crate_encoded<R: kafka_protocol::protocol::Encodable>(resp: &R, crate_version: i16, correlation_id: i32, skip_front: usize) -> Option<Bytes> {
    let mut body = BytesMut::new();
    resp.encode(&mut body, crate_version).ok()?;
    let body = body.get(skip_front..)?;
    let mut w = Writer::new(correlation_id);
    w.b.put_slice(body);
    Some(w.finish())
}
