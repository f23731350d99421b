//! OffsetCommit (v1-v8; v1 comes through `server::legacy::offset_commit`): group members commit with their generation; `assign()` consumers
//! and admin tools (kafka-consumer-groups --reset-offsets) commit with generation -1 and an
//! empty member id to a group without members. Per partition: metadata longer than
//! `offset.metadata.max.bytes` is OFFSET_METADATA_TOO_LARGE, an unknown topic or partition
//! UNKNOWN_TOPIC_OR_PARTITION; the rest is written to `__consumer_offsets` in one batch, and
//! the answer waits until every in-sync replica of that partition has it (Kafka commits
//! offsets with acks=-1): a lost coordinator never loses an acknowledged commit. If the ISR
//! does not get there within `offsets.commit.timeout.ms`, REQUEST_TIMED_OUT; if leadership
//! moves meanwhile, NOT_COORDINATOR.

use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use crate::broker::Broker;
use crate::group::records::OffsetValue;
use crate::log::partition_log::now_ms;
use crate::server::errors::ErrorCode;

pub async fn handle(broker: &Broker, req: OffsetCommitRequest, version: i16) -> OffsetCommitResponse {
    handle_at(broker, req, version, &[]).await
}

/// As `handle`, with OffsetCommit v1's per-partition commit timestamps (by topic, then
/// partition, in request order; -1 or missing: now), which the crate's struct no longer has.
pub async fn handle_at(broker: &Broker, req: OffsetCommitRequest, version: i16, commit_timestamps: &[Vec<i64>]) -> OffsetCommitResponse {
    let checked = check(
        broker,
        req.topics.iter().enumerate().map(|(ti, t)| {
            let parts = t.partitions.iter().enumerate().map(|(pi, p)| PartitionCommit {
                index: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: if version >= 6 { p.committed_leader_epoch } else { -1 },
                metadata: p.committed_metadata.as_ref().map(|s| s.as_str()),
                commit_timestamp: commit_timestamps.get(ti).and_then(|c| c.get(pi)).copied().unwrap_or(-1),
            });
            (t.name.0.as_str(), parts.collect())
        }),
    );
    let result = if checked.commits.is_empty() {
        Ok(())
    } else {
        let instance = req.group_instance_id.as_ref().map(|s| s.as_str()).filter(|_| version >= 7);
        broker.groups.commit(&broker.logs, req.group_id.0.as_str(), req.generation_id_or_member_epoch, req.member_id.as_str(), instance, checked.commits)
    };
    let result = match result {
        Ok(()) => replicated(broker, req.group_id.0.as_str()).await,
        Err(e) => Err(e),
    };
    let mut resp = OffsetCommitResponse::default();
    for (t, tc) in req.topics.iter().zip(checked.codes) {
        let mut tr = OffsetCommitResponseTopic::default();
        tr.name = t.name.clone();
        for (p, c) in t.partitions.iter().zip(tc) {
            let mut pr = OffsetCommitResponsePartition::default();
            pr.partition_index = p.partition_index;
            pr.error_code = final_code(&result, c).code();
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    resp
}

/// One partition of an OffsetCommit or TxnOffsetCommit request, version differences applied.
pub struct PartitionCommit<'a> {
    pub index: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<&'a str>,
    /// -1: now (every version but OffsetCommit v1, which carries the client's).
    pub commit_timestamp: i64,
}

/// The per-partition answers (in request order) and the commits that passed.
pub struct Checked {
    pub codes: Vec<Vec<ErrorCode>>,
    pub commits: Vec<(String, i32, OffsetValue)>,
}

/// The checks OffsetCommit and TxnOffsetCommit share: metadata longer than
/// `offset.metadata.max.bytes` is OFFSET_METADATA_TOO_LARGE, an unknown topic or partition
/// UNKNOWN_TOPIC_OR_PARTITION; the rest become offset values stamped now (or at the
/// client's v1 commit timestamp).
pub fn check<'a>(broker: &Broker, topics: impl Iterator<Item = (&'a str, Vec<PartitionCommit<'a>>)>) -> Checked {
    let meta = broker.meta.get();
    let now = now_ms();
    let max = broker.groups.settings.metadata_max_bytes;
    let mut out = Checked { codes: Vec::new(), commits: Vec::new() };
    for (topic, parts) in topics {
        let mut tc = Vec::with_capacity(parts.len());
        for p in parts {
            let md = p.metadata.unwrap_or_default();
            let known = meta.topics.get(topic).map(|tm| tm.partitions.contains_key(&p.index)).unwrap_or(false);
            if md.len() > max {
                tc.push(ErrorCode::OFFSET_METADATA_TOO_LARGE);
            } else if !known {
                tc.push(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
            } else {
                tc.push(ErrorCode::NONE);
                let v = OffsetValue {
                    offset: p.offset,
                    leader_epoch: p.leader_epoch,
                    metadata: md.to_string(),
                    commit_timestamp: if p.commit_timestamp == -1 { now } else { p.commit_timestamp },
                    expire_timestamp: None,
                };
                out.commits.push((topic.to_string(), p.index, v));
            }
        }
        out.codes.push(tc);
    }
    out
}

/// A partition that passed its own checks answers with the write's result.
pub fn final_code(result: &Result<(), ErrorCode>, own: ErrorCode) -> ErrorCode {
    match (result, own) {
        (Err(e), ErrorCode::NONE) => *e,
        (_, c) => c,
    }
}

/// Waits for the group's `__consumer_offsets` partition to be replicated up to its log end.
pub async fn replicated(broker: &Broker, group: &str) -> Result<(), ErrorCode> {
    let p = broker.groups.partition_for(group);
    let Some(part) = broker.logs.get(crate::group::OFFSETS_TOPIC, p) else { return Err(ErrorCode::NOT_COORDINATOR) };
    let target = crate::ids::Offset(part.lock().log_end_offset);
    let timeout = std::time::Duration::from_millis(broker.cfg.offsets_commit_timeout_ms.clamp(1, 300_000) as u64);
    match crate::replica::wait_replicated(&broker.logs, &part, target, timeout).await {
        Ok(()) => Ok(()),
        Err(ErrorCode::NOT_LEADER_OR_FOLLOWER) => Err(ErrorCode::NOT_COORDINATOR),
        Err(e) => Err(e),
    }
}
