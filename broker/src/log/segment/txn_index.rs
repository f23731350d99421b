//! The aborted-transaction index of one segment: `<base>.txnindex`, Kafka's
//! TransactionIndex. Written by the partition log when an ABORT marker lands in the segment
//! (`partition_log::txn`), read by read_committed fetches (the `aborted_transactions` of
//! the answer) and rewritten by the cleaner for cleaned segments.
//!
//! Format (Kafka's AbortedTxn, big-endian, entries back to back, in marker order):
//! ```text
//! version i16 (0)  producer_id i64  first_offset i64  last_offset i64  last_stable_offset i64
//! ```
//! 34 bytes an entry; `last_offset` is the ABORT marker's offset, `last_stable_offset` the
//! partition's LSO once that transaction is complete. The file exists only once a segment
//! has an aborted transaction (Kafka creates it lazily too). A trailing partial entry (a
//! torn write) is ignored at load and cut at the next append.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::PathBuf;

pub const ENTRY: usize = 34;

/// One aborted transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    pub fn encode(&self) -> [u8; ENTRY] {
        let mut b = [0u8; ENTRY];
        b[0..2].copy_from_slice(&0i16.to_be_bytes());
        b[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        b[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        b[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        b[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        b
    }

    /// Parses whole entries (version 0); stops at a partial or unknown one.
    pub fn decode_all(data: &[u8]) -> Vec<AbortedTxn> {
        let at = |e: &[u8], p: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&e[p..p + 8]);
            i64::from_be_bytes(a)
        };
        let mut out = Vec::with_capacity(data.len() / ENTRY);
        for e in data.chunks_exact(ENTRY) {
            if i16::from_be_bytes([e[0], e[1]]) != 0 {
                break;
            }
            out.push(AbortedTxn { producer_id: at(e, 2), first_offset: at(e, 10), last_offset: at(e, 18), last_stable_offset: at(e, 26) });
        }
        out
    }
}

/// The index of one segment, its entries kept in memory (they are few: one per aborted
/// transaction whose marker is in the segment).
#[derive(Debug)]
pub struct TxnIndex {
    pub path: PathBuf,
    pub entries: Vec<AbortedTxn>,
}

impl TxnIndex {
    pub fn path_of(dir: &std::path::Path, base: i64) -> PathBuf {
        super::file_name(dir, base, "txnindex")
    }

    /// Loads the file if there is one.
    pub fn load(dir: &std::path::Path, base: i64) -> io::Result<TxnIndex> {
        let path = TxnIndex::path_of(dir, base);
        let entries = match crate::log::partition_log::read_small(&path) {
            Ok(d) => AbortedTxn::decode_all(&d),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(TxnIndex { path, entries })
    }

    /// An empty index (a new segment): a stale file of that name is removed.
    pub fn fresh(dir: &std::path::Path, base: i64) -> TxnIndex {
        let path = TxnIndex::path_of(dir, base);
        let _ = std::fs::remove_file(&path);
        TxnIndex { path, entries: Vec::new() }
    }

    /// Whether the entry of the marker at `last_offset` is already here (replay after a
    /// restart finds the entries it wrote before).
    pub fn has(&self, last_offset: i64) -> bool {
        self.entries.iter().any(|e| e.last_offset == last_offset)
    }

    pub fn append(&mut self, e: AbortedTxn) -> io::Result<()> {
        self.write_len(self.entries.len())?;
        let mut f = OpenOptions::new().create(true).append(true).open(&self.path)?;
        f.write_all(&e.encode())?;
        self.entries.push(e);
        Ok(())
    }

    /// Cuts the file to `n` whole entries (it may hold a torn tail).
    fn write_len(&self, n: usize) -> io::Result<()> {
        match std::fs::metadata(&self.path) {
            Ok(m) if m.len() != (n * ENTRY) as u64 => OpenOptions::new().write(true).open(&self.path)?.set_len((n * ENTRY) as u64),
            _ => Ok(()),
        }
    }

    /// Drops the entries of markers at or after `offset` (a truncated log).
    pub fn truncate_to(&mut self, offset: i64) -> io::Result<()> {
        let keep = self.entries.iter().take_while(|e| e.last_offset < offset).count();
        if keep < self.entries.len() || std::fs::metadata(&self.path).map(|m| m.len() != (keep * ENTRY) as u64).unwrap_or(false) {
            self.entries.truncate(keep);
            self.write_len(keep)?;
        }
        Ok(())
    }

    /// Fsyncs the file (if there is one).
    pub fn flush(&self) -> io::Result<()> {
        match std::fs::File::open(&self.path) {
            Ok(f) => f.sync_data(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Entries of transactions overlapping [from, upper): marker at or after `from`, first
    /// offset below `upper` (Kafka's collectAbortedTxns).
    pub fn overlapping(&self, from: i64, upper: i64) -> impl Iterator<Item = &AbortedTxn> {
        self.entries.iter().filter(move |e| e.last_offset >= from && e.first_offset < upper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_append_truncate_reload() {
        let d = tempfile::tempdir().unwrap();
        let mut ix = TxnIndex::fresh(d.path(), 0);
        let a = AbortedTxn { producer_id: 1, first_offset: 0, last_offset: 10, last_stable_offset: 0 };
        assert_eq!(
            a.encode().to_vec(),
            [vec![0, 0], 1i64.to_be_bytes().to_vec(), 0i64.to_be_bytes().to_vec(), 10i64.to_be_bytes().to_vec(), 0i64.to_be_bytes().to_vec()].concat()
        );
        ix.append(a).unwrap();
        ix.append(AbortedTxn { producer_id: 2, first_offset: 5, last_offset: 20, last_stable_offset: 21 }).unwrap();
        assert_eq!(std::fs::metadata(&ix.path).unwrap().len(), 68);
        assert_eq!(ix.overlapping(11, 100).count(), 1);
        assert_eq!(ix.overlapping(0, 5).count(), 1);
        assert_eq!(ix.overlapping(0, 6).count(), 2);
        // A torn tail is ignored at load and cut at the next change.
        let mut f = OpenOptions::new().append(true).open(&ix.path).unwrap();
        f.write_all(&[0, 0, 1]).unwrap();
        let mut back = TxnIndex::load(d.path(), 0).unwrap();
        assert_eq!(back.entries, ix.entries);
        back.truncate_to(20).unwrap();
        assert_eq!(back.entries.len(), 1);
        assert_eq!(std::fs::metadata(&back.path).unwrap().len(), 34);
        assert!(TxnIndex::load(d.path(), 5).unwrap().entries.is_empty());
    }
}
