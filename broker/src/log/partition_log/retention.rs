//! Shrinking a partition log: the log start offset (DeleteRecords), lookups by time
//! (ListOffsets), time and size retention of whole segments, and deleting the directory.
//! Driven by `LogManager`'s maintenance loop and the admin handlers.

use super::*;

/// Offset of the first record with timestamp >= ts in one batch (decompressing if needed).
pub(super) fn first_record_at_or_after(b: &[u8], ts: i64) -> Option<i64> {
    let h = batch::parse_header(b)?;
    let payload = b.get(batch::HEADER_LEN..h.total_size())?;
    let body = batch::decompress(h.compression(), payload).ok()?;
    let log_append = h.attributes & 0x08 != 0;
    if log_append {
        return Some(h.base_offset);
    }
    let mut pos = 0usize;
    let read = |pos: &mut usize| -> Option<i64> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let byte = *body.get(*pos)?;
            *pos += 1;
            v |= ((byte & 0x7f) as u64) << (7 * i);
            if byte & 0x80 == 0 {
                return Some(((v >> 1) as i64) ^ -((v & 1) as i64));
            }
        }
        None
    };
    while pos < body.len() {
        let len = read(&mut pos)?;
        let end = pos + usize::try_from(len).ok()?;
        let mut p = pos + 1;
        let td = read(&mut p)?;
        let od = read(&mut p)?;
        if h.first_timestamp + td >= ts {
            return Some(h.base_offset + od);
        }
        pos = end;
    }
    None
}

impl Log {
    /// Moves the log start offset up to the leader's (a follower following DeleteRecords).
    pub fn advance_log_start(&mut self, offset: i64) -> Result<(), LogError> {
        let offset = offset.min(self.high_watermark());
        if offset > self.log_start_offset {
            self.log_start_offset = offset;
            self.drop_segments_below_start()?;
        }
        Ok(())
    }

    /// ListOffsets by timestamp: first offset whose batch has a timestamp >= ts.
    pub fn offset_for_time(&self, ts: i64) -> Result<Option<(i64, i64)>, LogError> {
        self.online()?;
        for seg in self.segments.values() {
            if let Some((pos, base)) = seg.find_by_time(ts)? {
                // Find the exact record offset inside the batch: scan its records' timestamps.
                let data = seg.read(pos, 0)?;
                let off = first_record_at_or_after(&data, ts).unwrap_or(base).max(self.log_start_offset);
                let h = batch::parse_header(&data);
                return Ok(Some((off, h.map(|h| h.max_timestamp).unwrap_or(ts))));
            }
        }
        Ok(None)
    }

    /// DeleteRecords: moves the log start offset and drops segments wholly below it.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, LogError> {
        self.online()?;
        if offset > self.high_watermark() || offset < 0 {
            return Err(LogError::OffsetOutOfRange(offset));
        }
        if offset > self.log_start_offset {
            self.log_start_offset = offset;
        }
        self.drop_segments_below_start()?;
        Ok(self.log_start_offset)
    }

    pub(super) fn drop_segments_below_start(&mut self) -> io::Result<()> {
        loop {
            let bases: Vec<i64> = self.segments.keys().copied().take(2).collect();
            if bases.len() < 2 || bases[1] > self.log_start_offset {
                break;
            }
            if let Some(seg) = self.segments.remove(&bases[0]) {
                seg.delete_files();
            }
        }
        Ok(())
    }

    /// Applies retention.ms / retention.bytes; returns how many segments were deleted.
    pub fn apply_retention(&mut self, now: i64) -> Result<usize, LogError> {
        self.online()?;
        if !self.config.delete {
            return Ok(0);
        }
        let mut deleted = 0;
        let retention_ms = self.config.retention_ms;
        let retention_bytes = self.config.retention_bytes;
        loop {
            let total: u64 = self.segments.values().map(|s| s.size).sum();
            let Some((&base, first)) = self.segments.iter().next() else { break };
            if first.size == 0 {
                break;
            }
            // Records without timestamps age by the segment's file time, as Kafka's.
            let newest = if first.max_timestamp >= 0 { first.max_timestamp } else { first.created_ms };
            let by_time = retention_ms >= 0 && now - newest > retention_ms;
            let by_size = retention_bytes >= 0 && total.saturating_sub(first.size) >= retention_bytes as u64;
            if !by_time && !by_size {
                break;
            }
            // Never what the ISR does not all have yet: the segment must end at or below the
            // high watermark.
            let end = self.segments.keys().nth(1).copied().unwrap_or(self.log_end_offset);
            if end > self.high_watermark() {
                break;
            }
            if self.segments.len() == 1 {
                // Kafka rolls the active segment so that it can be deleted.
                self.roll()?;
            }
            if let Some(seg) = self.segments.remove(&base) {
                seg.delete_files();
                deleted += 1;
            }
            let new_first = self.segments.keys().next().copied().unwrap_or(self.log_end_offset);
            self.log_start_offset = self.log_start_offset.max(new_first);
        }
        Ok(deleted)
    }

    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.size).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    pub fn delete_dir(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
