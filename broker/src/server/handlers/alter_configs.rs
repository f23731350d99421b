//! AlterConfigs (the legacy, replace-everything form) for topics and dynamic broker configs.

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::describe_configs::{BROKER, TOPIC};
use super::sb;
use crate::broker::Broker;
use crate::server::errors::ErrorCode;

/// Validates and (unless validate_only) writes a topic's full override set.
pub async fn write_topic_config(broker: &Broker, topic: &str, config: Vec<(String, String)>, validate_only: bool) -> Result<(), (ErrorCode, String)> {
    if !broker.meta.get().topics.contains_key(topic) {
        return Err((ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, format!("Topic '{topic}' does not exist.")));
    }
    for (k, v) in &config {
        crate::topic_config::validate(k, v).map_err(|m| (ErrorCode::INVALID_CONFIG, m))?;
    }
    if validate_only {
        return Ok(());
    }
    crate::admin::change_topic_config(&broker.zk, topic, &config).await.map_err(|e| (ErrorCode::UNKNOWN_SERVER_ERROR, e.to_string()))?;
    // Apply locally at once; other brokers follow the /config/changes notification.
    let mut meta = (*broker.meta.get()).clone();
    if let Some(t) = meta.topics.get_mut(topic) {
        t.config = config;
    }
    let cfg = broker.topic_config(&meta, topic);
    broker.logs.update_config(topic, &cfg);
    broker.meta.set(meta);
    Ok(())
}

pub async fn handle(broker: &Broker, req: AlterConfigsRequest, _version: i16) -> AlterConfigsResponse {
    let mut resp = AlterConfigsResponse::default();
    for res in req.resources {
        let mut r = AlterConfigsResourceResponse::default();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name.clone();
        if res.resource_type == BROKER {
            let config: Vec<(String, String)> = res
                .configs
                .iter()
                .filter_map(|c| c.value.as_ref().map(|v| (c.name.as_str().to_string(), v.as_str().to_string())))
                .collect();
            if let Err((code, msg)) = replace_broker_config(broker, res.resource_name.as_str(), config, req.validate_only).await {
                r.error_code = code.code();
                r.error_message = Some(sb(&msg));
            }
        } else if res.resource_type != TOPIC {
            r.error_code = ErrorCode::INVALID_REQUEST.code();
            r.error_message = Some(sb("Only topic and broker configs can be altered"));
        } else {
            let config: Vec<(String, String)> = res
                .configs
                .iter()
                .filter_map(|c| c.value.as_ref().map(|v| (c.name.as_str().to_string(), v.as_str().to_string())))
                .collect();
            if let Err((code, msg)) = write_topic_config(broker, res.resource_name.as_str(), config, req.validate_only).await {
                r.error_code = code.code();
                r.error_message = Some(sb(&msg));
            }
        }
        resp.responses.push(r);
    }
    resp
}

async fn replace_broker_config(broker: &Broker, name: &str, config: Vec<(String, String)>, validate_only: bool) -> Result<(), (ErrorCode, String)> {
    let entity = crate::dynamic_config::entity(name).map_err(|m| (ErrorCode::INVALID_REQUEST, m))?;
    for (k, v) in &config {
        crate::dynamic_config::validate(k, v).map_err(|m| (ErrorCode::INVALID_CONFIG, m))?;
    }
    if validate_only {
        return Ok(());
    }
    crate::dynamic_config::write(&broker.zk, &entity, &config).await.map_err(|e| (ErrorCode::UNKNOWN_SERVER_ERROR, e.to_string()))
}
