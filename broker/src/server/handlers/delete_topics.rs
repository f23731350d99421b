//! DeleteTopics: marks `/admin/delete_topics/<t>`; the controller deletes the znodes and
//! every broker drops its logs. Waits (up to timeout_ms) until the topic is gone.

use std::time::Duration;

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};

use super::{sb, wait_meta};
use crate::admin::{self, AdminError};
use crate::broker::Broker;
use crate::server::errors::ErrorCode;

pub async fn handle(broker: &Broker, req: DeleteTopicsRequest, _version: i16) -> DeleteTopicsResponse {
    let mut resp = DeleteTopicsResponse::default();
    let mut names: Vec<String> = req.topic_names.iter().map(|t| t.0.as_str().to_string()).collect();
    names.extend(req.topics.iter().filter_map(|t| t.name.as_ref().map(|n| n.0.as_str().to_string())));
    let mut pending = Vec::new();
    for name in names {
        let mut r = DeletableTopicResult::default();
        r.name = Some(super::tn(&name));
        if !broker.cfg.delete_topic_enable {
            r.error_code = ErrorCode::TOPIC_DELETION_DISABLED.code();
            r.error_message = Some(sb("Topic deletion is disabled."));
        } else {
            match admin::delete_topic(&broker.zk, &name).await {
                Ok(()) => pending.push(name.clone()),
                Err(AdminError::NoTopic(_)) => r.error_code = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.code(),
                Err(e) => {
                    r.error_code = ErrorCode::UNKNOWN_SERVER_ERROR.code();
                    r.error_message = Some(sb(&e.to_string()));
                }
            }
        }
        resp.responses.push(r);
    }
    if !pending.is_empty() && req.timeout_ms > 0 {
        let timeout = Duration::from_millis(req.timeout_ms.min(60_000) as u64);
        let ok = wait_meta(broker, timeout, |m| pending.iter().all(|t| !m.topics.contains_key(t))).await;
        if !ok {
            for r in &mut resp.responses {
                let n = r.name.as_ref().map(|n| n.0.as_str().to_string()).unwrap_or_default();
                if pending.contains(&n) {
                    r.error_code = ErrorCode::REQUEST_TIMED_OUT.code();
                }
            }
        }
    }
    resp
}
