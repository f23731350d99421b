//! CreatePartitions: grows a topic to `count` partitions (explicit assignments or Kafka's
//! placement continuing from the existing one), written as a new `/brokers/topics/<t>`.

use std::time::Duration;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::{sb, wait_meta};
use crate::admin;
use crate::broker::Broker;
use crate::server::errors::ErrorCode;
use crate::zkdata;

pub async fn handle(broker: &Broker, req: CreatePartitionsRequest, _version: i16) -> CreatePartitionsResponse {
    let mut resp = CreatePartitionsResponse::default();
    let meta = broker.meta.get();
    let brokers: Vec<i32> = meta.brokers.keys().copied().collect();
    let mut grown = Vec::new();
    for t in &req.topics {
        let name = t.name.0.as_str().to_string();
        let mut r = CreatePartitionsTopicResult::default();
        r.name = t.name.clone();
        let fail = |r: &mut CreatePartitionsTopicResult, code: ErrorCode, msg: String| {
            r.error_code = code.code();
            r.error_message = Some(sb(&msg));
        };
        let Some(tm) = meta.topics.get(&name) else {
            fail(&mut r, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, "The topic does not exist.".into());
            resp.results.push(r);
            continue;
        };
        let current = tm.partitions.len() as i32;
        if t.count < current {
            fail(&mut r, ErrorCode::INVALID_PARTITIONS, format!("Topic currently has {current} partitions, which is higher than the requested {}.", t.count));
        } else if t.count == current {
            fail(&mut r, ErrorCode::INVALID_PARTITIONS, format!("Topic already has {current} partitions."));
        } else {
            let mut assignment: std::collections::BTreeMap<i32, Vec<i32>> =
                tm.partitions.iter().map(|(p, m)| (*p, crate::ids::BrokerId::raw_all(&m.replicas))).collect();
            let add = t.count - current;
            let rf_now = tm.partitions.values().next().map(|p| p.replicas.len()).unwrap_or(1) as i16;
            if let Err(m) = crate::zkdata::check_topic_znode_fits(t.count, rf_now) {
                fail(&mut r, ErrorCode::INVALID_PARTITIONS, m);
                resp.results.push(r);
                continue;
            }
            let new = match &t.assignments {
                Some(a) => {
                    if a.len() as i32 != add {
                        fail(&mut r, ErrorCode::INVALID_REPLICA_ASSIGNMENT, format!("Increasing the number of partitions by {add} but {} assignments provided.", a.len()));
                        resp.results.push(r);
                        continue;
                    }
                    let mut m = std::collections::BTreeMap::new();
                    for (i, x) in a.iter().enumerate() {
                        m.insert(current + i as i32, x.broker_ids.iter().map(|b| b.0).collect::<Vec<i32>>());
                    }
                    if let Some(b) = m.values().flatten().find(|b| !brokers.contains(b)) {
                        fail(&mut r, ErrorCode::INVALID_REPLICA_ASSIGNMENT, format!("Unknown broker {b} in replica assignment"));
                        resp.results.push(r);
                        continue;
                    }
                    m
                }
                None => {
                    let rf = tm.partitions.values().next().map(|p| p.replicas.len()).unwrap_or(1) as i32;
                    let first = tm.partitions.get(&0).and_then(|p| p.replicas.first().map(|b| b.get())).unwrap_or(0);
                    let start = brokers.iter().position(|b| *b == first).unwrap_or(0);
                    zkdata::assign_replicas(&brokers, add, rf, current, start, rand::random::<usize>() % brokers.len().max(1))
                }
            };
            assignment.extend(new);
            if !req.validate_only {
                match admin::set_assignment(&broker.zk, &name, &assignment).await {
                    Ok(()) => grown.push((name.clone(), t.count as usize)),
                    Err(e) => fail(&mut r, ErrorCode::UNKNOWN_SERVER_ERROR, e.to_string()),
                }
            }
        }
        resp.results.push(r);
    }
    if !grown.is_empty() && req.timeout_ms > 0 {
        let timeout = Duration::from_millis(req.timeout_ms.min(60_000) as u64);
        wait_meta(broker, timeout, |m| {
            grown.iter().all(|(t, n)| m.topics.get(t).map(|tm| tm.partitions.len() == *n && tm.partitions.values().all(|p| p.leader().is_some())).unwrap_or(false))
        })
        .await;
    }
    resp
}
