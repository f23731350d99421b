//! Controlled shutdown (`controlled.shutdown.enable`, on SIGTERM / Ctrl-C): before leaving,
//! the broker asks the controller to move leadership of its replicated partitions away
//! and take it out of the ISRs, retrying `controlled.shutdown.max.retries` times
//! `controlled.shutdown.retry.backoff.ms` apart while partitions remain, then waits
//! (bounded) until its metadata shows the moves. Partitions with one replica cannot move
//! and do not count, as in Kafka 2.5.

use std::time::Duration;

use crate::replica::client::{split_correlation, BrokerConn};
use crate::broker::Broker;
use crate::error_code::ErrorCode;
use crate::ids::BrokerId;
use crate::server::controlled_shutdown as cs;

pub async fn run(broker: &Broker) {
    if !broker.cfg.controlled_shutdown_enable {
        return;
    }
    let tries = broker.cfg.controlled_shutdown_max_retries.max(1);
    for attempt in 1..=tries {
        let meta = broker.meta.get();
        let controller = meta.controller;
        tracing::info!("controlled shutdown: asking controller {controller} to move leadership away (attempt {attempt} of {tries})");
        let answer = if controller == broker.id {
            Some(cs::ask_controller(broker, BrokerId(broker.id)).await)
        } else if let Some(b) = meta.brokers.get(&controller) {
            ask_remote(broker, &format!("{}:{}", b.host, b.port)).await
        } else {
            None
        };
        match answer {
            Some((ErrorCode::NONE, remaining)) if remaining.is_empty() => {
                tracing::info!("controlled shutdown succeeded");
                broker.fetching_stopped.store(true, std::sync::atomic::Ordering::Relaxed);
                wait_for_moves(broker).await;
                return;
            }
            Some((ErrorCode::NONE, remaining)) => {
                tracing::info!("controlled shutdown attempt {attempt}: partitions still led here: {remaining:?}");
            }
            Some((code, _)) => tracing::info!("controlled shutdown attempt {attempt}: controller {controller} answered error {code}"),
            None => tracing::info!("controlled shutdown attempt {attempt}: no answer from controller {controller}"),
        }
        if attempt < tries {
            tokio::time::sleep(Duration::from_millis(broker.cfg.controlled_shutdown_retry_backoff_ms.min(5000))).await;
        }
    }
    tracing::warn!("proceeding to do an unclean shutdown as all the controlled shutdown attempts failed");
}

async fn ask_remote(broker: &Broker, addr: &str) -> Option<(ErrorCode, Vec<(String, i32)>)> {
    let timeout = Duration::from_secs(30);
    let mut c = BrokerConn::connect(addr, &format!("broker-{}-shutdown", broker.id), Duration::from_secs(5)).await.ok()?;
    let frame = cs::encode_request(1, &format!("broker-{}-shutdown", broker.id), broker.id);
    let resp = c.round_trip(frame, timeout).await.ok()?;
    let (corr, body) = split_correlation(resp)?;
    if corr != 1 {
        return None;
    }
    cs::decode_response(body)
}

/// Until no partition with other replicas names us leader (at most 5 s).
async fn wait_for_moves(broker: &Broker) {
    let me = BrokerId(broker.id);
    let _ = broker.meta.wait_for(Duration::from_secs(5), move |m| {
        m.topics.values().all(|t| t.partitions.values().all(|p| p.replicas.len() < 2 || p.leader() != me))
    })
    .await;
}
