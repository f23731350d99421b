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
//!
//! **When the disk cannot be written** (full, or any I/O error): a batch whose write or fsync
//! fails is rolled back (the file it started in is cut back to where the batch began, files
//! it created are deleted, so recovery finds no torn record behind a good one) and retried
//! from the start, with a backoff of up to a second, until it succeeds. Meanwhile nothing of
//! it is reported durable (openraft commits and acknowledges nothing of it), [`Health`] says
//! the log is blocked (the core then refuses writes and keeps serving reads), and openraft's
//! next append or marker waits, which freezes this member's part in replication (in an
//! ensemble the others elect a leader among themselves). A failing vote write is retried the
//! same way. When a retry succeeds everything continues where it stopped, with no restart.

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
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// Borrowing twin of [`Rec`] for writing (same variant order, so the same bincode bytes).
#[derive(Serialize)]
enum RecRef<'a> {
    Entry(&'a Entry),
}

/// One record of the log (a bincode payload of the record format).
#[derive(Serialize, Deserialize)]
pub enum Rec {
    Entry(Entry),
    /// Entries at and after this index are gone.
    Truncate(u64),
    /// Entries up to and including this log id are gone (they are in a snapshot).
    Purge(LogId),
}

/// What the writer thread writes, in order.
enum Op {
    /// Encoded entries and the greatest index among them.
    Append(Vec<Vec<u8>>, u64),
    /// A truncate or purge marker, written and synced; with a purge, the index it purges up to
    /// (the marker starts a new file, and files holding only purged entries are deleted).
    Marker(Vec<u8>, Option<u64>),
}

/// Who learns that an [`Op`] is durable.
enum Done {
    Flushed(LogFlushed<TypeConfig>),
    Reply(oneshot::Sender<std::io::Result<()>>),
}

/// Whether this member's log and vote can be written. Reasons are the I/O errors seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    pub log: Option<String>,
    pub vote: Option<String>,
}

impl Health {
    /// Why writes cannot be made durable now, if they cannot.
    pub fn blocked(&self) -> Option<String> {
        self.log.clone().or_else(|| self.vote.clone())
    }
}

/// How long a failing write waits before it is tried again, at most.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How often a still failing write is logged again.
const REMIND_EVERY: Duration = Duration::from_secs(60);

struct Inner {
    entries: BTreeMap<u64, Entry>,
    last_purged: Option<LogId>,
    vote: Option<Vote<NodeId>>,
}

#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
    tx: mpsc::Sender<(Op, Done)>,
    dir: PathBuf,
    health: Arc<watch::Sender<Health>>,
}

fn lock(m: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Loads the log from `dir` (cutting a torn tail) and starts the writer thread.
pub fn open(dir: &Path, force_sync: bool) -> anyhow::Result<LogStore> {
    open_with(dir, force_sync, |_| {})
}

/// What the log files in a directory hold.
struct Scanned {
    inner: Inner,
    /// Per file: the greatest entry index it holds (for purging whole files later).
    file_max: Vec<(PathBuf, u64)>,
    max_seq: i64,
}

/// Reads every log file in `dir`. A torn last record is cut off the file when `repair`, and
/// only skipped otherwise.
fn scan_dir(dir: &Path, repair: bool) -> anyhow::Result<Scanned> {
    let mut inner = Inner { entries: BTreeMap::new(), last_purged: None, vote: None };
    let files = crate::storage::list(dir, "log")?;
    let last = files.len().saturating_sub(1);
    let mut max_seq = 0i64;
    let mut file_max: Vec<(PathBuf, u64)> = Vec::new();
    for (i, (seq, path)) in files.iter().enumerate() {
        max_seq = max_seq.max(*seq);
        let (records, tail) = txlog::scan(path)?;
        if let txlog::Tail::Torn { offset } = tail {
            if i != last {
                anyhow::bail!("{}: damaged record at offset {offset} in a log that is not the newest; refusing to start", path.display());
            }
            if repair {
                tracing::warn!(file = %path.display(), offset, "cutting off a torn last record (an unacknowledged write)");
                txlog::truncate(path, offset)?;
            }
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
    Ok(Scanned { inner, file_max, max_seq })
}

/// The entries the log in `dir` holds, in index order, read without changing any file (for
/// offline tools such as the export to Apache ZooKeeper's format).
pub fn read_entries(dir: &Path) -> anyhow::Result<Vec<Entry>> {
    Ok(scan_dir(dir, false)?.inner.entries.into_values().collect())
}

/// [`open`], letting a test adjust the writer (inject faults) before the thread starts.
fn open_with(dir: &Path, force_sync: bool, adjust: impl FnOnce(&mut LogWriter)) -> anyhow::Result<LogStore> {
    let Scanned { mut inner, file_max, max_seq } = scan_dir(dir, true)?;
    if let Ok(b) = std::fs::read(dir.join("raft-vote")) {
        inner.vote = Some(bincode::deserialize(&b).map_err(|e| anyhow::anyhow!("{}: unreadable vote: {e}", dir.join("raft-vote").display()))?);
    }
    let (tx, rx) = mpsc::channel();
    let health = Arc::new(watch::Sender::new(Health::default()));
    let mut w = LogWriter::new(dir, true);
    adjust(&mut w);
    let files = Files { dir: dir.to_path_buf(), w, next_seq: max_seq + 1, files: file_max, cur_max: 0, force_sync };
    let h = health.clone();
    std::thread::Builder::new().name("raft-log".into()).spawn(move || writer(files, rx, h))?;
    Ok(LogStore { inner: Arc::new(Mutex::new(inner)), tx, dir: dir.to_path_buf(), health })
}

/// Writes `recs` to the log in `dir` exactly as the store's writer thread does (files rolled
/// at a purge, files holding only purged entries deleted) and makes them durable: for tests
/// and fuzz targets that need real log files without running Raft.
pub fn write_records(dir: &Path, recs: &[Rec]) -> anyhow::Result<()> {
    let next_seq = crate::storage::list(dir, "log")?.last().map_or(1, |(s, _)| s + 1);
    let mut files = Files { dir: dir.to_path_buf(), w: LogWriter::new(dir, true), next_seq, files: Vec::new(), cur_max: 0, force_sync: true };
    let mut ops = Vec::with_capacity(recs.len());
    for r in recs {
        let bytes = bincode::serialize(r)?;
        ops.push(match r {
            Rec::Entry(e) => Op::Append(vec![bytes], e.log_id.index),
            Rec::Truncate(_) => Op::Marker(bytes, None),
            Rec::Purge(id) => Op::Marker(bytes, Some(id.index)),
        });
    }
    let mut buf = Vec::new();
    for p in files.run(&ops, &mut buf)? {
        std::fs::remove_file(p)?;
    }
    Ok(())
}

/// The writer thread's view of the log files.
struct Files {
    dir: PathBuf,
    w: LogWriter,
    next_seq: i64,
    /// Every log file with the greatest entry index it holds.
    files: Vec<(PathBuf, u64)>,
    /// The greatest entry index appended to the current file since it was last accounted.
    cur_max: u64,
    force_sync: bool,
}

/// Where the log stood before a batch: what a failed batch is rolled back to.
struct Mark {
    at: Option<(PathBuf, u64)>,
    next_seq: i64,
    files: Vec<(PathBuf, u64)>,
    cur_max: u64,
}

impl Files {
    fn mark(&self) -> Mark {
        Mark { at: self.w.position(), next_seq: self.next_seq, files: self.files.clone(), cur_max: self.cur_max }
    }

    fn append(&mut self, rec: &[u8], buf: &mut Vec<u8>) -> std::io::Result<()> {
        if !self.w.is_open() {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.files.push((self.dir.join(txlog::log_name(seq)), 0));
            self.w.append(seq, rec, buf)
        } else {
            self.w.append(self.next_seq, rec, buf)
        }
    }

    /// Writes a batch and makes it durable; returns the files a purge in it made obsolete
    /// (deleted by the caller once the whole batch is durable).
    fn run(&mut self, ops: &[Op], buf: &mut Vec<u8>) -> std::io::Result<Vec<PathBuf>> {
        let mut obsolete = Vec::new();
        for op in ops {
            match op {
                Op::Append(recs, max_index) => {
                    self.cur_max = self.cur_max.max(*max_index);
                    for r in recs {
                        self.append(r, buf)?;
                    }
                }
                Op::Marker(rec, None) => {
                    self.append(rec, buf)?;
                    self.w.sync(buf)?;
                }
                Op::Marker(rec, Some(upto)) => {
                    // Roll so the purge marker starts a new file; whole old files then go.
                    self.w.sync(buf)?;
                    if let Some(last) = self.files.last_mut() {
                        last.1 = last.1.max(self.cur_max);
                    }
                    self.w.roll();
                    self.cur_max = 0;
                    self.append(rec, buf)?;
                    self.w.sync(buf)?;
                    let keep_from = self.files.len().saturating_sub(1);
                    let mut n = 0;
                    while n < keep_from && self.files[n].1 <= *upto {
                        n += 1;
                    }
                    obsolete.extend(self.files.drain(..n).map(|(p, _)| p));
                }
            }
        }
        if self.force_sync {
            self.w.sync(buf)?;
        } else {
            self.w.flush_pending(buf)?;
        }
        if let Some(last) = self.files.last_mut() {
            last.1 = last.1.max(self.cur_max);
        }
        Ok(obsolete)
    }

    /// Undoes a failed batch on disk: the file it began in is cut back to where it began, the
    /// files it created are deleted, and the next attempt starts a new file.
    fn rollback(&mut self, mark: &Mark, buf: &mut Vec<u8>) -> std::io::Result<()> {
        buf.clear();
        self.w.roll();
        for seq in mark.next_seq..self.next_seq {
            let p = self.dir.join(txlog::log_name(seq));
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if let Some((path, pos)) = &mark.at {
            txlog::truncate(path, *pos)?;
        }
        std::fs::File::open(&self.dir)?.sync_all()?;
        self.files = mark.files.clone();
        self.cur_max = mark.cur_max;
        Ok(())
    }
}

fn writer(mut files: Files, rx: mpsc::Receiver<(Op, Done)>, health: Arc<watch::Sender<Health>>) {
    let mut buf = Vec::with_capacity(1 << 20);
    while let Ok(first) = rx.recv() {
        let mut ops = Vec::new();
        let mut dones = Vec::new();
        let mut bytes = 0usize;
        let mut next = Some(first);
        while let Some((op, done)) = next.take() {
            bytes += match &op {
                Op::Append(recs, _) => recs.iter().map(|r| r.len() + 8).sum(),
                Op::Marker(r, _) => r.len() + 8,
            };
            ops.push(op);
            dones.push(done);
            if bytes < (8 << 20) {
                next = rx.try_recv().ok();
            }
        }
        let mark = files.mark();
        let mut backoff = Duration::from_millis(20);
        let mut failing_since: Option<Instant> = None;
        let mut reminded = Instant::now();
        let obsolete = loop {
            let err = match files.run(&ops, &mut buf) {
                Ok(obsolete) => break obsolete,
                Err(e) => e,
            };
            // Nothing of this batch may stay behind as a torn record: cut it off before trying
            // again (and keep trying the cut, which frees space rather than needing it).
            while let Err(e) = files.rollback(&mark, &mut buf) {
                tracing::error!(error = %e, "cannot roll the Raft log back after a failed write; retrying");
                std::thread::sleep(MAX_BACKOFF);
            }
            if failing_since.is_none() {
                tracing::error!(error = %err, "the Raft log cannot be written; this member acknowledges no writes and serves reads only until it can write again (retrying)");
                failing_since = Some(Instant::now());
                health.send_modify(|h| h.log = Some(err.to_string()));
            } else if reminded.elapsed() >= REMIND_EVERY {
                reminded = Instant::now();
                let secs = failing_since.map_or(0, |t| t.elapsed().as_secs());
                tracing::error!(error = %err, secs, "the Raft log still cannot be written; still refusing writes");
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        };
        if let Some(t) = failing_since {
            tracing::info!(secs = t.elapsed().as_secs(), "the Raft log is writable again; accepting writes");
            health.send_modify(|h| h.log = None);
        }
        for p in obsolete {
            let _ = std::fs::remove_file(p);
        }
        for d in dones {
            match d {
                Done::Flushed(cb) => cb.log_io_completed(Ok(())),
                Done::Reply(tx) => {
                    let _ = tx.send(Ok(()));
                }
            }
        }
    }
}

impl LogStore {
    /// Whether the log can be written now, and changes of that.
    pub fn health(&self) -> watch::Receiver<Health> {
        self.health.subscribe()
    }

    /// The last log id removed by a purge (entries up to it live only in snapshots).
    pub fn last_purged(&self) -> Option<LogId> {
        lock(&self.inner).last_purged
    }

    /// Whether the log holds every entry after `index` (the last entry a snapshot holds;
    /// `None`: no snapshot) up to its newest one; if not, what is missing.
    pub fn bridges(&self, index: Option<u64>) -> Result<(), String> {
        let g = lock(&self.inner);
        if let Some(p) = g.last_purged {
            if index.is_none_or(|i| i < p.index) {
                return Err(format!("the log has been purged up to index {} (entries up to there live only in snapshots)", p.index));
            }
        }
        let Some(&first) = g.entries.keys().next() else { return Ok(()) };
        let from = index.map_or(first, |i| i + 1);
        if first > from {
            return Err(format!("log entries {from}..={} are missing (a deleted log file?)", first - 1));
        }
        for (expect, &k) in (from..).zip(g.entries.range(from..).map(|(k, _)| k)) {
            if k != expect {
                return Err(format!("log entries {expect}..={} are missing (a deleted log file?)", k - 1));
            }
        }
        Ok(())
    }

    /// Waits while the log cannot be written: openraft's next write waits here rather than
    /// pile up behind a batch that is being retried.
    async fn writable(&self) {
        let mut rx = self.health.subscribe();
        let _ = rx.wait_for(|h| h.log.is_none()).await;
    }

    async fn write_marker(&self, rec: &Rec, purge_upto: Option<u64>) -> Result<(), StorageError> {
        let bytes = bincode::serialize(rec).map_err(write_err)?;
        self.writable().await;
        let (tx, rx) = oneshot::channel();
        self.tx.send((Op::Marker(bytes, purge_upto), Done::Reply(tx))).map_err(write_err)?;
        rx.await.map_err(write_err)?.map_err(write_err)
    }

    fn write_file_atomic(&self, name: &str, bytes: &[u8], durable: bool) -> std::io::Result<()> {
        let tmp = self.dir.join(format!("{name}.tmp"));
        let dst = self.dir.join(name);
        let r = (|| {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            if durable {
                f.sync_all()?;
            }
            std::fs::rename(&tmp, &dst)?;
            if durable {
                std::fs::File::open(&self.dir)?.sync_all()?;
            }
            Ok(())
        })();
        if r.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        r
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
        // A vote must be durable before it counts; while it cannot be written this member
        // waits here (taking no part in elections) instead of failing openraft for good.
        let mut backoff = Duration::from_millis(20);
        let mut failing_since: Option<Instant> = None;
        while let Err(e) = self.write_file_atomic("raft-vote", &b, true) {
            if failing_since.is_none() {
                tracing::error!(error = %e, "the Raft vote cannot be written; this member acknowledges no writes until it can (retrying)");
                failing_since = Some(Instant::now());
                self.health.send_modify(|h| h.vote = Some(e.to_string()));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        if failing_since.is_some() {
            tracing::info!("the Raft vote is writable again");
            self.health.send_modify(|h| h.vote = None);
        }
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
        self.writable().await;
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
        self.tx.send((Op::Append(recs, max_index), Done::Flushed(callback))).map_err(write_err)
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        lock(&self.inner).entries.split_off(&log_id.index);
        self.write_marker(&Rec::Truncate(log_id.index), None).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        {
            let mut g = lock(&self.inner);
            g.entries = g.entries.split_off(&(log_id.index + 1));
            g.last_purged = Some(log_id);
        }
        self.write_marker(&Rec::Purge(log_id), Some(log_id.index)).await
    }
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum::{ZkBatch, ZkEntry};

    fn entry(index: u64, txn: &[u8]) -> Entry {
        let z = ZkEntry { origin: 1, req: crate::ids::ReqId(2), prep_node: 1, prep_id: 3, session: crate::ids::SessionId(4), cxid: 5, time: 6, txn: txn.to_vec() };
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

    fn rec(index: u64) -> Vec<u8> {
        bincode::serialize(&RecRef::Entry(&entry(index, format!("txn {index}").as_bytes()))).unwrap()
    }

    fn marker(r: &Rec) -> Vec<u8> {
        bincode::serialize(r).unwrap()
    }

    /// Every log file in `dir` scans clean (no torn record anywhere) and decodes.
    fn clean_entries(dir: &Path) -> Vec<u64> {
        for (_, p) in crate::storage::list(dir, "log").unwrap() {
            let (_, tail) = txlog::scan(&p).unwrap();
            assert_eq!(tail, txlog::Tail::Clean, "{} has a torn tail", p.display());
        }
        let store = open(dir, true).unwrap();
        let g = lock(&store.inner);
        g.entries.keys().copied().collect()
    }

    /// A batch that fails halfway (a torn write on a full disk, after a roll to a new file)
    /// is rolled back to exactly what was durable before it, and the retry writes it whole.
    #[test]
    fn a_failed_batch_is_rolled_back_to_the_last_good_position_and_retried() {
        use std::sync::atomic::Ordering::SeqCst;
        let d = tempfile::tempdir().unwrap();
        let faults = Arc::new(txlog::Faults::default());
        let mut w = LogWriter::new(d.path(), true);
        w.faults = Some(faults.clone());
        let mut files = Files { dir: d.path().to_path_buf(), w, next_seq: 1, files: Vec::new(), cur_max: 0, force_sync: true };
        let mut buf = Vec::new();
        files.run(&[Op::Append(vec![rec(1), rec(2)], 2)], &mut buf).unwrap();
        let first = files.w.position().unwrap();
        let mark = files.mark();
        let batch = [
            Op::Append(vec![rec(3)], 3),
            Op::Marker(marker(&Rec::Purge(entry(1, b"").log_id)), Some(1)),
            Op::Append(vec![rec(4)], 4),
        ];
        // The sync before the purge's roll succeeds, the new file's write tears.
        faults.ok_flushes.store(1, SeqCst);
        faults.full.store(true, SeqCst);
        assert!(files.run(&batch, &mut buf).is_err());
        assert!(std::fs::metadata(&first.0).unwrap().len() > first.1, "the batch reached the first file");
        files.rollback(&mark, &mut buf).unwrap();
        assert_eq!(std::fs::metadata(&first.0).unwrap().len(), first.1, "cut back to where the batch began");
        assert_eq!(crate::storage::list(d.path(), "log").unwrap().len(), 1, "the file the batch created is gone");
        assert_eq!(clean_entries(d.path()), vec![1, 2]);
        // Still full: fails again, rolls back again, nothing accumulates.
        assert!(files.run(&batch, &mut buf).is_err());
        files.rollback(&mark, &mut buf).unwrap();
        assert_eq!(clean_entries(d.path()), vec![1, 2]);
        // Room again: the same batch goes through whole.
        faults.full.store(false, SeqCst);
        files.run(&batch, &mut buf).unwrap();
        assert_eq!(clean_entries(d.path()), vec![2, 3, 4]);
        assert_eq!(open(d.path(), true).unwrap().last_purged().map(|l| l.index), Some(1));
    }

    /// Through the writer thread: a full disk blocks (nothing reported durable, health says
    /// why, the next write waits) and everything completes by itself once there is room.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_disk_blocks_the_log_and_it_resumes_by_itself() {
        use std::sync::atomic::Ordering::SeqCst;
        let d = tempfile::tempdir().unwrap();
        let faults = Arc::new(txlog::Faults::default());
        let f2 = faults.clone();
        let store = open_with(d.path(), true, move |w| w.faults = Some(f2)).unwrap();
        let (tx, rx) = oneshot::channel();
        store.tx.send((Op::Append(vec![rec(1)], 1), Done::Reply(tx))).unwrap();
        rx.await.unwrap().unwrap();
        faults.full.store(true, SeqCst);
        let (tx, mut rx2) = oneshot::channel();
        store.tx.send((Op::Append(vec![rec(2)], 2), Done::Reply(tx))).unwrap();
        let mut health = store.health();
        tokio::time::timeout(Duration::from_secs(10), health.wait_for(|h| h.blocked().is_some())).await.unwrap().unwrap();
        assert!(health.borrow().blocked().unwrap().contains("No space left"), "{:?}", health.borrow());
        // The next write waits behind the blocked one instead of piling up.
        let s2 = store.clone();
        let mut next = tokio::spawn(async move { s2.write_marker(&Rec::Truncate(100), None).await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(rx2.try_recv().is_err(), "acknowledged while the disk is full");
        assert!(!next.is_finished());
        faults.full.store(false, SeqCst);
        tokio::time::timeout(Duration::from_secs(10), &mut rx2).await.unwrap().unwrap().unwrap();
        tokio::time::timeout(Duration::from_secs(10), &mut next).await.unwrap().unwrap().unwrap();
        assert_eq!(health.borrow().blocked(), None);
        drop(store);
        assert_eq!(clean_entries(d.path()), vec![1, 2]);
    }

    #[test]
    fn bridges_says_what_a_snapshot_would_miss() {
        let d = tempfile::tempdir().unwrap();
        let mut files = Files { dir: d.path().to_path_buf(), w: LogWriter::new(d.path(), true), next_seq: 1, files: Vec::new(), cur_max: 0, force_sync: true };
        let mut buf = Vec::new();
        let purge = Op::Marker(marker(&Rec::Purge(entry(2, b"").log_id)), Some(2));
        files.run(&[Op::Append(vec![rec(1), rec(2), rec(3), rec(4)], 4), purge], &mut buf).unwrap();
        let store = open(d.path(), true).unwrap();
        assert!(store.bridges(None).unwrap_err().contains("purged up to index 2"));
        assert!(store.bridges(Some(1)).is_err());
        assert!(store.bridges(Some(2)).is_ok());
        assert!(store.bridges(Some(9)).is_ok(), "a snapshot newer than the log needs nothing from it");
        // A hole (a lost log file): entries 5 and 7 but not 6.
        let d = tempfile::tempdir().unwrap();
        let mut files = Files { dir: d.path().to_path_buf(), w: LogWriter::new(d.path(), true), next_seq: 1, files: Vec::new(), cur_max: 0, force_sync: true };
        files.run(&[Op::Append(vec![rec(5), rec(7)], 7)], &mut buf).unwrap();
        let store = open(d.path(), true).unwrap();
        assert_eq!(store.bridges(Some(4)).unwrap_err(), "log entries 6..=6 are missing (a deleted log file?)");
        assert!(store.bridges(Some(3)).unwrap_err().contains("4..=4"));
        assert!(store.bridges(Some(6)).is_ok());
    }
}
