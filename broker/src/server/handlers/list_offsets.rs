//! ListOffsets: -2 earliest (log start), -1 latest (high watermark; the last stable offset
//! for isolation_level 1, read_committed), else the first offset
//! whose timestamp is >= the one asked (offset -1 when none, as Kafka).

use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::broker::Broker;
use crate::server::errors::{self, ErrorCode};

pub async fn handle(broker: &Broker, req: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let meta = broker.meta.get();
    let mut resp = ListOffsetsResponse::default();
    for t in &req.topics {
        let topic = t.name.0.as_str();
        let mut tr = ListOffsetsTopicResponse::default();
        tr.name = t.name.clone();
        for p in &t.partitions {
            let mut pr = ListOffsetsPartitionResponse::default();
            pr.partition_index = p.partition_index;
            pr.timestamp = -1;
            pr.offset = -1;
            let pm = meta.topics.get(topic).and_then(|x| x.partitions.get(&p.partition_index));
            match (pm, broker.logs.get(topic, p.partition_index)) {
                (None, _) => pr.error_code = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.code(),
                (Some(pm), Some(part)) if pm.leader() == crate::ids::BrokerId(broker.id) => {
                    if version >= 4 {
                        pr.leader_epoch = pm.leader_epoch().get();
                    }
                    let log = part.lock();
                    match p.timestamp {
                        -2 => pr.offset = log.log_start_offset,
                        -1 if req.isolation_level == 1 => pr.offset = log.last_stable_offset(),
                        -1 => pr.offset = log.high_watermark(),
                        ts => match tokio::task::block_in_place(|| log.offset_for_time(ts)) {
                            Ok(Some((off, ts))) => {
                                pr.offset = off;
                                pr.timestamp = ts;
                            }
                            Ok(None) => {}
                            Err(e) => pr.error_code = errors::from_log(&e).code(),
                        },
                    }
                }
                _ => pr.error_code = ErrorCode::NOT_LEADER_OR_FOLLOWER.code(),
            }
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    resp
}
