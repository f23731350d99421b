//! The controller's side of controlled shutdown (pure): move leadership off a broker that
//! is leaving and take it out of the ISRs. The server's ControlledShutdown handler asks
//! through `controller::Handle::ask`; `event_loop` executes the writes.

use crate::ids::BrokerId;
use crate::zkdata::PartitionState;

use super::model::{Brokers, Part, Planned, Write};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Still led by the broker: no other ISR member can take over.
    Remaining(String, i32),
    /// A state write; if it fails and `was_leader`, the partition remains.
    Write { topic: String, partition: i32, planned: Planned, was_leader: bool },
}

/// For broker `id` (already in `brokers.shutting`): partitions with a single replica are
/// left alone (they cannot move, as in Kafka 2.5).
pub fn plan(parts: &[Part], brokers: &Brokers, id: BrokerId) -> Vec<Step> {
    let mut out = Vec::new();
    for p in parts {
        let Some((st, version)) = &p.state else { continue };
        if p.replicas.len() < 2 || !p.replicas.contains(&id) {
            continue;
        }
        let ns = if st.leader == id {
            let isr: Vec<BrokerId> = st.isr.iter().copied().filter(|r| *r != id && brokers.live.contains(r)).collect();
            match p.replicas.iter().copied().find(|r| isr.contains(r) && *r != id && !brokers.shutting.contains(r)) {
                Some(l) => PartitionState { controller_epoch: st.controller_epoch, leader: l, leader_epoch: st.leader_epoch.next(), isr },
                None => {
                    out.push(Step::Remaining(p.topic.clone(), p.partition));
                    continue;
                }
            }
        } else if st.isr.contains(&id) && st.leader.is_some() && st.isr.len() > 1 {
            let isr: Vec<BrokerId> = st.isr.iter().copied().filter(|r| *r != id).collect();
            PartitionState { controller_epoch: st.controller_epoch, leader: st.leader, leader_epoch: st.leader_epoch.next(), isr }
        } else {
            continue;
        };
        let note = format!("controlled shutdown of {id}: {}-{} leader {} ISR {:?}", p.topic, p.partition, ns.leader, ns.isr);
        let write = Write::SetState { topic: p.topic.clone(), partition: p.partition, state: ns, version: *version };
        out.push(Step::Write { topic: p.topic.clone(), partition: p.partition, planned: Planned::noted(write, note), was_leader: st.leader == id });
    }
    out
}
