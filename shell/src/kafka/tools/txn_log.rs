//! `kafka-dump-log --transaction-log-decoder`: a `__transaction_state` record as Kafka 2.5's
//! TransactionLog.formatRecordKeyAndValue prints it. The record format (key: version i16 0,
//! transactional id string; value: version i16 0, producer id i64, epoch i16, timeout i32,
//! state i8, partitions nullable [topic string, [i32]], last update i64, start i64) is
//! documented where the broker writes it, broker/src/txn/records.rs.

const STATES: [&str; 8] = ["Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"];

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.b.len() - self.pos < n {
            return None;
        }
        self.pos += n;
        Some(&self.b[self.pos - n..self.pos])
    }
    fn int(&mut self, n: usize) -> Option<i64> {
        let s = self.take(n)?;
        let mut v: i64 = if s.first().is_some_and(|b| b & 0x80 != 0) { -1 } else { 0 };
        for b in s {
            v = (v << 8) | *b as i64;
        }
        Some(v)
    }
    fn str(&mut self) -> Option<String> {
        let n = self.int(2)?;
        if n < 0 {
            return None;
        }
        Some(String::from_utf8_lossy(self.take(n as usize)?).into_owned())
    }
}

/// (key text, payload text), or None when the record is not a version-0 transaction record.
pub fn format(key: &[u8], value: Option<&[u8]>) -> Option<(String, String)> {
    let mut k = Reader { b: key, pos: 0 };
    if k.int(2)? != 0 {
        return None;
    }
    let key_text = format!("transaction_metadata::transactionalId={}", k.str()?);
    let Some(value) = value else { return Some((key_text, "<DELETE>".to_string())) };
    let mut r = Reader { b: value, pos: 0 };
    if r.int(2)? != 0 {
        return None;
    }
    let pid = r.int(8)?;
    let epoch = r.int(2)?;
    let timeout = r.int(4)?;
    let state = STATES.get(r.int(1)? as usize)?;
    let mut parts = Vec::new();
    let topics = r.int(4)?;
    for _ in 0..topics.max(0) {
        let t = r.str()?;
        let n = r.int(4)?;
        if n > (value.len() / 4) as i64 {
            return None;
        }
        for _ in 0..n.max(0) {
            parts.push(format!("{t}-{}", r.int(4)?));
        }
    }
    let last_update = r.int(8)?;
    let payload = format!(
        "producerId:{pid},producerEpoch:{epoch},state={state},partitions=[{}],txnLastUpdateTimestamp={last_update},txnTimeoutMs={timeout}",
        parts.join(",")
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
