//! The group coordinator (DESIGN.md: handlers -> GroupCoordinator -> Log of
//! `__consumer_offsets`).
//!
//! A group lives on partition `partition_for(group)` of `__consumer_offsets`; this broker
//! coordinates the groups of the partitions it leads. When it becomes leader of such a
//! partition (startup, or leadership moving here) it loads the partition — replaying the
//! offset commits and group metadata records (see `records`) — and answers
//! COORDINATOR_LOAD_IN_PROGRESS meanwhile; groups of partitions it does not lead get
//! NOT_COORDINATOR.
//!
//! Every change that Kafka persists is appended to the partition's log before the answers
//! go out: offset commits (one batch per OffsetCommit), group metadata at the end of each
//! rebalance (generation, leader, members with subscriptions and assignments), tombstones
//! for deleted groups/offsets and expired offsets. The state machine itself is `group`.
//! A timer task calls `tick` every 100 ms: session expiry, join-phase completion, and
//! offset retention (`offsets.retention.minutes`, for groups without members) on
//! `offsets.retention.check.interval.ms`.

pub mod group;
pub mod records;
mod loading;
#[cfg(test)]
mod tests;
pub mod txn_offsets;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::oneshot;

use self::group::{Group, GroupConfig, GroupState, JoinParams, JoinResult, Outgoing, SyncResult};
use self::records::{Key, OffsetValue};
use crate::config::BrokerConfig;
use crate::log::partition_log::now_ms;
use crate::log::{batch, LogManager};
use crate::error_code::ErrorCode;

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartStatus {
    Loading,
    Loaded,
}

#[derive(Default)]
struct Inner {
    partitions: HashMap<i32, PartStatus>,
    groups: HashMap<String, Group>,
    last_expiry: i64,
    /// Offsets of open transactions (TxnOffsetCommit), by producer id (see `txn_offsets`).
    txn_pending: txn_offsets::Pending,
}

pub struct Settings {
    pub group: GroupConfig,
    pub min_session_ms: i64,
    pub max_session_ms: i64,
    pub retention_ms: i64,
    pub retention_check_ms: i64,
    pub metadata_max_bytes: usize,
    pub default_partitions: i32,
}

impl Settings {
    pub fn from_config(c: &BrokerConfig) -> Settings {
        Settings {
            group: GroupConfig {
                initial_rebalance_delay_ms: c.group_initial_rebalance_delay_ms,
                max_size: c.group_max_size.clamp(1, i32::MAX as i64) as usize,
            },
            min_session_ms: c.group_min_session_timeout_ms,
            max_session_ms: c.group_max_session_timeout_ms,
            retention_ms: c.offsets_retention_ms,
            retention_check_ms: c.offsets_retention_check_interval_ms.max(100),
            metadata_max_bytes: c.offset_metadata_max_bytes.max(0) as usize,
            default_partitions: c.offsets_topic_num_partitions.max(1),
        }
    }
}

/// One member as DescribeGroups shows it.
pub struct MemberInfo {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

pub struct GroupInfo {
    pub state: &'static str,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberInfo>,
}

/// A committed offset to store: (topic, partition, value).
pub type Commit = (String, i32, OffsetValue);

pub struct GroupCoordinator {
    inner: Mutex<Inner>,
    pub settings: Settings,
    /// Partition count of `__consumer_offsets` (its real count once it exists).
    partitions: AtomicI32,
}

impl GroupCoordinator {
    pub fn new(settings: Settings) -> GroupCoordinator {
        let n = settings.default_partitions;
        GroupCoordinator { inner: Mutex::new(Inner::default()), settings, partitions: AtomicI32::new(n) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn partition_for(&self, group: &str) -> i32 {
        records::partition_for(group, self.partitions.load(Ordering::Relaxed))
    }

    /// Ok(partition) when this broker coordinates the group now, else the error code.
    fn check(&self, inner: &Inner, group: &str) -> Result<i32, ErrorCode> {
        let p = self.partition_for(group);
        match inner.partitions.get(&p) {
            Some(PartStatus::Loaded) => Ok(p),
            Some(PartStatus::Loading) => Err(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS),
            None => Err(ErrorCode::NOT_COORDINATOR),
        }
    }

    /// Appends records (key, value or tombstone) to one partition of `__consumer_offsets`.
    fn store(logs: &LogManager, partition: i32, recs: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), ErrorCode> {
        if recs.is_empty() {
            return Ok(());
        }
        let refs: Vec<(Option<&[u8]>, Option<&[u8]>)> = recs.iter().map(|(k, v)| (Some(k.as_slice()), v.as_deref())).collect();
        let mut b = batch::build(&refs, now_ms());
        let Some(part) = logs.get(OFFSETS_TOPIC, partition) else { return Err(ErrorCode::NOT_COORDINATOR) };
        let res = crate::replica::append_leader(logs, &part, &mut b);
        match res {
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::error!("cannot write to {OFFSETS_TOPIC}-{partition}: {e}");
                Err(ErrorCode::COORDINATOR_NOT_AVAILABLE)
            }
        }
    }

    /// Stores the group's metadata if a step changed it, then delivers the queued answers.
    fn finish(logs: &LogManager, g: &mut Group, partition: i32) {
        if g.dirty {
            g.dirty = false;
            let key = records::encode_key(&Key::Group { group: g.id.clone() });
            let value = records::encode_group(&g.to_stored());
            if let Err(code) = Self::store(logs, partition, &[(key, Some(value))]) {
                for o in g.outbox.iter_mut() {
                    match o {
                        Outgoing::Sync(_, r) => *r = SyncResult { error: code, ..Default::default() },
                        Outgoing::Join(_, r) if r.error == ErrorCode::NONE => r.error = code,
                        _ => {}
                    }
                }
            }
        }
        for o in g.outbox.drain(..) {
            match o {
                Outgoing::Join(tx, r) => {
                    let _ = tx.send(r);
                }
                Outgoing::Sync(tx, r) => {
                    let _ = tx.send(r);
                }
            }
        }
    }

    pub fn join(&self, logs: &LogManager, group_id: &str, p: JoinParams) -> oneshot::Receiver<JoinResult> {
        let (tx, rx) = oneshot::channel();
        let err = |tx: oneshot::Sender<JoinResult>, e: ErrorCode, id: &str| {
            let _ = tx.send(JoinResult::error(e, id));
        };
        if group_id.is_empty() {
            err(tx, ErrorCode::INVALID_GROUP_ID, &p.member_id);
            return rx;
        }
        let mut inner = self.lock();
        let partition = match self.check(&inner, group_id) {
            Ok(p) => p,
            Err(e) => {
                err(tx, e, &p.member_id);
                return rx;
            }
        };
        if (p.session_timeout as i64) < self.settings.min_session_ms || (p.session_timeout as i64) > self.settings.max_session_ms {
            err(tx, ErrorCode::INVALID_SESSION_TIMEOUT, &p.member_id);
            return rx;
        }
        let now = now_ms();
        if !inner.groups.contains_key(group_id) {
            if !p.member_id.is_empty() {
                err(tx, ErrorCode::UNKNOWN_MEMBER_ID, &p.member_id);
                return rx;
            }
            inner.groups.insert(group_id.to_string(), Group::new(group_id, now));
        }
        if let Some(g) = inner.groups.get_mut(group_id) {
            g.join(p, tx, now, &self.settings.group);
            Self::finish(logs, g, partition);
        }
        rx
    }

    pub fn sync(
        &self,
        logs: &LogManager,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
    ) -> oneshot::Receiver<SyncResult> {
        let (tx, rx) = oneshot::channel();
        let mut inner = self.lock();
        let partition = match self.check(&inner, group_id) {
            Ok(p) => p,
            Err(e) => {
                let _ = tx.send(SyncResult { error: e, ..Default::default() });
                return rx;
            }
        };
        match inner.groups.get_mut(group_id) {
            None => {
                let _ = tx.send(SyncResult { error: ErrorCode::UNKNOWN_MEMBER_ID, ..Default::default() });
            }
            Some(g) => {
                g.sync(member_id, instance_id, generation, assignments, tx, now_ms());
                Self::finish(logs, g, partition);
            }
        }
        rx
    }

    pub fn heartbeat(&self, logs: &LogManager, group_id: &str, member_id: &str, instance_id: Option<&str>, generation: i32) -> ErrorCode {
        let mut inner = self.lock();
        let partition = match self.check(&inner, group_id) {
            Ok(p) => p,
            Err(e) => return e,
        };
        match inner.groups.get_mut(group_id) {
            None => ErrorCode::UNKNOWN_MEMBER_ID,
            Some(g) => {
                let e = g.heartbeat(member_id, instance_id, generation, now_ms());
                Self::finish(logs, g, partition);
                e
            }
        }
    }

    /// Ok(per-member (member id, error)) or a group-level error.
    pub fn leave(&self, logs: &LogManager, group_id: &str, members: &[(String, Option<String>)]) -> Result<Vec<(String, ErrorCode)>, ErrorCode> {
        let mut inner = self.lock();
        let partition = self.check(&inner, group_id)?;
        let now = now_ms();
        match inner.groups.get_mut(group_id) {
            None => Ok(members.iter().map(|(m, _)| (m.clone(), ErrorCode::UNKNOWN_MEMBER_ID)).collect()),
            Some(g) => {
                let out = members.iter().map(|(m, i)| g.leave(m, i.as_deref(), now, &self.settings.group)).collect();
                Self::finish(logs, g, partition);
                Ok(out)
            }
        }
    }

    /// OffsetCommit: Ok(()) commits every given offset, Err(code) applies to them all.
    pub fn commit(
        &self,
        logs: &LogManager,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        commits: Vec<Commit>,
    ) -> Result<(), ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::INVALID_GROUP_ID);
        }
        let mut inner = self.lock();
        let partition = self.check(&inner, group_id)?;
        let now = now_ms();
        match inner.groups.get(group_id) {
            None if generation < 0 => {
                inner.groups.insert(group_id.to_string(), Group::new(group_id, now));
            }
            None => return Err(ErrorCode::ILLEGAL_GENERATION),
            Some(g) => {
                if g.state == GroupState::Dead {
                    return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
                }
                let simple = generation < 0 && g.state == GroupState::Empty;
                if !simple {
                    if let Some(i) = instance_id {
                        if g.static_members.get(i).map(|x| x != member_id).unwrap_or(false) {
                            return Err(ErrorCode::FENCED_INSTANCE_ID);
                        }
                    }
                    if !g.members.contains_key(member_id) {
                        return Err(ErrorCode::UNKNOWN_MEMBER_ID);
                    }
                    if generation != g.generation {
                        return Err(ErrorCode::ILLEGAL_GENERATION);
                    }
                    if g.state == GroupState::CompletingRebalance {
                        return Err(ErrorCode::REBALANCE_IN_PROGRESS);
                    }
                }
            }
        }
        let recs: Vec<(Vec<u8>, Option<Vec<u8>>)> = commits
            .iter()
            .map(|(t, p, v)| {
                let k = Key::Offset { group: group_id.to_string(), topic: t.clone(), partition: *p };
                (records::encode_key(&k), Some(records::encode_offset(v)))
            })
            .collect();
        Self::store(logs, partition, &recs)?;
        if let Some(g) = inner.groups.get_mut(group_id) {
            if let Some(m) = g.members.get_mut(member_id) {
                m.last_heartbeat = now;
            }
            for (t, p, v) in commits {
                g.offsets.insert((t, p), v);
            }
        }
        Ok(())
    }

    /// OffsetFetch: the committed offsets of the given partitions (None = all of them).
    pub fn fetch(&self, group_id: &str, wanted: Option<Vec<(String, Vec<i32>)>>) -> Result<Vec<(String, i32, Option<OffsetValue>)>, ErrorCode> {
        let inner = self.lock();
        self.check(&inner, group_id)?;
        let g = inner.groups.get(group_id);
        let mut out = Vec::new();
        match wanted {
            Some(list) => {
                for (t, ps) in list {
                    for p in ps {
                        let v = g.and_then(|g| g.offsets.get(&(t.clone(), p))).cloned();
                        out.push((t.clone(), p, v));
                    }
                }
            }
            None => {
                if let Some(g) = g {
                    for ((t, p), v) in &g.offsets {
                        out.push((t.clone(), *p, Some(v.clone())));
                    }
                }
            }
        }
        Ok(out)
    }

    /// (group, topic, partition, committed offset) of every group coordinated here, for the
    /// metrics' consumer lag (see `metrics::render`).
    pub fn committed_offsets(&self) -> Vec<(String, String, i32, i64)> {
        let inner = self.lock();
        let mut out = Vec::new();
        for g in inner.groups.values().filter(|g| g.state != GroupState::Dead) {
            for ((t, p), v) in &g.offsets {
                out.push((g.id.clone(), t.clone(), *p, v.offset));
            }
        }
        out.sort();
        out
    }

    /// ListGroups: (group id, protocol type, state) of every group coordinated here.
    pub fn list(&self) -> Vec<(String, String, &'static str)> {
        let inner = self.lock();
        let mut v: Vec<_> = inner
            .groups
            .values()
            .filter(|g| g.state != GroupState::Dead)
            .map(|g| (g.id.clone(), g.protocol_type.clone().unwrap_or_default(), g.state.name()))
            .collect();
        v.sort();
        v
    }

    pub fn describe(&self, group_id: &str) -> Result<GroupInfo, ErrorCode> {
        let inner = self.lock();
        self.check(&inner, group_id)?;
        let Some(g) = inner.groups.get(group_id) else {
            return Ok(GroupInfo { state: "Dead", protocol_type: String::new(), protocol: String::new(), members: Vec::new() });
        };
        let stable = g.state == GroupState::Stable;
        let protocol = g.protocol.clone().unwrap_or_default();
        Ok(GroupInfo {
            state: g.state.name(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if stable { protocol.clone() } else { String::new() },
            members: g
                .members
                .values()
                .map(|m| MemberInfo {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.protocols.iter().find(|(n, _)| *n == protocol).map(|(_, b)| b.clone()).unwrap_or_default()
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable { m.assignment.clone() } else { Bytes::new() },
                })
                .collect(),
        })
    }

    /// Tombstones for a group's metadata and every offset it has.
    fn tombstones(g: &Group) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let mut recs: Vec<(Vec<u8>, Option<Vec<u8>>)> = g
            .offsets
            .keys()
            .map(|(t, p)| (records::encode_key(&Key::Offset { group: g.id.clone(), topic: t.clone(), partition: *p }), None))
            .collect();
        recs.push((records::encode_key(&Key::Group { group: g.id.clone() }), None));
        recs
    }

    pub fn delete_group(&self, logs: &LogManager, group_id: &str) -> ErrorCode {
        let mut inner = self.lock();
        let partition = match self.check(&inner, group_id) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let Some(g) = inner.groups.get(group_id) else { return ErrorCode::GROUP_ID_NOT_FOUND };
        if !g.deletable() {
            return ErrorCode::NON_EMPTY_GROUP;
        }
        if let Err(e) = Self::store(logs, partition, &Self::tombstones(g)) {
            return e;
        }
        inner.groups.remove(group_id);
        // As Kafka 2.5: the group's pending transactional offsets go with it (their markers
        // then find no group and change nothing).
        for by_group in inner.txn_pending.values_mut() {
            by_group.remove(group_id);
        }
        inner.txn_pending.retain(|_, by_group| !by_group.is_empty());
        tracing::info!("deleted group {group_id}");
        ErrorCode::NONE
    }

    /// OffsetDelete: Ok(per-partition errors) or a group-level error.
    pub fn delete_offsets(&self, logs: &LogManager, group_id: &str, parts: &[(String, i32)]) -> Result<Vec<ErrorCode>, ErrorCode> {
        let mut inner = self.lock();
        let partition = self.check(&inner, group_id)?;
        let Some(g) = inner.groups.get_mut(group_id) else { return Err(ErrorCode::GROUP_ID_NOT_FOUND) };
        if g.state == GroupState::Dead {
            return Err(ErrorCode::GROUP_ID_NOT_FOUND);
        }
        let subscribed: Vec<String> = if g.deletable() {
            Vec::new()
        } else {
            match g.subscribed_topics() {
                Some(t) => t,
                None => return Err(ErrorCode::NON_EMPTY_GROUP),
            }
        };
        let mut codes = Vec::new();
        let mut recs = Vec::new();
        for (t, p) in parts {
            if subscribed.contains(t) {
                codes.push(ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC);
            } else {
                codes.push(ErrorCode::NONE);
                if g.offsets.contains_key(&(t.clone(), *p)) {
                    recs.push((records::encode_key(&Key::Offset { group: group_id.to_string(), topic: t.clone(), partition: *p }), None));
                }
            }
        }
        Self::store(logs, partition, &recs)?;
        for ((t, p), c) in parts.iter().zip(&codes) {
            if *c == ErrorCode::NONE {
                g.offsets.remove(&(t.clone(), *p));
            }
        }
        Ok(codes)
    }

    /// Timers: member sessions, join completion, offset retention, empty-group cleanup.
    pub fn tick(&self, logs: &LogManager) {
        let now = now_ms();
        let mut inner = self.lock();
        let n = self.partitions.load(Ordering::Relaxed);
        let expire = now - inner.last_expiry >= self.settings.retention_check_ms;
        if expire {
            inner.last_expiry = now;
        }
        let mut dead = Vec::new();
        // Kafka 2.5's `hasOffsets` counts pending transactional offsets: such a group stays.
        let with_txn_offsets: HashSet<String> = inner.txn_pending.values().flat_map(|by_group| by_group.keys().cloned()).collect();
        for g in inner.groups.values_mut() {
            let partition = records::partition_for(&g.id, n);
            g.tick(now, &self.settings.group);
            Self::finish(logs, g, partition);
            if expire && g.state == GroupState::Empty && g.pending.is_empty() {
                // Kafka 2.5: offsets of an empty group expire retention after it emptied
                // (or, for group-less commits, after the commit).
                let retention = self.settings.retention_ms;
                let since = g.state_timestamp;
                let gone: Vec<(String, i32)> = g
                    .offsets
                    .iter()
                    .filter(|(_, v)| match v.expire_timestamp {
                        Some(e) => now >= e,
                        None => now - since.max(v.commit_timestamp) >= retention,
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                if !gone.is_empty() {
                    let recs: Vec<_> = gone
                        .iter()
                        .map(|(t, p)| (records::encode_key(&Key::Offset { group: g.id.clone(), topic: t.clone(), partition: *p }), None))
                        .collect();
                    if Self::store(logs, partition, &recs).is_ok() {
                        tracing::info!("expired {} offset(s) of group {}", gone.len(), g.id);
                        for k in gone {
                            g.offsets.remove(&k);
                        }
                    }
                }
            }
            if expire && g.state == GroupState::Empty && g.offsets.is_empty() && g.pending.is_empty() && !with_txn_offsets.contains(&g.id) {
                dead.push((g.id.clone(), partition));
            }
        }
        for (id, partition) in dead {
            if inner.groups.contains_key(&id) {
                if Self::store(logs, partition, &[(records::encode_key(&Key::Group { group: id.clone() }), None)]).is_ok() {
                    inner.groups.remove(&id);
                    tracing::info!("group {id} is empty and has no offsets: removed");
                }
            }
        }
    }

}

