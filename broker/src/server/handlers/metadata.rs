//! Metadata: brokers, controller, cluster id, topics with leaders/replicas/ISR.
//! Unknown topics are auto-created when allowed (answering LEADER_NOT_AVAILABLE, like Kafka).

use kafka_protocol::messages::metadata_response::{MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};

use super::{auto_create, sb, tn};
use crate::broker::Broker;
use crate::metadata::ClusterMeta;
use crate::server::errors::ErrorCode;

fn topic_entry(meta: &ClusterMeta, name: &str) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default();
    t.name = Some(tn(name));
    t.is_internal = name == "__consumer_offsets" || name == "__transaction_state";
    let Some(tm) = meta.topics.get(name) else {
        t.error_code = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.code();
        return t;
    };
    for (p, pm) in &tm.partitions {
        let mut e = MetadataResponsePartition::default();
        e.partition_index = *p;
        e.leader_id = BrokerId(pm.leader().get());
        e.leader_epoch = pm.leader_epoch().get().max(0);
        e.replica_nodes = pm.replicas.iter().map(|r| BrokerId(r.get())).collect();
        e.isr_nodes = pm.state.as_ref().map(|s| s.isr.iter().map(|r| BrokerId(r.get())).collect()).unwrap_or_default();
        e.offline_replicas = pm.replicas.iter().filter(|r| !meta.brokers.contains_key(&r.get())).map(|r| BrokerId(r.get())).collect();
        if !pm.leader().is_some() || !meta.brokers.contains_key(&pm.leader().get()) {
            e.error_code = ErrorCode::LEADER_NOT_AVAILABLE.code();
            e.leader_id = BrokerId(-1);
        }
        t.partitions.push(e);
    }
    if tm.partitions.values().all(|p| p.state.is_none()) {
        t.error_code = ErrorCode::LEADER_NOT_AVAILABLE.code();
    }
    t
}

pub async fn handle(broker: &Broker, req: MetadataRequest, version: i16) -> MetadataResponse {
    let mut meta = broker.meta.get();
    let requested: Option<Vec<String>> = match &req.topics {
        None => None,
        Some(v) if v.is_empty() && version == 0 => None,
        Some(v) => Some(v.iter().filter_map(|t| t.name.as_ref().map(|n| n.0.as_str().to_string())).collect()),
    };
    // Kafka 2.5: v0-3 always allow auto-creation; v4+ asks.
    let allow_auto = version < 4 || req.allow_auto_topic_creation;
    let mut created = false;
    if let Some(names) = &requested {
        for n in names {
            if !meta.topics.contains_key(n) && allow_auto && auto_create(broker, n).await {
                created = true;
            }
        }
    }
    if created {
        meta = broker.meta.get();
    }
    let mut r = MetadataResponse::default();
    r.brokers = meta
        .brokers
        .values()
        .map(|b| {
            let mut e = MetadataResponseBroker::default();
            e.node_id = BrokerId(b.id);
            e.host = sb(&b.host);
            e.port = b.port;
            e.rack = b.rack.as_deref().map(sb);
            e
        })
        .collect();
    if version >= 2 {
        r.cluster_id = Some(sb(&broker.cluster_id));
    }
    r.controller_id = BrokerId(meta.controller);
    let names: Vec<String> = match requested {
        None => meta.topics.keys().cloned().collect(),
        Some(n) => n,
    };
    r.topics = names.iter().map(|n| topic_entry(&meta, n)).collect();
    if version >= 8 {
        r.cluster_authorized_operations = if req.include_cluster_authorized_operations { 0 } else { i32::MIN };
    }
    for t in &mut r.topics {
        t.topic_authorized_operations = if version >= 8 && req.include_topic_authorized_operations { 0 } else { i32::MIN };
    }
    r
}
