//! Snapshots: the whole DataTree and the session table at one zxid, so that startup does
//! not replay the log from the beginning and old logs can be purged.
//!
//! The core serializes the tree at a transaction boundary (every `snapCount` transactions)
//! and a background thread writes it; recovery loads the newest snapshot that verifies.
//!
//! File format (`<dataDir>/version-2/snapshot.<zxid in hex>`), big-endian:
//! ```text
//! magic "RZKS" (4) | format version u32 = 2 | zxid i64
//! meta:     buffer (length i32 + bytes): the replication layer's snapshot metadata
//!           (openraft's SnapshotMeta in bincode: last log id, membership)
//! sessions: count i32, then per session id i64 | timeout i32
//! nodes:    as `DataTree::write_nodes` (count i64, then path, data, acl, stat per node)
//! trailer:  crc32c of every byte before it, u32
//! ```
//! Written to `snapshot.<zxid>.tmp`, fsynced, renamed, directory fsynced: a crash leaves
//! either no snapshot or a whole one; a damaged one fails its CRC and the previous is used.

use crate::ids::{SessionId, Zxid};
use crate::proto::{DecodeError, Reader, Writer};
use crate::tree::DataTree;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const SNAP_MAGIC: &[u8; 4] = b"RZKS";
const VERSION: i32 = 2;

pub fn snap_name(zxid: Zxid) -> String {
    format!("snapshot.{zxid:x}")
}

/// Encodes a snapshot of `tree` and `sessions` (id -> timeout) at `tree.last_zxid`.
pub fn encode(tree: &DataTree, sessions: &BTreeMap<SessionId, i32>, meta: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.bytes(SNAP_MAGIC).int(VERSION).long(tree.last_zxid.0).buffer(Some(meta));
    w.int(sessions.len() as i32);
    for (id, timeout) in sessions {
        w.long(id.0).int(*timeout);
    }
    tree.write_nodes(&mut w);
    let crc = crc32c::crc32c(&w.buf);
    w.int(crc as i32);
    w.buf.to_vec()
}

#[derive(Debug, thiserror::Error)]
pub enum SnapError {
    #[error("{0}: not a snapshot of this server (bad magic or version at byte offset 0, or shorter than a header)")]
    BadHeader(String),
    /// The trailer does not match: damaged or incomplete. `first_bad` is where a structural
    /// read of the body failed, if it did (a cut file fails there; a flipped byte may not).
    #[error("{path}: checksum mismatch (damaged or incomplete): {}", match first_bad {
        Some(e) => match e.offset() {
            Some(at) => format!("unreadable from byte offset {at} ({e})"),
            None => format!("{e} (the checksum is at byte offset {stored_at})"),
        },
        None => format!("the checksum at byte offset {stored_at} does not match bytes 0..{stored_at}"),
    })]
    Checksum { path: String, stored_at: u64, first_bad: Option<DecodeError> },
    /// Decoding failed although the checksum matched; offsets are from the start of the file.
    #[error("{0}: {1}")]
    Decode(String, DecodeError),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// What a snapshot holds: the tree, the sessions (id -> timeout) and the meta blob.
pub type Decoded = (DataTree, BTreeMap<SessionId, i32>, Vec<u8>);

/// Reads the sections after the magic and version; the reader starts at offset 8 of the file,
/// so the offsets in errors are file offsets.
fn read_body(r: &mut Reader) -> Result<Decoded, DecodeError> {
    let zxid = Zxid(r.long()?);
    let meta = r.buffer()?.unwrap_or_default();
    let sessions = r.vec(12, |r| Ok((SessionId(r.long()?), r.int()?)))?.into_iter().collect();
    let tree = DataTree::read_nodes(r, zxid)?;
    Ok((tree, sessions, meta))
}

/// Decodes and verifies a snapshot file's bytes: the tree, the sessions and the meta blob.
pub fn decode(name: &str, bytes: &[u8]) -> Result<Decoded, SnapError> {
    if bytes.len() < 16 + 4 || &bytes[..4] != SNAP_MAGIC || bytes[4..8] != VERSION.to_be_bytes() {
        return Err(SnapError::BadHeader(name.to_string()));
    }
    let (body, trailer) = bytes.split_at(bytes.len() - 4);
    let mut r = Reader::new(body);
    // Magic and version, checked above; read so that offsets count from the file's start.
    let _ = (r.int(), r.int());
    if crc32c::crc32c(body).to_be_bytes() != trailer {
        // Say where the damage is if the structure shows it (a cut file does: the real end
        // is inside a record).
        let mut whole = Reader::new(bytes);
        let _ = (whole.int(), whole.int());
        let first_bad = read_body(&mut whole).err();
        return Err(SnapError::Checksum { path: name.to_string(), stored_at: body.len() as u64, first_bad });
    }
    read_body(&mut r).map_err(|e| SnapError::Decode(name.to_string(), e))
}

/// Writes a snapshot durably (tmp file, fsync, rename, fsync the directory).
pub fn write(dir: &Path, zxid: Zxid, bytes: &[u8]) -> Result<PathBuf, SnapError> {
    let path = dir.join(snap_name(zxid));
    let tmp = dir.join(format!("{}.tmp", snap_name(zxid)));
    let r = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        File::open(dir).and_then(|d| d.sync_all())
    })();
    if let Err(e) = r {
        // A partial tmp file (full disk) must not keep holding the space.
        let _ = std::fs::remove_file(&tmp);
        return Err(SnapError::Io(path.display().to_string(), e));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_round_trip_and_damage() {
        let d = tempfile::tempdir().unwrap();
        let mut tree = DataTree::new();
        tree.last_zxid = Zxid(0x42);
        let sessions = BTreeMap::from([(SessionId(5), 6000i32), (SessionId(6), 4000)]);
        let bytes = encode(&tree, &sessions, b"meta");
        let p = write(d.path(), Zxid(0x42), &bytes).unwrap();
        assert!(p.ends_with("snapshot.42"));
        let (t2, s2, m2) = decode("x", &std::fs::read(&p).unwrap()).unwrap();
        assert_eq!((t2.last_zxid, t2.node_count()), (Zxid(0x42), tree.node_count()));
        assert_eq!(s2, sessions);
        assert_eq!(m2, b"meta");
        let mut bad = bytes.clone();
        bad[30] ^= 1;
        match decode("x", &bad) {
            Err(e @ SnapError::Checksum { .. }) => assert!(e.to_string().contains("byte offset"), "{e}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
        // A cut file: the structure breaks where the file now ends, and the message says so.
        let cut = &bytes[..bytes.len() - 10];
        match decode("x", cut) {
            Err(e @ SnapError::Checksum { first_bad: Some(_), .. }) => assert!(e.to_string().contains("unreadable from byte offset"), "{e}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
        assert!(matches!(decode("x", b"nope"), Err(SnapError::BadHeader(_))));
        // A version-1 snapshot (or anyone else's) is refused, not misread.
        let mut v1 = bytes.clone();
        v1[7] = 1;
        assert!(matches!(decode("x", &v1), Err(SnapError::BadHeader(_))));
    }

    /// A snapshot whose counts lie (with a checksum that matches, as a bug or an attacker
    /// could write): decode errors, never an allocation sized by the count or a panic.
    #[test]
    fn hostile_counts_in_a_snapshot_are_decode_errors() {
        let seal = |mut body: Vec<u8>| {
            let crc = crc32c::crc32c(&body);
            body.extend_from_slice(&crc.to_be_bytes());
            body
        };
        let head = |w: &mut Writer| {
            w.bytes(SNAP_MAGIC).int(VERSION).long(1).buffer(Some(b"m"));
        };
        for sessions in [i32::MAX, -2, 1_000_000] {
            let mut w = Writer::new();
            head(&mut w);
            w.int(sessions).long(1).int(1);
            let b = seal(w.buf.to_vec());
            assert!(matches!(decode("x", &b), Err(SnapError::Decode(..))), "sessions {sessions}");
        }
        for nodes in [i64::MAX, -1, 0, 1 << 40] {
            let mut w = Writer::new();
            head(&mut w);
            w.int(0).long(nodes).string("/");
            let b = seal(w.buf.to_vec());
            assert!(matches!(decode("x", &b), Err(SnapError::Decode(..))), "nodes {nodes}");
        }
        // A meta buffer claiming 2 GiB.
        let mut w = Writer::new();
        w.bytes(SNAP_MAGIC).int(VERSION).long(1).int(i32::MAX).int(0);
        assert!(matches!(decode("x", &seal(w.buf.to_vec())), Err(SnapError::Decode(..))));
    }
}
