//! Reading an internal topic's partition back whole, for the coordinators that rebuild their
//! state from it when this broker becomes its leader: the group coordinator from
//! `__consumer_offsets` (`group::loading`), the transaction coordinator from
//! `__transaction_state` (`txn::loading`). Below them, above `partition_log`.

use super::batch::{self, BatchHeader};
use super::LogManager;

/// Bytes read per step.
const CHUNK: usize = 1 << 20;

impl LogManager {
    /// Calls `each` with every batch of `topic`-`p` from its log start to its log end as of the
    /// call, in offset order. A read error stops the replay (logged); the caller keeps what it
    /// has seen. No partition here: nothing is called.
    pub fn replay(&self, topic: &str, p: i32, mut each: impl FnMut(&BatchHeader, &[u8])) {
        let Some(part) = self.get(topic, p) else { return };
        let (mut from, end) = {
            let log = part.lock();
            (log.log_start_offset, log.log_end_offset)
        };
        while from < end {
            let data = match part.lock().read(from, CHUNK) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!("reading {topic}-{p} at {from}: {e}");
                    return;
                }
            };
            let batches = batch::split(&data);
            if batches.is_empty() {
                return;
            }
            for (h, bytes) in batches {
                from = h.last_offset() + 1;
                each(&h, bytes);
            }
        }
    }
}
