//! One partition's replication state on this broker, without I/O (kept beside its log in
//! `log::Partition`, driven by `replica`): its role (leader,
//! follower of some broker, or neither), the leader epoch and ISR it serves at, the state
//! znode version a leader's ISR update is conditional on, and — on a leader — each
//! follower's progress as learnt from its fetches.
//!
//! The leader's rules are Kafka's (Partition.scala / Replica.scala in 2.5):
//! - a follower's log end offset is the offset it fetches from;
//! - it is "caught up" at the time of a fetch reaching the leader's log end, or at the time
//!   of the previous fetch if this one reaches the log end the leader had then;
//! - an ISR member not caught up for `replica.lag.time.max.ms` leaves the ISR;
//! - a replica outside the ISR joins when its log end reaches the high watermark and the
//!   start of the leader's current epoch;
//! - the high watermark is the smallest log end offset over the ISR, and never moves back.

use std::collections::BTreeMap;

use crate::ids::{BrokerId, LeaderEpoch, Offset};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// No leader known, or not a replica.
    None,
    Leader,
    Follower { leader: BrokerId },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerProgress {
    /// -1 until the follower's first fetch at this epoch.
    pub leo: i64,
    pub caught_up_ms: i64,
    last_fetch_leader_leo: i64,
    last_fetch_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaState {
    pub role: Role,
    pub leader_epoch: LeaderEpoch,
    pub controller_epoch: i32,
    pub replicas: Vec<BrokerId>,
    pub isr: Vec<BrokerId>,
    /// Version of the partition's state znode this ISR was read or written at.
    pub zk_version: i32,
    pub followers: BTreeMap<BrokerId, FollowerProgress>,
    /// An ISR change is being written to ZooKeeper (one at a time, as Kafka).
    pub isr_write_pending: bool,
    /// A follower must ask its leader where its log diverges before fetching.
    pub needs_truncation: bool,
    /// What `heal` last logged about this partition (so that it logs it once).
    pub heal_note: Option<String>,
    /// A follower that could not store fetched data fetches again only after this (ms).
    pub fetch_backoff_until: i64,
}

impl Default for ReplicaState {
    fn default() -> Self {
        ReplicaState {
            role: Role::None,
            leader_epoch: LeaderEpoch(-1),
            controller_epoch: -1,
            replicas: Vec::new(),
            isr: Vec::new(),
            zk_version: -1,
            followers: BTreeMap::new(),
            isr_write_pending: false,
            needs_truncation: false,
            heal_note: None,
            fetch_backoff_until: 0,
        }
    }
}

impl ReplicaState {
    /// Takes leadership at `epoch`. Followers in the ISR count as caught up now (Kafka resets
    /// their lastCaughtUpTime so that a new leader does not shrink the ISR at once).
    pub fn become_leader(&mut self, epoch: LeaderEpoch, controller_epoch: i32, replicas: &[BrokerId], isr: &[BrokerId], zk_version: i32, now: i64) {
        self.role = Role::Leader;
        self.leader_epoch = epoch;
        self.controller_epoch = controller_epoch;
        self.replicas = replicas.to_vec();
        self.isr = isr.to_vec();
        self.zk_version = zk_version;
        self.isr_write_pending = false;
        self.needs_truncation = false;
        self.followers = replicas
            .iter()
            .map(|r| {
                let t = if isr.contains(r) { now } else { 0 };
                (*r, FollowerProgress { leo: -1, caught_up_ms: t, last_fetch_leader_leo: -1, last_fetch_ms: t })
            })
            .collect();
    }

    pub fn become_follower(&mut self, leader: BrokerId, epoch: LeaderEpoch, controller_epoch: i32, replicas: &[BrokerId], isr: &[BrokerId], zk_version: i32) {
        self.role = Role::Follower { leader };
        self.leader_epoch = epoch;
        self.controller_epoch = controller_epoch;
        self.replicas = replicas.to_vec();
        self.isr = isr.to_vec();
        self.zk_version = zk_version;
        self.followers.clear();
        self.isr_write_pending = false;
        self.needs_truncation = true;
    }

    pub fn become_none(&mut self, epoch: LeaderEpoch) {
        self.role = Role::None;
        self.leader_epoch = epoch;
        self.followers.clear();
        self.needs_truncation = false;
    }

    /// A follower fetched from `fetch_offset` while our log end was `leader_leo`.
    pub fn record_fetch(&mut self, follower: BrokerId, fetch_offset: Offset, leader_leo: Offset, now: i64) {
        let (fetch_offset, leader_leo) = (fetch_offset.get(), leader_leo.get());
        let p = self.followers.entry(follower).or_insert(FollowerProgress {
            leo: -1,
            caught_up_ms: 0,
            last_fetch_leader_leo: -1,
            last_fetch_ms: 0,
        });
        if fetch_offset >= leader_leo {
            p.caught_up_ms = now;
        } else if p.last_fetch_leader_leo >= 0 && fetch_offset >= p.last_fetch_leader_leo {
            p.caught_up_ms = p.caught_up_ms.max(p.last_fetch_ms);
        }
        p.leo = fetch_offset;
        p.last_fetch_leader_leo = leader_leo;
        p.last_fetch_ms = now;
    }

    /// The high watermark the ISR supports: the least log end offset over its members
    /// (ours is `my_leo`). None while an ISR follower has not fetched yet at this epoch.
    pub fn isr_min_leo(&self, me: BrokerId, my_leo: Offset) -> Option<Offset> {
        let mut min = my_leo.get();
        for r in &self.isr {
            if *r == me {
                continue;
            }
            let leo = self.followers.get(r).map(|p| p.leo).unwrap_or(-1);
            if leo < 0 {
                return None;
            }
            min = min.min(leo);
        }
        Some(Offset(min))
    }

    /// ISR members (other than us) that have not caught up within `lag_ms`.
    pub fn lagging(&self, me: BrokerId, now: i64, lag_ms: i64) -> Vec<BrokerId> {
        self.isr
            .iter()
            .copied()
            .filter(|r| *r != me)
            .filter(|r| self.followers.get(r).map(|p| now - p.caught_up_ms > lag_ms).unwrap_or(true))
            .collect()
    }

    /// Whether `follower` (outside the ISR) may join it now.
    pub fn may_join(&self, follower: BrokerId, hw: Offset, epoch_start: Offset) -> bool {
        let (hw, epoch_start) = (hw.get(), epoch_start.get());
        if self.isr.contains(&follower) || !self.replicas.contains(&follower) {
            return false;
        }
        match self.followers.get(&follower) {
            Some(p) => p.leo >= 0 && p.leo >= hw && p.leo >= epoch_start,
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(ids: &[i32]) -> Vec<BrokerId> {
        BrokerId::wrap_all(ids)
    }

    const ME: BrokerId = BrokerId(0);

    #[test]
    fn high_watermark_waits_for_every_isr_member() {
        let mut s = ReplicaState::default();
        s.become_leader(LeaderEpoch(3), 1, &b(&[0, 1, 2]), &b(&[0, 1, 2]), 5, 1000);
        assert_eq!(s.isr_min_leo(ME, Offset(10)), None, "followers have not fetched yet");
        s.record_fetch(BrokerId(1), Offset(10), Offset(10), 1001);
        assert_eq!(s.isr_min_leo(ME, Offset(10)), None);
        s.record_fetch(BrokerId(2), Offset(7), Offset(10), 1002);
        assert_eq!(s.isr_min_leo(ME, Offset(10)), Some(Offset(7)));
        s.record_fetch(BrokerId(2), Offset(10), Offset(10), 1003);
        assert_eq!(s.isr_min_leo(ME, Offset(12)), Some(Offset(10)));
        // Without the slow member in the ISR the others decide.
        s.isr = b(&[0, 1]);
        assert_eq!(s.isr_min_leo(ME, Offset(12)), Some(Offset(10)));
    }

    #[test]
    fn lag_follows_kafkas_caught_up_rule() {
        let mut s = ReplicaState::default();
        s.become_leader(LeaderEpoch(1), 1, &b(&[0, 1]), &b(&[0, 1]), 0, 0);
        assert!(s.lagging(ME, 100, 1000).is_empty(), "a new leader counts ISR members as caught up");
        assert_eq!(s.lagging(ME, 1001, 1000), b(&[1]));
        // Fetching behind the log end, but at the end the leader had at the previous fetch.
        s.record_fetch(BrokerId(1), Offset(5), Offset(10), 1500);
        assert_eq!(s.lagging(ME, 1600, 1000), b(&[1]), "not caught up yet");
        s.record_fetch(BrokerId(1), Offset(10), Offset(12), 2000);
        assert_eq!(s.followers[&BrokerId(1)].caught_up_ms, 1500);
        s.record_fetch(BrokerId(1), Offset(12), Offset(12), 2100);
        assert!(s.lagging(ME, 3000, 1000).is_empty());
        assert_eq!(s.lagging(ME, 3101, 1000), b(&[1]));
    }

    #[test]
    fn joining_needs_the_high_watermark_and_the_epoch_start() {
        let mut s = ReplicaState::default();
        s.become_leader(LeaderEpoch(2), 1, &b(&[0, 1]), &b(&[0]), 0, 0);
        let one = BrokerId(1);
        assert!(!s.may_join(one, Offset(5), Offset(3)), "no fetch yet");
        s.record_fetch(one, Offset(4), Offset(10), 10);
        assert!(!s.may_join(one, Offset(5), Offset(3)));
        s.record_fetch(one, Offset(5), Offset(10), 20);
        assert!(s.may_join(one, Offset(5), Offset(3)));
        assert!(!s.may_join(one, Offset(5), Offset(8)), "must reach the current epoch's start");
        assert!(!s.may_join(BrokerId(7), Offset(0), Offset(0)), "not a replica");
    }
}
