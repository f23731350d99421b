//! A small fetcher for the tools: positions per partition, one Fetch per leader per poll,
//! offset resets (earliest/latest) on OFFSET_OUT_OF_RANGE or when no position is known.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest};

use super::client::{tn, Client};
use super::error::KafkaError;
use super::group::Tp;
use super::records::{decode_records, next_offset_after, Incoming};
use super::tools::list_offsets;

pub struct Consumer {
    pub client: Client,
    pub positions: BTreeMap<Tp, i64>,
    /// Last high watermark seen per partition.
    pub high_watermarks: BTreeMap<Tp, i64>,
    pub isolation_level: i8,
    pub max_wait_ms: i32,
    /// -2 earliest, -1 latest: where a partition without a position starts.
    pub reset: i64,
    pub max_partition_bytes: i32,
}

impl Consumer {
    pub fn new(client: Client, reset: i64) -> Consumer {
        Consumer {
            client,
            positions: BTreeMap::new(),
            high_watermarks: BTreeMap::new(),
            isolation_level: 0,
            max_wait_ms: 500,
            reset,
            max_partition_bytes: 1024 * 1024,
        }
    }

    /// Makes sure every partition has a position, using `reset` for those without one.
    pub async fn resolve(&mut self, parts: &[Tp], known: &BTreeMap<Tp, i64>) -> Result<(), KafkaError> {
        self.positions.retain(|tp, _| parts.contains(tp));
        let mut missing = Vec::new();
        for tp in parts {
            if let Some(o) = known.get(tp) {
                self.positions.insert(tp.clone(), *o);
            } else if !self.positions.contains_key(tp) {
                missing.push(tp.clone());
            }
        }
        if !missing.is_empty() {
            let found = list_offsets(&mut self.client, &missing, self.reset).await?;
            for (tp, o) in found {
                self.positions.insert(tp, o);
            }
        }
        Ok(())
    }

    /// One round of fetches; returns records in order per partition and advances positions.
    pub async fn poll(&mut self) -> Result<Vec<(Tp, Incoming)>, KafkaError> {
        let mut by_leader: BTreeMap<i32, Vec<(Tp, i64)>> = BTreeMap::new();
        let mut stale = false;
        for (tp, pos) in &self.positions {
            match self.client.leader(&tp.0, tp.1) {
                Some(l) => by_leader.entry(l).or_default().push((tp.clone(), *pos)),
                None => stale = true,
            }
        }
        if stale {
            let topics: Vec<String> = self.positions.keys().map(|(t, _)| t.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            self.client.refresh(Some(&topics)).await?;
        }
        let mut out = Vec::new();
        if by_leader.is_empty() {
            tokio::time::sleep(Duration::from_millis(self.max_wait_ms.max(50) as u64)).await;
            return Ok(out);
        }
        let mut resets = Vec::new();
        let mut refresh = false;
        for (leader, parts) in by_leader {
            let mut by_topic: BTreeMap<String, Vec<FetchPartition>> = BTreeMap::new();
            for ((t, p), pos) in parts {
                let mut fp = FetchPartition::default();
                fp.partition = p;
                fp.current_leader_epoch = -1;
                fp.fetch_offset = pos;
                fp.log_start_offset = -1;
                fp.last_fetched_epoch = -1;
                fp.partition_max_bytes = self.max_partition_bytes;
                by_topic.entry(t).or_default().push(fp);
            }
            let mut req = FetchRequest::default();
            req.replica_id = BrokerId(-1);
            req.max_wait_ms = self.max_wait_ms;
            req.min_bytes = 1;
            req.max_bytes = 50 * 1024 * 1024;
            req.isolation_level = self.isolation_level;
            req.session_id = 0;
            req.session_epoch = -1;
            req.topics = by_topic
                .into_iter()
                .map(|(t, ps)| {
                    let mut ft = FetchTopic::default();
                    ft.topic = tn(&t);
                    ft.partitions = ps;
                    ft
                })
                .collect();
            let extra = Duration::from_millis(self.max_wait_ms as u64);
            let resp = match self.client.node(leader).await {
                Ok(conn) => conn.call_with_timeout(&req, 11, extra).await,
                Err(e) => Err(e),
            };
            let resp = match resp {
                Ok(r) => r,
                Err(e @ (KafkaError::Io(..) | KafkaError::Timeout(..) | KafkaError::Connect(..))) => {
                    self.client.forget(leader);
                    refresh = true;
                    tracing_warn(&e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            super::error::check(resp.error_code, None)?;
            for t in resp.responses {
                let topic = t.topic.0.to_string();
                for p in t.partitions {
                    let tp = (topic.clone(), p.partition_index);
                    match p.error_code {
                        0 => {}
                        1 => {
                            resets.push(tp);
                            continue;
                        }
                        3 | 5 | 6 | 74 | 75 => {
                            refresh = true;
                            continue;
                        }
                        c => return Err(KafkaError::code(c, None)),
                    }
                    self.high_watermarks.insert(tp.clone(), p.high_watermark);
                    let Some(data) = p.records else { continue };
                    let pos = self.positions.get(&tp).copied().unwrap_or(0);
                    let next = next_offset_after(&data);
                    let recs = decode_records(data)?;
                    let mut new_pos = pos;
                    for r in recs {
                        if r.offset < pos {
                            continue;
                        }
                        new_pos = r.offset + 1;
                        out.push((tp.clone(), r));
                    }
                    if let Some(n) = next {
                        new_pos = new_pos.max(n);
                    }
                    self.positions.insert(tp, new_pos);
                }
            }
        }
        if !resets.is_empty() {
            for tp in &resets {
                self.positions.remove(tp);
            }
            let found = list_offsets(&mut self.client, &resets, self.reset).await?;
            for (tp, o) in found {
                self.positions.insert(tp, o);
            }
        }
        if refresh {
            let topics: Vec<String> = self.positions.keys().map(|(t, _)| t.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            let _ = self.client.refresh(Some(&topics)).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(out)
    }
}

fn tracing_warn(e: &KafkaError) {
    eprintln!("WARN {e}");
}
