//! Transactions: the state changes the log records and [`super::DataTree::apply`] executes.
//!
//! Prep turns a client request into a [`Txn`] (already validated against the tree and the
//! changes still in flight), the log makes it durable, apply executes it. Apply is pure
//! and deterministic: all inputs (zxid, time, the parent's new cversion, the owner) are in
//! the [`TxnHeader`] and the [`Txn`].
//!
//! Encoding (inside a log record or a snapshot), jute primitives, big-endian:
//! `header = session:long cxid:int zxid:long time:long` then `txn = type:int body`, where
//! type is the ZooKeeper opcode (createSession -10, closeSession -11, create 1, delete 2,
//! setData 5, setACL 7, check 13, multi 14, error -1) and the body is:
//! create `path data(buffer) acl(vector) ephemeralOwner:long parentCVersion:int`;
//! delete `path`; setData `path data version:int`; setACL `path acl version:int`;
//! check `path version:int`; multi `count:int` then count nested `type body`;
//! createSession `timeout:int`; closeSession nothing; error `err:int`.

use crate::ids::{SessionId, Zxid};
use crate::proto::{Acl, DecodeError, OpCode, Reader, Writer};
use bytes::Bytes;

/// Who made the change and when, and the zxid that orders it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnHeader {
    pub session: SessionId,
    pub cxid: i32,
    pub zxid: Zxid,
    pub time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Txn {
    CreateSession { timeout: i32 },
    CloseSession,
    Create { path: String, data: Option<Bytes>, acl: Vec<Acl>, ephemeral_owner: i64, parent_cversion: i32 },
    Delete { path: String },
    SetData { path: String, data: Option<Bytes>, version: i32 },
    SetAcl { path: String, acl: Vec<Acl>, version: i32 },
    Check { path: String, version: i32 },
    Multi(Vec<Txn>),
    /// A request that failed validation: it still consumes a zxid, as in ZooKeeper.
    Error { err: i32 },
}

impl TxnHeader {
    pub fn write(&self, w: &mut Writer) {
        w.long(self.session.0).int(self.cxid).long(self.zxid.0).long(self.time);
    }
    pub fn read(r: &mut Reader) -> Result<TxnHeader, DecodeError> {
        Ok(TxnHeader { session: SessionId(r.long()?), cxid: r.int()?, zxid: Zxid(r.long()?), time: r.long()? })
    }
}

impl Txn {
    pub fn op(&self) -> OpCode {
        match self {
            Txn::CreateSession { .. } => OpCode::CreateSession,
            Txn::CloseSession => OpCode::CloseSession,
            Txn::Create { .. } => OpCode::Create,
            Txn::Delete { .. } => OpCode::Delete,
            Txn::SetData { .. } => OpCode::SetData,
            Txn::SetAcl { .. } => OpCode::SetAcl,
            Txn::Check { .. } => OpCode::Check,
            Txn::Multi(_) => OpCode::Multi,
            Txn::Error { .. } => OpCode::Error,
        }
    }

    pub fn write(&self, w: &mut Writer) {
        w.int(self.op() as i32);
        match self {
            Txn::CreateSession { timeout } => {
                w.int(*timeout);
            }
            Txn::CloseSession => {}
            Txn::Create { path, data, acl, ephemeral_owner, parent_cversion } => {
                w.string(path).buffer(data.as_deref());
                Acl::write_list(acl, w);
                w.long(*ephemeral_owner).int(*parent_cversion);
            }
            Txn::Delete { path } => {
                w.string(path);
            }
            Txn::SetData { path, data, version } => {
                w.string(path).buffer(data.as_deref()).int(*version);
            }
            Txn::SetAcl { path, acl, version } => {
                w.string(path);
                Acl::write_list(acl, w);
                w.int(*version);
            }
            Txn::Check { path, version } => {
                w.string(path).int(*version);
            }
            Txn::Multi(txns) => {
                w.int(txns.len() as i32);
                for t in txns {
                    t.write(w);
                }
            }
            Txn::Error { err } => {
                w.int(*err);
            }
        }
    }

    pub fn read(r: &mut Reader) -> Result<Txn, DecodeError> {
        Self::read_depth(r, 0)
    }

    fn read_depth(r: &mut Reader, depth: u32) -> Result<Txn, DecodeError> {
        let typ = r.int()?;
        let bytes = |b: Option<Vec<u8>>| b.map(Bytes::from);
        Ok(match OpCode::from_i32(typ) {
            Some(OpCode::CreateSession) => Txn::CreateSession { timeout: r.int()? },
            Some(OpCode::CloseSession) => Txn::CloseSession,
            Some(OpCode::Create) => Txn::Create {
                path: r.string()?,
                data: bytes(r.buffer()?),
                acl: Acl::read_list(r)?,
                ephemeral_owner: r.long()?,
                parent_cversion: r.int()?,
            },
            Some(OpCode::Delete) => Txn::Delete { path: r.string()? },
            Some(OpCode::SetData) => Txn::SetData { path: r.string()?, data: bytes(r.buffer()?), version: r.int()? },
            Some(OpCode::SetAcl) => Txn::SetAcl { path: r.string()?, acl: Acl::read_list(r)?, version: r.int()? },
            Some(OpCode::Check) => Txn::Check { path: r.string()?, version: r.int()? },
            Some(OpCode::Multi) if depth == 0 => Txn::Multi(r.vec(4, |r| Txn::read_depth(r, depth + 1))?),
            Some(OpCode::Error) => Txn::Error { err: r.int()? },
            _ => return Err(DecodeError::Unknown { what: "txn type", value: typ as i64 }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txns_round_trip() {
        let txns = vec![
            Txn::CreateSession { timeout: 6000 },
            Txn::CloseSession,
            Txn::Create { path: "/a".into(), data: None, acl: Acl::world_all(), ephemeral_owner: 5, parent_cversion: 3 },
            Txn::Delete { path: "/a".into() },
            Txn::SetData { path: "/a".into(), data: Some(Bytes::from_static(b"v")), version: 2 },
            Txn::SetAcl { path: "/a".into(), acl: vec![], version: 1 },
            Txn::Multi(vec![Txn::Check { path: "/c".into(), version: 1 }, Txn::Delete { path: "/d".into() }]),
            Txn::Error { err: -101 },
        ];
        for t in txns {
            let mut w = Writer::new();
            let h = TxnHeader { session: SessionId(1), cxid: 2, zxid: Zxid(3), time: 4 };
            h.write(&mut w);
            t.write(&mut w);
            let mut r = Reader::new(&w.buf);
            assert_eq!(TxnHeader::read(&mut r).unwrap(), h);
            assert_eq!(Txn::read(&mut r).unwrap(), t);
            assert_eq!(r.remaining(), 0);
        }
    }
}
