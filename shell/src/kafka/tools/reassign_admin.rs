//! `kafka-reassign-partitions.sh --bootstrap-server`: the cluster seen through the admin API.
//! Reassignments go to the controller (AlterPartitionReassignments, ListPartitionReassignments,
//! as the Java admin client routes them); replica lists come from Metadata; throttles are
//! dynamic configs (DescribeConfigs, IncrementalAlterConfigs; broker resources to that broker).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_protocol::messages::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId, DescribeConfigsRequest, IncrementalAlterConfigsRequest, ListPartitionReassignmentsRequest,
    ListPartitionReassignmentsResponse,
};

use super::controller_call;
use super::reassign_json::{tp_str, Tp};
use super::replica_assignment::BrokerMeta;
use super::topics::message;
use crate::kafka::client::{sb, tn, Client};
use crate::kafka::error::KafkaError;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
/// ConfigSource values of dynamic topic and per-broker configs.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const DYNAMIC_BROKER_CONFIG: i8 = 2;
const SET: i8 = 0;
const DELETE: i8 = 1;

pub struct AdminCluster {
    client: Client,
    /// The `timeout_ms` sent with reassignment requests (`--timeout`).
    timeout_ms: i32,
}

fn err(e: KafkaError) -> String {
    message(&e)
}

impl AdminCluster {
    pub fn new(client: Client, timeout_ms: i32) -> AdminCluster {
        AdminCluster { client, timeout_ms }
    }

    fn extra(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.max(0) as u64).saturating_sub(self.client.timeout) + Duration::from_secs(1)
    }

    pub async fn brokers(&mut self) -> Result<Vec<BrokerMeta>, String> {
        self.client.refresh(Some(&[])).await.map_err(err)?;
        Ok(self.client.meta.brokers.values().map(|b| BrokerMeta { id: b.id, rack: b.rack.clone() }).collect())
    }

    pub async fn assignment(&mut self, topics: &[String]) -> Result<BTreeMap<Tp, Vec<i32>>, String> {
        self.client.refresh(Some(topics)).await.map_err(err)?;
        let mut out = BTreeMap::new();
        for t in topics {
            let Some(info) = self.client.meta.topics.get(t) else { continue };
            if info.error != 0 {
                continue;
            }
            for p in &info.partitions {
                out.insert((t.clone(), p.id), p.replicas.clone());
            }
        }
        Ok(out)
    }

    pub async fn ongoing(&mut self, parts: Option<&[Tp]>) -> Result<BTreeSet<Tp>, String> {
        let mut req = ListPartitionReassignmentsRequest::default();
        req.timeout_ms = self.timeout_ms;
        req.topics = parts.map(|ps| {
            let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for (t, p) in ps {
                by_topic.entry(t.as_str()).or_default().push(*p);
            }
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    let mut x = ListPartitionReassignmentsTopics::default();
                    x.name = tn(t);
                    x.partition_indexes = ps;
                    x
                })
                .collect()
        });
        let extra = self.extra();
        let resp = controller_call(&mut self.client, &req, 0, extra, |r: &ListPartitionReassignmentsResponse| r.error_code).await.map_err(err)?;
        if resp.error_code != 0 {
            return Err(err(KafkaError::code(resp.error_code, resp.error_message.map(|m| m.to_string()))));
        }
        let mut out = BTreeSet::new();
        for t in resp.topics {
            for p in t.partitions {
                out.insert((t.name.0.to_string(), p.partition_index));
            }
        }
        Ok(out)
    }

    /// AlterPartitionReassignments with these targets; any partition's error fails the step.
    pub async fn start(&mut self, moves: &[(Tp, Vec<i32>)]) -> Result<(), String> {
        let mut by_topic: BTreeMap<&str, Vec<(i32, &Vec<i32>)>> = BTreeMap::new();
        for ((t, p), r) in moves {
            by_topic.entry(t.as_str()).or_default().push((*p, r));
        }
        let mut req = AlterPartitionReassignmentsRequest::default();
        req.timeout_ms = self.timeout_ms;
        // v1's flag; true is also what v0 brokers do (the replica count may change).
        req.allow_replication_factor_change = true;
        req.topics = by_topic
            .into_iter()
            .map(|(t, ps)| {
                let mut x = ReassignableTopic::default();
                x.name = tn(t);
                x.partitions = ps
                    .into_iter()
                    .map(|(p, r)| {
                        let mut y = ReassignablePartition::default();
                        y.partition_index = p;
                        y.replicas = Some(r.iter().map(|b| BrokerId(*b)).collect());
                        y
                    })
                    .collect();
                x
            })
            .collect();
        let extra = self.extra();
        let resp = controller_call(&mut self.client, &req, 1, extra, |r: &AlterPartitionReassignmentsResponse| r.error_code).await.map_err(err)?;
        let mut errors: BTreeMap<Tp, String> = BTreeMap::new();
        for t in &resp.responses {
            for p in &t.partitions {
                let (code, msg) = if resp.error_code != 0 { (resp.error_code, resp.error_message.clone()) } else { (p.error_code, p.error_message.clone()) };
                if code != 0 {
                    errors.insert((t.name.0.to_string(), p.partition_index), err(KafkaError::code(code, msg.map(|m| m.to_string()))));
                }
            }
        }
        if resp.error_code != 0 && errors.is_empty() {
            return Err(err(KafkaError::code(resp.error_code, resp.error_message.map(|m| m.to_string()))));
        }
        if errors.is_empty() {
            return Ok(());
        }
        let lines: Vec<String> = errors.iter().map(|(tp, m)| format!("{}: {m}", tp_str(tp))).collect();
        Err(format!("Error reassigning partition(s):\n{}", lines.join("\n")))
    }

    pub async fn set_topic_config(&mut self, topic: &str, set: &[(&str, String)]) -> Result<(), String> {
        let ops: Vec<(&str, Option<&str>)> = set.iter().map(|(k, v)| (*k, Some(v.as_str()))).collect();
        self.alter(TOPIC, topic, None, &ops).await
    }

    pub async fn set_broker_configs(&mut self, brokers: &[i32], set: &[(&str, String)]) -> Result<(), String> {
        let ops: Vec<(&str, Option<&str>)> = set.iter().map(|(k, v)| (*k, Some(v.as_str()))).collect();
        for b in brokers {
            self.alter(BROKER, &b.to_string(), Some(*b), &ops).await?;
        }
        Ok(())
    }

    pub async fn remove_configs(&mut self, brokers: &[i32], broker_keys: &[&str], topics: &[String], topic_keys: &[&str]) -> Result<bool, String> {
        let mut removed = false;
        for b in brokers {
            let present = self.dynamic_keys(BROKER, &b.to_string(), Some(*b), DYNAMIC_BROKER_CONFIG, broker_keys).await?;
            if !present.is_empty() {
                let ops: Vec<(&str, Option<&str>)> = present.iter().map(|k| (k.as_str(), None)).collect();
                self.alter(BROKER, &b.to_string(), Some(*b), &ops).await?;
                removed = true;
            }
        }
        for t in topics {
            let present = self.dynamic_keys(TOPIC, t, None, DYNAMIC_TOPIC_CONFIG, topic_keys).await?;
            if !present.is_empty() {
                let ops: Vec<(&str, Option<&str>)> = present.iter().map(|k| (k.as_str(), None)).collect();
                self.alter(TOPIC, t, None, &ops).await?;
                removed = true;
            }
        }
        Ok(removed)
    }

    /// Which of `keys` are set on the resource as dynamic configs of `source`.
    async fn dynamic_keys(&mut self, kind: i8, name: &str, broker: Option<i32>, source: i8, keys: &[&str]) -> Result<Vec<String>, String> {
        let mut r = DescribeConfigsResource::default();
        r.resource_type = kind;
        r.resource_name = sb(name);
        r.configuration_keys = Some(keys.iter().map(|k| sb(k)).collect());
        let mut req = DescribeConfigsRequest::default();
        req.resources = vec![r];
        let conn = match broker {
            Some(id) => self.client.node(id).await.map_err(err)?,
            None => self.client.controller().await.map_err(err)?,
        };
        let resp = conn.send(&req, 2).await.map_err(err)?;
        let mut out = Vec::new();
        for res in resp.results {
            if res.error_code != 0 {
                return Err(err(KafkaError::code(res.error_code, res.error_message.map(|m| m.to_string()))));
            }
            for c in res.configs {
                if c.config_source == source && keys.contains(&c.name.as_str()) {
                    out.push(c.name.to_string());
                }
            }
        }
        Ok(out)
    }

    /// IncrementalAlterConfigs: `Some(v)` sets, `None` deletes.
    async fn alter(&mut self, kind: i8, name: &str, broker: Option<i32>, ops: &[(&str, Option<&str>)]) -> Result<(), String> {
        let mut res = AlterConfigsResource::default();
        res.resource_type = kind;
        res.resource_name = sb(name);
        res.configs = ops
            .iter()
            .map(|(k, v)| {
                let mut c = AlterableConfig::default();
                c.name = sb(k);
                c.config_operation = if v.is_some() { SET } else { DELETE };
                c.value = v.map(sb);
                c
            })
            .collect();
        let mut req = IncrementalAlterConfigsRequest::default();
        req.resources = vec![res];
        let conn = match broker {
            Some(id) => self.client.node(id).await.map_err(err)?,
            None => self.client.controller().await.map_err(err)?,
        };
        let resp = conn.send(&req, 1).await.map_err(err)?;
        for r in resp.responses {
            if r.error_code != 0 {
                let what = if kind == BROKER { format!("broker {name}") } else { format!("topic {name}") };
                return Err(format!("Cannot change the throttle configs of {what}: {}", err(KafkaError::code(r.error_code, r.error_message.map(|m| m.to_string())))));
            }
        }
        Ok(())
    }
}
