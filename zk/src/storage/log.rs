//! The record log: append-only files of checksummed records, preallocated, fsynced by the
//! caller in batches. The Raft log (`quorum::log_store`) is written in this format; a write
//! is acknowledged only after its record is here and fsynced.
//!
//! File format (`<dataLogDir>/version-2/log.<file number in hex>`):
//! ```text
//! header  : magic "RZKL" (4 bytes) | format version u32 = 1 | reserved u64 = 0     (16 bytes)
//! record* : payload length u32 | crc32c(payload) u32 | payload
//!           payload = one bincode-encoded `quorum::log_store::Rec` (little-endian,
//!           bincode 1 default options):
//!             Rec::Entry(openraft Entry)   an openraft log entry: log id (term, leader
//!                                          node, index) and payload: Blank, Membership, or
//!                                          Normal(ZkBatch) = a list of `quorum::ZkEntry`
//!                                          (origin, req, prep node/id, session, cxid, time,
//!                                          txn = jute-encoded `tree::Txn`, empty for a
//!                                          sync/reattach barrier)
//!             Rec::Truncate(index)         entries at and after index are gone
//!             Rec::Purge(log id)           entries up to that log id are in a snapshot
//!           The TxnHeader (session, cxid, zxid, time) is not stored: the zxid is computed
//!           at apply from the entry's term (`quorum::next_zxid`).
//! padding : zeros (the file is extended ahead of the records in PREALLOC chunks, so that
//!           fdatasync flushes data blocks only); a zero length marks the end of the log
//! ```
//! When the disk is (nearly) full, preallocation is given up for that file and records extend
//! it as they are written. A write or fsync that fails leaves the caller to cut the file back
//! to [`LogWriter::position`] as it was before the batch (see `quorum::log_store`), so no torn
//! record stays behind a good one.
//!
//! Recovery ([`scan`]) reads records until the end marker. A record that fails its length
//! or CRC check is a torn write when nothing but zeros follows it in the file (cut off and
//! the file truncated), and corruption otherwise (startup refuses, naming file and offset).
//! The record framing's integers (length, CRC) are big-endian; the payload is bincode's.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const LOG_MAGIC: &[u8; 4] = b"RZKL";
pub const HEADER_LEN: u64 = 16;
const PREALLOC: u64 = 4 << 20;
/// Largest payload a record may claim; anything larger is treated as damage.
pub const MAX_RECORD: u32 = 256 << 20;

pub fn log_name(seq: i64) -> String {
    format!("log.{seq:x}")
}

/// Test hook: a full disk. While `full` is set, after `ok_flushes` more successful flushes
/// every record write fails with ENOSPC after writing half of its bytes (a torn write).
#[cfg(test)]
#[derive(Debug, Default)]
pub struct Faults {
    pub full: std::sync::atomic::AtomicBool,
    pub ok_flushes: std::sync::atomic::AtomicUsize,
}

#[cfg(test)]
impl Faults {
    fn fail_now(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        if !self.full.load(SeqCst) {
            return false;
        }
        self.ok_flushes.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)).is_err()
    }
}

/// Appends records to the current log file.
pub struct LogWriter {
    dir: PathBuf,
    file: Option<File>,
    path: PathBuf,
    pos: u64,
    allocated: u64,
    prealloc: bool,
    /// Preallocating failed in the current file (the disk is nearly full): records extend the
    /// file as they are written, and no further preallocation is tried in it.
    prealloc_failed: bool,
    /// A failed preallocation was logged (once until one succeeds again).
    prealloc_warned: bool,
    #[cfg(test)]
    pub faults: Option<std::sync::Arc<Faults>>,
}

impl LogWriter {
    pub fn new(dir: &Path, prealloc: bool) -> LogWriter {
        LogWriter {
            dir: dir.to_path_buf(),
            file: None,
            path: PathBuf::new(),
            pos: 0,
            allocated: 0,
            prealloc,
            prealloc_failed: false,
            prealloc_warned: false,
            #[cfg(test)]
            faults: None,
        }
    }

    /// Closes the current file: the next append starts a new one.
    pub fn roll(&mut self) {
        self.file = None;
    }

    /// Whether a file is open (the next append goes to it).
    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// The open file and the end of the records written to it (buffered ones not counted).
    pub fn position(&self) -> Option<(PathBuf, u64)> {
        self.file.as_ref().map(|_| (self.path.clone(), self.pos))
    }

    fn open(&mut self, seq: i64) -> std::io::Result<()> {
        let path = self.dir.join(log_name(seq));
        if path.exists() {
            // A file with this number exists only if a crash came after it was created but
            // before its first record was durable: recovery replayed every valid record, and
            // none can be here. Refuse if that reasoning is ever wrong rather than lose data.
            match scan(&path) {
                Ok((records, _)) if records.is_empty() => std::fs::remove_file(&path)?,
                Ok(_) => return Err(std::io::Error::other(format!("{} already holds records", path.display()))),
                Err(e) => return Err(std::io::Error::other(e.to_string())),
            }
        }
        let mut f = OpenOptions::new().write(true).create_new(true).open(&path)?;
        let mut header = Vec::with_capacity(HEADER_LEN as usize);
        header.extend_from_slice(LOG_MAGIC);
        header.extend_from_slice(&1u32.to_be_bytes());
        header.extend_from_slice(&0u64.to_be_bytes());
        f.write_all(&header)?;
        self.pos = HEADER_LEN;
        self.allocated = HEADER_LEN;
        self.prealloc_failed = false;
        self.file = Some(f);
        self.path = path;
        // The new file's directory entry must be durable too.
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    /// Buffers one record; call [`LogWriter::sync`] to make it durable. `seq` numbers the file
    /// opened if none is (the store's file counter, not a zxid: zxids exist only at apply).
    pub fn append(&mut self, seq: i64, payload: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
        if self.file.is_none() {
            self.flush_pending(out)?;
            self.open(seq)?;
        }
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&crc32c::crc32c(payload).to_be_bytes());
        out.extend_from_slice(payload);
        Ok(())
    }

    pub fn flush_pending(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        if out.is_empty() {
            return Ok(());
        }
        let Some(f) = self.file.as_mut() else {
            return Err(std::io::Error::other("log file not open"));
        };
        let end = self.pos + out.len() as u64;
        if self.prealloc && !self.prealloc_failed && end > self.allocated {
            let target = end + PREALLOC;
            match zero_fill(f, self.allocated, target) {
                Ok(()) => {
                    self.allocated = target;
                    self.prealloc_warned = false;
                }
                Err(e) => {
                    // Most likely a nearly full disk: give the zeros back and let the records
                    // extend the file (fdatasync covers a size change).
                    if !self.prealloc_warned {
                        self.prealloc_warned = true;
                        tracing::warn!(file = %self.path.display(), error = %e, "cannot preallocate the log file; writing records without preallocation");
                    }
                    self.prealloc_failed = true;
                    f.set_len(self.allocated)?;
                }
            }
        }
        #[cfg(test)]
        if self.faults.as_ref().is_some_and(|x| x.fail_now()) {
            f.seek(SeekFrom::Start(self.pos))?;
            f.write_all(&out[..out.len() / 2])?;
            return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
        }
        f.seek(SeekFrom::Start(self.pos))?;
        f.write_all(out)?;
        self.pos = end;
        self.allocated = self.allocated.max(end);
        out.clear();
        Ok(())
    }

    /// Writes what [`LogWriter::append`] buffered and waits for the disk.
    pub fn sync(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        self.flush_pending(out)?;
        if let Some(f) = self.file.as_mut() {
            if self.prealloc {
                f.sync_data()?;
            } else {
                f.sync_all()?;
            }
        }
        Ok(())
    }
}

/// Extends `f` with zeros from `from` to `to` and makes that durable.
fn zero_fill(f: &mut File, from: u64, to: u64) -> std::io::Result<()> {
    f.seek(SeekFrom::Start(from))?;
    let zeros = vec![0u8; 1 << 20];
    let mut at = from;
    while at < to {
        let n = ((to - at) as usize).min(zeros.len());
        f.write_all(&zeros[..n])?;
        at += n as u64;
    }
    f.sync_all()
}

/// One record read back from a log file.
#[derive(Debug)]
pub struct Record {
    pub offset: u64,
    pub payload: Vec<u8>,
}

/// How a scan of one log file ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Tail {
    /// The zero end marker (or the exact end of the file).
    Clean,
    /// A torn last record at this offset, with only zeros after it.
    Torn { offset: u64 },
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: not a transaction log of this server (bad magic or version)")]
    BadHeader { path: String },
    #[error("{path}: corrupt record at offset {offset} ({why}) followed by more data; refusing to start rather than drop transactions")]
    Corrupt { path: String, offset: u64, why: String },
}

/// Reads every whole record of a log file.
pub fn scan(path: &Path) -> Result<(Vec<Record>, Tail), ScanError> {
    let name = path.display().to_string();
    let io = |e| ScanError::Io { path: name.clone(), source: e };
    let mut bytes = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(io)?;
    if bytes.len() < HEADER_LEN as usize || &bytes[..4] != LOG_MAGIC || bytes[4..8] != 1u32.to_be_bytes() {
        if bytes.iter().all(|b| *b == 0) {
            // Created but never written (crash right after open): empty log.
            return Ok((Vec::new(), Tail::Clean));
        }
        return Err(ScanError::BadHeader { path: name });
    }
    let mut out = Vec::new();
    let mut at = HEADER_LEN as usize;
    loop {
        if at + 8 > bytes.len() {
            // Fewer than 8 bytes left: clean if all zero, torn otherwise.
            return if bytes[at..].iter().all(|b| *b == 0) { Ok((out, Tail::Clean)) } else { Ok((out, Tail::Torn { offset: at as u64 })) };
        }
        let len = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let crc = u32::from_be_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]);
        if len == 0 && crc == 0 {
            // End marker: everything after must be zeros too.
            if bytes[at..].iter().all(|b| *b == 0) {
                return Ok((out, Tail::Clean));
            }
            return Err(ScanError::Corrupt { path: name, offset: at as u64, why: "data after the end marker".into() });
        }
        let why = if len > MAX_RECORD || at + 8 + len as usize > bytes.len() {
            Some(format!("length {len} runs past the end of the file"))
        } else if crc32c::crc32c(&bytes[at + 8..at + 8 + len as usize]) != crc {
            Some("checksum mismatch".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            let rest_from = if len <= MAX_RECORD { (at + 8 + len as usize).min(bytes.len()) } else { bytes.len() };
            if bytes[rest_from..].iter().all(|b| *b == 0) {
                return Ok((out, Tail::Torn { offset: at as u64 }));
            }
            return Err(ScanError::Corrupt { path: name, offset: at as u64, why });
        }
        out.push(Record { offset: at as u64, payload: bytes[at + 8..at + 8 + len as usize].to_vec() });
        at += 8 + len as usize;
    }
}

/// Cuts a torn tail off: the file ends at `offset` (later appends go to a new file).
pub fn truncate(path: &Path, offset: u64) -> std::io::Result<()> {
    let f = OpenOptions::new().write(true).open(path)?;
    f.set_len(offset)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_log(dir: &Path, payloads: &[&[u8]]) -> PathBuf {
        let mut w = LogWriter::new(dir, true);
        let mut buf = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            w.append(i as i64 + 1, p, &mut buf).unwrap();
        }
        w.sync(&mut buf).unwrap();
        dir.join(log_name(1))
    }

    #[test]
    fn write_and_scan() {
        let d = tempfile::tempdir().unwrap();
        let p = write_log(d.path(), &[b"one", b"two", b"three"]);
        let (recs, tail) = scan(&p).unwrap();
        assert_eq!(tail, Tail::Clean);
        assert_eq!(recs.iter().map(|r| r.payload.clone()).collect::<Vec<_>>(), vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
        // Preallocated: the file is longer than its records.
        assert!(std::fs::metadata(&p).unwrap().len() > PREALLOC);
    }

    #[test]
    fn torn_tail_is_cut_middle_corruption_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = write_log(d.path(), &[b"aaaa", b"bbbb", b"cccc"]);
        let (recs, _) = scan(&p).unwrap();
        let third = recs[2].offset;
        let mut bytes = std::fs::read(&p).unwrap();
        // Torn: the last record's payload half-written (rest zeros).
        let mut torn = bytes.clone();
        torn[third as usize + 10] = 0;
        torn[third as usize + 11] = 0;
        std::fs::write(&p, &torn).unwrap();
        let (recs2, tail) = scan(&p).unwrap();
        assert_eq!(recs2.len(), 2);
        assert_eq!(tail, Tail::Torn { offset: third });
        truncate(&p, third).unwrap();
        let (recs3, tail) = scan(&p).unwrap();
        assert_eq!((recs3.len(), tail), (2, Tail::Clean));
        // Corrupt middle record: refused with the offset.
        let second = recs[1].offset as usize;
        bytes[second + 9] ^= 0xff;
        std::fs::write(&p, &bytes).unwrap();
        match scan(&p) {
            Err(ScanError::Corrupt { offset, .. }) => assert_eq!(offset, second as u64),
            other => panic!("expected corruption, got {other:?}"),
        }
        // A wrong magic is refused.
        std::fs::write(&p, b"ZKLG\0\0\0\x02xxxxxxxxxxxxxxx").unwrap();
        assert!(matches!(scan(&p), Err(ScanError::BadHeader { .. })));
    }

}
