//! A small producer for the tools: Java's default partitioner (murmur2 of the key, sticky
//! partition for keyless records), one batch per partition per request, retries on
//! leader changes.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::ProduceRequest;
use kafka_protocol::records::Compression;

use super::client::{tn, Client};
use super::error::KafkaError;
use super::records::{encode_batch, Outgoing};

/// Kafka's `Utils.murmur2`.
pub fn murmur2(data: &[u8]) -> i32 {
    let seed: u32 = 0x9747_b28c;
    let m: u32 = 0x5bd1_e995;
    let r = 24;
    let len = data.len();
    let mut h: u32 = seed ^ (len as u32);
    for c in data.chunks_exact(4) {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(m);
        k ^= k >> r;
        k = k.wrapping_mul(m);
        h = h.wrapping_mul(m);
        h ^= k;
    }
    let tail = &data[len & !3..];
    if tail.len() >= 3 {
        h ^= (tail[2] as u32) << 16;
    }
    if tail.len() >= 2 {
        h ^= (tail[1] as u32) << 8;
    }
    if !tail.is_empty() {
        h ^= tail[0] as u32;
        h = h.wrapping_mul(m);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(m);
    h ^= h >> 15;
    h as i32
}

/// The partition Java's DefaultPartitioner picks for a keyed record.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    ((murmur2(key) & 0x7fff_ffff) % partitions.max(1)) as i32
}

pub struct Producer {
    pub client: Client,
    pub acks: i16,
    pub request_timeout: Duration,
    pub codec: Compression,
    pub retries: u32,
    sticky: BTreeMap<String, i32>,
}

/// Result of one partition's send: base offset (or -1 with acks=0).
pub type SendResult = Result<i64, KafkaError>;

impl Producer {
    pub fn new(client: Client, acks: i16, codec: Compression) -> Producer {
        let request_timeout = client.timeout;
        Producer { client, acks, request_timeout, codec, retries: 3, sticky: BTreeMap::new() }
    }

    /// Partition count of `topic`, fetching (and, if the broker allows, auto-creating) it.
    pub async fn partitions(&mut self, topic: &str) -> Result<i32, KafkaError> {
        let have = self.client.meta.topics.get(topic).map(|t| t.error == 0 && !t.partitions.is_empty()).unwrap_or(false);
        if !have {
            let start = std::time::Instant::now();
            loop {
                self.client.refresh_auto_create(&[topic.to_string()]).await?;
                let info = self.client.meta.topics.get(topic).cloned();
                match info {
                    Some(t) if t.error == 0 && !t.partitions.is_empty() && t.partitions.iter().all(|p| p.leader >= 0) => break,
                    Some(t) if t.error != 0 && t.error != 5 && t.error != 3 => return Err(KafkaError::code(t.error, None)),
                    _ => {}
                }
                if start.elapsed() >= self.client.timeout {
                    return Err(KafkaError::code(7, Some(format!("Topic {topic} not present in metadata after {} ms.", self.client.timeout.as_millis()))));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(self.client.meta.topics.get(topic).map(|t| t.partitions.len() as i32).unwrap_or(0))
    }

    /// Chooses a partition: murmur2 for keys, the sticky partition for keyless records.
    pub async fn choose(&mut self, topic: &str, key: Option<&[u8]>) -> Result<i32, KafkaError> {
        let n = self.partitions(topic).await?;
        Ok(match key {
            Some(k) => partition_for_key(k, n),
            None => match self.sticky.get(topic) {
                Some(p) if *p < n => *p,
                _ => {
                    let p = (rand::random::<u32>() % n.max(1) as u32) as i32;
                    self.sticky.insert(topic.to_string(), p);
                    p
                }
            },
        })
    }

    /// Moves keyless records of `topic` to another partition (after a batch completes).
    pub fn new_sticky(&mut self, topic: &str) {
        self.sticky.remove(topic);
    }

    /// Sends one batch to `topic`-`partition`, retrying retriable errors.
    pub async fn send(&mut self, topic: &str, partition: i32, records: &[Outgoing]) -> SendResult {
        if records.is_empty() {
            return Ok(-1);
        }
        let batch = encode_batch(records, self.codec)?;
        let mut attempt = 0;
        loop {
            let r = self.send_once(topic, partition, batch.clone()).await;
            match r {
                Err(e) if attempt < self.retries && retriable(&e) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let _ = self.client.refresh(Some(&[topic.to_string()])).await;
                }
                other => return other,
            }
        }
    }

    async fn send_once(&mut self, topic: &str, partition: i32, batch: bytes::Bytes) -> SendResult {
        let leader = self.client.leader(topic, partition).ok_or_else(|| KafkaError::code(5, None))?;
        let mut pd = PartitionProduceData::default();
        pd.index = partition;
        pd.records = Some(batch);
        let mut td = TopicProduceData::default();
        td.name = tn(topic);
        td.partition_data = vec![pd];
        let mut req = ProduceRequest::default();
        req.acks = self.acks;
        req.timeout_ms = self.request_timeout.as_millis() as i32;
        req.topic_data = vec![td];
        let conn = match self.client.node(leader).await {
            Ok(c) => c,
            Err(e) => {
                self.client.forget(leader);
                return Err(e);
            }
        };
        if self.acks == 0 {
            // No response comes for acks=0: write and move on.
            let v = conn.version_for::<ProduceRequest>(8)?;
            conn.send_no_response(&req, v).await?;
            return Ok(-1);
        }
        let resp = match conn.send(&req, 8).await {
            Ok(r) => r,
            Err(e) => {
                self.client.forget(leader);
                return Err(e);
            }
        };
        for t in resp.responses {
            for p in t.partition_responses {
                super::error::check(p.error_code, p.error_message.map(|m| m.to_string()))?;
                return Ok(p.base_offset);
            }
        }
        Err(KafkaError::Protocol("empty produce response".into()))
    }
}

pub fn retriable(e: &KafkaError) -> bool {
    match e {
        KafkaError::Code(c, _) => matches!(c, 3 | 5 | 6 | 7 | 13 | 19 | 20),
        KafkaError::Io(..) | KafkaError::Timeout(..) => true,
        _ => false,
    }
}

/// `--request-required-acks` / `acks`: "all" and "-1" mean all in-sync replicas.
pub fn parse_acks(s: &str) -> Result<i16, String> {
    match s.trim() {
        "all" | "-1" => Ok(-1),
        x => x.parse::<i16>().ok().filter(|a| *a == 0 || *a == 1).ok_or_else(|| format!("Invalid value {x} for configuration acks: String must be one of: all, -1, 0, 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka() {
        // Values from Kafka's UtilsTest.testMurmur2.
        assert_eq!(murmur2(b"21"), -973932308);
        assert_eq!(murmur2(b"foobar"), -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
        assert_eq!(murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
        assert_eq!(murmur2(b"abc"), 479470107);
    }
}
