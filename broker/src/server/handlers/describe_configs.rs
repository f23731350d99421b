//! DescribeConfigs: topic configs with their source (topic override, static broker config,
//! default) and synonyms; broker configs: all of Kafka 2.5's with their sources and synonyms
//! (`broker_configs`), the cluster default resource what is set at `<default>`.

use kafka_protocol::messages::describe_configs_response::{DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use std::collections::BTreeMap;

use super::{broker_configs, sb};
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
                    let per_broker: BTreeMap<String, String> =
                        if name.is_empty() { BTreeMap::new() } else { crate::dynamic_config::read(&broker.zk, name).await.unwrap_or_default().into_iter().collect() };
                    let defaults: BTreeMap<String, String> = crate::dynamic_config::read(&broker.zk, "<default>").await.unwrap_or_default().into_iter().collect();
                    let dynamic = |k: &str| crate::dynamic_config::is_dynamic(k);
                    let entries = if name.is_empty() {
                        broker_configs::describe_default(&defaults, &wanted)
                    } else {
                        let src = broker_configs::Sources { dynamic_broker: &per_broker, dynamic_default: &defaults, static_config: &broker.cfg.raw };
                        broker_configs::describe_broker(&src, &dynamic, &wanted)
                    };
                    for e in entries {
                        let mut c = DescribeConfigsResourceResult::default();
                        c.name = sb(&e.name);
                        c.value = e.value.as_deref().map(sb);
                        c.config_source = e.source;
                        c.read_only = e.read_only;
                        c.is_sensitive = e.sensitive;
                        if version >= 3 {
                            let kind = crate::topic_config::TOPIC_KEYS.iter().find(|(_, b, _)| *b == e.name).map(|(_, _, kind)| *kind);
                            c.config_type = kind.map(config_type).unwrap_or(0);
                        }
                        if req.include_synonyms {
                            for (n, v, src) in e.synonyms {
                                let mut s = DescribeConfigsSynonym::default();
                                s.name = sb(&n);
                                s.value = v.as_deref().map(sb);
                                s.source = src;
                                c.synonyms.push(s);
                            }
                        }
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
