//! Produce: validate each partition's batches (magic 2, CRC32C, sizes, record structure),
//! recompress them when the topic's compression.type names a codec other than the
//! producer's, append with offsets assigned, answer per partition. acks=0 gets no response (the
//! connection layer drops it); acks=1 answers after the leader's append; acks=-1 first
//! refuses with NOT_ENOUGH_REPLICAS when the ISR is smaller than the topic's
//! min.insync.replicas, then waits (up to the request's timeout) until the high watermark
//! passes the appended batches — every ISR member has them — and answers
//! NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below the minimum meanwhile, or
//! REQUEST_TIMED_OUT (the write may or may not commit; the client must not count it).
//! Idempotent producers (producer id, epoch, sequence in the batch header) are checked by
//! the log's producer state: a retried batch already in the log is acknowledged with its
//! original base offset and not appended again; a sequence gap is OUT_OF_ORDER_SEQUENCE_NUMBER,
//! an old epoch INVALID_PRODUCER_EPOCH. Transactional batches are accepted as Kafka 2.5
//! does (it does not check that the partition was added to the transaction): the first one
//! of a producer opens its transaction in the partition (see `log::partition_log::txn`); one
//! without a producer id, or a control batch, is INVALID_RECORD; a non-transactional batch
//! from a producer with an open transaction is INVALID_TXN_STATE.
//! Produce v3+ carrying a magic other than 2 is INVALID_RECORD, as Kafka 2.5's validateRecords (v0-2
//! arrive here already converted to magic 2 by `server::legacy::produce`).
//! A storage failure (a full disk, an offline log dir) is KAFKA_STORAGE_ERROR with nothing
//! of the batches left in the log (see `log::partition_log`); producers retry it.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::{auto_create, sb};
use crate::broker::Broker;
use crate::log::batch;
use crate::server::errors::{self, ErrorCode};

pub async fn handle(broker: &Broker, req: ProduceRequest, version: i16) -> ProduceResponse {
    let mut resp = ProduceResponse::default();
    let acks_ok = matches!(req.acks, -1 | 0 | 1);
    // acks=-1: (topic, partition index in the response, partition, offset to reach).
    let mut waits: Vec<(usize, usize, Arc<crate::log::Partition>, i64, usize)> = Vec::new();
    for td in req.topic_data {
        let topic = td.name.0.as_str().to_string();
        let mut meta = broker.meta.get();
        if acks_ok && !meta.topics.contains_key(&topic) && auto_create(broker, &topic).await {
            meta = broker.meta.get();
        }
        let mut tr = TopicProduceResponse::default();
        tr.name = td.name.clone();
        // The topic's counters (metrics::topics), only for a topic that exists.
        let stats = meta.topics.contains_key(&topic).then(|| broker.metrics.topics.topic(&topic));
        for pd in td.partition_data {
            let mut pr = PartitionProduceResponse::default();
            pr.index = pd.index;
            pr.base_offset = -1;
            pr.log_append_time_ms = -1;
            pr.log_start_offset = -1;
            let tm = meta.topics.get(&topic);
            let pm = tm.and_then(|t| t.partitions.get(&pd.index));
            let part = broker.logs.get(&topic, pd.index);
            // The log keeps its topic's resolved config (kept current by the metadata sync).
            let min_isr = part.as_ref().map(|p| p.lock().config.min_insync_replicas).unwrap_or(1).max(1) as usize;
            let isr = part.as_ref().and_then(|p| crate::replica::leader_isr(p));
            if !acks_ok {
                pr.error_code = ErrorCode::INVALID_REQUIRED_ACKS.code();
            } else if pm.is_none() {
                pr.error_code = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.code();
            } else if isr.is_none() || part.is_none() {
                pr.error_code = ErrorCode::NOT_LEADER_OR_FOLLOWER.code();
            } else if req.acks == -1 && isr.map(|(n, _)| n).unwrap_or(0) < min_isr {
                pr.error_code = ErrorCode::NOT_ENOUGH_REPLICAS.code();
                pr.error_message = Some(sb(&format!(
                    "The size of the current ISR {} is insufficient to satisfy the min.isr requirement of {min_isr} for partition {topic}-{}",
                    isr.map(|(n, _)| n).unwrap_or(0),
                    pd.index
                )));
            } else if let (Some(part), Some(records)) = (part, pd.records) {
                let max = {
                    let log = part.lock();
                    log.config.max_message_bytes
                };
                match batch::validate_produce(&records, max) {
                    Err(batch::BatchError::Magic(_)) if version >= 3 => {
                        // Kafka 2.5's ProduceRequest.validateRecords (v0-2 sets were converted
                        // to magic 2 already, see `server::legacy::produce`).
                        pr.error_code = ErrorCode::INVALID_RECORD.code();
                        pr.error_message = Some(sb(&format!(
                            "Produce requests with version {version} are only allowed to contain record batches with magic version 2"
                        )));
                    }
                    Err(e) => {
                        tracing::info!("rejecting produce to {topic}-{}: {e}", pd.index);
                        pr.error_code = errors::from_batch(&e).code();
                        pr.error_message = Some(sb(&e.to_string()));
                    }
                    Ok(_) => {
                        let target = part.lock().config.compression;
                        let mut data = match target {
                            Some(codec) if batch::split(&records).iter().any(|(h, _)| h.compression() != codec) => {
                                // The topic's compression.type: store the batches recompressed.
                                let mut out = Vec::with_capacity(records.len());
                                let mut failed = None;
                                for (_, b) in batch::split(&records) {
                                    match batch::recompress(b, codec) {
                                        Ok(r) => out.extend_from_slice(&r),
                                        Err(e) => {
                                            failed = Some(e);
                                            break;
                                        }
                                    }
                                }
                                if let Some(e) = failed {
                                    pr.error_code = errors::from_batch(&e).code();
                                    pr.error_message = Some(sb(&e.to_string()));
                                    tr.partition_responses.push(pr);
                                    continue;
                                }
                                out
                            }
                            _ => records.to_vec(),
                        };
                        match crate::replica::append_leader(&broker.logs, &part, &mut data) {
                            Ok(a) => {
                                if let (Some(t), false) = (&stats, a.duplicate) {
                                    let n = (a.next_offset - a.base_offset).max(0) as u64;
                                    broker.metrics.topics.appended(t, n, records.len() as u64);
                                }
                                pr.base_offset = a.base_offset;
                                pr.log_append_time_ms = a.log_append_time;
                                pr.log_start_offset = part.lock().log_start_offset;
                                if a.duplicate {
                                    tracing::debug!("duplicate batch to {topic}-{} acknowledged at offset {}", pd.index, a.base_offset);
                                }
                                if req.acks == -1 {
                                    waits.push((resp.responses.len(), tr.partition_responses.len(), part.clone(), a.next_offset, min_isr));
                                }
                            }
                            Err(crate::log::LogError::Producer(e)) => {
                                tracing::info!("rejecting produce to {topic}-{}: {e}", pd.index);
                                pr.error_code = errors::from_log(&crate::log::LogError::Producer(e)).code();
                                pr.error_message = Some(sb(&e.to_string()));
                            }
                            Err(crate::log::LogError::Batch(e)) => {
                                // The client's records (e.g. a keyless record for a compacted
                                // topic): Kafka's message as it is, no server error.
                                tracing::info!("rejecting produce to {topic}-{}: {e}", pd.index);
                                pr.error_code = errors::from_batch(&e).code();
                                let msg = match &e {
                                    batch::BatchError::InvalidRecord(m) => m.clone(),
                                    other => other.to_string(),
                                };
                                pr.error_message = Some(sb(&msg));
                            }
                            Err(e) => {
                                if matches!(e, crate::log::LogError::Offline(_)) {
                                    // Said once when the dir went offline.
                                    tracing::debug!("append to {topic}-{} refused: {e}", pd.index);
                                } else {
                                    tracing::error!("append to {topic}-{} failed: {e}", pd.index);
                                }
                                pr.error_code = errors::from_log(&e).code();
                                pr.error_message = Some(sb(&e.to_string()));
                            }
                        }
                    }
                }
            } else {
                pr.error_code = ErrorCode::CORRUPT_MESSAGE.code();
            }
            if let Some(t) = &stats {
                count_request(broker, t, pr.error_code);
            }
            tr.partition_responses.push(pr);
        }
        resp.responses.push(tr);
    }
    if !waits.is_empty() {
        let timeout = Duration::from_millis(req.timeout_ms.clamp(0, 300_000) as u64);
        await_replication(broker, &mut resp, waits, timeout).await;
    }
    resp
}

/// Kafka's TotalProduceRequestsPerSec (per partition) and FailedProduceRequestsPerSec (an
/// append that failed, not a request sent to the wrong broker).
fn count_request(broker: &Broker, t: &crate::metrics::topics::TopicStats, code: i16) {
    use crate::metrics::topics::add;
    let all = &broker.metrics.topics.all;
    add(&t.total_produce_requests, 1);
    add(&all.total_produce_requests, 1);
    let misdirected = code == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.code() || code == ErrorCode::NOT_LEADER_OR_FOLLOWER.code();
    if code != ErrorCode::NONE.code() && !misdirected {
        add(&t.failed_produce_requests, 1);
        add(&all.failed_produce_requests, 1);
    }
}

/// acks=-1: waits until each partition's high watermark reaches its appended end.
async fn await_replication(
    broker: &Broker,
    resp: &mut ProduceResponse,
    waits: Vec<(usize, usize, Arc<crate::log::Partition>, i64, usize)>,
    timeout: Duration,
) {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut open: Vec<_> = waits;
    loop {
        let changed = broker.logs.hw_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let mut still = Vec::new();
        for w in open {
            let (ti, pi, part, target, min_isr) = &w;
            let isr = crate::replica::leader_isr(part);
            let hw = part.lock().high_watermark();
            let Some(pr) = resp.responses.get_mut(*ti).and_then(|t| t.partition_responses.get_mut(*pi)) else { continue };
            match isr {
                None => {
                    // Lost leadership while waiting: the write may be lost; the client retries.
                    pr.error_code = ErrorCode::NOT_LEADER_OR_FOLLOWER.code();
                    pr.base_offset = -1;
                }
                Some((n, _)) if hw >= *target => {
                    if n < *min_isr {
                        pr.error_code = ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND.code();
                        pr.error_message = Some(sb(&format!("The ISR shrank to {n}, below min.insync.replicas={min_isr}, after the append")));
                    }
                }
                Some(_) => still.push(w),
            }
        }
        open = still;
        if open.is_empty() || broker.shutting_down() {
            break;
        }
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            break;
        }
    }
    for (ti, pi, _, _, _) in open {
        if let Some(pr) = resp.responses.get_mut(ti).and_then(|t| t.partition_responses.get_mut(pi)) {
            pr.error_code = ErrorCode::REQUEST_TIMED_OUT.code();
            pr.error_message = Some(sb("Timed out waiting for the in-sync replicas to replicate the records"));
        }
    }
}
