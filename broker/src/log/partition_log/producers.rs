//! Producer state of a partition log: `<offset>.snapshot` files (format in
//! `producer_state`), loading them or replaying the log, and the idempotent-producer
//! sequence checks an append goes through. Below the Produce handler.

use super::*;

impl Log {
    pub(super) fn snapshot_path(&self, offset: i64) -> PathBuf {
        self.dir.join(format!("{offset:020}.snapshot"))
    }

    pub(super) fn snapshot_offsets(&self) -> Vec<i64> {
        let mut v: Vec<i64> = std::fs::read_dir(&self.dir)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().to_string();
                        let stem = name.strip_suffix(".snapshot")?;
                        if stem.len() == 20 { stem.parse().ok() } else { None }
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    /// Producer state: the newest snapshot at or below the log end (newer ones are stale,
    /// e.g. after a torn tail was cut), then the batches after it replayed from the log.
    pub(super) fn load_producer_state(&mut self) -> Result<(), LogError> {
        let mut from = self.log_start_offset;
        for off in self.snapshot_offsets().into_iter().rev() {
            if off > self.log_end_offset {
                let _ = std::fs::remove_file(self.snapshot_path(off));
                continue;
            }
            let path = self.snapshot_path(off);
            match read_small(&path).ok().and_then(|d| ProducerState::decode(&d, now_ms())) {
                Some(st) => {
                    self.producers = st;
                    from = off.max(self.log_start_offset);
                    break;
                }
                None => tracing::warn!("ignoring damaged producer snapshot {}; replaying the log instead", path.display()),
            }
        }
        while from < self.log_end_offset {
            let data = match self.read(from, 1 << 20) {
                Ok(d) => d,
                Err(LogError::Damaged { first_offset, .. }) => {
                    // Producer state cannot be rebuilt across damage; go on after it.
                    match self.offset_after_damage(first_offset) {
                        Some(n) if n > from => {
                            from = n;
                            continue;
                        }
                        _ => break,
                    }
                }
                Err(e) => return Err(e),
            };
            let batches = batch::split(&data);
            if batches.is_empty() {
                break;
            }
            let now = now_ms();
            for (h, b) in batches {
                // Rebuilds open transactions and the `.txnindex` entries after the snapshot.
                self.track(&h, &b, now)?;
                from = h.last_offset() + 1;
            }
        }
        Ok(())
    }

    /// Writes `<log end offset>.snapshot` and keeps the two newest snapshots.
    pub fn write_producer_snapshot(&self) -> io::Result<()> {
        crate::log::write_atomically(&self.snapshot_path(self.log_end_offset), &self.producers.encode())?;
        let offs = self.snapshot_offsets();
        if offs.len() > 2 {
            for off in &offs[..offs.len() - 2] {
                let _ = std::fs::remove_file(self.snapshot_path(*off));
            }
        }
        Ok(())
    }

    /// Idempotence check of a validated payload: Some(first offset) when every batch is a
    /// retry of one already in the log.
    pub(super) fn check_producers(&self, data: &[u8]) -> Result<Option<i64>, ProducerError> {
        let batches = batch::split(data);
        if batches.iter().all(|(h, _)| h.producer_id < 0) {
            return Ok(None);
        }
        let mut scratch: Option<ProducerState> = None;
        let mut dup_first = None;
        let mut appends = 0;
        for (h, _) in &batches {
            let st = scratch.as_ref().unwrap_or(&self.producers);
            match st.check(h)? {
                Check::Duplicate { first_offset, .. } => {
                    dup_first.get_or_insert(first_offset);
                }
                Check::Append => appends += 1,
            }
            if batches.len() > 1 {
                let mut s = scratch.take().unwrap_or_else(|| self.producers.clone());
                s.update(h, 0);
                scratch = Some(s);
            }
        }
        match (dup_first, appends) {
            (Some(first), 0) => Ok(Some(first)),
            (Some(_), _) => {
                let (h, _) = &batches[0];
                Err(ProducerError::OutOfOrder { pid: h.producer_id, expected: -1, got: h.base_sequence })
            }
            (None, _) => Ok(None),
        }
    }
}
