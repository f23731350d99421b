//! IncrementalAlterConfigs for topics: SET (0), DELETE (1), APPEND (2), SUBTRACT (3).

use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::alter_configs::write_topic_config;
use super::describe_configs::TOPIC;
use super::sb;
use crate::broker::Broker;
use crate::server::errors;

pub async fn handle(broker: &Broker, req: IncrementalAlterConfigsRequest, _version: i16) -> IncrementalAlterConfigsResponse {
    let mut resp = IncrementalAlterConfigsResponse::default();
    for res in req.resources {
        let mut r = AlterConfigsResourceResponse::default();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name.clone();
        let topic = res.resource_name.as_str().to_string();
        if res.resource_type != TOPIC {
            r.error_code = errors::INVALID_REQUEST;
            r.error_message = Some(sb("Only topic configs can be altered (dynamic broker configs are not implemented)"));
            resp.responses.push(r);
            continue;
        }
        let meta = broker.meta.get();
        let mut config: Vec<(String, String)> = meta.topics.get(&topic).map(|t| t.config.clone()).unwrap_or_default();
        let mut bad = None;
        for c in &res.configs {
            let k = c.name.as_str().to_string();
            let v = c.value.as_ref().map(|v| v.as_str().to_string());
            let pos = config.iter().position(|(a, _)| *a == k);
            match (c.config_operation, v) {
                (0, Some(v)) => match pos {
                    Some(i) => config[i].1 = v,
                    None => config.push((k, v)),
                },
                (1, _) => {
                    if let Some(i) = pos {
                        config.remove(i);
                    }
                }
                (2, Some(v)) | (3, Some(v)) => {
                    let base = match pos {
                        Some(i) => config[i].1.clone(),
                        None => crate::topic_config::broker_default(&broker.cfg, &k).0,
                    };
                    let mut items: Vec<String> = base.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
                    for x in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        if c.config_operation == 2 {
                            if !items.iter().any(|i| i == x) {
                                items.push(x.to_string());
                            }
                        } else {
                            items.retain(|i| i != x);
                        }
                    }
                    let joined = items.join(",");
                    match pos {
                        Some(i) => config[i].1 = joined,
                        None => config.push((k, joined)),
                    }
                }
                _ => bad = Some(format!("Invalid operation {} or missing value for {k}", c.config_operation)),
            }
        }
        let result = match bad {
            Some(m) => Err((errors::INVALID_REQUEST, m)),
            None => write_topic_config(broker, &topic, config, req.validate_only).await,
        };
        if let Err((code, msg)) = result {
            r.error_code = code;
            r.error_message = Some(sb(&msg));
        }
        resp.responses.push(r);
    }
    resp
}
