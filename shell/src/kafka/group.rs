//! The consumer-group side of the tools: find the coordinator, join and sync as a "consumer"
//! protocol member with the range assignor, heartbeat, fetch and commit offsets, leave.
//! Also the group admin requests kafka-consumer-groups.sh needs (offset fetch/commit for
//! a group without joining it).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTp;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::client::{sb, tn, BrokerInfo, Client};
use super::error::{check, KafkaError};

pub type Tp = (String, i32);

/// Finds the group's coordinator and makes sure the client can reach it; returns its id.
pub async fn find_coordinator(client: &mut Client, group: &str) -> Result<i32, KafkaError> {
    let start = Instant::now();
    loop {
        let mut req = FindCoordinatorRequest::default();
        req.key = sb(group);
        req.key_type = 0;
        let conn = client.any()?;
        let resp = conn.send(&req, 3).await?;
        if resp.error_code == 15 || resp.error_code == 14 {
            if start.elapsed() < client.timeout {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        }
        check(resp.error_code, resp.error_message.map(|m| m.to_string()))?;
        let id = resp.node_id.0;
        client.meta.brokers.entry(id).or_insert(BrokerInfo { id, host: resp.host.to_string(), port: resp.port, rack: None });
        return Ok(id);
    }
}

fn encode_embedded<M: Encodable>(m: &M, version: i16) -> Result<Bytes, KafkaError> {
    let mut b = BytesMut::new();
    b.put_i16(version);
    m.encode(&mut b, version).map_err(|e| KafkaError::Protocol(format!("cannot encode consumer protocol data: {e}")))?;
    Ok(b.freeze())
}

fn decode_embedded<M: Decodable>(data: &Bytes) -> Result<Option<M>, KafkaError> {
    if data.len() < 2 {
        return Ok(None);
    }
    let mut b = data.clone();
    let v = i16::from_be_bytes([b[0], b[1]]);
    let _ = b.split_to(2);
    // Newer versions only add fields at the end; read what we know.
    let v = v.clamp(0, 1);
    M::decode(&mut b, v).map(Some).map_err(|e| KafkaError::Protocol(format!("cannot decode consumer protocol data: {e}")))
}

/// Topics a member subscribed to (from its JoinGroup / DescribeGroups metadata).
pub fn decode_subscription(data: &Bytes) -> Vec<String> {
    match decode_embedded::<ConsumerProtocolSubscription>(data) {
        Ok(Some(s)) => s.topics.into_iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    }
}

/// Partitions assigned to a member (from SyncGroup / DescribeGroups).
pub fn decode_assignment(data: &Bytes) -> Vec<Tp> {
    match decode_embedded::<ConsumerProtocolAssignment>(data) {
        Ok(Some(a)) => a.assigned_partitions.into_iter().flat_map(|tp| tp.partitions.into_iter().map(move |p| (tp.topic.0.to_string(), p))).collect(),
        _ => Vec::new(),
    }
}

/// Kafka's RangeAssignor: per topic, members sorted by id share the partitions in ranges.
pub fn range_assign(members: &[(String, Vec<String>)], partitions: &BTreeMap<String, i32>) -> BTreeMap<String, Vec<Tp>> {
    let mut out: BTreeMap<String, Vec<Tp>> = members.iter().map(|(m, _)| (m.clone(), Vec::new())).collect();
    for (topic, n) in partitions {
        let mut subs: Vec<&String> = members.iter().filter(|(_, t)| t.contains(topic)).map(|(m, _)| m).collect();
        subs.sort();
        if subs.is_empty() {
            continue;
        }
        let per = n / subs.len() as i32;
        let extra = n % subs.len() as i32;
        for (i, m) in subs.iter().enumerate() {
            let i = i as i32;
            let start = i * per + i.min(extra);
            let len = per + if i < extra { 1 } else { 0 };
            if let Some(v) = out.get_mut(*m) {
                v.extend((start..start + len).map(|p| (topic.clone(), p)));
            }
        }
    }
    out
}

/// One member of a consumer group.
pub struct Member {
    pub group: String,
    pub member_id: String,
    pub generation: i32,
    pub coordinator: i32,
    pub topics: Vec<String>,
    pub session_timeout: Duration,
    pub assignment: Vec<Tp>,
    last_heartbeat: Instant,
}

impl Member {
    pub fn new(group: &str, topics: Vec<String>, session_timeout: Duration) -> Member {
        Member {
            group: group.to_string(),
            member_id: String::new(),
            generation: -1,
            coordinator: -1,
            topics,
            session_timeout,
            assignment: Vec::new(),
            last_heartbeat: Instant::now(),
        }
    }

    /// Joins (or rejoins) the group and returns this member's partitions.
    pub async fn join(&mut self, client: &mut Client) -> Result<Vec<Tp>, KafkaError> {
        let start = Instant::now();
        loop {
            match self.join_once(client).await {
                Ok(a) => {
                    self.assignment = a.clone();
                    self.last_heartbeat = Instant::now();
                    return Ok(a);
                }
                Err(e) => {
                    let code = e.error_code();
                    let retry = matches!(code, Some(14 | 15 | 16 | 25 | 27 | 79 | 22));
                    if matches!(code, Some(25 | 22)) {
                        self.member_id.clear();
                        self.generation = -1;
                    }
                    if matches!(code, Some(15 | 16)) {
                        self.coordinator = -1;
                    }
                    if !retry || start.elapsed() > client.timeout * 3 {
                        return Err(e);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn join_once(&mut self, client: &mut Client) -> Result<Vec<Tp>, KafkaError> {
        if self.coordinator < 0 {
            self.coordinator = find_coordinator(client, &self.group).await?;
        }
        let mut sub = ConsumerProtocolSubscription::default();
        sub.topics = self.topics.iter().map(|t| sb(t)).collect();
        sub.user_data = None;
        let mut proto = JoinGroupRequestProtocol::default();
        proto.name = StrBytes::from_static_str("range");
        proto.metadata = encode_embedded(&sub, 0)?;
        let mut req = JoinGroupRequest::default();
        req.group_id = GroupId(sb(&self.group));
        req.session_timeout_ms = self.session_timeout.as_millis() as i32;
        req.rebalance_timeout_ms = 60_000.max(req.session_timeout_ms);
        req.member_id = sb(&self.member_id);
        req.protocol_type = StrBytes::from_static_str("consumer");
        req.protocols = vec![proto];
        let conn = client.node(self.coordinator).await?;
        let extra = Duration::from_millis(req.rebalance_timeout_ms as u64);
        let resp = conn.call_with_timeout(&req, 5, extra).await?;
        if resp.error_code == 79 {
            // MEMBER_ID_REQUIRED: rejoin with the id the coordinator gave us.
            self.member_id = resp.member_id.to_string();
            return Err(KafkaError::code(79, None));
        }
        check(resp.error_code, None)?;
        self.member_id = resp.member_id.to_string();
        self.generation = resp.generation_id;
        let mut assignments = Vec::new();
        if resp.leader == resp.member_id {
            let members: Vec<(String, Vec<String>)> = resp.members.iter().map(|m| (m.member_id.to_string(), decode_subscription(&m.metadata))).collect();
            let mut all: Vec<String> = members.iter().flat_map(|(_, t)| t.clone()).collect();
            all.sort();
            all.dedup();
            client.refresh(Some(&all)).await?;
            let counts: BTreeMap<String, i32> = all.iter().filter_map(|t| client.meta.topics.get(t).filter(|i| i.error == 0).map(|i| (t.clone(), i.partitions.len() as i32))).collect();
            for (m, tps) in range_assign(&members, &counts) {
                let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                for (t, p) in tps {
                    by_topic.entry(t).or_default().push(p);
                }
                let mut a = ConsumerProtocolAssignment::default();
                a.assigned_partitions = by_topic
                    .into_iter()
                    .map(|(t, ps)| {
                        let mut x = AssignedTp::default();
                        x.topic = tn(&t);
                        x.partitions = ps;
                        x
                    })
                    .collect();
                let mut sa = SyncGroupRequestAssignment::default();
                sa.member_id = sb(&m);
                sa.assignment = encode_embedded(&a, 0)?;
                assignments.push(sa);
            }
        }
        let mut sreq = SyncGroupRequest::default();
        sreq.group_id = GroupId(sb(&self.group));
        sreq.generation_id = self.generation;
        sreq.member_id = sb(&self.member_id);
        sreq.assignments = assignments;
        let conn = client.node(self.coordinator).await?;
        if conn.version_for::<SyncGroupRequest>(5)? >= 5 {
            sreq.protocol_type = Some(StrBytes::from_static_str("consumer"));
            sreq.protocol_name = Some(StrBytes::from_static_str("range"));
        }
        let sresp = conn.call_with_timeout(&sreq, 5, extra).await?;
        check(sresp.error_code, None)?;
        Ok(decode_assignment(&sresp.assignment))
    }

    /// Heartbeats when a third of the session timeout has passed; Ok(false) means the group
    /// is rebalancing and the member must rejoin.
    pub async fn maybe_heartbeat(&mut self, client: &mut Client) -> Result<bool, KafkaError> {
        if self.last_heartbeat.elapsed() < self.session_timeout / 3 {
            return Ok(true);
        }
        let mut req = HeartbeatRequest::default();
        req.group_id = GroupId(sb(&self.group));
        req.generation_id = self.generation;
        req.member_id = sb(&self.member_id);
        let conn = client.node(self.coordinator).await?;
        let resp = conn.send(&req, 3).await?;
        self.last_heartbeat = Instant::now();
        match resp.error_code {
            0 => Ok(true),
            27 | 22 | 25 => Ok(false),
            c => Err(KafkaError::code(c, None)),
        }
    }

    pub async fn commit(&mut self, client: &mut Client, offsets: &BTreeMap<Tp, i64>) -> Result<(), KafkaError> {
        commit_offsets(client, self.coordinator, &self.group, self.generation, &self.member_id, offsets).await
    }

    pub async fn leave(&mut self, client: &mut Client) -> Result<(), KafkaError> {
        if self.member_id.is_empty() || self.coordinator < 0 {
            return Ok(());
        }
        let conn = client.node(self.coordinator).await?;
        let v = conn.version_for::<LeaveGroupRequest>(4)?;
        let mut req = LeaveGroupRequest::default();
        req.group_id = GroupId(sb(&self.group));
        if v >= 3 {
            let mut mi = MemberIdentity::default();
            mi.member_id = sb(&self.member_id);
            req.members = vec![mi];
        } else {
            req.member_id = sb(&self.member_id);
        }
        let resp = conn.call(&req, v).await?;
        check(resp.error_code, None)?;
        for m in resp.members {
            check(m.error_code, None)?;
        }
        Ok(())
    }
}

/// OffsetCommit for a group (generation -1 and no member id = a standalone commit, as
/// kafka-consumer-groups.sh --reset-offsets does).
pub async fn commit_offsets(client: &mut Client, coordinator: i32, group: &str, generation: i32, member: &str, offsets: &BTreeMap<Tp, i64>) -> Result<(), KafkaError> {
    if offsets.is_empty() {
        return Ok(());
    }
    let mut by_topic: BTreeMap<&str, Vec<(i32, i64)>> = BTreeMap::new();
    for ((t, p), o) in offsets {
        by_topic.entry(t.as_str()).or_default().push((*p, *o));
    }
    let mut req = OffsetCommitRequest::default();
    req.group_id = GroupId(sb(group));
    req.generation_id_or_member_epoch = generation;
    req.member_id = sb(member);
    req.retention_time_ms = -1;
    req.topics = by_topic
        .into_iter()
        .map(|(t, ps)| {
            let mut x = OffsetCommitRequestTopic::default();
            x.name = tn(t);
            x.partitions = ps
                .into_iter()
                .map(|(p, o)| {
                    let mut y = OffsetCommitRequestPartition::default();
                    y.partition_index = p;
                    y.committed_offset = o;
                    y.committed_leader_epoch = -1;
                    y.committed_metadata = Some(StrBytes::from_static_str(""));
                    y
                })
                .collect();
            x
        })
        .collect();
    let conn = client.node(coordinator).await?;
    let resp = conn.send(&req, 7).await?;
    for t in resp.topics {
        for p in t.partitions {
            check(p.error_code, None)?;
        }
    }
    Ok(())
}

/// Committed offsets of `group` (None = every partition the group has offsets for).
pub async fn fetch_offsets(client: &mut Client, coordinator: i32, group: &str, parts: Option<&[Tp]>) -> Result<BTreeMap<Tp, i64>, KafkaError> {
    let mut req = OffsetFetchRequest::default();
    req.group_id = GroupId(sb(group));
    req.topics = parts.map(|ps| {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in ps {
            by_topic.entry(t.as_str()).or_default().push(*p);
        }
        by_topic
            .into_iter()
            .map(|(t, ps)| {
                let mut x = kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic::default();
                x.name = tn(t);
                x.partition_indexes = ps;
                x
            })
            .collect()
    });
    let conn = client.node(coordinator).await?;
    let v = conn.version_for::<OffsetFetchRequest>(7)?;
    if parts.is_none() && v < 2 {
        return Err(KafkaError::Unsupported("the broker cannot list all of a group's offsets (OffsetFetch v2+)".into()));
    }
    let resp = conn.call(&req, v).await?;
    check(resp.error_code, None)?;
    let mut out = BTreeMap::new();
    for t in resp.topics {
        for p in t.partitions {
            check(p.error_code, None)?;
            if p.committed_offset >= 0 {
                out.insert((t.name.0.to_string(), p.partition_index), p.committed_offset);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_assignor() {
        let members = vec![("b".to_string(), vec!["t".to_string()]), ("a".to_string(), vec!["t".to_string()])];
        let parts: BTreeMap<String, i32> = [("t".to_string(), 3)].into_iter().collect();
        let a = range_assign(&members, &parts);
        assert_eq!(a["a"], vec![("t".to_string(), 0), ("t".to_string(), 1)]);
        assert_eq!(a["b"], vec![("t".to_string(), 2)]);
    }

    #[test]
    fn embedded_roundtrip() {
        let mut s = ConsumerProtocolSubscription::default();
        s.topics = vec![sb("x"), sb("y")];
        let b = encode_embedded(&s, 0).unwrap_or_default();
        assert_eq!(decode_subscription(&b), vec!["x".to_string(), "y".to_string()]);
    }
}
