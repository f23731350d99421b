//! The records of `zookeeper.jute` that cross the client port: the connect handshake, request
//! and reply headers, every request body, every response body, watch events and multi results.
//!
//! The server decodes [`RequestFrame`]s and encodes [`ReplyHeader`] + [`Response`]; the load
//! generator and the tests use the opposite directions, so every record here round-trips.

use super::codes::{ErrorCode, OpCode};
use super::primitive::{DecodeError, Reader, Writer};

/// `org.apache.zookeeper.data.Stat`, in wire order.
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

impl Stat {
    pub fn write(&self, w: &mut Writer) {
        w.long(self.czxid).long(self.mzxid).long(self.ctime).long(self.mtime);
        w.int(self.version).int(self.cversion).int(self.aversion);
        w.long(self.ephemeral_owner).int(self.data_length).int(self.num_children).long(self.pzxid);
    }
    pub fn read(r: &mut Reader) -> Result<Stat, DecodeError> {
        Ok(Stat {
            czxid: r.long()?,
            mzxid: r.long()?,
            ctime: r.long()?,
            mtime: r.long()?,
            version: r.int()?,
            cversion: r.int()?,
            aversion: r.int()?,
            ephemeral_owner: r.long()?,
            data_length: r.int()?,
            num_children: r.int()?,
            pzxid: r.long()?,
        })
    }
}

/// `Id`: an authentication scheme and an identity in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id {
    pub scheme: String,
    pub id: String,
}

impl Id {
    pub fn new(scheme: &str, id: &str) -> Id {
        Id { scheme: scheme.to_string(), id: id.to_string() }
    }
}

/// `ACL`: permission bits granted to an [`Id`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Acl {
    pub perms: i32,
    pub id: Id,
}

impl Acl {
    pub fn world_all() -> Vec<Acl> {
        vec![Acl { perms: super::codes::perms::ALL, id: Id::new("world", "anyone") }]
    }
    pub fn write(&self, w: &mut Writer) {
        w.int(self.perms).string(&self.id.scheme).string(&self.id.id);
    }
    pub fn read(r: &mut Reader) -> Result<Acl, DecodeError> {
        Ok(Acl { perms: r.int()?, id: Id { scheme: r.string()?, id: r.string()? } })
    }
    pub fn write_list(acl: &[Acl], w: &mut Writer) {
        w.int(acl.len() as i32);
        for a in acl {
            a.write(w);
        }
    }
    pub fn read_list(r: &mut Reader) -> Result<Vec<Acl>, DecodeError> {
        r.vec(12, Acl::read)
    }
}

/// `ConnectRequest`, 44 bytes, or 45 with the trailing readOnly flag of 3.4+ clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub timeout: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    /// `None` when the client sent the 44-byte form.
    pub read_only: Option<bool>,
}

impl ConnectRequest {
    pub fn read(r: &mut Reader) -> Result<ConnectRequest, DecodeError> {
        let protocol_version = r.int()?;
        let last_zxid_seen = r.long()?;
        let timeout = r.int()?;
        let session_id = r.long()?;
        let passwd = r.buffer()?.unwrap_or_default();
        let read_only = if r.remaining() > 0 { Some(r.bool()?) } else { None };
        Ok(ConnectRequest { protocol_version, last_zxid_seen, timeout, session_id, passwd, read_only })
    }
    pub fn write(&self, w: &mut Writer) {
        w.int(self.protocol_version).long(self.last_zxid_seen).int(self.timeout).long(self.session_id);
        w.buffer(Some(&self.passwd));
        if let Some(ro) = self.read_only {
            w.bool(ro);
        }
    }
}

/// `ConnectResponse`; the readOnly flag is sent only to clients that sent one (ZooKeeper
/// answers a 44-byte request with 36 bytes, a 45-byte one with 37).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub timeout: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub read_only: Option<bool>,
}

impl ConnectResponse {
    pub fn write(&self, w: &mut Writer) {
        w.int(self.protocol_version).int(self.timeout).long(self.session_id).buffer(Some(&self.passwd));
        if let Some(ro) = self.read_only {
            w.bool(ro);
        }
    }
    pub fn read(r: &mut Reader) -> Result<ConnectResponse, DecodeError> {
        let protocol_version = r.int()?;
        let timeout = r.int()?;
        let session_id = r.long()?;
        let passwd = r.buffer()?.unwrap_or_default();
        let read_only = if r.remaining() > 0 { Some(r.bool()?) } else { None };
        Ok(ConnectResponse { protocol_version, timeout, session_id, passwd, read_only })
    }
}

/// `ReplyHeader`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyHeader {
    pub xid: i32,
    pub zxid: i64,
    pub err: i32,
}

impl ReplyHeader {
    pub fn write(&self, w: &mut Writer) {
        w.int(self.xid).long(self.zxid).int(self.err);
    }
    pub fn read(r: &mut Reader) -> Result<ReplyHeader, DecodeError> {
        Ok(ReplyHeader { xid: r.int()?, zxid: r.long()?, err: r.int()? })
    }
}

/// `WatcherEvent`, sent with xid -1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatcherEvent {
    pub typ: i32,
    pub state: i32,
    pub path: String,
}

impl WatcherEvent {
    pub fn write(&self, w: &mut Writer) {
        w.int(self.typ).int(self.state).string(&self.path);
    }
    pub fn read(r: &mut Reader) -> Result<WatcherEvent, DecodeError> {
        Ok(WatcherEvent { typ: r.int()?, state: r.int()?, path: r.string()? })
    }
}

/// The body of a create-family request (create, create2, createContainer, createTTL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    pub path: String,
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    pub flags: i32,
    /// Present only in createTTL (21).
    pub ttl: Option<i64>,
}

/// The watches a reconnecting client re-registers (setWatches 101 / setWatches2 105).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetWatches {
    pub relative_zxid: i64,
    pub data: Vec<String>,
    pub exist: Vec<String>,
    pub child: Vec<String>,
    pub persistent: Vec<String>,
    pub recursive: Vec<String>,
}

/// One decoded request body. The opcode that carried it lives in [`RequestFrame::op`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Create(CreateRequest),
    Delete { path: String, version: i32 },
    Exists { path: String, watch: bool },
    GetData { path: String, watch: bool },
    SetData { path: String, data: Option<Vec<u8>>, version: i32 },
    GetAcl { path: String },
    SetAcl { path: String, acl: Vec<Acl>, version: i32 },
    GetChildren { path: String, watch: bool },
    Sync { path: String },
    Check { path: String, version: i32 },
    /// multi (14) or multiRead (22): the sub-operations with their opcodes.
    Multi(Vec<(OpCode, Request)>),
    CheckWatches { path: String, typ: i32 },
    RemoveWatches { path: String, typ: i32 },
    Auth { typ: i32, scheme: String, auth: Vec<u8> },
    /// `GetSASLRequest` (opcode 102): one SASL token from the client.
    Sasl { token: Vec<u8> },
    /// `ReconfigRequest` (opcode 16).
    Reconfig { joining: String, leaving: String, new_members: String, config_id: i64 },
    SetWatches(SetWatches),
    GetEphemerals { prefix: String },
    GetAllChildrenNumber { path: String },
    AddWatch { path: String, mode: i32 },
    WhoAmI,
    Ping,
    CloseSession,
}

/// A request header and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFrame {
    pub xid: i32,
    pub op: OpCode,
    pub req: Request,
}

/// Why a request frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("malformed request: {0}")]
    Decode(#[from] DecodeError),
    /// A well-formed header with an opcode this server does not serve; the reply carries
    /// `Unimplemented` and the connection stays up.
    #[error("unsupported opcode {op}")]
    Unsupported { xid: i32, op: i32 },
}

impl Request {
    /// Decodes the body of a request whose header named `op`.
    pub fn read(op: OpCode, r: &mut Reader) -> Result<Request, DecodeError> {
        use OpCode as O;
        Ok(match op {
            O::Create | O::Create2 | O::CreateContainer | O::CreateTtl => {
                let path = r.string()?;
                let data = r.buffer()?;
                let acl = Acl::read_list(r)?;
                let flags = r.int()?;
                let ttl = if op == O::CreateTtl { Some(r.long()?) } else { None };
                Request::Create(CreateRequest { path, data, acl, flags, ttl })
            }
            O::Delete | O::DeleteContainer => {
                let path = r.string()?;
                let version = if op == O::Delete { r.int()? } else { -1 };
                Request::Delete { path, version }
            }
            O::Exists => Request::Exists { path: r.string()?, watch: r.bool()? },
            O::GetData => Request::GetData { path: r.string()?, watch: r.bool()? },
            O::SetData => Request::SetData { path: r.string()?, data: r.buffer()?, version: r.int()? },
            O::GetAcl => Request::GetAcl { path: r.string()? },
            O::SetAcl => Request::SetAcl { path: r.string()?, acl: Acl::read_list(r)?, version: r.int()? },
            O::GetChildren | O::GetChildren2 => Request::GetChildren { path: r.string()?, watch: r.bool()? },
            O::Sync => Request::Sync { path: r.string()? },
            O::Check => Request::Check { path: r.string()?, version: r.int()? },
            O::Multi | O::MultiRead => {
                let mut ops = Vec::new();
                loop {
                    let typ = r.int()?;
                    let done = r.bool()?;
                    let _err = r.int()?;
                    if done {
                        break;
                    }
                    let sub = OpCode::from_i32(typ).ok_or(DecodeError::Unknown { what: "multi op", value: typ as i64 })?;
                    let allowed = match op {
                        O::Multi => matches!(sub, O::Create | O::Create2 | O::CreateContainer | O::CreateTtl | O::Delete | O::SetData | O::Check),
                        _ => matches!(sub, O::GetChildren | O::GetData),
                    };
                    if !allowed {
                        return Err(DecodeError::Unknown { what: "multi op", value: typ as i64 });
                    }
                    ops.push((sub, Request::read(sub, r)?));
                }
                Request::Multi(ops)
            }
            O::CheckWatches => Request::CheckWatches { path: r.string()?, typ: r.int()? },
            O::RemoveWatches => Request::RemoveWatches { path: r.string()?, typ: r.int()? },
            O::Auth => Request::Auth { typ: r.int()?, scheme: r.string()?, auth: r.buffer()?.unwrap_or_default() },
            O::SetWatches | O::SetWatches2 => {
                let relative_zxid = r.long()?;
                let data = r.strings()?;
                let exist = r.strings()?;
                let child = r.strings()?;
                let (persistent, recursive) =
                    if op == O::SetWatches2 { (r.strings()?, r.strings()?) } else { (Vec::new(), Vec::new()) };
                Request::SetWatches(SetWatches { relative_zxid, data, exist, child, persistent, recursive })
            }
            O::GetEphemerals => Request::GetEphemerals { prefix: r.string()? },
            O::GetAllChildrenNumber => Request::GetAllChildrenNumber { path: r.string()? },
            O::AddWatch => Request::AddWatch { path: r.string()?, mode: r.int()? },
            O::WhoAmI => Request::WhoAmI,
            O::Sasl => Request::Sasl { token: r.buffer()?.unwrap_or_default() },
            O::Reconfig => Request::Reconfig { joining: r.string()?, leaving: r.string()?, new_members: r.string()?, config_id: r.long()? },
            O::Ping => Request::Ping,
            O::CloseSession => Request::CloseSession,
            O::Notification | O::CreateSession | O::Error => {
                return Err(DecodeError::Unknown { what: "opcode", value: op as i64 })
            }
        })
    }

    /// Encodes the body (client side: the load generator and tests).
    pub fn write(&self, op: OpCode, w: &mut Writer) {
        match self {
            Request::Create(c) => {
                w.string(&c.path).buffer(c.data.as_deref());
                Acl::write_list(&c.acl, w);
                w.int(c.flags);
                if op == OpCode::CreateTtl {
                    w.long(c.ttl.unwrap_or(0));
                }
            }
            Request::Delete { path, version } => {
                w.string(path);
                if op == OpCode::Delete {
                    w.int(*version);
                }
            }
            Request::Exists { path, watch } | Request::GetData { path, watch } | Request::GetChildren { path, watch } => {
                w.string(path).bool(*watch);
            }
            Request::SetData { path, data, version } => {
                w.string(path).buffer(data.as_deref()).int(*version);
            }
            Request::GetAcl { path } | Request::Sync { path } | Request::GetAllChildrenNumber { path } => {
                w.string(path);
            }
            Request::GetEphemerals { prefix } => {
                w.string(prefix);
            }
            Request::SetAcl { path, acl, version } => {
                w.string(path);
                Acl::write_list(acl, w);
                w.int(*version);
            }
            Request::Check { path, version } => {
                w.string(path).int(*version);
            }
            Request::Multi(ops) => {
                for (sub, req) in ops {
                    w.int(*sub as i32).bool(false).int(-1);
                    req.write(*sub, w);
                }
                w.int(-1).bool(true).int(-1);
            }
            Request::CheckWatches { path, typ } | Request::RemoveWatches { path, typ } => {
                w.string(path).int(*typ);
            }
            Request::Auth { typ, scheme, auth } => {
                w.int(*typ).string(scheme).buffer(Some(auth));
            }
            Request::SetWatches(s) => {
                w.long(s.relative_zxid).strings(&s.data).strings(&s.exist).strings(&s.child);
                if op == OpCode::SetWatches2 {
                    w.strings(&s.persistent).strings(&s.recursive);
                }
            }
            Request::AddWatch { path, mode } => {
                w.string(path).int(*mode);
            }
            Request::Sasl { token } => {
                w.buffer(Some(token));
            }
            Request::Reconfig { joining, leaving, new_members, config_id } => {
                w.string(joining).string(leaving).string(new_members).long(*config_id);
            }
            Request::WhoAmI | Request::Ping | Request::CloseSession => {}
        }
    }

    /// True for requests that change state (they become transactions).
    pub fn is_write(&self) -> bool {
        match self {
            Request::Create(_)
            | Request::Delete { .. }
            | Request::SetData { .. }
            | Request::SetAcl { .. }
            | Request::Check { .. }
            | Request::CloseSession => true,
            Request::Multi(ops) => ops.iter().any(|(_, r)| r.is_write()),
            _ => false,
        }
    }

    /// The path a request names, for logs and `cons`.
    pub fn path(&self) -> Option<&str> {
        match self {
            Request::Create(c) => Some(&c.path),
            Request::Delete { path, .. }
            | Request::Exists { path, .. }
            | Request::GetData { path, .. }
            | Request::SetData { path, .. }
            | Request::GetAcl { path }
            | Request::SetAcl { path, .. }
            | Request::GetChildren { path, .. }
            | Request::Sync { path }
            | Request::Check { path, .. }
            | Request::CheckWatches { path, .. }
            | Request::RemoveWatches { path, .. }
            | Request::GetAllChildrenNumber { path }
            | Request::AddWatch { path, .. } => Some(path),
            Request::GetEphemerals { prefix } => Some(prefix),
            _ => None,
        }
    }
}

impl RequestFrame {
    /// Decodes one frame body (the bytes after the length prefix).
    pub fn read(buf: &[u8]) -> Result<RequestFrame, RequestError> {
        let mut r = Reader::new(buf);
        let xid = r.int()?;
        let op_raw = r.int()?;
        let op = OpCode::from_i32(op_raw).ok_or(RequestError::Unsupported { xid, op: op_raw })?;
        if matches!(op, OpCode::Notification | OpCode::CreateSession | OpCode::Error) {
            return Err(RequestError::Unsupported { xid, op: op_raw });
        }
        let req = Request::read(op, &mut r)?;
        Ok(RequestFrame { xid, op, req })
    }

    /// Encodes a whole length-prefixed frame.
    pub fn to_frame(&self) -> bytes::Bytes {
        let mut w = Writer::framed();
        w.int(self.xid).int(self.op as i32);
        self.req.write(self.op, &mut w);
        w.finish_frame()
    }
}

/// The outcome of one sub-operation of a multi or multiRead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    Create { path: String, stat: Option<Stat> },
    Delete,
    SetData(Stat),
    Check,
    GetData { data: Option<Vec<u8>>, stat: Stat },
    GetChildren(Vec<String>),
    Error(i32),
}

/// One response body. Which one follows a header is fixed by the request's opcode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Empty,
    Path(String),
    PathStat(String, Stat),
    Stat(Stat),
    Data(Option<Vec<u8>>, Stat),
    Acl(Vec<Acl>, Stat),
    Children(Vec<String>),
    Children2(Vec<String>, Stat),
    Multi(Vec<OpResult>),
    Paths(Vec<String>),
    Number(i32),
    WhoAmI(Vec<(String, String)>),
    /// `SetSASLResponse`: the server's SASL token.
    Sasl(Vec<u8>),
}

impl Response {
    pub fn write(&self, w: &mut Writer) {
        match self {
            Response::Empty => {}
            Response::Path(p) => {
                w.string(p);
            }
            Response::PathStat(p, s) => {
                w.string(p);
                s.write(w);
            }
            Response::Stat(s) => s.write(w),
            Response::Data(d, s) => {
                w.buffer(d.as_deref());
                s.write(w);
            }
            Response::Acl(a, s) => {
                Acl::write_list(a, w);
                s.write(w);
            }
            Response::Children(c) | Response::Paths(c) => {
                w.strings(c);
            }
            Response::Children2(c, s) => {
                w.strings(c);
                s.write(w);
            }
            Response::Multi(results) => {
                for res in results {
                    match res {
                        OpResult::Create { path, stat: None } => {
                            w.int(OpCode::Create as i32).bool(false).int(0).string(path);
                        }
                        OpResult::Create { path, stat: Some(s) } => {
                            w.int(OpCode::Create2 as i32).bool(false).int(0).string(path);
                            s.write(w);
                        }
                        OpResult::Delete => {
                            w.int(OpCode::Delete as i32).bool(false).int(0);
                        }
                        OpResult::SetData(s) => {
                            w.int(OpCode::SetData as i32).bool(false).int(0);
                            s.write(w);
                        }
                        OpResult::Check => {
                            w.int(OpCode::Check as i32).bool(false).int(0);
                        }
                        OpResult::GetData { data, stat } => {
                            w.int(OpCode::GetData as i32).bool(false).int(0).buffer(data.as_deref());
                            stat.write(w);
                        }
                        OpResult::GetChildren(c) => {
                            w.int(OpCode::GetChildren as i32).bool(false).int(0).strings(c);
                        }
                        OpResult::Error(e) => {
                            w.int(OpCode::Error as i32).bool(false).int(*e).int(*e);
                        }
                    }
                }
                w.int(-1).bool(true).int(-1);
            }
            Response::Number(n) => {
                w.int(*n);
            }
            Response::Sasl(token) => {
                w.buffer(Some(token));
            }
            Response::WhoAmI(ids) => {
                w.int(ids.len() as i32);
                for (scheme, user) in ids {
                    w.string(scheme).string(user);
                }
            }
        }
    }

    /// Decodes the body that answers a request with opcode `op` (client side).
    pub fn read(op: OpCode, r: &mut Reader) -> Result<Response, DecodeError> {
        use OpCode as O;
        Ok(match op {
            O::Create => Response::Path(r.string()?),
            O::Create2 | O::CreateTtl | O::CreateContainer => Response::PathStat(r.string()?, Stat::read(r)?),
            O::Sync => Response::Path(r.string()?),
            O::Exists | O::SetData | O::SetAcl => Response::Stat(Stat::read(r)?),
            O::GetData => Response::Data(r.buffer()?, Stat::read(r)?),
            O::GetAcl => Response::Acl(Acl::read_list(r)?, Stat::read(r)?),
            O::GetChildren => Response::Children(r.strings()?),
            O::GetChildren2 => Response::Children2(r.strings()?, Stat::read(r)?),
            O::GetEphemerals => Response::Paths(r.strings()?),
            O::GetAllChildrenNumber => Response::Number(r.int()?),
            O::WhoAmI => Response::WhoAmI(r.vec(8, |r| Ok((r.string()?, r.string()?)))?),
            O::Sasl => Response::Sasl(r.buffer()?.unwrap_or_default()),
            O::Multi | O::MultiRead => {
                let mut out = Vec::new();
                loop {
                    let typ = r.int()?;
                    let done = r.bool()?;
                    let err = r.int()?;
                    if done {
                        break;
                    }
                    out.push(match OpCode::from_i32(typ) {
                        Some(O::Create) | Some(O::CreateContainer) => OpResult::Create { path: r.string()?, stat: None },
                        Some(O::Create2) | Some(O::CreateTtl) => {
                            OpResult::Create { path: r.string()?, stat: Some(Stat::read(r)?) }
                        }
                        Some(O::Delete) => OpResult::Delete,
                        Some(O::SetData) => OpResult::SetData(Stat::read(r)?),
                        Some(O::Check) => OpResult::Check,
                        Some(O::GetData) => OpResult::GetData { data: r.buffer()?, stat: Stat::read(r)? },
                        Some(O::GetChildren) => OpResult::GetChildren(r.strings()?),
                        Some(O::Error) => {
                            let e = r.int()?;
                            let _ = err;
                            OpResult::Error(e)
                        }
                        _ => return Err(DecodeError::Unknown { what: "multi result", value: typ as i64 }),
                    });
                }
                Response::Multi(out)
            }
            _ => Response::Empty,
        })
    }
}

/// Encodes a whole reply frame: header then body.
pub fn reply_frame(xid: i32, zxid: i64, err: ErrorCode, body: &Response) -> bytes::Bytes {
    let mut w = Writer::framed();
    ReplyHeader { xid, zxid, err: err.code() }.write(&mut w);
    if err == ErrorCode::Ok {
        body.write(&mut w);
    }
    w.finish_frame()
}

/// Encodes a watch notification frame (xid -1).
pub fn event_frame(zxid: i64, ev: &WatcherEvent) -> bytes::Bytes {
    let mut w = Writer::framed();
    ReplyHeader { xid: super::codes::XID_NOTIFICATION, zxid, err: 0 }.write(&mut w);
    ev.write(&mut w);
    w.finish_frame()
}
