//! Controller election and fencing (Kafka 2.5): the winner of the ephemeral `/controller`
//! bumps `/controller_epoch`, and every later write is `multi[check /controller_epoch at
//! its version; op]`, so a deposed controller's writes fail with BadVersion. Called by
//! `event_loop`; `Write`s from the planner are turned into ZooKeeper ops here.

use std::collections::BTreeMap;

use crate::ids::BrokerId;
use crate::log::partition_log::now_ms;
use crate::zk::jute::code;
use crate::zk::{Op, OpResult, ZkClient, ZkError};
use crate::zkdata::{self, PartitionState};

use super::model::{Epoch, Write};

/// Kafka 2.5's election: exists(/controller, watch); getData(/controller, watch); if none,
/// read (or create "0") /controller_epoch, then multi[create /controller; setData epoch+1].
pub async fn elect(zk: &ZkClient, id: BrokerId) -> Result<Option<Epoch>, ZkError> {
    if zk.exists("/controller", true).await?.is_some() {
        let _ = zk.get_data("/controller", true).await?;
        return Ok(None);
    }
    let (epoch, version) = match zk.get_data("/controller_epoch", false).await? {
        Some((Some(d), stat)) => (String::from_utf8_lossy(&d).trim().parse::<i32>().unwrap_or(0), stat.version),
        Some((None, stat)) => (0, stat.version),
        None => match zk.create("/controller_epoch", Some(b"0"), false).await {
            Ok(()) => (0, 0),
            Err(ZkError::Code(code::NODE_EXISTS)) => return Ok(None),
            Err(e) => return Err(e),
        },
    };
    let new_epoch = epoch + 1;
    let json = zkdata::controller_json(id.get(), now_ms());
    let res = zk
        .multi(&[
            Op::Create { path: "/controller".into(), data: Some(json.into_bytes()), ephemeral: true },
            Op::SetData { path: "/controller_epoch".into(), data: Some(new_epoch.to_string().into_bytes()), version },
        ])
        .await?;
    if ZkClient::multi_error(&res).is_some() {
        // Lost the race (NodeExists) or the epoch moved (BadVersion): someone else won.
        zk.exists("/controller", true).await?;
        return Ok(None);
    }
    Ok(Some(Epoch { epoch: new_epoch, zk_version: version + 1 }))
}

/// How a fenced write ended, from the multi's results: the check failing means a newer
/// controller exists; NodeExists / NoNode on the op itself are harmless (idempotent writes).
#[derive(Debug, PartialEq, Eq)]
pub enum Fenced {
    Done,
    /// Not controller any more.
    Deposed,
    Failed(i32),
}

pub fn classify(res: &[OpResult]) -> Fenced {
    match res.first() {
        Some(OpResult::Error(c)) if *c == code::BAD_VERSION || *c == code::NO_NODE => Fenced::Deposed,
        _ => match ZkClient::multi_error(res) {
            None | Some(code::NODE_EXISTS) | Some(code::NO_NODE) => Fenced::Done,
            Some(c) => Fenced::Failed(c),
        },
    }
}

/// One fenced write. Ok(false) means we were fenced (not controller any more).
pub async fn fenced(zk: &ZkClient, ep: &Epoch, op: Op) -> Result<bool, ZkError> {
    let res = zk.multi(&[Op::Check { path: "/controller_epoch".into(), version: ep.zk_version }, op]).await?;
    match classify(&res) {
        Fenced::Done => Ok(true),
        Fenced::Deposed => {
            tracing::warn!("controller epoch {} fenced off (/controller_epoch moved)", ep.epoch);
            Ok(false)
        }
        Fenced::Failed(c) => Err(ZkError::Code(c)),
    }
}

/// The ZooKeeper op for a planned write; partition states carry this controller's epoch.
pub fn op(ep: &Epoch, w: &Write) -> Op {
    let stamp = |st: &PartitionState| zkdata::state_json(&PartitionState { controller_epoch: ep.epoch, ..st.clone() }).into_bytes();
    match w {
        Write::EnsureNode { path } => Op::Create { path: path.clone(), data: None, ephemeral: false },
        Write::CreateState { topic, partition, state } => {
            Op::Create { path: zkdata::state_path(topic, *partition), data: Some(stamp(state)), ephemeral: false }
        }
        Write::SetState { topic, partition, state, version } => {
            Op::SetData { path: zkdata::state_path(topic, *partition), data: Some(stamp(state)), version: *version }
        }
        Write::SetTopic { topic, assignment, adding, removing, version } => {
            let raw = |m: &BTreeMap<i32, Vec<BrokerId>>| m.iter().map(|(p, r)| (*p, BrokerId::raw_all(r))).collect::<BTreeMap<i32, Vec<i32>>>();
            let data = zkdata::topic_json_reassigning(&raw(assignment), &raw(adding), &raw(removing));
            Op::SetData { path: zkdata::topic_path(topic), data: Some(data.into_bytes()), version: *version }
        }
        Write::Delete { path } => Op::Delete { path: path.clone(), version: -1 },
    }
}

/// Executes one planned write fenced. `EnsureNode` checks existence first (as Kafka does,
/// so the wire shows no failing creates). Ok(false) = deposed.
pub async fn apply(zk: &ZkClient, ep: &Epoch, w: &Write) -> Result<bool, ZkError> {
    if let Write::EnsureNode { path } = w {
        if zk.exists(path, false).await?.is_some() {
            return Ok(true);
        }
    }
    fenced(zk, ep, op(ep, w)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_epoch_means_deposed() {
        // multi[check; op] with the check failing: the op is rolled back (RUNTIME_INCONSISTENCY).
        let res = vec![OpResult::Error(code::BAD_VERSION), OpResult::Error(code::RUNTIME_INCONSISTENCY)];
        assert_eq!(classify(&res), Fenced::Deposed);
        let gone = vec![OpResult::Error(code::NO_NODE), OpResult::Error(code::RUNTIME_INCONSISTENCY)];
        assert_eq!(classify(&gone), Fenced::Deposed);
    }

    #[test]
    fn stamped_state_carries_the_controller_epoch() {
        let ep = Epoch { epoch: 7, zk_version: 6 };
        let st = PartitionState { controller_epoch: 1, leader: BrokerId(2), leader_epoch: crate::ids::LeaderEpoch(3), isr: vec![BrokerId(2)] };
        let w = Write::SetState { topic: "t".into(), partition: 0, state: st, version: 4 };
        match op(&ep, &w) {
            Op::SetData { data: Some(d), version, .. } => {
                assert_eq!(version, 4);
                assert_eq!(zkdata::parse_state(&d).map(|s| s.controller_epoch), Some(7));
            }
            _ => panic!("a state write is a setData"),
        }
    }
}
