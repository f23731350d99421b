//! Apache ZooKeeper's transaction log (`version-2/log.<first zxid hex>`), read as our
//! transactions.
//!
//! The layout (facts from ZooKeeper's `FileTxnLog`, `Util.marshallTxnEntry` and the jute
//! records in `zookeeper.jute`), big-endian:
//!
//! ```text
//! header:  magic int "ZKLG" (0x5a4b4c47) | version int (2) | dbid long
//! records: checksum long (Adler32 of the entry) | entry buffer (length int + bytes) |
//!          end-of-record byte 'B' (0x42)
//!          ... then zeros: the file is preallocated, a record of length 0 ends it
//! entry:   TxnHeader (clientId long | cxid int | zxid long | time long | type int)
//!          | the transaction record of that type | (3.6+) TxnDigest, ignored here
//! ```
//!
//! Transaction records by type: create 1 / create2 15 `CreateTxn` (path, data, acl,
//! ephemeral boolean, parentCVersion int); createContainer 19 `CreateContainerTxn` (path,
//! data, acl, parentCVersion); createTTL 21 `CreateTTLTxn` (path, data, acl, parentCVersion,
//! ttl long); delete 2 / deleteContainer 20 `DeleteTxn` (path); setData 5 and reconfig 16
//! `SetDataTxn` (path, data, version); setACL 7 `SetACLTxn` (path, acl, version); check 13
//! `CheckVersionTxn` (path, version); multi 14 `MultiTxn` (a vector of `Txn`: type int, the
//! record as a buffer); createSession -10 `CreateSessionTxn` (timeOut int); closeSession -11
//! (3.6+: the paths to delete, which our tree knows itself); error -1 `ErrorTxn` (err int).
//!
//! A record cut short at the end of a file (a crash while it was written) ends the log there,
//! as ZooKeeper reads it; a checksum mismatch anywhere else is an error naming the offset.

use crate::ids::{SessionId, Zxid};
use crate::proto::{Acl, DecodeError, Reader, CONTAINER_OWNER, EXTENDED_MASK};
use crate::tree::{Txn, TxnHeader};
use bytes::Bytes;

pub const LOG_MAGIC: i32 = 0x5a4b_4c47; // "ZKLG"
const END_OF_RECORD: u8 = 0x42;

#[derive(Debug, thiserror::Error)]
pub enum LogReadError {
    #[error("not an Apache ZooKeeper transaction log (magic {0:#x}, version {1})")]
    NotApache(i32, i32),
    #[error("record at byte offset {offset}: {what}")]
    Record { offset: usize, what: String },
}

/// Is this file an Apache transaction log (by its first bytes)?
pub fn is_apache(head: &[u8]) -> bool {
    head.len() >= 4 && i32::from_be_bytes([head[0], head[1], head[2], head[3]]) == LOG_MAGIC
}

/// Every transaction of one log file, in order.
pub fn decode(bytes: &[u8]) -> Result<Vec<(TxnHeader, Txn)>, LogReadError> {
    let mut r = Reader::new(bytes);
    let head = (|| Ok::<_, DecodeError>((r.int()?, r.int()?, r.long()?)))();
    let (magic, version) = match head {
        Ok((m, v, _)) => (m, v),
        Err(_) => return Err(LogReadError::NotApache(0, 0)),
    };
    if magic != LOG_MAGIC || version != 2 {
        return Err(LogReadError::NotApache(magic, version));
    }
    let mut out = Vec::new();
    let mut pos = r.position();
    loop {
        let offset = pos;
        let (Some(sum), Some(len)) = (be_i64(bytes, pos), be_i32(bytes, pos + 8)) else {
            break; // the tail of a preallocated or cut file
        };
        if len == 0 && sum == 0 {
            break; // preallocated zeros: the end of the log
        }
        let start = pos + 12;
        let end = match usize::try_from(len) {
            Ok(n) if start + n < bytes.len() => start + n,
            _ => {
                // Cut short by a crash: the log ends before this record, as ZooKeeper reads it.
                tracing::warn!(offset, "Apache transaction log ends in a partial record; ignoring it");
                break;
            }
        };
        let entry = &bytes[start..end];
        if adler2::adler32_slice(entry) as i64 != sum {
            return Err(LogReadError::Record { offset, what: "checksum mismatch (damaged log)".into() });
        }
        if bytes.get(end) != Some(&END_OF_RECORD) {
            return Err(LogReadError::Record { offset, what: "no end-of-record mark after the entry".into() });
        }
        pos = end + 1;
        let mut body = Reader::new(entry);
        let (h, kind) = header(&mut body).map_err(|e| rec(offset, e))?;
        let txn = txn(&mut body, kind, h.session).map_err(|e| match e {
            TxnError::Decode(e) => rec(offset, e),
            TxnError::Unknown(t) => LogReadError::Record { offset, what: format!("transaction type {t} (zxid {:#x}) is not one ZooKeeper 3.4-3.8 writes", h.zxid.0) },
        })?;
        out.push((h, txn));
    }
    Ok(out)
}

fn be_i64(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn rec(offset: usize, e: DecodeError) -> LogReadError {
    LogReadError::Record { offset, what: e.to_string() }
}

enum TxnError {
    Decode(DecodeError),
    Unknown(i32),
}

impl From<DecodeError> for TxnError {
    fn from(e: DecodeError) -> Self {
        TxnError::Decode(e)
    }
}

fn header(r: &mut Reader) -> Result<(TxnHeader, i32), DecodeError> {
    let session = SessionId(r.long()?);
    let cxid = r.int()?;
    let zxid = Zxid(r.long()?);
    let time = r.long()?;
    let kind = r.int()?;
    Ok((TxnHeader { session, cxid, zxid, time }, kind))
}

fn data(r: &mut Reader) -> Result<Option<Bytes>, DecodeError> {
    Ok(r.buffer()?.map(Bytes::from))
}

fn txn(r: &mut Reader, kind: i32, session: SessionId) -> Result<Txn, TxnError> {
    Ok(match kind {
        1 | 15 => {
            let (path, data, acl) = (r.string()?, data(r)?, Acl::read_list(r)?);
            let ephemeral = r.bool()?;
            let parent_cversion = r.int()?;
            Txn::Create { path, data, acl, ephemeral_owner: if ephemeral { session.0 } else { 0 }, parent_cversion }
        }
        19 => {
            let (path, data, acl, parent_cversion) = (r.string()?, data(r)?, Acl::read_list(r)?, r.int()?);
            Txn::Create { path, data, acl, ephemeral_owner: CONTAINER_OWNER, parent_cversion }
        }
        21 => {
            let (path, data, acl, parent_cversion, ttl) = (r.string()?, data(r)?, Acl::read_list(r)?, r.int()?, r.long()?);
            Txn::Create { path, data, acl, ephemeral_owner: EXTENDED_MASK | ttl, parent_cversion }
        }
        2 | 20 => Txn::Delete { path: r.string()? },
        5 | 16 => Txn::SetData { path: r.string()?, data: data(r)?, version: r.int()? },
        7 => Txn::SetAcl { path: r.string()?, acl: Acl::read_list(r)?, version: r.int()? },
        13 => Txn::Check { path: r.string()?, version: r.int()? },
        14 => {
            let inner = r.vec(8, |r| Ok((r.int()?, r.buffer()?.unwrap_or_default())))?;
            let mut txns = Vec::with_capacity(inner.len());
            for (kind, bytes) in inner {
                txns.push(txn(&mut Reader::new(&bytes), kind, session)?);
            }
            Txn::Multi(txns)
        }
        -10 => Txn::CreateSession { timeout: r.int()? },
        -11 => Txn::CloseSession,
        -1 => Txn::Error { err: r.int()? },
        t => return Err(TxnError::Unknown(t)),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::proto::Writer;

    /// A log in Apache's layout holding `entries` (header fields, type, record bytes).
    pub(crate) fn apache_log(entries: &[(i64, i64, i32, Vec<u8>)]) -> Vec<u8> {
        let mut w = Writer::new();
        w.int(LOG_MAGIC).int(2).long(0);
        for (session, zxid, kind, body) in entries {
            let mut e = Writer::new();
            e.long(*session).int(1).long(*zxid).long(5000).int(*kind);
            e.bytes(body);
            // 3.6+ appends a TxnDigest: version int, digest long.
            e.int(2).long(0x1234);
            let sum = adler2::adler32_slice(&e.buf);
            w.long(sum as i64).buffer(Some(&e.buf));
            w.bytes(&[END_OF_RECORD]);
        }
        w.bytes(&[0u8; 64]);
        w.buf.to_vec()
    }

    pub(crate) fn create_body(path: &str, data: &[u8], ephemeral: bool, parent_cversion: i32) -> Vec<u8> {
        let mut w = Writer::new();
        w.string(path).buffer(Some(data));
        Acl::write_list(&Acl::world_all(), &mut w);
        w.bool(ephemeral).int(parent_cversion);
        w.buf.to_vec()
    }

    #[test]
    fn reads_records_until_the_preallocated_zeros() {
        let mut set = Writer::new();
        set.string("/a").buffer(Some(b"v2")).int(1);
        let mut multi = Writer::new();
        let inner = create_body("/m", b"", false, 3);
        multi.int(2).int(1).buffer(Some(&inner)).int(2).buffer(Some(&{
            let mut d = Writer::new();
            d.string("/a");
            d.buf.to_vec()
        }));
        let mut sess = Writer::new();
        sess.int(30000);
        let b = apache_log(&[
            (7, 0x1_0000_0001, -10, sess.buf.to_vec()),
            (7, 0x1_0000_0002, 1, create_body("/a", b"v1", true, 1)),
            (7, 0x1_0000_0003, 5, set.buf.to_vec()),
            (7, 0x1_0000_0004, 14, multi.buf.to_vec()),
            (7, 0x1_0000_0005, -11, Vec::new()),
        ]);
        let txns = decode(&b).unwrap();
        assert_eq!(txns.len(), 5);
        assert_eq!(txns[0].1, Txn::CreateSession { timeout: 30000 });
        assert!(matches!(&txns[1].1, Txn::Create { path, ephemeral_owner: 7, parent_cversion: 1, .. } if path == "/a"));
        assert!(matches!(&txns[2].1, Txn::SetData { version: 1, .. }));
        assert!(matches!(&txns[3].1, Txn::Multi(v) if v.len() == 2));
        assert_eq!(txns[4].0.zxid, Zxid(0x1_0000_0005));
        // Cut anywhere: what is whole is read, nothing panics.
        for cut in 0..b.len() {
            let _ = decode(&b[..cut]);
        }
        // A flipped byte inside a record: a checksum error naming the offset.
        let mut bad = b.clone();
        bad[40] ^= 0xff;
        assert!(matches!(decode(&bad), Err(LogReadError::Record { .. })));
    }
}
