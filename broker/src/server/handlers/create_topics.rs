//! CreateTopics: partitions / replication factor (or -1 for the broker defaults), explicit
//! assignments, configs, validate_only. Waits (up to timeout_ms) for the controller to elect
//! leaders, as Kafka's DelayedCreatePartitions does.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::{create_topic, sb, wait_meta};
use crate::broker::Broker;
use crate::server::errors::ErrorCode;
use crate::topic_config::{self, Source};

pub async fn handle(broker: &Broker, req: CreateTopicsRequest, version: i16) -> CreateTopicsResponse {
    let mut resp = CreateTopicsResponse::default();
    let mut created = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for t in &req.topics {
        let name = t.name.0.as_str().to_string();
        let mut r = CreatableTopicResult::default();
        r.name = t.name.clone();
        r.num_partitions = -1;
        r.replication_factor = -1;
        if !seen.insert(name.clone()) {
            r.error_code = ErrorCode::INVALID_REQUEST.code();
            r.error_message = Some(sb("Duplicate topic in request."));
            resp.topics.push(r);
            continue;
        }
        let assignment = if t.assignments.is_empty() {
            None
        } else {
            if t.num_partitions != -1 || t.replication_factor != -1 {
                r.error_code = ErrorCode::INVALID_REQUEST.code();
                r.error_message = Some(sb("Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time."));
                resp.topics.push(r);
                continue;
            }
            Some(t.assignments.iter().map(|a| (a.partition_index, a.broker_ids.iter().map(|b| b.0).collect())).collect::<BTreeMap<i32, Vec<i32>>>())
        };
        let configs: Vec<(String, String)> = t
            .configs
            .iter()
            .filter_map(|c| c.value.as_ref().map(|v| (c.name.as_str().to_string(), v.as_str().to_string())))
            .collect();
        match create_topic(broker, &name, t.num_partitions, t.replication_factor, assignment, configs.clone(), req.validate_only).await {
            Ok(a) => {
                r.num_partitions = a.len() as i32;
                r.replication_factor = a.values().next().map(|v| v.len() as i16).unwrap_or(-1);
                if version >= 5 {
                    let overrides: BTreeMap<String, String> = configs.into_iter().collect();
                    r.configs = Some(
                        topic_config::TOPIC_KEYS
                            .iter()
                            .map(|(k, _, _)| {
                                let mut c = CreatableTopicConfigs::default();
                                c.name = sb(k);
                                let (v, src) = match overrides.get(*k) {
                                    Some(v) => (v.clone(), Source::DynamicTopic),
                                    None => topic_config::broker_default(&broker.log_config(), k),
                                };
                                c.value = Some(sb(&v));
                                c.config_source = src as i8;
                                c
                            })
                            .collect(),
                    );
                }
                if !req.validate_only {
                    created.push(name.clone());
                }
            }
            Err((code, msg)) => {
                r.error_code = code.code();
                r.error_message = Some(sb(&msg));
            }
        }
        resp.topics.push(r);
    }
    if !created.is_empty() && req.timeout_ms > 0 {
        let timeout = Duration::from_millis(req.timeout_ms.min(60_000) as u64);
        let ok = wait_meta(broker, timeout, |m| {
            created.iter().all(|t| m.topics.get(t).map(|tm| !tm.partitions.is_empty() && tm.partitions.values().all(|p| p.leader().is_some())).unwrap_or(false))
        })
        .await;
        if !ok {
            for r in &mut resp.topics {
                if created.contains(&r.name.0.as_str().to_string()) && r.error_code == ErrorCode::NONE {
                    r.error_code = ErrorCode::REQUEST_TIMED_OUT.code();
                    r.error_message = Some(sb("Timed out waiting for the topic's partitions to get leaders; the topic was created and will become available."));
                }
            }
        }
    }
    resp
}
