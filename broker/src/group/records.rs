//! The records of `__consumer_offsets`, byte-compatible with Kafka 2.5's GroupMetadataManager
//! (so Kafka's own formatters can read our log). Everything is big-endian; strings are
//! i16-length-prefixed UTF-8 (-1 = null for nullable strings), bytes are i32-length-prefixed.
//!
//! ```text
//! key version 0|1 (offset commit):  version i16, group string, topic string, partition i32
//! key version 2 (group metadata):   version i16, group string
//! offset commit value v0: version, offset i64, metadata string, timestamp i64
//!                     v1: version, offset i64, metadata string, commit_timestamp i64, expire_timestamp i64
//!                     v2: version, offset i64, metadata string, commit_timestamp i64
//!                     v3: version, offset i64, leader_epoch i32, metadata string, commit_timestamp i64
//! group metadata value v0..v3: version, protocol_type string, generation i32,
//!     protocol nullable string, leader nullable string, [v2+] current_state_timestamp i64,
//!     members [ member_id string, [v3+] group_instance_id nullable string, client_id string,
//!               client_host string, [v1+] rebalance_timeout i32, session_timeout i32,
//!               subscription bytes, assignment bytes ]
//! ```
//! We write key v1 + offset value v3 and key v2 + group value v3, as Kafka 2.5 does; we read
//! every version. A null value is a tombstone (offset or group deleted). Pure: no I/O.

use kafka_wire::read::Reader;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Offset { group: String, topic: String, partition: i32 },
    Group { group: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    pub expire_timestamp: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberValue {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout: i32,
    pub session_timeout: i32,
    pub subscription: Vec<u8>,
    pub assignment: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp: i64,
    pub members: Vec<MemberValue>,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as i16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}
fn put_nstr(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_str(out, s),
        None => out.extend_from_slice(&(-1i16).to_be_bytes()),
    }
}
fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as i32).to_be_bytes());
    out.extend_from_slice(b);
}

pub fn encode_key(k: &Key) -> Vec<u8> {
    let mut out = Vec::new();
    match k {
        Key::Offset { group, topic, partition } => {
            out.extend_from_slice(&1i16.to_be_bytes());
            put_str(&mut out, group);
            put_str(&mut out, topic);
            out.extend_from_slice(&partition.to_be_bytes());
        }
        Key::Group { group } => {
            out.extend_from_slice(&2i16.to_be_bytes());
            put_str(&mut out, group);
        }
    }
    out
}

pub fn encode_offset(v: &OffsetValue) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&3i16.to_be_bytes());
    out.extend_from_slice(&v.offset.to_be_bytes());
    out.extend_from_slice(&v.leader_epoch.to_be_bytes());
    put_str(&mut out, &v.metadata);
    out.extend_from_slice(&v.commit_timestamp.to_be_bytes());
    out
}

pub fn encode_group(g: &GroupValue) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&3i16.to_be_bytes());
    put_str(&mut out, &g.protocol_type);
    out.extend_from_slice(&g.generation.to_be_bytes());
    put_nstr(&mut out, g.protocol.as_deref());
    put_nstr(&mut out, g.leader.as_deref());
    out.extend_from_slice(&g.state_timestamp.to_be_bytes());
    out.extend_from_slice(&(g.members.len() as i32).to_be_bytes());
    for m in &g.members {
        put_str(&mut out, &m.member_id);
        put_nstr(&mut out, m.instance_id.as_deref());
        put_str(&mut out, &m.client_id);
        put_str(&mut out, &m.client_host);
        out.extend_from_slice(&m.rebalance_timeout.to_be_bytes());
        out.extend_from_slice(&m.session_timeout.to_be_bytes());
        put_bytes(&mut out, &m.subscription);
        put_bytes(&mut out, &m.assignment);
    }
    out
}

pub fn decode_key(b: &[u8]) -> Option<Key> {
    let mut r = Reader::new(b);
    match r.i16()? {
        0 | 1 => Some(Key::Offset { group: r.str()?, topic: r.str()?, partition: r.i32()? }),
        2 => Some(Key::Group { group: r.str()? }),
        _ => None,
    }
}

pub fn decode_offset(b: &[u8]) -> Option<OffsetValue> {
    let mut r = Reader::new(b);
    let version = r.i16()?;
    let offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = r.str()?;
    let commit_timestamp = r.i64()?;
    let expire_timestamp = if version == 1 { Some(r.i64()?) } else { None };
    if version > 3 {
        return None;
    }
    Some(OffsetValue { offset, leader_epoch, metadata, commit_timestamp, expire_timestamp })
}

pub fn decode_group(b: &[u8]) -> Option<GroupValue> {
    let mut r = Reader::new(b);
    let version = r.i16()?;
    if !(0..=3).contains(&version) {
        return None;
    }
    let protocol_type = r.str()?;
    let generation = r.i32()?;
    let protocol = r.nstr()?;
    let leader = r.nstr()?;
    let state_timestamp = if version >= 2 { r.i64()? } else { -1 };
    let mut members = Vec::new();
    // A member is at least three string lengths, a timeout and two byte lengths: 18 bytes.
    for _ in 0..r.ncount(18)?.unwrap_or(0) {
        let member_id = r.str()?;
        let instance_id = if version >= 3 { r.nstr()? } else { None };
        let client_id = r.str()?;
        let client_host = r.str()?;
        let session0 = if version == 0 { Some(r.i32()?) } else { None };
        let (rebalance_timeout, session_timeout) = match session0 {
            Some(s) => (s, s),
            None => (r.i32()?, r.i32()?),
        };
        let subscription = r.nbytes()?.unwrap_or_default().to_vec();
        let assignment = r.nbytes()?.unwrap_or_default().to_vec();
        members.push(MemberValue { member_id, instance_id, client_id, client_host, rebalance_timeout, session_timeout, subscription, assignment });
    }
    Some(GroupValue { protocol_type, generation, protocol, leader, state_timestamp, members })
}

/// Java's `String.hashCode` (UTF-16 code units, wrapping i32 arithmetic).
pub fn java_string_hash(s: &str) -> i32 {
    let mut h: i32 = 0;
    for u in s.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(u as i32);
    }
    h
}

/// The `__consumer_offsets` partition of a group: Utils.abs(hashCode) % partitions, where
/// Kafka's Utils.abs is `x & 0x7fffffff`.
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    (java_string_hash(group) & 0x7fff_ffff) % partitions.max(1)
}

/// The topics of a consumer-protocol subscription (ConsumerProtocolSubscription: version
/// i16, topics [string], ...); None if it is not one.
pub fn subscription_topics(b: &[u8]) -> Option<Vec<String>> {
    let mut r = Reader::new(b);
    let _version = r.i16()?;
    let mut out = Vec::new();
    for _ in 0..r.ncount(2)?.unwrap_or(0) {
        out.push(r.str()?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_values_roundtrip() {
        let k = Key::Offset { group: "g".into(), topic: "t".into(), partition: 3 };
        let kb = encode_key(&k);
        assert_eq!(kb, b"\x00\x01\x00\x01g\x00\x01t\x00\x00\x00\x03");
        assert_eq!(decode_key(&kb), Some(k));
        let g = Key::Group { group: "grp".into() };
        assert_eq!(decode_key(&encode_key(&g)), Some(g));
        let v = OffsetValue { offset: 42, leader_epoch: 1, metadata: "m".into(), commit_timestamp: 5, expire_timestamp: None };
        assert_eq!(decode_offset(&encode_offset(&v)), Some(v));
        let gv = GroupValue {
            protocol_type: "consumer".into(),
            generation: 3,
            protocol: Some("range".into()),
            leader: Some("a-1".into()),
            state_timestamp: 9,
            members: vec![MemberValue {
                member_id: "a-1".into(),
                instance_id: None,
                client_id: "a".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout: 300000,
                session_timeout: 10000,
                subscription: vec![1, 2],
                assignment: vec![3],
            }],
        };
        assert_eq!(decode_group(&encode_group(&gv)), Some(gv));
        assert_eq!(decode_group(&[0, 9]), None);
        assert_eq!(decode_offset(&[0, 3, 1]), None);
    }

    #[test]
    fn coordinator_partition_matches_java() {
        // "hello".hashCode() == 99162322 in Java; Integer.MIN_VALUE-like hashes stay positive.
        assert_eq!(java_string_hash("hello"), 99162322);
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(partition_for("hello", 50), 99162322 % 50);
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        assert_eq!(partition_for("polygenelubricants", 50), 0);
    }
}
