//! `kafka-dump-log --transaction-log-decoder`: a `__transaction_state` record as Kafka 2.5's
//! TransactionLog.formatRecordKeyAndValue prints it. The record format is
//! `kafka_wire::txn_log`'s, the one the broker writes.

use kafka_wire::txn_log::{decode_key, decode_value, STATE_NAMES};

/// (key text, payload text), or None when the record is not a version-0 transaction record.
pub fn format(key: &[u8], value: Option<&[u8]>) -> Option<(String, String)> {
    let key_text = format!("transaction_metadata::transactionalId={}", decode_key(key)?);
    let Some(value) = value else { return Some((key_text, "<DELETE>".to_string())) };
    let v = decode_value(value)?;
    let state = STATE_NAMES.get(usize::try_from(v.state).ok()?)?;
    let parts: Vec<String> = v.partitions.iter().map(|(t, p)| format!("{t}-{p}")).collect();
    let payload = format!(
        "producerId:{},producerEpoch:{},state={state},partitions=[{}],txnLastUpdateTimestamp={},txnTimeoutMs={}",
        v.producer_id,
        v.producer_epoch,
        parts.join(","),
        v.last_update_ms,
        v.timeout_ms
    );
    Some((key_text, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_print_as_kafka() {
        let key = [0u8, 0, 0, 2, b't', b'x'];
        let mut v = vec![0u8, 0];
        v.extend_from_slice(&7i64.to_be_bytes());
        v.extend_from_slice(&3i16.to_be_bytes());
        v.extend_from_slice(&60_000i32.to_be_bytes());
        v.push(1);
        v.extend_from_slice(&1i32.to_be_bytes());
        v.extend_from_slice(&[0, 1, b'a']);
        v.extend_from_slice(&2i32.to_be_bytes());
        v.extend_from_slice(&0i32.to_be_bytes());
        v.extend_from_slice(&2i32.to_be_bytes());
        v.extend_from_slice(&1000i64.to_be_bytes());
        v.extend_from_slice(&900i64.to_be_bytes());
        let (k, p) = format(&key, Some(&v)).unwrap();
        assert_eq!(k, "transaction_metadata::transactionalId=tx");
        assert_eq!(p, "producerId:7,producerEpoch:3,state=Ongoing,partitions=[a-0,a-2],txnLastUpdateTimestamp=1000,txnTimeoutMs=60000");
        assert_eq!(format(&key, None).unwrap().1, "<DELETE>");
        assert_eq!(format(&[0, 1, 0, 0], None), None);
        assert_eq!(format(&key, Some(&v[..9])), None);
    }
}
