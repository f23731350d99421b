//! OffsetFetch: v1-v7 one group (v2+: a null topic list means every committed partition),
//! v8+ several groups at once. A partition without a commit answers offset -1.

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};

use super::{sb, tn};
use crate::broker::Broker;
use crate::group::records::OffsetValue;
use crate::server::errors::ErrorCode;

type Rows = Vec<(String, i32, Option<OffsetValue>, ErrorCode)>;

fn lookup(broker: &Broker, group: &str, wanted: Option<Vec<(String, Vec<i32>)>>) -> (Rows, ErrorCode) {
    match broker.groups.fetch(group, wanted.clone()) {
        Ok(rows) => (rows.into_iter().map(|(t, p, v)| (t, p, v, ErrorCode::NONE)).collect(), ErrorCode::NONE),
        Err(code) => {
            let rows = wanted
                .unwrap_or_default()
                .into_iter()
                .flat_map(|(t, ps)| ps.into_iter().map(move |p| (t.clone(), p, None, code)))
                .collect();
            (rows, code)
        }
    }
}

fn by_topic(rows: Rows) -> Vec<(String, Vec<(i32, Option<OffsetValue>, ErrorCode)>)> {
    let mut out: Vec<(String, Vec<(i32, Option<OffsetValue>, ErrorCode)>)> = Vec::new();
    for (t, p, v, e) in rows {
        match out.iter_mut().find(|(n, _)| *n == t) {
            Some((_, ps)) => ps.push((p, v, e)),
            None => out.push((t, vec![(p, v, e)])),
        }
    }
    out
}

pub async fn handle(broker: &Broker, req: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
    let mut resp = OffsetFetchResponse::default();
    if version >= 8 {
        for g in &req.groups {
            let wanted = g.topics.as_ref().map(|ts| ts.iter().map(|t| (t.name.0.as_str().to_string(), t.partition_indexes.clone())).collect());
            let (rows, code) = lookup(broker, g.group_id.0.as_str(), wanted);
            let mut gr = OffsetFetchResponseGroup::default();
            gr.group_id = g.group_id.clone();
            gr.error_code = code.code();
            if code == ErrorCode::NONE {
                for (t, ps) in by_topic(rows) {
                    let mut tr = OffsetFetchResponseTopics::default();
                    tr.name = tn(&t);
                    for (p, v, e) in ps {
                        let mut pr = OffsetFetchResponsePartitions::default();
                        pr.partition_index = p;
                        pr.committed_offset = v.as_ref().map(|v| v.offset).unwrap_or(-1);
                        pr.committed_leader_epoch = v.as_ref().map(|v| v.leader_epoch).unwrap_or(-1);
                        pr.metadata = Some(sb(v.as_ref().map(|v| v.metadata.as_str()).unwrap_or("")));
                        pr.error_code = e.code();
                        tr.partitions.push(pr);
                    }
                    gr.topics.push(tr);
                }
            }
            resp.groups.push(gr);
        }
        return resp;
    }
    let wanted = req.topics.as_ref().map(|ts| ts.iter().map(|t| (t.name.0.as_str().to_string(), t.partition_indexes.clone())).collect());
    let (rows, code) = lookup(broker, req.group_id.0.as_str(), wanted);
    if version >= 2 {
        resp.error_code = code.code();
    }
    for (t, ps) in by_topic(rows) {
        let mut tr = OffsetFetchResponseTopic::default();
        tr.name = tn(&t);
        for (p, v, e) in ps {
            let mut pr = OffsetFetchResponsePartition::default();
            pr.partition_index = p;
            pr.committed_offset = v.as_ref().map(|v| v.offset).unwrap_or(-1);
            pr.committed_leader_epoch = v.as_ref().map(|v| v.leader_epoch).unwrap_or(-1);
            pr.metadata = Some(sb(v.as_ref().map(|v| v.metadata.as_str()).unwrap_or("")));
            pr.error_code = e.code();
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    resp
}
