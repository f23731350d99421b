//! DescribeConfigs: topic configs with their source (topic override, static broker config,
//! default) and synonyms; broker configs: the dynamic ones of `dynamic_config` (per broker,
//! then the cluster default) and those read from server.properties (read-only).

use kafka_protocol::messages::describe_configs_response::{DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::sb;
use crate::broker::Broker;
use crate::server::errors::ErrorCode;
use crate::topic_config::{self, Source};

pub const TOPIC: i8 = 2;
pub const BROKER: i8 = 4;

fn config_type(kind: char) -> i8 {
    match kind {
        'b' => 1,
        'i' => 3,
        'l' => 5,
        'd' => 6,
        'p' => 7,
        _ => 2,
    }
}

pub async fn handle(broker: &Broker, req: DescribeConfigsRequest, version: i16) -> DescribeConfigsResponse {
    let meta = broker.meta.get();
    let mut resp = DescribeConfigsResponse::default();
    for res in &req.resources {
        let mut r = DescribeConfigsResult::default();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name.clone();
        let wanted = |k: &str| res.configuration_keys.as_ref().map(|ks| ks.iter().any(|x| x.as_str() == k)).unwrap_or(true);
        match res.resource_type {
            TOPIC => {
                let name = res.resource_name.as_str();
                if !meta.topics.contains_key(name) {
                    r.error_code = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.code();
                    r.error_message = Some(sb(&format!("Topic '{name}' does not exist.")));
                } else {
                    let overrides = meta.config_map(name);
                    for (k, synonym, kind) in topic_config::TOPIC_KEYS {
                        if !wanted(k) {
                            continue;
                        }
                        let (bval, bsrc) = topic_config::broker_default(&broker.log_config(), k);
                        let mut c = DescribeConfigsResourceResult::default();
                        c.name = sb(k);
                        let (v, src) = match overrides.get(*k) {
                            Some(v) => (v.clone(), Source::DynamicTopic),
                            None => (bval.clone(), bsrc),
                        };
                        c.value = Some(sb(&v));
                        c.config_source = src as i8;
                        if version >= 3 {
                            c.config_type = config_type(*kind);
                        }
                        if req.include_synonyms {
                            if let Some(v) = overrides.get(*k) {
                                let mut s = DescribeConfigsSynonym::default();
                                s.name = sb(k);
                                s.value = Some(sb(v));
                                s.source = Source::DynamicTopic as i8;
                                c.synonyms.push(s);
                            }
                            let mut s = DescribeConfigsSynonym::default();
                            s.name = sb(synonym);
                            s.value = Some(sb(&bval));
                            s.source = bsrc as i8;
                            c.synonyms.push(s);
                        }
                        r.configs.push(c);
                    }
                }
            }
            BROKER => {
                let name = res.resource_name.as_str();
                if !name.is_empty() && name != broker.id.to_string() {
                    r.error_code = ErrorCode::INVALID_REQUEST.code();
                    r.error_message = Some(sb(&format!("Unexpected broker id, expected {} but received {name}", broker.id)));
                } else {
                    let per_broker = if name.is_empty() { Vec::new() } else { crate::dynamic_config::read(&broker.zk, name).await.unwrap_or_default() };
                    let defaults = crate::dynamic_config::read(&broker.zk, "<default>").await.unwrap_or_default();
                    let dynamic_keys = crate::dynamic_config::KEYS.iter().copied().chain(crate::dynamic_config::log_keys().map(|(b, _)| b));
                    for k in dynamic_keys {
                        if !wanted(k) {
                            continue;
                        }
                        let (v, src) = match (per_broker.iter().find(|(a, _)| a == k), defaults.iter().find(|(a, _)| a == k)) {
                            (Some((_, v)), _) => (v.clone(), 2),
                            (None, Some((_, v))) => (v.clone(), 3),
                            _ => continue,
                        };
                        let mut c = DescribeConfigsResourceResult::default();
                        c.name = sb(k);
                        c.value = Some(sb(&v));
                        c.config_source = src;
                        if version >= 3 {
                            let kind = crate::topic_config::TOPIC_KEYS.iter().find(|(_, b, _)| *b == k).map(|(_, _, kind)| *kind).unwrap_or('l');
                            c.config_type = config_type(kind);
                        }
                        if req.include_synonyms {
                            // Kafka lists every source of the key, highest precedence first.
                            let lower = [(src == 2).then(|| per_broker.iter().find(|(a, _)| a == k)).flatten().map(|(_, v)| (v, 2)), defaults.iter().find(|(a, _)| a == k).map(|(_, v)| (v, 3))];
                            for (v, s_src) in lower.into_iter().flatten() {
                                let mut s = DescribeConfigsSynonym::default();
                                s.name = sb(k);
                                s.value = Some(sb(v));
                                s.source = s_src;
                                c.synonyms.push(s);
                            }
                        }
                        r.configs.push(c);
                    }
                    for (k, v) in &broker.cfg.raw {
                        if !wanted(k) {
                            continue;
                        }
                        // A key set dynamically is listed once, with its dynamic value; the
                        // static one is its synonym (as Kafka's DescribeConfigs).
                        if let Some(c) = r.configs.iter_mut().find(|c| c.name.as_str() == k.as_str()) {
                            if req.include_synonyms {
                                let mut s = DescribeConfigsSynonym::default();
                                s.name = sb(k);
                                s.value = Some(sb(v));
                                s.source = Source::StaticBroker as i8;
                                c.synonyms.push(s);
                            }
                            continue;
                        }
                        let mut c = DescribeConfigsResourceResult::default();
                        c.name = sb(k);
                        c.value = Some(sb(v));
                        c.config_source = Source::StaticBroker as i8;
                        c.read_only = !(crate::dynamic_config::KEYS.contains(&k.as_str()) || crate::dynamic_config::is_log_key(k));
                        r.configs.push(c);
                    }
                }
            }
            _ => {
                r.error_code = ErrorCode::INVALID_REQUEST.code();
                r.error_message = Some(sb("Unsupported resource type"));
            }
        }
        resp.results.push(r);
    }
    resp
}
