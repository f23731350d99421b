//! IncrementalAlterConfigs: SET (0), DELETE (1), APPEND (2), SUBTRACT (3) on topic configs
//! and on the dynamic broker configs of `dynamic_config`.

use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::alter_configs::write_topic_config;
use super::describe_configs::{BROKER, TOPIC};
use super::sb;
use crate::broker::Broker;
use crate::server::errors::ErrorCode;

pub async fn handle(broker: &Broker, req: IncrementalAlterConfigsRequest, _version: i16) -> IncrementalAlterConfigsResponse {
    let mut resp = IncrementalAlterConfigsResponse::default();
    for res in req.resources {
        let mut r = AlterConfigsResourceResponse::default();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name.clone();
        let name = res.resource_name.as_str().to_string();
        if res.resource_type == BROKER {
            if let Err((code, msg)) = alter_broker(broker, &name, &res.configs, req.validate_only).await {
                r.error_code = code.code();
                r.error_message = Some(sb(&msg));
            }
            resp.responses.push(r);
            continue;
        }
        if res.resource_type != TOPIC {
            r.error_code = ErrorCode::INVALID_REQUEST.code();
            r.error_message = Some(sb("Only topic and broker configs can be altered"));
            resp.responses.push(r);
            continue;
        }
        let topic = name;
        let meta = broker.meta.get();
        let mut config: Vec<(String, String)> = meta.topics.get(&topic).map(|t| t.config.clone()).unwrap_or_default();
        let bad = apply_ops(&mut config, &res.configs, |k| crate::topic_config::broker_default(&broker.cfg, k).0).err();
        let result = match bad {
            Some(m) => Err((ErrorCode::INVALID_REQUEST, m)),
            None => write_topic_config(broker, &topic, config, req.validate_only).await,
        };
        if let Err((code, msg)) = result {
            r.error_code = code.code();
            r.error_message = Some(sb(&msg));
        }
        resp.responses.push(r);
    }
    resp
}

type Ops = [kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig];

/// Applies the operations to a config set; `base` gives the value APPEND/SUBTRACT start from
/// when the key is not set.
fn apply_ops(config: &mut Vec<(String, String)>, ops: &Ops, base: impl Fn(&str) -> String) -> Result<(), String> {
    for c in ops {
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
                let start = match pos {
                    Some(i) => config[i].1.clone(),
                    None => base(&k),
                };
                let mut items: Vec<String> = start.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
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
            _ => return Err(format!("Invalid operation {} or missing value for {k}", c.config_operation)),
        }
    }
    Ok(())
}

async fn alter_broker(broker: &Broker, name: &str, ops: &Ops, validate_only: bool) -> Result<(), (ErrorCode, String)> {
    let entity = crate::dynamic_config::entity(name).map_err(|m| (ErrorCode::INVALID_REQUEST, m))?;
    let mut config = crate::dynamic_config::read(&broker.zk, &entity).await.map_err(|e| (ErrorCode::UNKNOWN_SERVER_ERROR, e.to_string()))?;
    apply_ops(&mut config, ops, |_| String::new()).map_err(|m| (ErrorCode::INVALID_REQUEST, m))?;
    for (k, v) in &config {
        crate::dynamic_config::validate(k, v).map_err(|m| (ErrorCode::INVALID_CONFIG, m))?;
    }
    if validate_only {
        return Ok(());
    }
    crate::dynamic_config::write(&broker.zk, &entity, &config).await.map_err(|e| (ErrorCode::UNKNOWN_SERVER_ERROR, e.to_string()))
}
