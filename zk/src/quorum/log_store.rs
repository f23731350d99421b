//! The durable Raft log and vote, behind openraft's `RaftLogStorage`.
//!
//! Records go to `<dataLogDir>/version-2/log.<file seq in hex>` in the record format of
//! [`crate::storage::log`] (length, CRC32C, payload; preallocated; torn tail cut at
//! recovery). Each payload is a bincode [`Rec`]: an entry, a truncation (a follower dropping
//! a conflicting suffix) or a purge (entries before a snapshot). Loading replays the records in
//! order, so the log never has to be rewritten in place. A writer thread appends whatever is
//! queued and fsyncs once for the batch (group commit) before telling openraft it is durable.
//! The vote lives in `raft-vote` (written atomically: tmp, fsync, rename, fsync dir). The
//! committed index is not stored (a rename per commit cost half the write throughput): after
//! a restart openraft learns it again from the next leader's first commit.

use super::{write_err, Entry, LogId, NodeId, StorageError, TypeConfig};
use crate::storage::log::{self as txlog, LogWriter};
use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{OptionalSend, RaftLogId, Vote};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

/// Borrowing twin of [`Rec`] for writing (same variant order, so the same bincode bytes).
#[derive(Serialize)]
enum RecRef<'a> {
    Entry(&'a Entry),
}

#[derive(Serialize, Deserialize)]
enum Rec {
    Entry(Entry),
    /// Entries at and after this index are gone.
    Truncate(u64),
    /// Entries up to and including this log id are gone (they are in a snapshot).
    Purge(LogId),
}

enum WriteCmd {
    /// Encoded entries, the greatest index among them, and openraft's callback.
    Append(Vec<Vec<u8>>, u64, LogFlushed<TypeConfig>),
    /// Write these records and wait: truncate and purge markers.
    Sync(Vec<u8>, Option<u64>, std::sync::mpsc::SyncSender<std::io::Result<()>>),
}

struct Inner {
    entries: BTreeMap<u64, Entry>,
    last_purged: Option<LogId>,
    vote: Option<Vote<NodeId>>,
}

#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
    tx: mpsc::Sender<WriteCmd>,
    dir: PathBuf,
}

fn lock(m: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Loads the log from `dir` (cutting a torn tail) and starts the writer thread.
pub fn open(dir: &Path, force_sync: bool) -> anyhow::Result<LogStore> {
    let mut inner = Inner { entries: BTreeMap::new(), last_purged: None, vote: None };
    let files = crate::storage::list(dir, "log")?;
    let last = files.len().saturating_sub(1);
    let mut max_seq = 0i64;
    // Per file: the greatest entry index it holds (for purging whole files later).
    let mut file_max: Vec<(PathBuf, u64)> = Vec::new();
    for (i, (seq, path)) in files.iter().enumerate() {
        max_seq = max_seq.max(*seq);
        let (records, tail) = txlog::scan(path)?;
        if let txlog::Tail::Torn { offset } = tail {
            if i != last {
                anyhow::bail!("{}: damaged record at offset {offset} in a log that is not the newest; refusing to start", path.display());
            }
            tracing::warn!(file = %path.display(), offset, "cutting off a torn last record (an unacknowledged write)");
            txlog::truncate(path, offset)?;
        }
        let mut fmax = 0u64;
        for r in records {
            let rec: Rec = bincode::deserialize(&r.payload)
                .map_err(|e| anyhow::anyhow!("{}: record at offset {} does not decode: {e}", path.display(), r.offset))?;
            match rec {
                Rec::Entry(e) => {
                    fmax = fmax.max(e.log_id.index);
                    inner.entries.insert(e.log_id.index, e);
                }
                Rec::Truncate(ix) => {
                    inner.entries.split_off(&ix);
                }
                Rec::Purge(id) => {
                    inner.entries = inner.entries.split_off(&(id.index + 1));
                    inner.last_purged = Some(id);
                }
            }
        }
        file_max.push((path.clone(), fmax));
    }
    if let Ok(b) = std::fs::read(dir.join("raft-vote")) {
        inner.vote = Some(bincode::deserialize(&b).map_err(|e| anyhow::anyhow!("{}: unreadable vote: {e}", dir.join("raft-vote").display()))?);
    }
    let (tx, rx) = mpsc::channel();
    let wdir = dir.to_path_buf();
    std::thread::Builder::new().name("raft-log".into()).spawn(move || writer(wdir, rx, max_seq + 1, file_max, force_sync))?;
    Ok(LogStore { inner: Arc::new(Mutex::new(inner)), tx, dir: dir.to_path_buf() })
}

fn writer(dir: PathBuf, rx: mpsc::Receiver<WriteCmd>, mut next_seq: i64, mut files: Vec<(PathBuf, u64)>, force_sync: bool) {
    let mut w = LogWriter::new(&dir, true);
    let mut buf = Vec::with_capacity(1 << 20);
    let mut opened = false;
    let mut cur_max = 0u64;
    while let Ok(first) = rx.recv() {
        let mut callbacks = Vec::new();
        let mut syncs = Vec::new();
        let mut cmd = Some(first);
        let mut result: std::io::Result<()> = Ok(());
        while let Some(c) = cmd.take() {
            match c {
                WriteCmd::Append(recs, max_index, cb) => {
                    cur_max = cur_max.max(max_index);
                    for r in recs {
                        if result.is_ok() {
                            if !opened {
                                opened = true;
                                result = w.append(next_seq, &r, &mut buf);
                                files.push((dir.join(txlog::log_name(next_seq)), 0));
                                next_seq += 1;
                            } else {
                                result = w.append(next_seq, &r, &mut buf);
                            }
                        }
                    }
                    callbacks.push(cb);
                }
                WriteCmd::Sync(rec, purge_upto, done) => {
                    if let Some(upto) = purge_upto {
                        // Roll so the purge marker starts a new file, then drop whole old files.
                        if result.is_ok() {
                            result = w.sync(&mut buf);
                        }
                        if let Some(last) = files.last_mut() {
                            last.1 = last.1.max(cur_max);
                        }
                        w.roll();
                        opened = false;
                        cur_max = 0;
                        if result.is_ok() {
                            opened = true;
                            result = w.append(next_seq, &rec, &mut buf);
                            files.push((dir.join(txlog::log_name(next_seq)), 0));
                            next_seq += 1;
                        }
                        if result.is_ok() {
                            result = w.sync(&mut buf);
                        }
                        if result.is_ok() {
                            let keep_from = files.len() - 1;
                            let mut n = 0;
                            while n < keep_from && files[n].1 <= upto {
                                n += 1;
                            }
                            for (p, _) in files.drain(..n) {
                                let _ = std::fs::remove_file(p);
                            }
                        }
                    } else if result.is_ok() {
                        if !opened {
                            opened = true;
                            files.push((dir.join(txlog::log_name(next_seq)), 0));
                            result = w.append(next_seq, &rec, &mut buf);
                            next_seq += 1;
                        } else {
                            result = w.append(next_seq, &rec, &mut buf);
                        }
                        if result.is_ok() {
                            result = w.sync(&mut buf);
                        }
                    }
                    syncs.push(done);
                }
            }
            if buf.len() < (8 << 20) {
                cmd = rx.try_recv().ok();
            }
        }
        if result.is_ok() {
            result = if force_sync { w.sync(&mut buf) } else { w.flush_pending(&mut buf) };
        }
        if let Some(last) = files.last_mut() {
            last.1 = last.1.max(cur_max);
        }
        for cb in callbacks {
            cb.log_io_completed(result.as_ref().map(|_| ()).map_err(|e| std::io::Error::new(e.kind(), e.to_string())));
        }
        for s in syncs {
            let _ = s.send(result.as_ref().map(|_| ()).map_err(|e| std::io::Error::new(e.kind(), e.to_string())));
        }
        if let Err(e) = &result {
            tracing::error!(error = %e, "the Raft log cannot be written; this member stops acknowledging writes");
            return;
        }
    }
}

impl LogStore {
    fn write_sync(&self, rec: &Rec, purge_upto: Option<u64>) -> Result<(), StorageError> {
        let bytes = bincode::serialize(rec).map_err(write_err)?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.tx.send(WriteCmd::Sync(bytes, purge_upto, tx)).map_err(write_err)?;
        rx.recv().map_err(write_err)?.map_err(write_err)
    }

    fn write_file_atomic(&self, name: &str, bytes: &[u8], durable: bool) -> std::io::Result<()> {
        let tmp = self.dir.join(format!("{name}.tmp"));
        let dst = self.dir.join(name);
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            if durable {
                f.sync_all()?;
            }
        }
        std::fs::rename(&tmp, &dst)?;
        if durable {
            std::fs::File::open(&self.dir)?.sync_all()?;
        }
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(&mut self, range: RB) -> Result<Vec<Entry>, StorageError> {
        let g = lock(&self.inner);
        Ok(g.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let g = lock(&self.inner);
        let last = g.entries.iter().next_back().map(|(_, e)| *e.get_log_id()).or(g.last_purged);
        Ok(LogState { last_purged_log_id: g.last_purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        let b = bincode::serialize(vote).map_err(write_err)?;
        self.write_file_atomic("raft-vote", &b, true).map_err(|e| {
            let e = openraft::AnyError::new(&e);
            StorageError::from(openraft::StorageIOError::write_vote(e))
        })?;
        lock(&self.inner).vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        Ok(lock(&self.inner).vote)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut recs = Vec::new();
        let mut max_index = 0;
        {
            let mut g = lock(&self.inner);
            for e in entries {
                recs.push(bincode::serialize(&RecRef::Entry(&e)).map_err(write_err)?);
                max_index = max_index.max(e.log_id.index);
                g.entries.insert(e.log_id.index, e);
            }
        }
        self.tx.send(WriteCmd::Append(recs, max_index, callback)).map_err(write_err)
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        lock(&self.inner).entries.split_off(&log_id.index);
        self.write_sync(&Rec::Truncate(log_id.index), None)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        {
            let mut g = lock(&self.inner);
            g.entries = g.entries.split_off(&(log_id.index + 1));
            g.last_purged = Some(log_id);
        }
        self.write_sync(&Rec::Purge(log_id), Some(log_id.index))
    }
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum::{ZkBatch, ZkEntry};

    fn entry(index: u64, txn: &[u8]) -> Entry {
        let z = ZkEntry { origin: 1, req: 2, prep_node: 1, prep_id: 3, session: 4, cxid: 5, time: 6, txn: txn.to_vec() };
        Entry { log_id: LogId::new(openraft::CommittedLeaderId::new(1, 1), index), payload: openraft::EntryPayload::Normal(ZkBatch(vec![z])) }
    }

    /// A log record whose checksum is right but whose bincode claims a huge vector: startup
    /// refuses with the file and offset; nothing is allocated by the claimed length.
    #[test]
    fn hostile_lengths_in_a_log_record_are_refused() {
        let good = bincode::serialize(&RecRef::Entry(&entry(1, b"abc"))).unwrap();
        let needle = [3u8, 0, 0, 0, 0, 0, 0, 0, b'a', b'b', b'c'];
        let at = good.windows(needle.len()).position(|w| w == needle).unwrap();
        let mut bad = good.clone();
        bad[at..at + 8].copy_from_slice(&(u64::MAX >> 1).to_le_bytes());
        assert!(bincode::deserialize::<Rec>(&bad).is_err());
        // Every single-byte corruption of a record decodes or errors; none panics.
        for i in 0..good.len() {
            for v in [0u8, 0x7f, 0xff] {
                let mut b = good.clone();
                b[i] = v;
                let _ = bincode::deserialize::<Rec>(&b);
            }
        }
        let d = tempfile::tempdir().unwrap();
        let mut w = LogWriter::new(d.path(), true);
        let mut buf = Vec::new();
        w.append(1, &good, &mut buf).unwrap();
        w.append(1, &bad, &mut buf).unwrap();
        w.sync(&mut buf).unwrap();
        let err = open(d.path(), true).err().unwrap().to_string();
        assert!(err.contains("log.1") && err.contains("does not decode") && err.contains("offset"), "{err}");
    }
}
