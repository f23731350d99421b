//! OffsetCommit v0-1. v1 is `group_id generation_id member_id [topic [partition offset
//! timestamp metadata]]` and goes to the group coordinator like v2+, with its per-partition
//! commit timestamp (-1: now), as Kafka 2.5 stores it. v0 is
//! `group_id [topic [partition offset metadata]]` and, as in Kafka 2.5, is not a group
//! commit at all: the offset is written to ZooKeeper at
//! `/consumers/<group>/offsets/<topic>/<partition>` (the decimal offset as the node's data),
//! where OffsetFetch v0 reads it. Both answer `[topic [partition error_code]]`, the v2 layout.

use bytes::Bytes;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{GroupId, OffsetCommitRequest, OffsetCommitResponse};

use super::Reader;
use crate::broker::Broker;
use crate::server::errors::ErrorCode;
use crate::server::handlers::{sb, tn};
use crate::zk::ZkError;

/// The request and, for v1, each partition's commit timestamp (by topic, then partition).
pub fn decode(body: Bytes, version: i16) -> Option<(OffsetCommitRequest, Vec<Vec<i64>>)> {
    let mut r = Reader::new(body);
    let mut req = OffsetCommitRequest::default();
    req.group_id = GroupId(sb(&r.string()?));
    if version >= 1 {
        req.generation_id_or_member_epoch = r.i32()?;
        req.member_id = sb(&r.string()?);
    } else {
        req.generation_id_or_member_epoch = -1;
    }
    req.retention_time_ms = -1;
    let mut stamps = Vec::new();
    for _ in 0..r.count()? {
        let mut ts = Vec::new();
        let mut t = OffsetCommitRequestTopic::default();
        t.name = tn(&r.string()?);
        for _ in 0..r.count()? {
            let mut p = OffsetCommitRequestPartition::default();
            p.partition_index = r.i32()?;
            p.committed_offset = r.i64()?;
            if version >= 1 {
                ts.push(r.i64()?);
            }
            p.committed_leader_epoch = -1;
            p.committed_metadata = r.nullable_string()?.map(|s| sb(&s));
            t.partitions.push(p);
        }
        req.topics.push(t);
        stamps.push(ts);
    }
    r.rest().is_empty().then_some((req, stamps))
}

/// The ZooKeeper path of a v0 commit (Kafka's ConsumerPathZNode layout).
pub fn zk_path(group: &str, topic: &str, partition: i32) -> String {
    format!("/consumers/{group}/offsets/{topic}/{partition}")
}

/// v0: each offset into ZooKeeper (Kafka 2.5's setOrCreateConsumerOffset).
pub async fn commit_v0(broker: &Broker, req: &OffsetCommitRequest) -> OffsetCommitResponse {
    let meta = broker.meta.get();
    let max = broker.groups.settings.metadata_max_bytes;
    let group = req.group_id.0.as_str();
    let mut resp = OffsetCommitResponse::default();
    for t in &req.topics {
        let topic = t.name.0.as_str();
        let mut tr = OffsetCommitResponseTopic::default();
        tr.name = t.name.clone();
        for p in &t.partitions {
            let known = meta.topics.get(topic).map(|tm| tm.partitions.contains_key(&p.partition_index)).unwrap_or(false);
            let md_len = p.committed_metadata.as_ref().map(|s| s.len()).unwrap_or(0);
            let code = if !known {
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
            } else if md_len > max {
                ErrorCode::OFFSET_METADATA_TOO_LARGE
            } else {
                let path = zk_path(group, topic, p.partition_index);
                let data = p.committed_offset.to_string();
                let written = match broker.zk.set_data(&path, Some(data.as_bytes()), -1).await {
                    Err(ZkError::Code(c)) if c == crate::zk::jute::code::NO_NODE => broker.zk.create_recursive(&path, Some(data.as_bytes())).await,
                    other => other.map(|_| ()),
                };
                match written {
                    Ok(()) => ErrorCode::NONE,
                    Err(e) => {
                        tracing::warn!("OffsetCommit v0 of {group} {topic}-{} to ZooKeeper failed: {e}", p.partition_index);
                        ErrorCode::UNKNOWN_SERVER_ERROR
                    }
                }
            };
            let mut pr = OffsetCommitResponsePartition::default();
            pr.partition_index = p.partition_index;
            pr.error_code = code.code();
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    resp
}
