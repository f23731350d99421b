//! Producer ids for InitProducerId, allocated as Kafka 2.5's ProducerIdManager does: each
//! broker claims blocks of 1000 ids by a versioned setData of `/latest_producer_id_block`
//! (`{"version":1,"broker":0,"block_start":"0","block_end":"999"}`), retrying on BadVersion,
//! and hands ids out of its block until it is used up.

use crate::zk::jute::code;
use crate::zk::{ZkClient, ZkError};
use crate::zkdata;

pub const BLOCK_SIZE: i64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ProducerIdError {
    #[error("ZooKeeper: {0}")]
    Zk(#[from] ZkError),
    #[error("could not claim a producer id block: /latest_producer_id_block keeps changing")]
    Contended,
    #[error("producer ids exhausted")]
    Exhausted,
}

#[derive(Default)]
pub struct ProducerIdManager {
    /// (next id to hand out, last id of the block); next > end means no block.
    block: tokio::sync::Mutex<(i64, i64)>,
}

impl ProducerIdManager {
    /// Claims the next block in ZooKeeper: returns (start, end).
    pub async fn claim_block(zk: &ZkClient, broker_id: i32) -> Result<(i64, i64), ProducerIdError> {
        for _ in 0..10 {
            let (start, version) = match zk.get_data("/latest_producer_id_block", false).await? {
                Some((Some(d), stat)) if !d.is_empty() => {
                    (zkdata::parse_producer_id_block_end(&d).map(|e| e + 1).unwrap_or(0), stat.version)
                }
                Some((_, stat)) => (0, stat.version),
                None => {
                    match zk.create_recursive("/latest_producer_id_block", None).await {
                        Ok(()) | Err(ZkError::Code(code::NODE_EXISTS)) => {}
                        Err(e) => return Err(e.into()),
                    }
                    continue;
                }
            };
            if start > i64::MAX - BLOCK_SIZE {
                return Err(ProducerIdError::Exhausted);
            }
            let end = start + BLOCK_SIZE - 1;
            let json = zkdata::producer_id_block_json(broker_id, start, end);
            match zk.set_data("/latest_producer_id_block", Some(json.as_bytes()), version).await {
                Ok(_) => {
                    tracing::info!("acquired producer id block [{start}, {end}]");
                    return Ok((start, end));
                }
                Err(ZkError::Code(code::BAD_VERSION)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ProducerIdError::Contended)
    }

    /// Startup: claim the first block (Kafka 2.5 does this when the broker starts).
    pub async fn init(&self, zk: &ZkClient, broker_id: i32) {
        let mut b = self.block.lock().await;
        match Self::claim_block(zk, broker_id).await {
            Ok((s, e)) => *b = (s, e),
            Err(e) => {
                tracing::warn!("producer id block: {e}");
                *b = (1, 0);
            }
        }
    }

    /// The next producer id, claiming a new block when the current one is used up.
    pub async fn generate(&self, zk: &ZkClient, broker_id: i32) -> Result<i64, ProducerIdError> {
        let mut b = self.block.lock().await;
        if b.0 > b.1 {
            *b = Self::claim_block(zk, broker_id).await?;
        }
        let id = b.0;
        b.0 += 1;
        Ok(id)
    }
}
