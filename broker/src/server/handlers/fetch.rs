//! Fetch: byte ranges of the segment files from the fetch offset, up to partition_max_bytes
//! per partition and max_bytes overall (always at least one whole batch, KIP-74), waiting up
//! to max_wait_ms for min_bytes, woken by appends. Sessionless: session_id 0 in every answer,
//! which clients treat as "send full fetch requests" (Kafka does the same when its session
//! cache is full). Consumers (replica id -1) read only below the high watermark;
//! read_committed ones (isolation_level 1) only below the last stable offset, and get the
//! aborted transactions overlapping what they read (producer id, first offset) so that they
//! drop those records (see `log::partition_log::txn`); every answer carries the LSO. A follower (replica id = its broker id) reads up to the
//! log end; its fetch offset is its log end offset, which moves the high watermark and the
//! ISR (see `replica`). A current leader epoch older than ours is FENCED_LEADER_EPOCH, newer
//! UNKNOWN_LEADER_EPOCH. KIP-392 (v11+): followers serve consumers up to their high
//! watermark, and with `replica.selector.class` = RackAwareReplicaSelector a leader sends a
//! consumer that gave its `rack_id` to a replica of its rack (`preferred_read_replica`, no
//! records), as Kafka 2.4+ does.
//!
//! Zero-copy: the answer is encoded here (v4-v12) as header bytes with file ranges between
//! them, and the connection sends the ranges with sendfile (see `server::send`), as Kafka's
//! FileRecords do. A range may end inside a batch; clients drop a partial last batch.
//!
//! Only checked data leaves (see `log::segment`): data we appended is checked already; an
//! old segment read for the first time is checked on the way, a bounded amount per read
//! (the fetch loops without waiting while a partition is still being checked, and answers
//! what it has at its deadline). A fetch offset inside damaged data, or a partition whose
//! log dir is offline, gets KAFKA_STORAGE_ERROR — retriable: clients refresh metadata and
//! come back, by then perhaps to another leader (see `replica::heal`).

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::FetchRequest;

use crate::broker::Broker;
use crate::ids::{BrokerId, LeaderEpoch, Offset};
use crate::log::partition_log::{FileSlice, Sliced};
use crate::log::LogError;
use crate::server::errors::{self, ErrorCode};
use crate::server::send::Piece;

pub struct PartOut {
    pub index: i32,
    pub error: ErrorCode,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    pub records: Option<FileSlice>,
    /// read_committed: (producer id, first offset) of the aborted transactions in range.
    pub aborted: Vec<(i64, i64)>,
    /// KIP-392: the replica the consumer should fetch from instead (-1: here).
    pub preferred_read_replica: i32,
}

pub struct FetchOut {
    pub topics: Vec<(String, Vec<PartOut>)>,
    /// read_committed: the answer carries aborted transaction lists (null otherwise).
    pub aborted_list: bool,
    pub total: u64,
    /// Some partition's data is still being checked: fetch again before waiting.
    pub checking: bool,
}

/// KIP-392 with Kafka's RackAwareReplicaSelector: for a consumer that gave its rack, the
/// replica of that rack whose log end is furthest (at or past the fetch offset), unless the
/// leader itself is in that rack or none is. None: the leader serves.
fn preferred_replica(broker: &Broker, meta: &crate::metadata::ClusterMeta, part: &crate::log::Partition, rack: &str, fetch_offset: i64) -> Option<i32> {
    if !broker.cfg.rack_aware_replica_selector || rack.is_empty() {
        return None;
    }
    let rack_of = |b: BrokerId| meta.brokers.get(&b.get()).and_then(|i| i.rack.as_deref());
    if rack_of(BrokerId(broker.id)) == Some(rack) {
        return None;
    }
    let repl = part.repl();
    repl.followers
        .iter()
        .filter(|(b, f)| repl.replicas.contains(b) && f.leo >= fetch_offset && rack_of(**b) == Some(rack))
        .max_by_key(|(b, f)| (f.leo, std::cmp::Reverse(b.get())))
        .map(|(b, _)| b.get())
}

fn read_all(broker: &Broker, req: &FetchRequest, version: i16) -> FetchOut {
    let meta = broker.meta.get();
    let mut out = FetchOut { topics: Vec::new(), aborted_list: req.isolation_level == 1, total: 0, checking: false };
    let mut budget = if req.max_bytes <= 0 { u64::MAX } else { req.max_bytes as u64 };
    let follower = req.replica_id.0 >= 0;
    for ft in &req.topics {
        let topic = ft.topic.0.as_str();
        let mut parts = Vec::with_capacity(ft.partitions.len());
        for fp in &ft.partitions {
            let mut pd = PartOut { index: fp.partition, error: ErrorCode::NONE, high_watermark: -1, last_stable_offset: -1, log_start_offset: -1, records: None, aborted: Vec::new(), preferred_read_replica: -1 };
            let pm = meta.topics.get(topic).and_then(|t| t.partitions.get(&fp.partition));
            let part = broker.logs.get(topic, fp.partition);
            // Leaders serve everyone; since KIP-392 (Fetch v11) followers serve consumers too,
            // up to their own high watermark.
            let leads = part.as_ref().and_then(|p| {
                let r = p.repl();
                match r.role {
                    crate::log::replica_state::Role::Leader => Some(r.leader_epoch),
                    crate::log::replica_state::Role::Follower { .. } if !follower && version >= 11 => Some(r.leader_epoch),
                    _ => None,
                }
            });
            match (pm, part, leads) {
                (None, _, _) => pd.error = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                (Some(_), Some(_), Some(epoch)) if fp.current_leader_epoch >= 0 && LeaderEpoch(fp.current_leader_epoch) < epoch => {
                    pd.error = ErrorCode::FENCED_LEADER_EPOCH;
                }
                (Some(_), Some(_), Some(epoch)) if LeaderEpoch(fp.current_leader_epoch) > epoch => pd.error = ErrorCode::UNKNOWN_LEADER_EPOCH,
                (Some(_), Some(part), Some(_)) => {
                    if !follower && version >= 11 {
                        if let Some(r) = preferred_replica(broker, &meta, &part, req.rack_id.as_str(), fp.fetch_offset) {
                            // Kafka answers with the replica to go to and no records.
                            let log = part.lock();
                            pd.high_watermark = log.high_watermark();
                            pd.last_stable_offset = log.last_stable_offset();
                            pd.log_start_offset = log.log_start_offset;
                            pd.preferred_read_replica = r;
                            parts.push(pd);
                            continue;
                        }
                    }
                    let mut log = part.lock();
                    pd.high_watermark = log.high_watermark();
                    pd.last_stable_offset = log.last_stable_offset();
                    pd.log_start_offset = log.log_start_offset;
                    let max = (fp.partition_max_bytes.max(0) as u64).min(budget);
                    // At least one batch for the first partition with data (KIP-74).
                    let max = if out.total == 0 { max.max(1) } else { max };
                    if max > 0 {
                        let limit = if follower {
                            log.log_end_offset
                        } else if out.aborted_list {
                            pd.last_stable_offset
                        } else {
                            log.high_watermark()
                        };
                        match log.slice(fp.fetch_offset, max.min(usize::MAX as u64) as usize, limit) {
                            Ok(Sliced::Data(s)) => {
                                if out.aborted_list && !follower {
                                    pd.aborted = log.aborted_between(fp.fetch_offset, limit).iter().map(|a| (a.producer_id, a.first_offset)).collect();
                                }
                                out.total += s.len;
                                budget = budget.saturating_sub(s.len);
                                pd.records = Some(s);
                            }
                            Ok(Sliced::Empty) => {}
                            Ok(Sliced::Checking) => out.checking = true,
                            Err(e) => {
                                if matches!(e, LogError::Damaged { .. } | LogError::Offline(_)) {
                                    tracing::debug!("fetch of {topic}-{} at {}: {e}", fp.partition, fp.fetch_offset);
                                }
                                pd.error = errors::from_log(&e);
                            }
                        }
                    }
                }
                _ => pd.error = ErrorCode::NOT_LEADER_OR_FOLLOWER,
            }
            parts.push(pd);
        }
        out.topics.push((topic.to_string(), parts));
    }
    out
}

pub async fn handle(broker: &Broker, req: FetchRequest, version: i16) -> FetchOut {
    let out = answer(broker, &req, version).await;
    count(broker, &out, req.replica_id.0 >= 0);
    out
}

/// The BrokerTopicMetrics of a final answer (see `metrics::topics`): a fetch request and
/// perhaps a failed one per partition of an existing topic, bytes out (to consumers) or
/// replication bytes out (to followers).
fn count(broker: &Broker, out: &FetchOut, follower: bool) {
    use crate::metrics::topics::add;
    let stats = &broker.metrics.topics;
    let meta = broker.meta.get();
    for (topic, parts) in &out.topics {
        if !meta.topics.contains_key(topic) {
            continue;
        }
        let t = stats.topic(topic);
        let mut bytes = 0u64;
        for p in parts {
            add(&t.total_fetch_requests, 1);
            add(&stats.all.total_fetch_requests, 1);
            let misdirected = [
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                ErrorCode::NOT_LEADER_OR_FOLLOWER,
                ErrorCode::FENCED_LEADER_EPOCH,
                ErrorCode::UNKNOWN_LEADER_EPOCH,
                ErrorCode::OFFSET_OUT_OF_RANGE,
            ]
            .contains(&p.error);
            if p.error != ErrorCode::NONE && !misdirected {
                add(&t.failed_fetch_requests, 1);
                add(&stats.all.failed_fetch_requests, 1);
            }
            bytes += p.records.as_ref().map(|r| r.len).unwrap_or(0);
        }
        if follower {
            add(&stats.replication_bytes_out, bytes);
        } else if bytes > 0 {
            add(&t.bytes_out, bytes);
            add(&stats.all.bytes_out, bytes);
        }
    }
}

async fn answer(broker: &Broker, req: &FetchRequest, version: i16) -> FetchOut {
    if req.replica_id.0 >= 0 {
        // A follower: its fetch offsets are its log end offsets.
        for ft in &req.topics {
            for fp in &ft.partitions {
                if let Some(part) = broker.logs.get(ft.topic.0.as_str(), fp.partition) {
                    let _ = crate::replica::on_follower_fetch(
                        broker,
                        ft.topic.0.as_str(),
                        &part,
                        BrokerId(req.replica_id.0),
                        Offset(fp.fetch_offset),
                        LeaderEpoch(fp.current_leader_epoch),
                    );
                }
            }
        }
    }
    let wait = Duration::from_millis(req.max_wait_ms.clamp(0, 30_000) as u64);
    let deadline = tokio::time::Instant::now() + wait;
    let min_bytes = req.min_bytes.max(0) as u64;
    loop {
        let notified = broker.logs.appended.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let out = tokio::task::block_in_place(|| read_all(broker, req, version));
        let has_error = out.topics.iter().any(|(_, ps)| ps.iter().any(|p| p.error != ErrorCode::NONE));
        if out.total >= min_bytes || has_error || tokio::time::Instant::now() >= deadline || broker.shutting_down() {
            return out;
        }
        if out.checking {
            // More of an old segment to check before its data can go: no waiting.
            tokio::task::yield_now().await;
            continue;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return tokio::task::block_in_place(|| read_all(broker, req, version));
        }
    }
}

fn put_uvarint(b: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        b.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    b.put_u8(v as u8);
}

/// Encodes the response frame (length, header, body) for Fetch `version` (4-12) as bytes
/// and file ranges.
pub fn encode(out: &FetchOut, version: i16, correlation_id: i32) -> Vec<Piece> {
    let flexible = version >= 12;
    let mut pieces: Vec<Piece> = Vec::new();
    let mut b = BytesMut::with_capacity(256);
    b.put_i32(0); // frame length, patched below
    b.put_i32(correlation_id);
    if flexible {
        b.put_u8(0); // header tagged fields
    }
    b.put_i32(0); // throttle_time_ms
    if version >= 7 {
        b.put_i16(ErrorCode::NONE.code());
        b.put_i32(0); // session_id: sessionless
    }
    let array_len = |b: &mut BytesMut, n: usize| {
        if flexible {
            put_uvarint(b, n as u64 + 1);
        } else {
            b.put_i32(n as i32);
        }
    };
    array_len(&mut b, out.topics.len());
    for (topic, parts) in &out.topics {
        if flexible {
            put_uvarint(&mut b, topic.len() as u64 + 1);
        } else {
            b.put_i16(topic.len() as i16);
        }
        b.put_slice(topic.as_bytes());
        array_len(&mut b, parts.len());
        for p in parts {
            b.put_i32(p.index);
            b.put_i16(p.error.code());
            b.put_i64(p.high_watermark);
            b.put_i64(p.last_stable_offset);
            if version >= 5 {
                b.put_i64(p.log_start_offset);
            }
            // aborted_transactions: a list for read_committed, null otherwise
            match (out.aborted_list, flexible) {
                (true, true) => put_uvarint(&mut b, p.aborted.len() as u64 + 1),
                (true, false) => b.put_i32(p.aborted.len() as i32),
                (false, true) => put_uvarint(&mut b, 0),
                (false, false) => b.put_i32(-1),
            }
            if out.aborted_list {
                for (pid, first) in &p.aborted {
                    b.put_i64(*pid);
                    b.put_i64(*first);
                    if flexible {
                        b.put_u8(0); // aborted transaction tagged fields
                    }
                }
            }
            if version >= 11 {
                b.put_i32(p.preferred_read_replica);
            }
            let len = p.records.as_ref().map(|s| s.len).unwrap_or(0);
            if flexible {
                put_uvarint(&mut b, len + 1);
            } else {
                b.put_i32(len as i32);
            }
            if let Some(s) = p.records.as_ref().filter(|s| s.len > 0) {
                pieces.push(Piece::Bytes(std::mem::replace(&mut b, BytesMut::with_capacity(128)).freeze()));
                pieces.push(Piece::File(s.clone()));
            }
            if flexible {
                b.put_u8(0); // partition tagged fields
            }
        }
        if flexible {
            b.put_u8(0); // topic tagged fields
        }
    }
    if flexible {
        b.put_u8(0); // response tagged fields
    }
    pieces.push(Piece::Bytes(b.freeze()));
    crate::server::send::patch_length(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{FetchResponse, ResponseHeader};
    use kafka_protocol::protocol::Decodable;
    use std::io::Write;
    use std::os::unix::fs::FileExt;

    fn materialize(pieces: &[Piece]) -> Vec<u8> {
        let mut v = Vec::new();
        for p in pieces {
            match p {
                Piece::Bytes(b) => v.extend_from_slice(b),
                Piece::File(s) => {
                    let mut buf = vec![0u8; s.len as usize];
                    s.file.read_exact_at(&mut buf, s.pos).unwrap();
                    v.extend_from_slice(&buf);
                }
            }
        }
        v
    }

    #[test]
    fn every_version_decodes_with_the_protocol_crate() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("f");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(b"0123456789abcdefghij").unwrap();
        let file = std::sync::Arc::new(std::fs::File::open(&path).unwrap());
        let out = FetchOut {
            topics: vec![
                (
                    "t".into(),
                    vec![
                        PartOut { index: 0, error: ErrorCode::NONE, high_watermark: 9, last_stable_offset: 7, log_start_offset: 2, records: Some(FileSlice { file: file.clone(), pos: 3, len: 7 }), aborted: vec![(42, 3), (43, 5)], preferred_read_replica: -1 },
                        PartOut { index: 1, error: ErrorCode::NOT_LEADER_OR_FOLLOWER, high_watermark: -1, last_stable_offset: -1, log_start_offset: -1, records: None, aborted: Vec::new(), preferred_read_replica: -1 },
                    ],
                ),
                ("u".into(), vec![PartOut { index: 4, error: ErrorCode::NONE, high_watermark: 1, last_stable_offset: 1, log_start_offset: 0, records: Some(FileSlice { file, pos: 10, len: 5 }), aborted: Vec::new(), preferred_read_replica: 7 }]),
            ],
            aborted_list: false,
            total: 12,
            checking: false,
        };
        for version in 4..=12i16 {
            for aborted in [false, true] {
                let out = FetchOut { aborted_list: aborted, topics: out.topics.iter().map(|(t, ps)| (t.clone(), ps.iter().map(|p| PartOut { records: p.records.clone(), aborted: p.aborted.clone(), ..*p }).collect())).collect(), ..out };
                let bytes = materialize(&encode(&out, version, 77));
                let len = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
                assert_eq!(len, bytes.len() - 4, "v{version}");
                let mut buf = bytes::Bytes::from(bytes[4..].to_vec());
                let hv = kafka_protocol::messages::ApiKey::Fetch.response_header_version(version);
                let h = ResponseHeader::decode(&mut buf, hv).unwrap();
                assert_eq!(h.correlation_id, 77);
                let r = FetchResponse::decode(&mut buf, version).unwrap();
                assert_eq!(r.responses.len(), 2, "v{version}");
                let p0 = &r.responses[0].partitions[0];
                assert_eq!(p0.records.as_deref(), Some(&b"3456789"[..]), "v{version}");
                assert_eq!((p0.high_watermark, p0.partition_index), (9, 0));
                if version >= 5 {
                    assert_eq!(p0.log_start_offset, 2);
                }
                assert_eq!(p0.last_stable_offset, 7);
                let got = p0.aborted_transactions.as_ref().map(|a| a.iter().map(|t| (t.producer_id.0, t.first_offset)).collect::<Vec<_>>());
                assert_eq!(got, if aborted { Some(vec![(42, 3), (43, 5)]) } else { None }, "v{version}");
                assert_eq!(r.responses[0].partitions[1].error_code, ErrorCode::NOT_LEADER_OR_FOLLOWER);
                assert_eq!(r.responses[0].partitions[1].records.as_deref(), Some(&b""[..]));
                assert_eq!(r.responses[1].partitions[0].records.as_deref(), Some(&b"abcde"[..]));
                assert_eq!(r.responses[1].topic.0.as_str(), "u");
                if version >= 11 {
                    assert_eq!(r.responses[1].partitions[0].preferred_read_replica.0, 7);
                    assert_eq!(p0.preferred_read_replica.0, -1);
                }
                assert!(buf.is_empty(), "v{version}: {} bytes left over", buf.len());
            }
        }
    }
}
