//! Planner tests on values: brokers and partition states in, planned writes out (no
//! ZooKeeper), in the style of `group::group`'s tests.

use std::collections::{BTreeMap, BTreeSet};

use super::fencing::{classify, Fenced};
use super::model::{Brokers, Part, Write};
use super::planner::failover_state;
use super::{controlled_shutdown, election, planner, reassignment};
use crate::error_code::ErrorCode;
use crate::ids::{BrokerId, LeaderEpoch};
use crate::zk::jute::{code, OpResult};
use crate::zkdata::PartitionState;

/// Broker ids from plain numbers (the tests write them as the znodes do).
fn ids(raw: &[i32]) -> Vec<BrokerId> {
    BrokerId::wrap_all(raw)
}

fn st(leader: i32, epoch: i32, isr: &[i32]) -> PartitionState {
    PartitionState { controller_epoch: 1, leader: BrokerId(leader), leader_epoch: LeaderEpoch(epoch), isr: ids(isr) }
}

/// A state as plain numbers: (leader, leader epoch, isr).
fn flat(s: &PartitionState) -> (i32, i32, Vec<i32>) {
    (s.leader.get(), s.leader_epoch.get(), BrokerId::raw_all(&s.isr))
}

fn part(t: &str, p: i32, replicas: &[i32], state: Option<(PartitionState, i32)>) -> Part {
    Part { topic: t.into(), partition: p, replicas: ids(replicas), adding: vec![], removing: vec![], state }
}

fn brokers(live: &[i32], shutting: &[i32]) -> Brokers {
    Brokers { live: ids(live).into_iter().collect(), shutting: ids(shutting).into_iter().collect() }
}

fn never(_: &str) -> bool {
    false
}

fn always(_: &str) -> bool {
    true
}

/// The state writes of a plan: (topic, partition, leader, leader epoch, isr, version).
fn states(plan: &[super::model::Planned]) -> Vec<(String, i32, i32, i32, Vec<i32>, i32)> {
    plan.iter()
        .filter_map(|p| match &p.write {
            Write::SetState { topic, partition, state, version } => {
                {
                let (leader, epoch, isr) = flat(state);
                Some((topic.clone(), *partition, leader, epoch, isr, *version))
            }
            }
            _ => None,
        })
        .collect()
}

#[test]
fn failover_elects_from_the_live_isr_only() {
    let live: BTreeSet<BrokerId> = ids(&[1, 2]).into_iter().collect();
    let el = |r: &BrokerId| live.contains(r);
    let replicas = ids(&[0, 1, 2]);
    // Leader 0 died: 1 is next in replica order and in the ISR.
    let ns = failover_state(&st(0, 4, &[0, 1, 2]), &replicas, &el, &live, false).unwrap();
    assert_eq!(flat(&ns), (1, 5, vec![1, 2]));
    // Only 2 is in the ISR besides the dead leader.
    let ns = failover_state(&st(0, 4, &[0, 2]), &replicas, &el, &live, false).unwrap();
    assert_eq!((flat(&ns).0, flat(&ns).2), (2, vec![2]));
    // Already offline: nothing to write again.
    assert!(failover_state(&st(-1, 5, &[0]), &replicas, &el, &live, false).is_none());
    // Healthy: no change.
    assert!(failover_state(&st(1, 4, &[1, 2]), &replicas, &el, &live, false).is_none());
}

#[test]
fn returning_isr_member_takes_an_offline_partition_back() {
    let live: BTreeSet<BrokerId> = ids(&[0]).into_iter().collect();
    let el = |r: &BrokerId| live.contains(r);
    let replicas = ids(&[0, 1, 2]);
    let ns = failover_state(&st(-1, 5, &[0]), &replicas, &el, &live, false).unwrap();
    assert_eq!(flat(&ns), (0, 6, vec![0]));
}

#[test]
fn new_partition_gets_live_replicas_as_isr_and_first_leads() {
    let parts = vec![part("t", 0, &[2, 0, 1], None), part("t", 1, &[0, 1, 2], None)];
    let plan = planner::reconcile(&brokers(&[0, 2], &[]), &parts, &BTreeMap::new(), &never);
    let writes: Vec<&Write> = plan.iter().map(|p| &p.write).collect();
    // One partitions node for the topic, one node and one state per partition.
    assert_eq!(writes.iter().filter(|w| matches!(w, Write::EnsureNode { path } if path.ends_with("/partitions"))).count(), 1);
    let created: Vec<(i32, i32, Vec<i32>)> = writes
        .iter()
        .filter_map(|w| match w {
            Write::CreateState { partition, state, .. } => Some((*partition, flat(state).0, flat(state).2)),
            _ => None,
        })
        .collect();
    assert_eq!(created, vec![(0, 2, vec![2, 0]), (1, 0, vec![0, 2])]);
}

#[test]
fn new_partition_without_live_replicas_waits() {
    let parts = vec![part("t", 0, &[5, 6], None)];
    assert!(planner::reconcile(&brokers(&[0], &[]), &parts, &BTreeMap::new(), &never).is_empty());
}

#[test]
fn broker_loss_moves_leadership_within_the_isr() {
    let parts = vec![part("t", 0, &[0, 1, 2], Some((st(0, 3, &[0, 1, 2]), 7)))];
    let plan = planner::reconcile(&brokers(&[1, 2], &[]), &parts, &BTreeMap::new(), &never);
    assert_eq!(states(&plan), vec![("t".into(), 0, 1, 4, vec![1, 2], 7)]);
}

#[test]
fn broker_loss_shrinks_the_isr_of_a_live_leader() {
    let parts = vec![part("t", 0, &[0, 1, 2], Some((st(1, 3, &[1, 0, 2]), 2)))];
    let plan = planner::reconcile(&brokers(&[1, 2], &[]), &parts, &BTreeMap::new(), &never);
    assert_eq!(states(&plan), vec![("t".into(), 0, 1, 4, vec![1, 2], 2)]);
}

#[test]
fn unclean_election_off_leaves_the_partition_offline() {
    let parts = vec![part("t", 0, &[0, 1], Some((st(0, 3, &[0]), 1)))];
    let plan = planner::reconcile(&brokers(&[1], &[]), &parts, &BTreeMap::new(), &never);
    // Leader -1, ISR kept (the last in-sync replica may come back).
    assert_eq!(states(&plan), vec![("t".into(), 0, -1, 4, vec![0], 1)]);
}

#[test]
fn unclean_election_on_elects_an_out_of_sync_replica() {
    let parts = vec![part("t", 0, &[0, 1], Some((st(0, 3, &[0]), 1)))];
    let plan = planner::reconcile(&brokers(&[1], &[]), &parts, &BTreeMap::new(), &always);
    assert_eq!(states(&plan), vec![("t".into(), 0, 1, 4, vec![1], 1)]);
}

#[test]
fn shutting_down_leader_is_never_elected() {
    let parts = vec![part("t", 0, &[0, 1, 2], Some((st(0, 1, &[0, 1, 2]), 0)))];
    let plan = planner::reconcile(&brokers(&[0, 1, 2], &[0]), &parts, &BTreeMap::new(), &never);
    assert_eq!(states(&plan)[0].2, 1);
}

#[test]
fn controlled_shutdown_moves_leaders_and_leaves_isrs() {
    let parts = vec![
        part("t", 0, &[0, 1], Some((st(0, 2, &[0, 1]), 5))),
        part("t", 1, &[1, 0], Some((st(1, 2, &[1, 0]), 6))),
        part("t", 2, &[0], Some((st(0, 2, &[0]), 1))),
        part("t", 3, &[0, 1], Some((st(0, 2, &[0]), 3))),
    ];
    let steps = controlled_shutdown::plan(&parts, &brokers(&[0, 1], &[0]), BrokerId(0));
    let mut writes = Vec::new();
    let mut remaining = Vec::new();
    for s in steps {
        match s {
            controlled_shutdown::Step::Write { partition, planned, was_leader, .. } => match planned.write {
                Write::SetState { state, version, .. } => writes.push((partition, flat(&state).0, flat(&state).2, version, was_leader)),
                w => panic!("unexpected {w:?}"),
            },
            controlled_shutdown::Step::Remaining(_, p) => remaining.push(p),
        }
    }
    // t-0: leadership to 1; t-1: 0 leaves the ISR; t-2 (one replica) untouched; t-3: no ISR successor.
    assert_eq!(writes, vec![(0, 1, vec![1], 5, true), (1, 1, vec![1], 6, false)]);
    assert_eq!(remaining, vec![3]);
}

#[test]
fn preferred_election_needs_the_preferred_replica_in_the_isr() {
    let parts = vec![
        part("t", 0, &[0, 1], Some((st(1, 2, &[1, 0]), 4))),
        part("t", 1, &[0, 1], Some((st(1, 2, &[1]), 4))),
        part("t", 2, &[0, 1], Some((st(0, 2, &[0, 1]), 4))),
    ];
    let wanted = vec![("t".to_string(), 0), ("t".to_string(), 1), ("t".to_string(), 2), ("u".to_string(), 0)];
    let steps = election::plan(&parts, &brokers(&[0, 1], &[]), false, Some(wanted));
    let summary: Vec<(i32, ErrorCode, Option<i32>)> = steps
        .iter()
        .map(|s| match s {
            election::Step::Answer((_, p, c, _)) => (*p, *c, None),
            election::Step::Write { partition, planned, .. } => match &planned.write {
                Write::SetState { state, .. } => (*partition, ErrorCode::NONE, Some(state.leader.get())),
                _ => (*partition, ErrorCode::UNKNOWN_SERVER_ERROR, None),
            },
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, ErrorCode::NONE, Some(0)),
            (1, ErrorCode::PREFERRED_LEADER_NOT_AVAILABLE, None),
            (2, ErrorCode::ELECTION_NOT_NEEDED, None),
            (0, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, None),
        ]
    );
}

#[test]
fn election_of_every_partition_leaves_out_those_needing_nothing() {
    let parts = vec![part("t", 0, &[0, 1], Some((st(0, 2, &[0, 1]), 4)))];
    assert!(election::plan(&parts, &brokers(&[0, 1], &[]), false, None).is_empty());
}

#[test]
fn auto_rebalance_targets_imbalanced_preferred_leaders() {
    let parts = vec![
        part("t", 0, &[0, 1], Some((st(1, 2, &[0, 1]), 0))),
        part("t", 1, &[0, 1], Some((st(0, 2, &[0, 1]), 0))),
        part("t", 2, &[1, 0], Some((st(1, 2, &[0, 1]), 0))),
    ];
    // Broker 0 leads 1 of its 2 preferred partitions: 50% > 10%.
    assert_eq!(election::rebalance_targets(&parts, &brokers(&[0, 1], &[]), 10.0), vec![("t".to_string(), 0)]);
    assert!(election::rebalance_targets(&parts, &brokers(&[0, 1], &[]), 60.0).is_empty());
    // Not while broker 0 shuts down.
    assert!(election::rebalance_targets(&parts, &brokers(&[0, 1], &[0]), 10.0).is_empty());
}

#[test]
fn reassignment_starts_with_adding_and_removing_replicas() {
    let parts = vec![part("t", 0, &[0, 1], Some((st(0, 1, &[0, 1]), 0))), part("t", 1, &[1, 0], Some((st(1, 1, &[1, 0]), 0)))];
    let versions: BTreeMap<String, i32> = [("t".to_string(), 3)].into_iter().collect();
    let registered: BTreeSet<BrokerId> = ids(&[0, 1, 2]).into_iter().collect();
    let plan = reassignment::plan(
        &parts,
        &versions,
        &registered,
        vec![("t".into(), 0, Some(ids(&[2, 1]))), ("t".into(), 1, Some(ids(&[9]))), ("x".into(), 0, Some(ids(&[0])))],
    );
    let refused: Vec<(String, ErrorCode)> = plan.refused.iter().map(|r| (r.0.clone(), r.2)).collect();
    assert_eq!(refused, vec![("t".into(), ErrorCode::INVALID_REPLICA_ASSIGNMENT), ("x".into(), ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)]);
    assert_eq!(plan.topics.len(), 1);
    match &plan.topics[0].0.write {
        Write::SetTopic { assignment, adding, removing, version, .. } => {
            assert_eq!(assignment.get(&0), Some(&ids(&[2, 1, 0])));
            assert_eq!(adding.get(&0), Some(&ids(&[2])));
            assert_eq!(removing.get(&0), Some(&ids(&[0])));
            // The untouched partition keeps its replicas.
            assert_eq!(assignment.get(&1), Some(&ids(&[1, 0])));
            assert_eq!(*version, 3);
        }
        w => panic!("unexpected {w:?}"),
    }
}

#[test]
fn reassignment_completes_once_targets_are_in_the_isr() {
    // Moving [0,1] -> [2,1]: replicas [2,1,0], adding [2], removing [0]; leader 0.
    let mut p = part("t", 0, &[2, 1, 0], Some((st(0, 4, &[0, 1]), 8)));
    p.adding = ids(&[2]);
    p.removing = ids(&[0]);
    let versions: BTreeMap<String, i32> = [("t".to_string(), 3)].into_iter().collect();
    let b = brokers(&[0, 1, 2], &[]);
    // 2 not caught up yet: nothing.
    assert!(planner::reconcile(&b, &[p.clone()], &versions, &never).is_empty());
    // 2 joined the ISR: leadership leaves 0 (not a target) for the first target in the ISR,
    // the ISR keeps targets only, and the topic znode is rewritten.
    p.state = Some((st(0, 5, &[0, 1, 2]), 9));
    let plan = planner::reconcile(&b, &[p], &versions, &never);
    assert_eq!(states(&plan), vec![("t".into(), 0, 2, 6, vec![1, 2], 9)]);
    match &plan.last().map(|p| &p.write) {
        Some(Write::SetTopic { assignment, adding, removing, version, .. }) => {
            assert_eq!(assignment.get(&0), Some(&ids(&[2, 1])));
            assert!(adding.is_empty() && removing.is_empty());
            assert_eq!(*version, 3);
        }
        w => panic!("unexpected {w:?}"),
    }
}

#[test]
fn cancelling_a_reassignment_restores_the_original_replicas() {
    let mut p = part("t", 0, &[2, 1, 0], Some((st(0, 4, &[0, 1]), 8)));
    p.adding = ids(&[2]);
    p.removing = ids(&[0]);
    let plan = reassignment::plan(&[p], &BTreeMap::new(), &ids(&[0, 1, 2]).into_iter().collect(), vec![("t".into(), 0, None)]);
    match &plan.topics[0].0.write {
        Write::SetTopic { assignment, adding, .. } => {
            assert_eq!(assignment.get(&0), Some(&ids(&[1, 0])));
            assert!(adding.is_empty());
        }
        w => panic!("unexpected {w:?}"),
    }
    assert_eq!(plan.topics[0].1[0].2, ErrorCode::NONE);
}

#[test]
fn legacy_reassign_znode_lists_only_new_moves() {
    let mut moving = part("t", 1, &[2, 1, 0], None);
    moving.adding = ids(&[2]);
    moving.removing = ids(&[0]);
    let parts = vec![part("t", 0, &[0, 1], None), moving];
    let list = vec![("t".to_string(), 0, ids(&[0, 1])), ("t".to_string(), 1, ids(&[2, 1]))];
    assert_eq!(reassignment::legacy_changes(&parts, &list), (vec![], true));
    let list = vec![("t".to_string(), 0, ids(&[1, 2]))];
    assert_eq!(reassignment::legacy_changes(&parts, &list), (vec![("t".to_string(), 0, Some(ids(&[1, 2])))], true));
    let list = vec![("t".to_string(), 0, ids(&[0, 1]))];
    assert_eq!(reassignment::legacy_changes(&parts, &list), (vec![], false));
}

#[test]
fn fencing_by_controller_epoch_version() {
    // The check on /controller_epoch failed: a newer controller exists.
    assert_eq!(classify(&[OpResult::Error(code::BAD_VERSION), OpResult::Error(code::RUNTIME_INCONSISTENCY)]), Fenced::Deposed);
    // The check passed and the op is an idempotent no-op (already created / deleted).
    assert_eq!(classify(&[OpResult::Check, OpResult::Error(code::NODE_EXISTS)]), Fenced::Done);
    // A conditional state write lost its race: a real failure, not a deposition.
    assert_eq!(classify(&[OpResult::Error(code::OK), OpResult::Error(code::BAD_VERSION)]), Fenced::Failed(code::BAD_VERSION));
    assert_eq!(classify(&[OpResult::Check, OpResult::Delete]), Fenced::Done);
}
