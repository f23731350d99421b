//! The controller's pure planner: live brokers and partition states in, state-znode writes
//! out. `event_loop` reads the znodes, calls these, and executes the returned `Planned`
//! writes in order (each fenced by the controller epoch); nothing here does I/O, so the
//! rules are tested on values below (as `group::group` is).
//!
//! Kafka 2.5's rules for one reconciliation pass:
//! - a partition without a state znode gets one: every live replica in the ISR, the first
//!   one leads (leader epoch 0); with no live replica it waits;
//! - broker failure: see [`failover_state`];
//! - a reassignment completes once every target replica is in the ISR: the ISR keeps only
//!   targets, leadership moves if the leader is not a target, and the topic znode takes
//!   the target replica list.

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::{BrokerId, LeaderEpoch};
use crate::zkdata::{self, PartitionState};

use super::model::{Brokers, Part, Planned, Write};

/// One reconciliation pass. `unclean(topic)` is the topic's `unclean.leader.election.enable`.
pub fn reconcile(
    brokers: &Brokers,
    parts: &[Part],
    topic_versions: &BTreeMap<String, i32>,
    unclean: &dyn Fn(&str) -> bool,
) -> Vec<Planned> {
    let mut out = Vec::new();
    let mut topics_made: BTreeSet<String> = BTreeSet::new();
    let mut finished: BTreeMap<String, Vec<(i32, Vec<BrokerId>)>> = BTreeMap::new();
    let eligible = |r: &BrokerId| brokers.eligible(r);
    for p in parts {
        let t = &p.topic;
        let Some((st, version)) = &p.state else {
            // A new partition: every live replica in the ISR, the first one leads.
            let isr: Vec<BrokerId> = p.replicas.iter().copied().filter(|r| brokers.live.contains(r)).collect();
            let Some(leader) = isr.first().copied() else { continue };
            if topics_made.insert(t.clone()) {
                out.push(Planned::new(Write::EnsureNode { path: zkdata::partitions_path(t) }));
            }
            out.push(Planned::new(Write::EnsureNode { path: zkdata::partition_path(t, p.partition) }));
            let state = PartitionState { controller_epoch: 0, leader, leader_epoch: LeaderEpoch(0), isr };
            out.push(Planned::new(Write::CreateState { topic: t.clone(), partition: p.partition, state }));
            continue;
        };
        let mut st = st.clone();
        let mut version = *version;
        // Broker failures: elect from the live ISR, drop dead members from it.
        if let Some(ns) = failover_state(&st, &p.replicas, &eligible, &brokers.live, unclean(t)) {
            let note = format!(
                "{t}-{}: leader {} -> {}, ISR {:?} -> {:?} (epoch {})",
                p.partition, st.leader, ns.leader, st.isr, ns.isr, ns.leader_epoch
            );
            out.push(Planned::noted(Write::SetState { topic: t.clone(), partition: p.partition, state: ns.clone(), version }, note));
            version += 1;
            st = ns;
        }
        // Reassignment: done once every target replica is in the ISR.
        if p.moving() {
            if let Some((ns, target)) = reassignment_done(p, &st, brokers) {
                let note = format!("{t}-{}: reassignment to {target:?} complete; leader {}, ISR {:?}", p.partition, ns.leader, ns.isr);
                out.push(Planned::noted(Write::SetState { topic: t.clone(), partition: p.partition, state: ns, version }, note));
                finished.entry(t.clone()).or_default().push((p.partition, target));
            }
        }
    }
    // Finished reassignments: the topic znode takes the target replicas.
    for (t, done) in finished {
        let mut assignment: BTreeMap<i32, Vec<BrokerId>> = BTreeMap::new();
        let mut adding = BTreeMap::new();
        let mut removing = BTreeMap::new();
        for p in parts.iter().filter(|p| p.topic == t) {
            match done.iter().find(|(i, _)| *i == p.partition) {
                Some((_, target)) => {
                    assignment.insert(p.partition, target.clone());
                }
                None => {
                    assignment.insert(p.partition, p.replicas.clone());
                    adding.insert(p.partition, p.adding.clone());
                    removing.insert(p.partition, p.removing.clone());
                }
            }
        }
        let version = topic_versions.get(&t).copied().unwrap_or(-1);
        out.push(Planned::new(Write::SetTopic { topic: t, assignment, adding, removing, version }));
    }
    out
}

/// A moving partition whose target replicas are all in the ISR: its final state (ISR of
/// targets only, leader kept if it is an eligible target, else the first eligible target
/// in the ISR) and the target list. None while the move goes on or no target can lead.
fn reassignment_done(p: &Part, st: &PartitionState, brokers: &Brokers) -> Option<(PartitionState, Vec<BrokerId>)> {
    let target: Vec<BrokerId> = p.replicas.iter().copied().filter(|r| !p.removing.contains(r)).collect();
    if target.is_empty() || !target.iter().all(|r| st.isr.contains(r)) {
        return None;
    }
    let isr: Vec<BrokerId> = st.isr.iter().copied().filter(|r| target.contains(r)).collect();
    let leader = if target.contains(&st.leader) && brokers.eligible(&st.leader) {
        st.leader
    } else {
        target.iter().copied().find(|r| isr.contains(r) && brokers.eligible(r))?
    };
    Some((PartitionState { controller_epoch: st.controller_epoch, leader, leader_epoch: st.leader_epoch.next(), isr }, target))
}

/// The state after broker failures, or None when nothing changes. Kafka 2.5's rules:
/// a dead or shutting-down leader is replaced by the first eligible replica (replica
/// order) in the ISR; with none, by any live replica if unclean election is allowed, or
/// else leader -1 with the ISR kept; dead followers leave the ISR. Each change bumps the
/// leader epoch.
pub fn failover_state(
    st: &PartitionState,
    replicas: &[BrokerId],
    eligible: &dyn Fn(&BrokerId) -> bool,
    live: &BTreeSet<BrokerId>,
    unclean: bool,
) -> Option<PartitionState> {
    let leader_ok = st.leader.is_some() && eligible(&st.leader);
    if leader_ok {
        let isr: Vec<BrokerId> = st.isr.iter().copied().filter(|r| live.contains(r)).collect();
        if isr != st.isr {
            return Some(PartitionState { isr, leader_epoch: st.leader_epoch.next(), ..st.clone() });
        }
        return None;
    }
    let from_isr = replicas.iter().copied().find(|r| st.isr.contains(r) && eligible(r));
    let (leader, isr) = match from_isr {
        Some(l) => (l, st.isr.iter().copied().filter(|r| live.contains(r)).collect::<Vec<_>>()),
        None if unclean => match replicas.iter().copied().find(|r| eligible(r)) {
            Some(l) => (l, vec![l]),
            None => (BrokerId::NONE, st.isr.clone()),
        },
        None => (BrokerId::NONE, st.isr.clone()),
    };
    if leader == st.leader {
        return None;
    }
    let mut isr = isr;
    if leader.is_some() && !isr.contains(&leader) {
        isr.push(leader);
    }
    Some(PartitionState { controller_epoch: st.controller_epoch, leader, leader_epoch: st.leader_epoch.next(), isr })
}
