//! Coordinator ownership: reads a `__transaction_state` partition back, record by record (in
//! log order, tombstones as None), for `core::Core::loaded` to replay. Below `TxnCoordinator`.

use super::records::{self, TxnValue};
use super::TXN_TOPIC;
use crate::log::{batch, LogManager};

pub(super) fn read_partition(logs: &LogManager, p: i32) -> Vec<(String, Option<TxnValue>)> {
    let mut out = Vec::new();
    let Some(part) = logs.get(TXN_TOPIC, p) else { return out };
    let (mut from, end) = {
        let log = part.lock();
        (log.log_start_offset, log.log_end_offset)
    };
    while from < end {
        let data = match part.lock().read(from, 1 << 20) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!("reading {TXN_TOPIC}-{p} at {from}: {e}");
                break;
            }
        };
        let batches = batch::split(&data);
        if batches.is_empty() {
            break;
        }
        for (h, bytes) in batches {
            from = h.last_offset() + 1;
            if h.is_control() {
                continue;
            }
            let recs = match batch::records(bytes) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("skipping unreadable batch at {} of {TXN_TOPIC}-{p}: {e}", h.base_offset);
                    continue;
                }
            };
            for r in recs {
                let Some(id) = r.key.as_deref().and_then(records::decode_key) else { continue };
                match r.value.as_deref() {
                    None => out.push((id, None)),
                    Some(v) => match records::decode_value(v) {
                        Some(v) => out.push((id, Some(v))),
                        None => tracing::warn!("{TXN_TOPIC}-{p}: unreadable value for transactional id {id}"),
                    },
                }
            }
        }
    }
    out
}
