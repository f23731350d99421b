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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::oneshot;

use self::group::{Group, GroupConfig, GroupState, JoinParams, JoinResult, Outgoing, SyncResult};
use self::records::{Key, OffsetValue};
use crate::config::BrokerConfig;
use crate::log::partition_log::now_ms;
use crate::log::{batch, LogManager};
use crate::error_code::raw as errors;

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
    fn check(&self, inner: &Inner, group: &str) -> Result<i32, i16> {
        let p = self.partition_for(group);
        match inner.partitions.get(&p) {
            Some(PartStatus::Loaded) => Ok(p),
            Some(PartStatus::Loading) => Err(errors::COORDINATOR_LOAD_IN_PROGRESS),
            None => Err(errors::NOT_COORDINATOR),
        }
    }

    /// Appends records (key, value or tombstone) to one partition of `__consumer_offsets`.
    fn store(logs: &LogManager, partition: i32, recs: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), i16> {
        if recs.is_empty() {
            return Ok(());
        }
        let refs: Vec<(Option<&[u8]>, Option<&[u8]>)> = recs.iter().map(|(k, v)| (Some(k.as_slice()), v.as_deref())).collect();
        let mut b = batch::build(&refs, now_ms());
        let Some(part) = logs.get(OFFSETS_TOPIC, partition) else { return Err(errors::NOT_COORDINATOR) };
        let res = crate::replica::append_leader(logs, &part, &mut b);
        match res {
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::error!("cannot write to {OFFSETS_TOPIC}-{partition}: {e}");
                Err(errors::COORDINATOR_NOT_AVAILABLE)
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
                        Outgoing::Join(_, r) if r.error == errors::NONE => r.error = code,
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
        let err = |tx: oneshot::Sender<JoinResult>, e: i16, id: &str| {
            let _ = tx.send(JoinResult::error(e, id));
        };
        if group_id.is_empty() {
            err(tx, errors::INVALID_GROUP_ID, &p.member_id);
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
            err(tx, errors::INVALID_SESSION_TIMEOUT, &p.member_id);
            return rx;
        }
        let now = now_ms();
        if !inner.groups.contains_key(group_id) {
            if !p.member_id.is_empty() {
                err(tx, errors::UNKNOWN_MEMBER_ID, &p.member_id);
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
                let _ = tx.send(SyncResult { error: errors::UNKNOWN_MEMBER_ID, ..Default::default() });
            }
            Some(g) => {
                g.sync(member_id, instance_id, generation, assignments, tx, now_ms());
                Self::finish(logs, g, partition);
            }
        }
        rx
    }

    pub fn heartbeat(&self, logs: &LogManager, group_id: &str, member_id: &str, instance_id: Option<&str>, generation: i32) -> i16 {
        let mut inner = self.lock();
        let partition = match self.check(&inner, group_id) {
            Ok(p) => p,
            Err(e) => return e,
        };
        match inner.groups.get_mut(group_id) {
            None => errors::UNKNOWN_MEMBER_ID,
            Some(g) => {
                let e = g.heartbeat(member_id, instance_id, generation, now_ms());
                Self::finish(logs, g, partition);
                e
            }
        }
    }

    /// Ok(per-member (member id, error)) or a group-level error.
    pub fn leave(&self, logs: &LogManager, group_id: &str, members: &[(String, Option<String>)]) -> Result<Vec<(String, i16)>, i16> {
        let mut inner = self.lock();
        let partition = self.check(&inner, group_id)?;
        let now = now_ms();
        match inner.groups.get_mut(group_id) {
            None => Ok(members.iter().map(|(m, _)| (m.clone(), errors::UNKNOWN_MEMBER_ID)).collect()),
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
    ) -> Result<(), i16> {
        if group_id.is_empty() {
            return Err(errors::INVALID_GROUP_ID);
        }
        let mut inner = self.lock();
        let partition = self.check(&inner, group_id)?;
        let now = now_ms();
        match inner.groups.get(group_id) {
            None if generation < 0 => {
                inner.groups.insert(group_id.to_string(), Group::new(group_id, now));
            }
            None => return Err(errors::ILLEGAL_GENERATION),
            Some(g) => {
                if g.state == GroupState::Dead {
                    return Err(errors::COORDINATOR_NOT_AVAILABLE);
                }
                let simple = generation < 0 && g.state == GroupState::Empty;
                if !simple {
                    if let Some(i) = instance_id {
                        if g.static_members.get(i).map(|x| x != member_id).unwrap_or(false) {
                            return Err(errors::FENCED_INSTANCE_ID);
                        }
                    }
                    if !g.members.contains_key(member_id) {
                        return Err(errors::UNKNOWN_MEMBER_ID);
                    }
                    if generation != g.generation {
                        return Err(errors::ILLEGAL_GENERATION);
                    }
                    if g.state == GroupState::CompletingRebalance {
                        return Err(errors::REBALANCE_IN_PROGRESS);
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
    pub fn fetch(&self, group_id: &str, wanted: Option<Vec<(String, Vec<i32>)>>) -> Result<Vec<(String, i32, Option<OffsetValue>)>, i16> {
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

    pub fn describe(&self, group_id: &str) -> Result<GroupInfo, i16> {
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

    pub fn delete_group(&self, logs: &LogManager, group_id: &str) -> i16 {
        let mut inner = self.lock();
        let partition = match self.check(&inner, group_id) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let Some(g) = inner.groups.get(group_id) else { return errors::GROUP_ID_NOT_FOUND };
        if !g.deletable() {
            return errors::NON_EMPTY_GROUP;
        }
        if let Err(e) = Self::store(logs, partition, &Self::tombstones(g)) {
            return e;
        }
        inner.groups.remove(group_id);
        tracing::info!("deleted group {group_id}");
        errors::NONE
    }

    /// OffsetDelete: Ok(per-partition errors) or a group-level error.
    pub fn delete_offsets(&self, logs: &LogManager, group_id: &str, parts: &[(String, i32)]) -> Result<Vec<i16>, i16> {
        let mut inner = self.lock();
        let partition = self.check(&inner, group_id)?;
        let Some(g) = inner.groups.get_mut(group_id) else { return Err(errors::GROUP_ID_NOT_FOUND) };
        if g.state == GroupState::Dead {
            return Err(errors::GROUP_ID_NOT_FOUND);
        }
        let subscribed: Vec<String> = if g.deletable() {
            Vec::new()
        } else {
            match g.subscribed_topics() {
                Some(t) => t,
                None => return Err(errors::NON_EMPTY_GROUP),
            }
        };
        let mut codes = Vec::new();
        let mut recs = Vec::new();
        for (t, p) in parts {
            if subscribed.contains(t) {
                codes.push(errors::GROUP_SUBSCRIBED_TO_TOPIC);
            } else {
                codes.push(errors::NONE);
                if g.offsets.contains_key(&(t.clone(), *p)) {
                    recs.push((records::encode_key(&Key::Offset { group: group_id.to_string(), topic: t.clone(), partition: *p }), None));
                }
            }
        }
        Self::store(logs, partition, &recs)?;
        for ((t, p), c) in parts.iter().zip(&codes) {
            if *c == errors::NONE {
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
            if expire && g.state == GroupState::Empty && g.offsets.is_empty() && g.pending.is_empty() {
                dead.push((g.id.clone(), partition));
            }
        }
        for (id, partition) in dead {
            if let Some(g) = inner.groups.get(&id) {
                let _ = g;
                if Self::store(logs, partition, &[(records::encode_key(&Key::Group { group: id.clone() }), None)]).is_ok() {
                    inner.groups.remove(&id);
                    tracing::info!("group {id} is empty and has no offsets: removed");
                }
            }
        }
    }

    /// Leadership of `__consumer_offsets` partitions changed: load what we now lead, drop
    /// the groups of what we no longer lead.
    pub fn update_ownership(&self, logs: &LogManager, led: &BTreeSet<i32>, partition_count: Option<i32>) {
        if let Some(n) = partition_count {
            self.partitions.store(n.max(1), Ordering::Relaxed);
        }
        let n = self.partitions.load(Ordering::Relaxed);
        let (to_load, lost) = {
            let mut inner = self.lock();
            let lost: Vec<i32> = inner.partitions.keys().copied().filter(|p| !led.contains(p)).collect();
            for p in &lost {
                inner.partitions.remove(p);
            }
            let before = inner.groups.len();
            inner.groups.retain(|id, _| led.contains(&records::partition_for(id, n)));
            if before != inner.groups.len() {
                tracing::info!("unloaded {} group(s) of {OFFSETS_TOPIC} partitions {lost:?}", before - inner.groups.len());
            }
            let new: Vec<i32> = led.iter().copied().filter(|p| !inner.partitions.contains_key(p)).collect();
            for p in &new {
                inner.partitions.insert(*p, PartStatus::Loading);
            }
            (new, lost)
        };
        let _ = lost;
        for p in to_load {
            let started = std::time::Instant::now();
            let groups = load_partition(logs, p);
            let mut inner = self.lock();
            if inner.partitions.get(&p) != Some(&PartStatus::Loading) {
                continue;
            }
            let count = groups.len();
            for (id, g) in groups {
                if records::partition_for(&id, n) == p {
                    inner.groups.insert(id, g);
                }
            }
            inner.partitions.insert(p, PartStatus::Loaded);
            if count > 0 {
                tracing::info!("loaded {count} group(s) from {OFFSETS_TOPIC}-{p} in {:?}", started.elapsed());
            }
        }
    }
}

/// Replays one partition of `__consumer_offsets` into groups.
fn load_partition(logs: &LogManager, p: i32) -> HashMap<String, Group> {
    let now = now_ms();
    let mut offsets: HashMap<String, BTreeMap<(String, i32), OffsetValue>> = HashMap::new();
    let mut metas: HashMap<String, Option<records::GroupValue>> = HashMap::new();
    let Some(part) = logs.get(OFFSETS_TOPIC, p) else { return HashMap::new() };
    let (mut from, end) = {
        let log = part.lock();
        (log.log_start_offset, log.log_end_offset)
    };
    while from < end {
        let data = match part.lock().read(from, 1 << 20) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!("reading {OFFSETS_TOPIC}-{p} at {from}: {e}");
                break;
            }
        };
        let batches = batch::split(&data);
        if batches.is_empty() {
            break;
        }
        for (h, bytes) in batches {
            from = h.last_offset() + 1;
            let recs = match batch::records(bytes) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("skipping unreadable batch at {} of {OFFSETS_TOPIC}-{p}: {e}", h.base_offset);
                    continue;
                }
            };
            for r in recs {
                let Some(key) = r.key.as_deref().and_then(records::decode_key) else { continue };
                match key {
                    Key::Offset { group, topic, partition } => {
                        let m = offsets.entry(group).or_default();
                        match r.value.as_deref().and_then(records::decode_offset) {
                            Some(v) => {
                                m.insert((topic, partition), v);
                            }
                            None => {
                                m.remove(&(topic, partition));
                            }
                        }
                    }
                    Key::Group { group } => {
                        let v = r.value.as_deref().and_then(records::decode_group);
                        if v.is_none() {
                            offsets.remove(&group);
                        }
                        metas.insert(group, v);
                    }
                }
            }
        }
    }
    let mut out = HashMap::new();
    for (id, v) in metas {
        if let Some(v) = v {
            out.insert(id.clone(), Group::from_stored(&id, &v, now));
        }
    }
    for (id, offs) in offsets {
        if offs.is_empty() && !out.contains_key(&id) {
            continue;
        }
        let g = out.entry(id.clone()).or_insert_with(|| Group::new(&id, now));
        g.offsets = offs;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_properties, BrokerConfig};
    use crate::group::group::JoinParams;
    use crate::topic_config::TopicConfig;

    fn setup(dir: &std::path::Path, extra: &str) -> (BrokerConfig, LogManager, GroupCoordinator) {
        let text = format!("zookeeper.connect=x:1\nlog.dirs={}\noffsets.topic.num.partitions=3\ngroup.initial.rebalance.delay.ms=0\n{extra}", dir.display());
        let cfg = BrokerConfig::from_pairs(parse_properties(&text)).unwrap();
        let logs = LogManager::new(&cfg);
        logs.load_existing().unwrap();
        for p in 0..3 {
            logs.get_or_create(OFFSETS_TOPIC, p, TopicConfig::resolve(&cfg, &Default::default())).unwrap();
        }
        let gc = GroupCoordinator::new(Settings::from_config(&cfg));
        gc.update_ownership(&logs, &(0..3).collect(), Some(3));
        (cfg, logs, gc)
    }

    fn ov(offset: i64) -> OffsetValue {
        OffsetValue { offset, leader_epoch: -1, metadata: "m".into(), commit_timestamp: now_ms(), expire_timestamp: None }
    }

    #[tokio::test]
    async fn state_is_rebuilt_from_the_log() {
        let d = tempfile::tempdir().unwrap();
        let member;
        {
            let (_c, logs, gc) = setup(d.path(), "");
            gc.commit(&logs, "simple", -1, "", None, vec![("t".into(), 0, ov(5)), ("t".into(), 1, ov(6))]).unwrap();
            gc.commit(&logs, "simple", -1, "", None, vec![("t".into(), 0, ov(7))]).unwrap();
            let p = |id: &str| JoinParams {
                member_id: id.into(),
                instance_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                session_timeout: 10_000,
                rebalance_timeout: 10_000,
                protocol_type: "consumer".into(),
                protocols: vec![("range".into(), Bytes::from_static(b"sub"))],
                require_known_member_id: false,
            };
            let j = gc.join(&logs, "live", p("")).await.unwrap();
            assert_eq!((j.error, j.generation), (0, 1));
            member = j.member_id.clone();
            let s = gc.sync(&logs, "live", &member, None, 1, vec![(member.clone(), Bytes::from_static(b"asg"))]).await.unwrap();
            assert_eq!(s.error, 0);
            gc.commit(&logs, "live", 1, &member, None, vec![("t".into(), 0, ov(3))]).unwrap();
            assert_eq!(gc.commit(&logs, "live", 2, &member, None, vec![("t".into(), 0, ov(4))]), Err(errors::ILLEGAL_GENERATION));
            gc.commit(&logs, "gone", -1, "", None, vec![("t".into(), 0, ov(1))]).unwrap();
            assert_eq!(gc.delete_group(&logs, "gone"), errors::NONE);
            assert_eq!(gc.delete_group(&logs, "live"), errors::NON_EMPTY_GROUP);
            logs.checkpoint(true);
        }
        // A new broker process on the same log dir.
        let (_c, logs, gc) = setup(d.path(), "");
        let got = gc.fetch("simple", None).unwrap();
        let offs: Vec<(i32, i64)> = got.iter().map(|(_, p, v)| (*p, v.as_ref().unwrap().offset)).collect();
        assert_eq!(offs, vec![(0, 7), (1, 6)]);
        assert_eq!(gc.fetch("live", Some(vec![("t".into(), vec![0])])).unwrap()[0].2.as_ref().unwrap().offset, 3);
        assert!(gc.fetch("gone", None).unwrap().is_empty());
        let info = gc.describe("live").unwrap();
        assert_eq!((info.state, info.members.len()), ("Stable", 1));
        assert_eq!(info.members[0].assignment, Bytes::from_static(b"asg"));
        assert_eq!(gc.heartbeat(&logs, "live", &member, None, 1), errors::NONE);
        let mut listed: Vec<String> = gc.list().into_iter().map(|(g, _, _)| g).collect();
        listed.sort();
        assert_eq!(listed, vec!["live".to_string(), "simple".to_string()]);
    }

    #[tokio::test]
    async fn offsets_of_empty_groups_expire_and_stay_expired() {
        let d = tempfile::tempdir().unwrap();
        {
            let (_c, logs, gc) = setup(d.path(), "offsets.retention.minutes=0\noffsets.retention.check.interval.ms=1\n");
            gc.commit(&logs, "old", -1, "", None, vec![("t".into(), 0, ov(5))]).unwrap();
            gc.tick(&logs);
            assert!(gc.fetch("old", None).unwrap().is_empty());
            gc.tick(&logs);
            assert!(gc.list().is_empty(), "an empty group without offsets is removed");
        }
        let (_c, _logs, gc) = setup(d.path(), "");
        assert!(gc.fetch("old", None).unwrap().is_empty());
        assert!(gc.list().is_empty());
    }

    #[test]
    fn not_owned_or_loading_partitions_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let (_c, logs, gc) = setup(d.path(), "");
        gc.update_ownership(&logs, &BTreeSet::new(), Some(3));
        assert_eq!(gc.fetch("x", None).unwrap_err(), errors::NOT_COORDINATOR);
        assert_eq!(gc.commit(&logs, "", -1, "", None, vec![]), Err(errors::INVALID_GROUP_ID));
    }
}
