//! DeleteRecords: moves a partition's log start offset (offset -1 = high watermark);
//! segments wholly below it are deleted.

use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use crate::broker::Broker;
use crate::server::errors::{self, ErrorCode};

pub async fn handle(broker: &Broker, req: DeleteRecordsRequest, _version: i16) -> DeleteRecordsResponse {
    let meta = broker.meta.get();
    let mut resp = DeleteRecordsResponse::default();
    for t in &req.topics {
        let topic = t.name.0.as_str();
        let mut tr = DeleteRecordsTopicResult::default();
        tr.name = t.name.clone();
        for p in &t.partitions {
            let mut pr = DeleteRecordsPartitionResult::default();
            pr.partition_index = p.partition_index;
            pr.low_watermark = -1;
            let pm = meta.topics.get(topic).and_then(|x| x.partitions.get(&p.partition_index));
            match (pm, broker.logs.get(topic, p.partition_index)) {
                (None, _) => pr.error_code = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.code(),
                (Some(pm), Some(part)) if pm.leader() == crate::ids::BrokerId(broker.id) => {
                    let mut log = part.lock();
                    let offset = if p.offset == -1 { log.high_watermark() } else { p.offset };
                    match tokio::task::block_in_place(|| log.delete_records_before(offset)) {
                        Ok(low) => pr.low_watermark = low,
                        Err(e) => pr.error_code = errors::from_log(&e).code(),
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
