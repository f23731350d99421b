//! Coordinator ownership: reads a `__transaction_state` partition back, record by record (in
//! log order, tombstones as None), for `core::Core::loaded` to replay. Below `TxnCoordinator`.

use super::records::{self, TxnValue};
use super::TXN_TOPIC;
use crate::log::{batch, LogManager};

pub(super) fn read_partition(logs: &LogManager, p: i32) -> Vec<(String, Option<TxnValue>)> {
    let mut out = Vec::new();
    logs.replay(TXN_TOPIC, p, |h, bytes| {
        if h.is_control() {
            return;
        }
        let recs = match batch::records(bytes) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("skipping unreadable batch at {} of {TXN_TOPIC}-{p}: {e}", h.base_offset);
                return;
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
    });
    out
}
