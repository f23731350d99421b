//! Jute encoding for the handful of ZooKeeper requests a Kafka 2.5 broker sends.
//!
//! Pure bytes in, bytes out; used by [`super::ZkClient`]. Only what the broker needs:
//! connect, create (opcode 1, never create2, so the wire matches the Java client inside
//! Kafka 2.5), delete, exists, getData, setData, getChildren2, multi with check/create/
//! setData/delete, ping, closeSession and watch notifications. Null data is sent as a
//! jute buffer of length -1, which is how Kafka writes its persistent paths.

use bytes::{Buf, BufMut, Bytes, BytesMut};

pub const OP_CREATE: i32 = 1;
pub const OP_DELETE: i32 = 2;
pub const OP_EXISTS: i32 = 3;
pub const OP_GET_DATA: i32 = 4;
pub const OP_SET_DATA: i32 = 5;
pub const OP_PING: i32 = 11;
pub const OP_GET_CHILDREN2: i32 = 12;
pub const OP_CHECK: i32 = 13;
pub const OP_MULTI: i32 = 14;
pub const OP_CLOSE: i32 = -11;

pub const XID_WATCH: i32 = -1;
pub const XID_PING: i32 = -2;

/// ZooKeeper error codes the broker reacts to (KeeperException.Code).
pub mod code {
    pub const OK: i32 = 0;
    pub const CONNECTION_LOSS: i32 = -4;
    pub const NO_NODE: i32 = -101;
    pub const BAD_VERSION: i32 = -103;
    pub const NODE_EXISTS: i32 = -110;
    pub const NOT_EMPTY: i32 = -111;
    pub const SESSION_EXPIRED: i32 = -112;
    /// Marker used inside multi results for "rolled back" (RuntimeInconsistency).
    pub const RUNTIME_INCONSISTENCY: i32 = -2;
}

#[derive(Debug, thiserror::Error)]
#[error("truncated or malformed ZooKeeper reply")]
pub struct DecodeError;

/// The Stat structure (68 bytes on the wire).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: i64,
}

pub struct Writer(pub BytesMut);

impl Writer {
    pub fn new() -> Self {
        Writer(BytesMut::with_capacity(128))
    }
    pub fn int(&mut self, v: i32) -> &mut Self {
        self.0.put_i32(v);
        self
    }
    pub fn long(&mut self, v: i64) -> &mut Self {
        self.0.put_i64(v);
        self
    }
    pub fn boolean(&mut self, v: bool) -> &mut Self {
        self.0.put_u8(u8::from(v));
        self
    }
    pub fn string(&mut self, s: &str) -> &mut Self {
        self.0.put_i32(s.len() as i32);
        self.0.put_slice(s.as_bytes());
        self
    }
    pub fn buffer(&mut self, b: Option<&[u8]>) -> &mut Self {
        match b {
            None => self.0.put_i32(-1),
            Some(b) => {
                self.0.put_i32(b.len() as i32);
                self.0.put_slice(b);
            }
        }
        self
    }
    /// ACL list: always world:anyone with all permissions, as Kafka 2.5 writes without zookeeper.set.acl.
    pub fn open_acl(&mut self) -> &mut Self {
        self.int(1).int(31).string("world").string("anyone")
    }
    pub fn finish(self) -> Bytes {
        self.0.freeze()
    }
}

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

pub struct Reader(pub Bytes);

impl Reader {
    pub fn int(&mut self) -> Result<i32, DecodeError> {
        if self.0.remaining() < 4 {
            return Err(DecodeError);
        }
        Ok(self.0.get_i32())
    }
    pub fn long(&mut self) -> Result<i64, DecodeError> {
        if self.0.remaining() < 8 {
            return Err(DecodeError);
        }
        Ok(self.0.get_i64())
    }
    pub fn boolean(&mut self) -> Result<bool, DecodeError> {
        if self.0.remaining() < 1 {
            return Err(DecodeError);
        }
        Ok(self.0.get_u8() != 0)
    }
    pub fn buffer(&mut self) -> Result<Option<Bytes>, DecodeError> {
        let n = self.int()?;
        if n < 0 {
            return Ok(None);
        }
        let n = n as usize;
        if self.0.remaining() < n {
            return Err(DecodeError);
        }
        Ok(Some(self.0.split_to(n)))
    }
    pub fn string(&mut self) -> Result<String, DecodeError> {
        let b = self.buffer()?.unwrap_or_default();
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError)
    }
    pub fn stat(&mut self) -> Result<Stat, DecodeError> {
        Ok(Stat {
            czxid: self.long()?,
            mzxid: self.long()?,
            ctime: self.long()?,
            mtime: self.long()?,
            version: self.int()?,
            cversion: self.int()?,
            aversion: self.int()?,
            ephemeral_owner: self.long()?,
            data_length: self.int()?,
            num_children: self.int()?,
            pzxid: self.long()?,
        })
    }
    pub fn strings(&mut self) -> Result<Vec<String>, DecodeError> {
        let n = self.int()?;
        if n < 0 {
            return Ok(Vec::new());
        }
        // Each string takes at least 4 bytes: bound the allocation by what is there.
        let mut v = Vec::with_capacity((n as usize).min(self.0.remaining() / 4));
        for _ in 0..n {
            v.push(self.string()?);
        }
        Ok(v)
    }
}

/// One operation inside a multi request.
#[derive(Debug, Clone)]
pub enum Op {
    Check { path: String, version: i32 },
    Create { path: String, data: Option<Vec<u8>>, ephemeral: bool },
    SetData { path: String, data: Option<Vec<u8>>, version: i32 },
    Delete { path: String, version: i32 },
}

/// Result of one multi operation.
#[derive(Debug, Clone)]
pub enum OpResult {
    Check,
    Create(String),
    SetData(Stat),
    Delete,
    Error(i32),
}

pub fn encode_multi(ops: &[Op], chroot: &str) -> Bytes {
    let mut w = Writer::new();
    for op in ops {
        match op {
            Op::Check { path, version } => {
                w.int(OP_CHECK).boolean(false).int(-1);
                w.string(&format!("{chroot}{path}")).int(*version);
            }
            Op::Create { path, data, ephemeral } => {
                w.int(OP_CREATE).boolean(false).int(-1);
                w.string(&format!("{chroot}{path}")).buffer(data.as_deref()).open_acl();
                w.int(if *ephemeral { 1 } else { 0 });
            }
            Op::SetData { path, data, version } => {
                w.int(OP_SET_DATA).boolean(false).int(-1);
                w.string(&format!("{chroot}{path}")).buffer(data.as_deref()).int(*version);
            }
            Op::Delete { path, version } => {
                w.int(OP_DELETE).boolean(false).int(-1);
                w.string(&format!("{chroot}{path}")).int(*version);
            }
        }
    }
    w.int(-1).boolean(true).int(-1);
    w.finish()
}

pub fn decode_multi(r: &mut Reader, chroot: &str) -> Result<Vec<OpResult>, DecodeError> {
    let mut out = Vec::new();
    loop {
        let typ = r.int()?;
        let done = r.boolean()?;
        let err = r.int()?;
        if done {
            return Ok(out);
        }
        out.push(match typ {
            OP_CHECK => OpResult::Check,
            OP_CREATE => {
                let p = r.string()?;
                OpResult::Create(p.strip_prefix(chroot).map(str::to_owned).unwrap_or(p))
            }
            OP_SET_DATA => OpResult::SetData(r.stat()?),
            OP_DELETE => OpResult::Delete,
            -1 => {
                let e = r.int()?;
                let _ = err;
                OpResult::Error(e)
            }
            _ => return Err(DecodeError),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_roundtrip_shape() {
        let b = encode_multi(&[Op::Check { path: "/controller_epoch".into(), version: 1 }], "");
        // header(4+1+4) + path(4+17) + version(4) + end header(9)
        assert_eq!(b.len(), 9 + 21 + 4 + 9);
        let mut w = Writer::new();
        w.int(OP_CHECK).boolean(false).int(0);
        w.int(-1).boolean(false).int(0).int(-101);
        w.int(-1).boolean(true).int(-1);
        let res = decode_multi(&mut Reader(w.finish()), "").unwrap();
        assert!(matches!(res[0], OpResult::Check));
        assert!(matches!(res[1], OpResult::Error(-101)));
    }

    #[test]
    fn null_buffer_is_minus_one() {
        let mut w = Writer::new();
        w.buffer(None);
        assert_eq!(&w.finish()[..], &[0xff, 0xff, 0xff, 0xff]);
        let mut r = Reader(Bytes::from_static(&[0, 0, 0, 9, 1]));
        assert!(r.buffer().is_err());
    }
}
