//! One consumer group's state machine (Kafka's classic rebalance protocol), pure: time comes
//! in as `now` (ms), and answers to waiting JoinGroup/SyncGroup requests are queued in
//! `outbox`, which the coordinator delivers after it has written whatever the step made
//! `dirty` to `__consumer_offsets`.
//!
//! ```text
//! Empty --join--> PreparingRebalance --all joined / rebalance timeout--> CompletingRebalance
//!   ^                   ^     (initial delay when coming from Empty)            |
//!   |                   +-- member joins / leaves / expires / protocol change --+
//!   +-- last member leaves or expires          <-- Stable <-- leader's SyncGroup-+
//! ```
//! Members: dynamic (member id chosen here; JoinGroup v4+ first gets MEMBER_ID_REQUIRED with a
//! pending id) and static (`group.instance.id`: a rejoin with a new member id replaces the
//! old one without a rebalance when the group is Stable).

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::records::{GroupValue, MemberValue, OffsetValue};
use crate::error_code::ErrorCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinResult {
    pub error: ErrorCode,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// (member id, group instance id, metadata): only for the leader.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinResult {
    pub fn error(error: ErrorCode, member_id: &str) -> JoinResult {
        JoinResult { error, generation: -1, member_id: member_id.to_string(), ..Default::default() }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncResult {
    pub error: ErrorCode,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

pub enum Outgoing {
    Join(oneshot::Sender<JoinResult>, JoinResult),
    Sync(oneshot::Sender<SyncResult>, SyncResult),
}

pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: i32,
    pub rebalance_timeout: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub join_waiter: Option<oneshot::Sender<JoinResult>>,
    pub sync_waiter: Option<oneshot::Sender<SyncResult>>,
    pub last_heartbeat: i64,
    order: u64,
}

impl Member {
    fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|(n, _)| n == protocol).map(|(_, m)| m.clone()).unwrap_or_default()
    }
    fn same_protocols(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }
}

#[derive(Debug, Clone, Copy)]
pub struct GroupConfig {
    pub initial_rebalance_delay_ms: i64,
    pub max_size: usize,
}

/// A JoinGroup request, as the group sees it.
pub struct JoinParams {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: i32,
    pub rebalance_timeout: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: an unknown member first gets MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
}

pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub state_timestamp: i64,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with the time they expire.
    pub pending: HashMap<String, i64>,
    pub static_members: HashMap<String, String>,
    pub offsets: BTreeMap<(String, i32), OffsetValue>,
    /// PreparingRebalance: complete no earlier than this (initial delay) ...
    join_not_before: i64,
    /// ... and no later than this (rebalance timeout).
    join_deadline: i64,
    initial_join_started: Option<i64>,
    cfg_initial_delay: i64,
    next_order: u64,
    /// Group metadata changed: store it before delivering `outbox`.
    pub dirty: bool,
    pub outbox: Vec<Outgoing>,
}

pub fn new_member_id(prefix: &str) -> String {
    let r: u128 = rand::random();
    let h = format!("{r:032x}");
    format!("{prefix}-{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

impl Group {
    pub fn new(id: &str, now: i64) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            state_timestamp: now,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending: HashMap::new(),
            static_members: HashMap::new(),
            offsets: BTreeMap::new(),
            join_not_before: 0,
            join_deadline: 0,
            initial_join_started: None,
            cfg_initial_delay: 0,
            next_order: 0,
            dirty: false,
            outbox: Vec::new(),
        }
    }

    /// A group as stored in `__consumer_offsets` (after a restart or a leadership move):
    /// its members keep their assignment and must heartbeat within their session timeout.
    pub fn from_stored(id: &str, v: &GroupValue, now: i64) -> Group {
        let mut g = Group::new(id, if v.state_timestamp > 0 { v.state_timestamp } else { now });
        g.generation = v.generation;
        g.protocol_type = if v.protocol_type.is_empty() { None } else { Some(v.protocol_type.clone()) };
        g.protocol = v.protocol.clone();
        g.leader = v.leader.clone();
        for m in &v.members {
            let order = g.next_order;
            g.next_order += 1;
            let protocol = v.protocol.clone().unwrap_or_default();
            g.members.insert(
                m.member_id.clone(),
                Member {
                    id: m.member_id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    session_timeout: m.session_timeout,
                    rebalance_timeout: m.rebalance_timeout,
                    protocol_type: v.protocol_type.clone(),
                    protocols: vec![(protocol, Bytes::from(m.subscription.clone()))],
                    assignment: Bytes::from(m.assignment.clone()),
                    join_waiter: None,
                    sync_waiter: None,
                    last_heartbeat: now,
                    order,
                },
            );
            if let Some(i) = &m.instance_id {
                g.static_members.insert(i.clone(), m.member_id.clone());
            }
        }
        g.state = if g.members.is_empty() { GroupState::Empty } else { GroupState::Stable };
        g
    }

    pub fn to_stored(&self) -> GroupValue {
        let protocol = self.protocol.clone().unwrap_or_default();
        GroupValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            state_timestamp: self.state_timestamp,
            members: self
                .members
                .values()
                .map(|m| MemberValue {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout: m.rebalance_timeout,
                    session_timeout: m.session_timeout,
                    subscription: m.metadata(&protocol).to_vec(),
                    assignment: m.assignment.to_vec(),
                })
                .collect(),
        }
    }

    fn transition(&mut self, s: GroupState, now: i64) {
        self.state = s;
        self.state_timestamp = now;
    }

    pub fn is_empty_of_members(&self) -> bool {
        self.members.is_empty() && self.pending.is_empty()
    }

    /// The topics the members subscribe to (consumer protocol), for OffsetDelete.
    pub fn subscribed_topics(&self) -> Option<Vec<String>> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let p = self.protocol.clone()?;
        let mut out = Vec::new();
        for m in self.members.values() {
            out.extend(super::records::subscription_topics(&m.metadata(&p))?);
        }
        Some(out)
    }

    fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        protocols.iter().any(|(n, _)| self.members.values().all(|m| m.protocols.iter().any(|(mn, _)| mn == n)))
    }

    fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| self.members.values().all(|m| m.protocols.iter().any(|(mn, _)| mn == *n)))
            .collect();
        let mut votes: Vec<(&String, usize)> = candidates.iter().map(|c| (*c, 0)).collect();
        for m in self.members.values() {
            if let Some((n, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(&n)) {
                if let Some(v) = votes.iter_mut().find(|(c, _)| *c == n) {
                    v.1 += 1;
                }
            }
        }
        let max = votes.iter().map(|(_, v)| *v).max()?;
        votes.into_iter().find(|(_, v)| *v == max).map(|(c, _)| c.clone())
    }

    fn max_rebalance_timeout(&self) -> i64 {
        self.members.values().map(|m| m.rebalance_timeout.max(0) as i64).max().unwrap_or(0)
    }

    fn join_result(&self, member_id: &str, with_members: bool) -> JoinResult {
        let protocol = self.protocol.clone().unwrap_or_default();
        JoinResult {
            error: ErrorCode::NONE,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members: if with_members {
                let mut ms: Vec<&Member> = self.members.values().collect();
                ms.sort_by_key(|m| m.order);
                ms.iter().map(|m| (m.id.clone(), m.instance_id.clone(), m.metadata(&protocol))).collect()
            } else {
                Vec::new()
            },
        }
    }

    fn add_member(&mut self, p: &JoinParams, id: String, tx: oneshot::Sender<JoinResult>, now: i64) {
        let order = self.next_order;
        self.next_order += 1;
        if self.members.is_empty() {
            self.protocol_type = Some(p.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(id.clone());
        }
        if let Some(i) = &p.instance_id {
            self.static_members.insert(i.clone(), id.clone());
        }
        self.members.insert(
            id.clone(),
            Member {
                id,
                instance_id: p.instance_id.clone(),
                client_id: p.client_id.clone(),
                client_host: p.client_host.clone(),
                session_timeout: p.session_timeout,
                rebalance_timeout: p.rebalance_timeout,
                protocol_type: p.protocol_type.clone(),
                protocols: p.protocols.clone(),
                assignment: Bytes::new(),
                join_waiter: Some(tx),
                sync_waiter: None,
                last_heartbeat: now,
                order,
            },
        );
        if let Some(start) = self.initial_join_started {
            // Kafka's InitialDelayedJoin: each newcomer during the delay extends it, up to
            // the rebalance timeout.
            let cap = start + self.max_rebalance_timeout().max(p.rebalance_timeout as i64);
            self.join_not_before = (now + self.cfg_initial_delay).min(cap).max(self.join_not_before);
            self.join_deadline = self.join_deadline.max(cap);
        }
    }

    fn remove_member(&mut self, id: &str) {
        if let Some(m) = self.members.remove(id) {
            if let Some(i) = &m.instance_id {
                if self.static_members.get(i).map(|x| x == id).unwrap_or(false) {
                    self.static_members.remove(i);
                }
            }
            if let Some(tx) = m.join_waiter {
                self.outbox.push(Outgoing::Join(tx, JoinResult::error(ErrorCode::UNKNOWN_MEMBER_ID, id)));
            }
            if let Some(tx) = m.sync_waiter {
                self.outbox.push(Outgoing::Sync(tx, SyncResult { error: ErrorCode::UNKNOWN_MEMBER_ID, ..Default::default() }));
            }
        }
        if self.leader.as_deref() == Some(id) {
            self.leader = self.members.values().min_by_key(|m| m.order).map(|m| m.id.clone());
        }
    }

    fn prepare_rebalance(&mut self, now: i64, cfg: &GroupConfig) {
        if self.state == GroupState::CompletingRebalance {
            for m in self.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(tx) = m.sync_waiter.take() {
                    self.outbox.push(Outgoing::Sync(tx, SyncResult { error: ErrorCode::REBALANCE_IN_PROGRESS, ..Default::default() }));
                }
            }
        }
        let from_empty = self.state == GroupState::Empty;
        self.transition(GroupState::PreparingRebalance, now);
        self.cfg_initial_delay = cfg.initial_rebalance_delay_ms.max(0);
        let timeout = self.max_rebalance_timeout();
        if from_empty && cfg.initial_rebalance_delay_ms > 0 {
            self.initial_join_started = Some(now);
            self.join_not_before = now + cfg.initial_rebalance_delay_ms.min(timeout.max(1));
        } else {
            self.initial_join_started = None;
            self.join_not_before = now;
        }
        self.join_deadline = now + timeout;
    }

    fn all_joined(&self) -> bool {
        self.pending.is_empty() && self.members.values().all(|m| m.join_waiter.is_some())
    }

    /// Completes the join phase if everyone is in (and the initial delay is over) or the
    /// rebalance timeout passed.
    pub fn maybe_complete_join(&mut self, now: i64) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let ready = (self.all_joined() && now >= self.join_not_before) || now >= self.join_deadline;
        if !ready {
            return;
        }
        let late: Vec<String> = self.members.values().filter(|m| m.join_waiter.is_none()).map(|m| m.id.clone()).collect();
        for id in late {
            tracing::info!("group {}: member {id} did not rejoin in time and is removed", self.id);
            self.remove_member(&id);
        }
        self.pending.clear();
        self.initial_join_started = None;
        self.generation += 1;
        self.dirty = true;
        if self.members.is_empty() {
            self.protocol = None;
            self.leader = None;
            self.transition(GroupState::Empty, now);
            tracing::info!("group {} with generation {} is now empty", self.id, self.generation);
            return;
        }
        self.protocol = self.select_protocol();
        self.transition(GroupState::CompletingRebalance, now);
        tracing::info!(
            "stabilized group {} generation {} ({} members, protocol {:?})",
            self.id,
            self.generation,
            self.members.len(),
            self.protocol
        );
        let leader = self.leader.clone().unwrap_or_default();
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let r = self.join_result(&id, id == leader);
            if let Some(m) = self.members.get_mut(&id) {
                m.last_heartbeat = now;
                if let Some(tx) = m.join_waiter.take() {
                    self.outbox.push(Outgoing::Join(tx, r));
                }
            }
        }
    }

    fn update_member_and_rebalance(&mut self, id: &str, p: &JoinParams, tx: oneshot::Sender<JoinResult>, now: i64, cfg: &GroupConfig) {
        if let Some(m) = self.members.get_mut(id) {
            m.protocols = p.protocols.clone();
            m.session_timeout = p.session_timeout;
            m.rebalance_timeout = p.rebalance_timeout;
            m.last_heartbeat = now;
            if let Some(old) = m.join_waiter.replace(tx) {
                self.outbox.push(Outgoing::Join(old, JoinResult::error(ErrorCode::UNKNOWN_MEMBER_ID, id)));
            }
        }
        if matches!(self.state, GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty) {
            self.prepare_rebalance(now, cfg);
        }
        self.maybe_complete_join(now);
    }

    pub fn join(&mut self, p: JoinParams, tx: oneshot::Sender<JoinResult>, now: i64, cfg: &GroupConfig) {
        let reply = |g: &mut Group, tx, r| g.outbox.push(Outgoing::Join(tx, r));
        if self.state == GroupState::Dead {
            return reply(self, tx, JoinResult::error(ErrorCode::COORDINATOR_NOT_AVAILABLE, &p.member_id));
        }
        if !self.supports(&p.protocol_type, &p.protocols) {
            return reply(self, tx, JoinResult::error(ErrorCode::INCONSISTENT_GROUP_PROTOCOL, &p.member_id));
        }
        if p.member_id.is_empty() {
            // Unknown member.
            if let Some(instance) = p.instance_id.clone() {
                let new_id = new_member_id(&instance);
                if let Some(old) = self.static_members.get(&instance).cloned() {
                    return self.replace_static_member(&old, new_id, p, tx, now, cfg);
                }
                if self.members.len() >= cfg.max_size {
                    return reply(self, tx, JoinResult::error(ErrorCode::GROUP_MAX_SIZE_REACHED, ""));
                }
                self.add_member(&p, new_id, tx, now);
                if self.state != GroupState::PreparingRebalance {
                    self.prepare_rebalance(now, cfg);
                }
                return self.maybe_complete_join(now);
            }
            if self.members.len() + self.pending.len() >= cfg.max_size {
                return reply(self, tx, JoinResult::error(ErrorCode::GROUP_MAX_SIZE_REACHED, ""));
            }
            let new_id = new_member_id(&p.client_id);
            if p.require_known_member_id {
                self.pending.insert(new_id.clone(), now + p.session_timeout.max(0) as i64);
                return reply(self, tx, JoinResult::error(ErrorCode::MEMBER_ID_REQUIRED, &new_id));
            }
            self.add_member(&p, new_id, tx, now);
            if self.state != GroupState::PreparingRebalance {
                self.prepare_rebalance(now, cfg);
            }
            return self.maybe_complete_join(now);
        }
        let id = p.member_id.clone();
        if self.pending.remove(&id).is_some() {
            self.add_member(&p, id, tx, now);
            if self.state != GroupState::PreparingRebalance {
                self.prepare_rebalance(now, cfg);
            }
            return self.maybe_complete_join(now);
        }
        if let Some(instance) = &p.instance_id {
            if let Some(current) = self.static_members.get(instance) {
                if *current != id {
                    return reply(self, tx, JoinResult::error(ErrorCode::FENCED_INSTANCE_ID, &id));
                }
            }
        }
        if !self.members.contains_key(&id) {
            return reply(self, tx, JoinResult::error(ErrorCode::UNKNOWN_MEMBER_ID, &id));
        }
        match self.state {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(&id, &p, tx, now, cfg),
            GroupState::CompletingRebalance => {
                let same = self.members.get(&id).map(|m| m.same_protocols(&p.protocols)).unwrap_or(false);
                if same {
                    let is_leader = self.leader.as_deref() == Some(id.as_str());
                    let r = self.join_result(&id, is_leader);
                    if let Some(m) = self.members.get_mut(&id) {
                        m.last_heartbeat = now;
                    }
                    reply(self, tx, r)
                } else {
                    self.update_member_and_rebalance(&id, &p, tx, now, cfg)
                }
            }
            GroupState::Stable => {
                let is_leader = self.leader.as_deref() == Some(id.as_str());
                let same = self.members.get(&id).map(|m| m.same_protocols(&p.protocols)).unwrap_or(false);
                if is_leader || !same {
                    self.update_member_and_rebalance(&id, &p, tx, now, cfg)
                } else {
                    let r = self.join_result(&id, false);
                    if let Some(m) = self.members.get_mut(&id) {
                        m.last_heartbeat = now;
                    }
                    reply(self, tx, r)
                }
            }
            GroupState::Empty | GroupState::Dead => reply(self, tx, JoinResult::error(ErrorCode::UNKNOWN_MEMBER_ID, &id)),
        }
    }

    /// A static member rejoining with a new member id: the old id is fenced.
    fn replace_static_member(&mut self, old: &str, new_id: String, p: JoinParams, tx: oneshot::Sender<JoinResult>, now: i64, cfg: &GroupConfig) {
        let Some(mut m) = self.members.remove(old) else {
            self.static_members.remove(p.instance_id.as_deref().unwrap_or_default());
            return self.join(p, tx, now, cfg);
        };
        let old_leader = self.leader.clone();
        if let Some(w) = m.join_waiter.take() {
            self.outbox.push(Outgoing::Join(w, JoinResult::error(ErrorCode::FENCED_INSTANCE_ID, old)));
        }
        if let Some(w) = m.sync_waiter.take() {
            self.outbox.push(Outgoing::Sync(w, SyncResult { error: ErrorCode::FENCED_INSTANCE_ID, ..Default::default() }));
        }
        m.id = new_id.clone();
        m.last_heartbeat = now;
        m.client_id = p.client_id.clone();
        m.client_host = p.client_host.clone();
        m.session_timeout = p.session_timeout;
        m.rebalance_timeout = p.rebalance_timeout;
        self.members.insert(new_id.clone(), m);
        if let Some(i) = &p.instance_id {
            self.static_members.insert(i.clone(), new_id.clone());
        }
        if self.leader.as_deref() == Some(old) {
            self.leader = Some(new_id.clone());
        }
        tracing::info!("group {}: static member {:?} rejoined as {new_id} (was {old})", self.id, p.instance_id);
        match self.state {
            GroupState::Stable => {
                // No rebalance; the old leader id is returned so that nobody reassigns.
                self.dirty = true;
                let mut r = self.join_result(&new_id, false);
                r.leader = old_leader.unwrap_or_default();
                self.outbox.push(Outgoing::Join(tx, r));
            }
            _ => self.update_member_and_rebalance(&new_id, &p, tx, now, cfg),
        }
    }

    pub fn sync(&mut self, member_id: &str, instance_id: Option<&str>, generation: i32, assignments: Vec<(String, Bytes)>, tx: oneshot::Sender<SyncResult>, now: i64) {
        let err = |e| SyncResult { error: e, ..Default::default() };
        if let Some(i) = instance_id {
            if self.static_members.get(i).map(|x| x != member_id).unwrap_or(false) {
                return self.outbox.push(Outgoing::Sync(tx, err(ErrorCode::FENCED_INSTANCE_ID)));
            }
        }
        if !self.members.contains_key(member_id) {
            return self.outbox.push(Outgoing::Sync(tx, err(ErrorCode::UNKNOWN_MEMBER_ID)));
        }
        if generation != self.generation {
            return self.outbox.push(Outgoing::Sync(tx, err(ErrorCode::ILLEGAL_GENERATION)));
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => self.outbox.push(Outgoing::Sync(tx, err(ErrorCode::UNKNOWN_MEMBER_ID))),
            GroupState::PreparingRebalance => self.outbox.push(Outgoing::Sync(tx, err(ErrorCode::REBALANCE_IN_PROGRESS))),
            GroupState::CompletingRebalance => {
                if let Some(m) = self.members.get_mut(member_id) {
                    m.last_heartbeat = now;
                    m.sync_waiter = Some(tx);
                }
                if self.leader.as_deref() == Some(member_id) {
                    let given: HashMap<String, Bytes> = assignments.into_iter().collect();
                    for m in self.members.values_mut() {
                        m.assignment = given.get(&m.id).cloned().unwrap_or_default();
                    }
                    self.dirty = true;
                    self.transition(GroupState::Stable, now);
                    let pt = self.protocol_type.clone();
                    let pn = self.protocol.clone();
                    for m in self.members.values_mut() {
                        if let Some(w) = m.sync_waiter.take() {
                            let r = SyncResult { error: ErrorCode::NONE, protocol_type: pt.clone(), protocol_name: pn.clone(), assignment: m.assignment.clone() };
                            self.outbox.push(Outgoing::Sync(w, r));
                        }
                    }
                }
            }
            GroupState::Stable => {
                let r = self.members.get_mut(member_id).map(|m| {
                    m.last_heartbeat = now;
                    m.assignment.clone()
                });
                let r = SyncResult { error: ErrorCode::NONE, protocol_type: self.protocol_type.clone(), protocol_name: self.protocol.clone(), assignment: r.unwrap_or_default() };
                self.outbox.push(Outgoing::Sync(tx, r));
            }
        }
    }

    pub fn heartbeat(&mut self, member_id: &str, instance_id: Option<&str>, generation: i32, now: i64) -> ErrorCode {
        if let Some(i) = instance_id {
            if self.static_members.get(i).map(|x| x != member_id).unwrap_or(false) {
                return ErrorCode::FENCED_INSTANCE_ID;
            }
        }
        if matches!(self.state, GroupState::Empty | GroupState::Dead) {
            return ErrorCode::UNKNOWN_MEMBER_ID;
        }
        let Some(m) = self.members.get_mut(member_id) else { return ErrorCode::UNKNOWN_MEMBER_ID };
        if generation != self.generation {
            return ErrorCode::ILLEGAL_GENERATION;
        }
        m.last_heartbeat = now;
        match self.state {
            GroupState::PreparingRebalance => ErrorCode::REBALANCE_IN_PROGRESS,
            _ => ErrorCode::NONE,
        }
    }

    /// LeaveGroup of one member (by id, or by instance id when the id is empty).
    pub fn leave(&mut self, member_id: &str, instance_id: Option<&str>, now: i64, cfg: &GroupConfig) -> (String, ErrorCode) {
        let id = match (member_id.is_empty(), instance_id) {
            (true, Some(i)) => match self.static_members.get(i) {
                Some(id) => id.clone(),
                None => return (String::new(), ErrorCode::UNKNOWN_MEMBER_ID),
            },
            (false, Some(i)) => {
                if self.static_members.get(i).map(|x| x != member_id).unwrap_or(false) {
                    return (member_id.to_string(), ErrorCode::FENCED_INSTANCE_ID);
                }
                member_id.to_string()
            }
            _ => member_id.to_string(),
        };
        if self.pending.remove(&id).is_some() {
            self.maybe_complete_join(now);
            return (id, ErrorCode::NONE);
        }
        if !self.members.contains_key(&id) {
            return (id, ErrorCode::UNKNOWN_MEMBER_ID);
        }
        tracing::info!("group {}: member {id} left", self.id);
        self.remove_member_and_update(&id, now, cfg);
        (id, ErrorCode::NONE)
    }

    fn remove_member_and_update(&mut self, id: &str, now: i64, cfg: &GroupConfig) {
        self.remove_member(id);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => self.prepare_rebalance(now, cfg),
            GroupState::PreparingRebalance => self.maybe_complete_join(now),
            _ => {}
        }
        self.maybe_complete_join(now);
    }

    /// Timers: session expiry of members, pending member ids, join completion.
    pub fn tick(&mut self, now: i64, cfg: &GroupConfig) {
        self.pending.retain(|_, deadline| *deadline > now);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| m.join_waiter.is_none() && m.sync_waiter.is_none() && now > m.last_heartbeat + m.session_timeout as i64)
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            tracing::info!("group {}: member {id} failed (no heartbeat within its session timeout); removing it", self.id);
            self.remove_member_and_update(&id, now, cfg);
        }
        self.maybe_complete_join(now);
    }

    /// For DeleteGroups and offset expiry: a group without members.
    pub fn deletable(&self) -> bool {
        matches!(self.state, GroupState::Empty | GroupState::Dead)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: GroupConfig = GroupConfig { initial_rebalance_delay_ms: 0, max_size: 100 };

    fn params(id: &str, instance: Option<&str>, v4: bool) -> JoinParams {
        JoinParams {
            member_id: id.to_string(),
            instance_id: instance.map(str::to_string),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout: 1000,
            rebalance_timeout: 5000,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"m"))],
            require_known_member_id: v4,
        }
    }

    fn join(g: &mut Group, p: JoinParams, now: i64) -> oneshot::Receiver<JoinResult> {
        let (tx, rx) = oneshot::channel();
        g.join(p, tx, now, &CFG);
        deliver(g);
        rx
    }

    fn deliver(g: &mut Group) {
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

    #[test]
    fn member_id_required_then_join_sync_heartbeat() {
        let mut g = Group::new("g", 0);
        let mut rx = join(&mut g, params("", None, true), 0);
        let r = rx.try_recv().unwrap();
        assert_eq!(r.error, ErrorCode::MEMBER_ID_REQUIRED);
        assert!(r.member_id.starts_with("c-"));
        let mut rx = join(&mut g, params(&r.member_id, None, true), 1);
        let j = rx.try_recv().unwrap();
        assert_eq!((j.error, j.generation, j.members.len()), (ErrorCode::NONE, 1, 1));
        assert_eq!(j.leader, j.member_id);
        let (tx, mut srx) = oneshot::channel();
        g.sync(&j.member_id, None, 0, vec![], tx, 2);
        deliver(&mut g);
        assert_eq!(srx.try_recv().unwrap().error, ErrorCode::ILLEGAL_GENERATION);
        let (tx, mut srx) = oneshot::channel();
        g.sync(&j.member_id, None, 1, vec![(j.member_id.clone(), Bytes::from_static(b"a"))], tx, 2);
        deliver(&mut g);
        assert_eq!(srx.try_recv().unwrap().assignment, Bytes::from_static(b"a"));
        assert_eq!(g.state, GroupState::Stable);
        assert_eq!(g.heartbeat(&j.member_id, None, 1, 3), 0);
        assert_eq!(g.heartbeat(&j.member_id, None, 0, 3), ErrorCode::ILLEGAL_GENERATION);
        assert_eq!(g.heartbeat("nobody", None, 1, 3), ErrorCode::UNKNOWN_MEMBER_ID);
        // Session expiry empties the group.
        g.tick(2000, &CFG);
        assert_eq!(g.state, GroupState::Empty);
        assert_eq!(g.generation, 2);
    }

    #[test]
    fn second_member_rebalances_and_late_member_is_dropped() {
        let mut g = Group::new("g", 0);
        let a = join(&mut g, params("", None, false), 0).try_recv().unwrap();
        let (tx, _s) = oneshot::channel();
        g.sync(&a.member_id, None, 1, vec![], tx, 0);
        deliver(&mut g);
        let mut brx = join(&mut g, params("", None, false), 10);
        assert_eq!(g.state, GroupState::PreparingRebalance);
        assert_eq!(g.heartbeat(&a.member_id, None, 1, 11), ErrorCode::REBALANCE_IN_PROGRESS);
        assert!(brx.try_recv().is_err());
        // a never rejoins: after the rebalance timeout, b alone forms generation 2.
        g.tick(10 + 5001, &CFG);
        deliver(&mut g);
        let b = brx.try_recv().unwrap();
        assert_eq!((b.generation, b.leader == b.member_id, g.members.len()), (2, true, 1));
    }

    #[test]
    fn static_member_rejoin_keeps_stable_group() {
        let mut g = Group::new("g", 0);
        let a = join(&mut g, params("", Some("i1"), true), 0).try_recv().unwrap();
        assert_eq!(a.error, ErrorCode::NONE);
        let (tx, _s) = oneshot::channel();
        g.sync(&a.member_id, Some("i1"), 1, vec![(a.member_id.clone(), Bytes::from_static(b"x"))], tx, 0);
        deliver(&mut g);
        let a2 = join(&mut g, params("", Some("i1"), true), 5).try_recv().unwrap();
        assert_eq!((a2.error, a2.generation), (ErrorCode::NONE, 1));
        assert_ne!(a2.member_id, a.member_id);
        assert_eq!(g.state, GroupState::Stable);
        assert_eq!(g.heartbeat(&a.member_id, Some("i1"), 1, 6), ErrorCode::FENCED_INSTANCE_ID);
        let (id, e) = g.leave("", Some("i1"), 7, &CFG);
        assert_eq!((id, e), (a2.member_id.clone(), ErrorCode::NONE));
        assert_eq!(g.state, GroupState::Empty);
    }

    #[test]
    fn initial_delay_waits_for_more_members() {
        let cfg = GroupConfig { initial_rebalance_delay_ms: 1000, max_size: 100 };
        let mut g = Group::new("g", 0);
        let (tx, mut a) = oneshot::channel();
        g.join(params("", None, false), tx, 0, &cfg);
        g.tick(600, &cfg);
        let (tx, mut b) = oneshot::channel();
        g.join(params("", None, false), tx, 600, &cfg);
        g.tick(1100, &cfg);
        deliver(&mut g);
        assert!(a.try_recv().is_err(), "the second member extended the delay");
        g.tick(1601, &cfg);
        deliver(&mut g);
        let (ra, rb) = (a.try_recv().unwrap(), b.try_recv().unwrap());
        assert_eq!((ra.generation, rb.generation, g.members.len()), (1, 1, 2));
        assert_eq!(ra.members.len() + rb.members.len(), 2, "only the leader gets the member list");
    }

    #[test]
    fn inconsistent_protocols_are_refused() {
        let mut g = Group::new("g", 0);
        let _a = join(&mut g, params("", None, false), 0);
        let mut p = params("", None, false);
        p.protocols = vec![("other".into(), Bytes::new())];
        assert_eq!(join(&mut g, p, 1).try_recv().unwrap().error, ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
        let mut p = params("", None, false);
        p.protocol_type = String::new();
        assert_eq!(join(&mut g, p, 1).try_recv().unwrap().error, ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
    }
}
