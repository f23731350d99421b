//! Fetch: reads whole batches from the fetch offset, up to partition_max_bytes per partition
//! and max_bytes overall (always at least one batch, as Kafka), waits up to max_wait_ms for
//! min_bytes, woken by appends. Sessionless: session_id 0 in every answer, which clients
//! treat as "send full fetch requests" (Kafka does the same when its session cache is full).
//! Consumers (replica id -1) read only below the high watermark (= last stable offset: no
//! transactions). A follower (replica id = its broker id) reads up to the log end; its fetch
//! offset is its log end offset, which moves the high watermark and the ISR (see `replica`).
//! A current leader epoch older than ours is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};

use crate::broker::Broker;
use crate::server::errors;

fn read_all(broker: &Broker, req: &FetchRequest) -> (FetchResponse, usize) {
    let meta = broker.meta.get();
    let mut resp = FetchResponse::default();
    let mut total = 0usize;
    let mut budget = if req.max_bytes <= 0 { usize::MAX } else { req.max_bytes as usize };
    for ft in &req.topics {
        let topic = ft.topic.0.as_str();
        let mut tr = FetchableTopicResponse::default();
        tr.topic = ft.topic.clone();
        for fp in &ft.partitions {
            let mut pd = PartitionData::default();
            pd.partition_index = fp.partition;
            pd.high_watermark = -1;
            pd.last_stable_offset = -1;
            pd.log_start_offset = -1;
            pd.preferred_read_replica = BrokerId(-1);
            pd.aborted_transactions = if req.isolation_level == 1 { Some(Vec::new()) } else { None };
            let pm = meta.topics.get(topic).and_then(|t| t.partitions.get(&fp.partition));
            let part = broker.logs.get(topic, fp.partition);
            let follower = req.replica_id.0 >= 0;
            let leads = part.as_ref().and_then(|p| crate::replica::leader_isr(p)).map(|(_, e)| e);
            match (pm, part) {
                (None, _) => pd.error_code = errors::UNKNOWN_TOPIC_OR_PARTITION,
                (Some(_), Some(_)) if leads.is_some() && fp.current_leader_epoch >= 0 && Some(fp.current_leader_epoch) < leads => {
                    pd.error_code = errors::FENCED_LEADER_EPOCH;
                }
                (Some(_), Some(_)) if leads.is_some() && fp.current_leader_epoch >= 0 && Some(fp.current_leader_epoch) > leads => {
                    pd.error_code = errors::UNKNOWN_LEADER_EPOCH;
                }
                (Some(_), Some(part)) if leads.is_some() => {
                    let log = part.lock();
                    pd.high_watermark = log.high_watermark();
                    pd.last_stable_offset = log.high_watermark();
                    pd.log_start_offset = log.log_start_offset;
                    let max = (fp.partition_max_bytes.max(0) as usize).min(budget);
                    // At least one batch for the first partition with data (KIP-74).
                    let max = if total == 0 { max.max(1) } else { max };
                    if max == 0 {
                        pd.records = Some(Bytes::new());
                    } else {
                        let res = if follower {
                            log.read(fp.fetch_offset, max)
                        } else {
                            log.read_below(fp.fetch_offset, max, log.high_watermark())
                        };
                        match res {
                            Ok(data) => {
                                total += data.len();
                                budget = budget.saturating_sub(data.len());
                                pd.records = Some(Bytes::from(data));
                            }
                            Err(e) => {
                                pd.error_code = errors::from_log(&e);
                                pd.records = Some(Bytes::new());
                            }
                        }
                    }
                }
                _ => pd.error_code = errors::NOT_LEADER_OR_FOLLOWER,
            }
            tr.partitions.push(pd);
        }
        resp.responses.push(tr);
    }
    (resp, total)
}

pub async fn handle(broker: &Broker, req: FetchRequest, _version: i16) -> FetchResponse {
    if req.replica_id.0 >= 0 {
        // A follower: its fetch offsets are its log end offsets.
        for ft in &req.topics {
            for fp in &ft.partitions {
                if let Some(part) = broker.logs.get(ft.topic.0.as_str(), fp.partition) {
                    let _ = crate::replica::on_follower_fetch(
                        broker,
                        ft.topic.0.as_str(),
                        &part,
                        req.replica_id.0,
                        fp.fetch_offset,
                        fp.current_leader_epoch,
                    );
                }
            }
        }
    }
    let wait = Duration::from_millis(req.max_wait_ms.clamp(0, 30_000) as u64);
    let deadline = tokio::time::Instant::now() + wait;
    let min_bytes = req.min_bytes.max(0) as usize;
    loop {
        let notified = broker.logs.appended.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (resp, total) = tokio::task::block_in_place(|| read_all(broker, &req));
        let has_error = resp.responses.iter().any(|t| t.partitions.iter().any(|p| p.error_code != 0));
        if total >= min_bytes || has_error || tokio::time::Instant::now() >= deadline || broker.shutting_down() {
            return resp;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return tokio::task::block_in_place(|| read_all(broker, &req)).0;
        }
    }
}
