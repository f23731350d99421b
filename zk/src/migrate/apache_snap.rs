//! Apache ZooKeeper's snapshot file (`version-2/snapshot.<zxid hex>`), read into our tree.
//!
//! The layout (facts from ZooKeeper's `FileSnap.serialize`, `SerializeUtils.serializeSnapshot`,
//! `DataTree.serialize`, `ReferenceCountedACLCache.serialize`, `DataNode` and the jute records
//! `FileHeader`, `ACL`, `Id`, `StatPersisted`), jute big-endian primitives:
//!
//! ```text
//! header:   magic int "ZKSN" (0x5a4b534e) | version int (2) | dbid long (-1)
//! sessions: count int, then per session: id long | timeout int
//! acl cache: count int, then per entry: key long | acls vector<ACL> (count int, then per ACL
//!           perms int | scheme ustring | id ustring)
//! nodes:    per node, parents before children: path ustring (the root's is "") |
//!           data buffer | acl key long (-1: world:anyone:cdrwa) |
//!           StatPersisted: czxid long | mzxid long | ctime long | mtime long | version int |
//!           cversion int | aversion int | ephemeralOwner long | pzxid long
//!           ... ended by the path "/"
//! seal:     Adler32 of every byte above, as a long | the string "/"
//! 3.6+:     ZxidDigest (zxid long | digest version int | digest long) and a second seal;
//!           3.8 may add the last processed zxid (long) and a third seal. Not needed here.
//! ```
//!
//! The snapshot is *fuzzy*: taken while transactions went on, it holds every transaction up
//! to the zxid in its name and perhaps some after it; the log replay after it settles that
//! (see [`super`]). Compressed snapshots (`snapshot.<zxid>.gz` / `.snappy`, 3.6+'s
//! `zookeeper.snapshot.compression.method`) are not read: the import names them and stops.

use crate::ids::{SessionId, Zxid};
use crate::proto::{Acl, DecodeError, Id, Reader, Stat, Writer};
use crate::tree::DataTree;
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub const SNAP_MAGIC: i32 = 0x5a4b_534e; // "ZKSN"

/// The ACL key Apache writes for world:anyone:cdrwa without a cache entry.
const OPEN_ACL_KEY: i64 = -1;

#[derive(Debug, thiserror::Error)]
pub enum SnapReadError {
    #[error("not an Apache ZooKeeper snapshot (magic {0:#x}, version {1})")]
    NotApache(i32, i32),
    #[error("unreadable at byte offset {0}")]
    Decode(#[from] DecodeError),
    #[error("node at byte offset {0} uses ACL key {1}, which the snapshot's ACL cache lacks")]
    UnknownAcl(usize, i64),
    #[error("the Adler32 checksum does not match (stored {stored:#x}, computed {computed:#x} over bytes 0..{upto}): damaged or incomplete")]
    Checksum { stored: i64, computed: u32, upto: usize },
}

pub struct ApacheSnapshot {
    pub tree: DataTree,
    pub sessions: BTreeMap<SessionId, i32>,
}

/// Is this file an Apache snapshot (by its first bytes)?
pub fn is_apache(head: &[u8]) -> bool {
    head.len() >= 4 && i32::from_be_bytes([head[0], head[1], head[2], head[3]]) == SNAP_MAGIC
}

/// Decodes a whole snapshot file; `zxid` is the one in its name (the tree's last zxid).
pub fn decode(bytes: &[u8], zxid: Zxid) -> Result<ApacheSnapshot, SnapReadError> {
    let mut r = Reader::new(bytes);
    let magic = r.int()?;
    let version = r.int()?;
    if magic != SNAP_MAGIC || version != 2 {
        return Err(SnapReadError::NotApache(magic, version));
    }
    let _dbid = r.long()?;
    let at = r.position();
    let count = r.int()?;
    if count < 0 || count as usize > r.remaining() / 12 {
        return Err(DecodeError::BadLength { offset: at, len: count as i64 }.into());
    }
    let mut sessions = BTreeMap::new();
    for _ in 0..count {
        let id = r.long()?;
        let timeout = r.int()?;
        sessions.insert(SessionId(id), timeout);
    }
    let at = r.position();
    let count = r.int()?;
    if count < 0 || count as usize > r.remaining() / 12 {
        return Err(DecodeError::BadLength { offset: at, len: count as i64 }.into());
    }
    let mut acls: HashMap<i64, Arc<Vec<Acl>>> = HashMap::new();
    for _ in 0..count {
        let key = r.long()?;
        let list = r.vec(12, |r| Ok(Acl { perms: r.int()?, id: Id { scheme: r.string()?, id: r.string()? } }))?;
        acls.insert(key, Arc::new(list));
    }
    let open = Arc::new(Acl::world_all());
    let mut tree = DataTree::empty_for_load(zxid);
    loop {
        let at = r.position();
        let path = r.string()?;
        if path == "/" {
            break;
        }
        let data = r.buffer()?.map(Bytes::from);
        let key = r.long()?;
        let stat = Stat {
            czxid: r.long()?,
            mzxid: r.long()?,
            ctime: r.long()?,
            mtime: r.long()?,
            version: r.int()?,
            cversion: r.int()?,
            aversion: r.int()?,
            ephemeral_owner: r.long()?,
            pzxid: r.long()?,
            data_length: 0,
            num_children: 0,
        };
        let acl = match acls.get(&key) {
            Some(a) => a.clone(),
            None if key == OPEN_ACL_KEY => open.clone(),
            None => return Err(SnapReadError::UnknownAcl(at, key)),
        };
        let path = if path.is_empty() { "/".to_string() } else { path };
        tree.load_node(at, &path, data, acl, stat)?;
    }
    let upto = r.position();
    let stored = r.long()?;
    let computed = adler2::adler32_slice(&bytes[..upto]);
    if stored != computed as i64 {
        return Err(SnapReadError::Checksum { stored, computed, upto });
    }
    Ok(ApacheSnapshot { tree, sessions })
}

/// Writes `tree` and `sessions` in Apache's snapshot layout (without the optional 3.6+ digest
/// sections, which Apache ZooKeeper 3.6-3.8 read as absent). ACL lists get cache keys from 1
/// in the order met; the root's path is written as "" as Apache writes it.
pub fn encode(tree: &DataTree, sessions: &BTreeMap<SessionId, i32>) -> Vec<u8> {
    let mut keys: HashMap<Vec<Acl>, i64> = HashMap::new();
    let mut order: Vec<Vec<Acl>> = Vec::new();
    tree.visit_preorder(|_, n| {
        if !keys.contains_key(n.acl.as_ref()) {
            keys.insert(n.acl.as_ref().clone(), order.len() as i64 + 1);
            order.push(n.acl.as_ref().clone());
        }
    });
    let mut w = Writer::new();
    w.int(SNAP_MAGIC).int(2).long(-1);
    w.int(sessions.len() as i32);
    for (id, t) in sessions {
        w.long(id.0).int(*t);
    }
    w.int(order.len() as i32);
    for (i, acl) in order.iter().enumerate() {
        w.long(i as i64 + 1);
        w.int(acl.len() as i32);
        for a in acl {
            w.int(a.perms).string(&a.id.scheme).string(&a.id.id);
        }
    }
    tree.visit_preorder(|p, n| {
        w.string(if p == "/" { "" } else { p }).buffer(n.data.as_deref());
        w.long(keys.get(n.acl.as_ref()).copied().unwrap_or(OPEN_ACL_KEY));
        let s = &n.stat;
        w.long(s.czxid).long(s.mzxid).long(s.ctime).long(s.mtime).int(s.version).int(s.cversion).int(s.aversion).long(s.ephemeral_owner).long(s.pzxid);
    });
    w.string("/");
    let sum = adler2::adler32_slice(&w.buf);
    w.long(sum as i64).string("/");
    w.buf.to_vec()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes a snapshot in Apache's layout (for tests): the root, /zookeeper, /zookeeper/quota,
    /// then `nodes` (path, data, acl key, ephemeral owner), ACL key 1 = digest:alice.
    pub(crate) fn apache_snapshot(sessions: &[(i64, i32)], nodes: &[(&str, &[u8], i64, i64)]) -> Vec<u8> {
        let mut w = Writer::new();
        w.int(SNAP_MAGIC).int(2).long(-1);
        w.int(sessions.len() as i32);
        for (id, t) in sessions {
            w.long(*id).int(*t);
        }
        w.int(1).long(1).int(1).int(31).string("digest").string("alice:hash");
        let mut all: Vec<(&str, &[u8], i64, i64)> = vec![("", b"", -1, 0), ("/zookeeper", b"", -1, 0), ("/zookeeper/quota", b"", -1, 0)];
        all.extend_from_slice(nodes);
        for (i, (path, data, acl, owner)) in all.iter().enumerate() {
            let z = 0x1_0000_0000 + i as i64;
            w.string(path).buffer(Some(data)).long(*acl);
            w.long(z).long(z).long(1000).long(2000).int(0).int(0).int(0).long(*owner).long(z);
        }
        w.string("/");
        let sum = adler2::adler32_slice(&w.buf);
        w.long(sum as i64).string("/");
        w.buf.to_vec()
    }

    #[test]
    fn reads_nodes_acls_sessions_and_checks_the_seal() {
        let b = apache_snapshot(&[(0x55, 6000)], &[("/a", b"x", 1, 0), ("/a/e", b"", -1, 0x55)]);
        assert!(is_apache(&b));
        let s = decode(&b, Zxid(0x1_0000_0004)).unwrap();
        assert_eq!(s.sessions.get(&SessionId(0x55)), Some(&6000));
        let a = s.tree.get("/a").unwrap();
        assert_eq!(a.data.as_deref(), Some(&b"x"[..]));
        assert_eq!(a.acl[0].id.scheme, "digest");
        assert_eq!(a.stat.num_children, 1);
        assert_eq!(s.tree.get("/a/e").unwrap().stat.ephemeral_owner, 0x55);
        assert_eq!(s.tree.get("/").unwrap().stat.num_children, 2);
        assert_eq!(s.tree.ephemerals_of(SessionId(0x55)).map(|e| e.len()), Some(1));
        // A flipped byte in a node fails the seal; a cut file fails to decode; neither panics.
        let mut bad = b.clone();
        let n = bad.len();
        bad[n - 20] ^= 0x01;
        assert!(decode(&bad, Zxid(1)).is_err());
        for cut in [0, 3, 16, n / 2, n - 13] {
            assert!(decode(&b[..cut], Zxid(1)).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn encode_then_decode_keeps_every_node() {
        let b = apache_snapshot(&[(0x55, 6000)], &[("/a", b"x", 1, 0), ("/a/e", b"", -1, 0x55), ("/b", b"y", -1, 0)]);
        let s = decode(&b, Zxid(0x1_0000_0005)).unwrap();
        let again = decode(&encode(&s.tree, &s.sessions), Zxid(0x1_0000_0005)).unwrap();
        let mut x = Vec::new();
        s.tree.visit_preorder(|p, n| x.push((p.to_string(), n.data.clone(), n.acl.clone(), n.stat)));
        let mut y = Vec::new();
        again.tree.visit_preorder(|p, n| y.push((p.to_string(), n.data.clone(), n.acl.clone(), n.stat)));
        assert_eq!(x, y);
        assert_eq!(again.sessions, s.sessions);
    }

    #[test]
    fn unknown_acl_key_and_orphans_are_named() {
        let b = apache_snapshot(&[], &[("/a", b"", 7, 0)]);
        assert!(matches!(decode(&b, Zxid(1)), Err(SnapReadError::UnknownAcl(_, 7))));
        let b = apache_snapshot(&[], &[("/x/y", b"", -1, 0)]);
        assert!(matches!(decode(&b, Zxid(1)), Err(SnapReadError::Decode(DecodeError::Orphan { .. }))));
    }
}
