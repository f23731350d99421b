//! Partition reassignment (AlterPartitionReassignments, `/admin/reassign_partitions`),
//! pure: the topic znode carries target + removing replicas with `adding_replicas` /
//! `removing_replicas`; `planner::reconcile` completes a move once every target is in the
//! ISR. `event_loop` executes the topic writes.

use std::collections::{BTreeMap, BTreeSet};

use crate::error_code::ErrorCode;
use crate::ids::BrokerId;

use super::model::{Part, PartitionResult, Planned, Write};

/// A reassignment request: per topic, one fenced topic-znode write and the answers it
/// carries (NONE when written); refusals are answered at once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub refused: Vec<PartitionResult>,
    pub topics: Vec<(Planned, Vec<PartitionResult>)>,
}

/// Starts (target) or cancels (None) reassignments. Targets must be non-empty, without
/// duplicates, and name registered brokers only.
pub fn plan(
    parts: &[Part],
    versions: &BTreeMap<String, i32>,
    registered: &BTreeSet<BrokerId>,
    changes: Vec<(String, i32, Option<Vec<BrokerId>>)>,
) -> Plan {
    let mut out = Plan::default();
    let mut by_topic: BTreeMap<String, Vec<(i32, Option<Vec<BrokerId>>)>> = BTreeMap::new();
    for (t, i, target) in changes {
        if !parts.iter().any(|p| p.topic == t && p.partition == i) {
            out.refused.push((t, i, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, Some("The partition does not exist.".into())));
            continue;
        }
        if let Some(r) = &target {
            let mut dedup = r.clone();
            dedup.sort_unstable();
            dedup.dedup();
            if r.is_empty() || dedup.len() != r.len() {
                out.refused.push((t, i, ErrorCode::INVALID_REPLICA_ASSIGNMENT, Some(format!("Invalid replica list {r:?}: empty or duplicated"))));
                continue;
            }
            if let Some(b) = r.iter().find(|b| !registered.contains(b)) {
                out.refused.push((t, i, ErrorCode::INVALID_REPLICA_ASSIGNMENT, Some(format!("Unknown broker {b} in the replica list"))));
                continue;
            }
        }
        by_topic.entry(t).or_default().push((i, target));
    }
    for (t, list) in by_topic {
        let mut assignment = BTreeMap::new();
        let mut adding = BTreeMap::new();
        let mut removing = BTreeMap::new();
        let mut answers = Vec::new();
        for p in parts.iter().filter(|p| p.topic == t) {
            let original: Vec<BrokerId> = p.replicas.iter().copied().filter(|r| !p.adding.contains(r)).collect();
            match list.iter().find(|(i, _)| *i == p.partition) {
                Some((_, Some(target))) => {
                    let current: Vec<BrokerId> = if p.moving() { original.clone() } else { p.replicas.clone() };
                    let mut full = target.clone();
                    full.extend(current.iter().copied().filter(|r| !target.contains(r)));
                    let add: Vec<BrokerId> = target.iter().copied().filter(|r| !current.contains(r)).collect();
                    let rm: Vec<BrokerId> = current.iter().copied().filter(|r| !target.contains(r)).collect();
                    if add.is_empty() && rm.is_empty() && full != *target {
                        // Same set, new order: takes effect at once.
                        assignment.insert(p.partition, target.clone());
                    } else {
                        assignment.insert(p.partition, full);
                        adding.insert(p.partition, add);
                        removing.insert(p.partition, rm);
                    }
                    answers.push((t.clone(), p.partition, ErrorCode::NONE, None));
                }
                Some((_, None)) => {
                    if !p.moving() {
                        answers.push((t.clone(), p.partition, ErrorCode::NO_REASSIGNMENT_IN_PROGRESS, Some("No reassignment in progress".into())));
                        assignment.insert(p.partition, p.replicas.clone());
                    } else {
                        assignment.insert(p.partition, original.clone());
                        answers.push((t.clone(), p.partition, ErrorCode::NONE, None));
                    }
                }
                None => {
                    assignment.insert(p.partition, p.replicas.clone());
                    adding.insert(p.partition, p.adding.clone());
                    removing.insert(p.partition, p.removing.clone());
                }
            }
        }
        let note = format!("{t}: reassignment written: partitions {assignment:?}, adding {adding:?}, removing {removing:?}");
        let version = versions.get(&t).copied().unwrap_or(-1);
        let write = Write::SetTopic { topic: t, assignment, adding, removing, version };
        out.topics.push((Planned::noted(write, note), answers));
    }
    out
}

/// `/admin/reassign_partitions` against the current moves: the changes still to start, and
/// whether any listed partition is still moving (the znode is deleted once none is).
pub fn legacy_changes(parts: &[Part], list: &[(String, i32, Vec<BrokerId>)]) -> (Vec<(String, i32, Option<Vec<BrokerId>>)>, bool) {
    let mut changes = Vec::new();
    let mut moving = false;
    for (t, p, target) in list {
        let Some(cur) = parts.iter().find(|x| &x.topic == t && x.partition == *p) else { continue };
        let cur_target: Vec<BrokerId> = cur.replicas.iter().copied().filter(|r| !cur.removing.contains(r)).collect();
        if &cur_target != target {
            changes.push((t.clone(), *p, Some(target.clone())));
            moving = true;
        } else if cur.moving() {
            moving = true;
        }
    }
    (changes, moving)
}
