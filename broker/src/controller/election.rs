//! Leader elections asked for by ElectLeaders, `/admin/preferred_replica_election` and
//! `auto.leader.rebalance.enable` (pure: `event_loop` executes the writes and turns their
//! outcome into the per-partition answers).

use std::collections::BTreeMap;

use crate::error_code::ErrorCode;
use crate::ids::BrokerId;
use crate::zkdata::PartitionState;

use super::model::{Brokers, Part, PartitionResult, Planned, Write};

/// One partition of an election: answered at once, or a state write whose outcome is the
/// answer (NONE when made).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Answer(PartitionResult),
    Write { topic: String, partition: i32, planned: Planned },
}

/// Preferred (first replica) or unclean elections. None = every partition; then
/// partitions that need nothing are left out of the answer, as Kafka does.
pub fn plan(parts: &[Part], brokers: &Brokers, unclean: bool, partitions: Option<Vec<(String, i32)>>) -> Vec<Step> {
    let all = partitions.is_none();
    let wanted: Vec<(String, i32)> = partitions.unwrap_or_else(|| parts.iter().map(|p| (p.topic.clone(), p.partition)).collect());
    let eligible = |r: &BrokerId| brokers.eligible(r);
    let mut out = Vec::new();
    for (t, i) in wanted {
        let Some(p) = parts.iter().find(|p| p.topic == t && p.partition == i) else {
            out.push(Step::Answer((t, i, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, Some("The partition does not exist.".into()))));
            continue;
        };
        let Some((st, version)) = &p.state else {
            out.push(Step::Answer((t, i, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, Some("The partition has no state yet.".into()))));
            continue;
        };
        let not_needed = || Step::Answer((t.clone(), i, ErrorCode::ELECTION_NOT_NEEDED, Some("Leader election not needed for topic partition.".into())));
        let target = if unclean {
            if st.leader.is_some() && eligible(&st.leader) {
                if !all {
                    out.push(not_needed());
                }
                continue;
            }
            p.replicas.iter().copied().find(|r| st.isr.contains(r) && eligible(r)).or_else(|| p.replicas.iter().copied().find(|r| eligible(r)))
        } else {
            let preferred = p.replicas.first().copied().unwrap_or(BrokerId::NONE);
            if st.leader == preferred {
                if !all {
                    out.push(not_needed());
                }
                continue;
            }
            (eligible(&preferred) && st.isr.contains(&preferred)).then_some(preferred)
        };
        let Some(leader) = target else {
            let (code, msg) = if unclean {
                (ErrorCode::ELIGIBLE_LEADERS_NOT_AVAILABLE, format!("Failed to elect leader for partition {t}-{i} under strategy UncleanLeaderElectionStrategy"))
            } else {
                (ErrorCode::PREFERRED_LEADER_NOT_AVAILABLE, format!("Failed to elect leader for partition {t}-{i} under strategy PreferredReplicaPartitionLeaderElectionStrategy"))
            };
            out.push(Step::Answer((t, i, code, Some(msg))));
            continue;
        };
        let mut isr: Vec<BrokerId> = st.isr.iter().copied().filter(|r| brokers.live.contains(r)).collect();
        if !isr.contains(&leader) {
            isr = vec![leader];
        }
        let state = PartitionState { controller_epoch: st.controller_epoch, leader, leader_epoch: st.leader_epoch.next(), isr };
        let note = format!("{t}-{i}: {} election: leader {} -> {leader}", if unclean { "unclean" } else { "preferred" }, st.leader);
        let write = Write::SetState { topic: t.clone(), partition: i, state, version: *version };
        out.push(Step::Write { topic: t, partition: i, planned: Planned::noted(write, note) });
    }
    out
}

/// `auto.leader.rebalance.enable`: per broker, when more than `imbalance_pct` percent of
/// the partitions preferring it are led by someone else, the partitions to elect it back
/// (where it is live and not shutting down; moving partitions are left alone).
pub fn rebalance_targets(parts: &[Part], brokers: &Brokers, imbalance_pct: f64) -> Vec<(String, i32)> {
    let mut by_pref: BTreeMap<BrokerId, (usize, Vec<(String, i32)>)> = BTreeMap::new();
    for p in parts {
        let (Some(pref), Some((st, _))) = (p.replicas.first(), &p.state) else { continue };
        if p.moving() {
            continue;
        }
        let e = by_pref.entry(*pref).or_default();
        e.0 += 1;
        if st.leader != *pref {
            e.1.push((p.topic.clone(), p.partition));
        }
    }
    let mut todo = Vec::new();
    for (b, (total, off)) in by_pref {
        if off.is_empty() || !brokers.eligible(&b) {
            continue;
        }
        let ratio = off.len() as f64 / total.max(1) as f64;
        if ratio * 100.0 > imbalance_pct {
            todo.extend(off);
        }
    }
    todo
}
