//! Produce: validate each partition's batches (magic 2, CRC32C, sizes, record structure),
//! append with offsets assigned, answer per partition. acks=0 gets no response (the
//! connection layer drops it); acks=1 and acks=-1 answer after the append. With a single
//! replica (until issue 7) acks=-1 is satisfied by the leader alone, unless the topic's
//! min.insync.replicas exceeds the ISR (then NOT_ENOUGH_REPLICAS, as Kafka).
//! Idempotent producers (producer id, epoch, sequence in the batch header) are checked by
//! the log's producer state: a retried batch already in the log is acknowledged with its
//! original base offset and not appended again; a sequence gap is OUT_OF_ORDER_SEQUENCE_NUMBER,
//! an old epoch INVALID_PRODUCER_EPOCH. Transactions are not implemented.

use std::sync::atomic::Ordering;

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::{auto_create, sb};
use crate::broker::Broker;
use crate::log::batch;
use crate::server::errors;

pub async fn handle(broker: &Broker, req: ProduceRequest, _version: i16) -> ProduceResponse {
    let mut resp = ProduceResponse::default();
    let acks_ok = matches!(req.acks, -1 | 0 | 1);
    let mut any = false;
    for td in req.topic_data {
        let topic = td.name.0.as_str().to_string();
        let mut meta = broker.meta.get();
        if acks_ok && !meta.topics.contains_key(&topic) && auto_create(broker, &topic).await {
            meta = broker.meta.get();
        }
        let mut tr = TopicProduceResponse::default();
        tr.name = td.name.clone();
        for pd in td.partition_data {
            let mut pr = PartitionProduceResponse::default();
            pr.index = pd.index;
            pr.base_offset = -1;
            pr.log_append_time_ms = -1;
            pr.log_start_offset = -1;
            let tm = meta.topics.get(&topic);
            let pm = tm.and_then(|t| t.partitions.get(&pd.index));
            let part = broker.logs.get(&topic, pd.index);
            let min_isr = tm.map(|_| broker.topic_config(&meta, &topic)).map(|_| {
                meta.config_map(&topic).get("min.insync.replicas").and_then(|v| v.parse::<usize>().ok()).unwrap_or(broker.cfg.min_insync_replicas as usize)
            });
            if !acks_ok {
                pr.error_code = errors::INVALID_REQUIRED_ACKS;
            } else if pm.is_none() {
                pr.error_code = errors::UNKNOWN_TOPIC_OR_PARTITION;
            } else if pm.map(|p| p.leader()) != Some(broker.id) || part.is_none() {
                pr.error_code = errors::NOT_LEADER_OR_FOLLOWER;
            } else if req.acks == -1
                && pm.and_then(|p| p.state.as_ref()).map(|s| s.isr.len()).unwrap_or(0) < min_isr.unwrap_or(1)
            {
                pr.error_code = errors::NOT_ENOUGH_REPLICAS;
            } else if let (Some(part), Some(records)) = (part, pd.records) {
                let max = {
                    let log = part.lock();
                    log.config.max_message_bytes
                };
                match batch::validate_produce(&records, max) {
                    Err(e) => {
                        tracing::info!("rejecting produce to {topic}-{}: {e}", pd.index);
                        pr.error_code = errors::from_batch(&e);
                        pr.error_message = Some(sb(&e.to_string()));
                    }
                    Ok(_) => {
                        let mut data = records.to_vec();
                        let epoch = part.leader_epoch.load(Ordering::Relaxed);
                        let mut log = part.lock();
                        match log.append(&mut data, epoch) {
                            Ok(a) => {
                                pr.base_offset = a.base_offset;
                                pr.log_append_time_ms = a.log_append_time;
                                pr.log_start_offset = log.log_start_offset;
                                if a.duplicate {
                                    tracing::debug!("duplicate batch to {topic}-{} acknowledged at offset {}", pd.index, a.base_offset);
                                } else {
                                    any = true;
                                }
                            }
                            Err(crate::log::LogError::Producer(e)) => {
                                tracing::info!("rejecting produce to {topic}-{}: {e}", pd.index);
                                pr.error_code = errors::from_log(&crate::log::LogError::Producer(e));
                                pr.error_message = Some(sb(&e.to_string()));
                            }
                            Err(e) => {
                                tracing::error!("append to {topic}-{} failed: {e}", pd.index);
                                pr.error_code = errors::from_log(&e);
                            }
                        }
                    }
                }
            } else {
                pr.error_code = errors::CORRUPT_MESSAGE;
            }
            tr.partition_responses.push(pr);
        }
        resp.responses.push(tr);
    }
    if any {
        broker.logs.appended.notify_waiters();
    }
    resp
}
