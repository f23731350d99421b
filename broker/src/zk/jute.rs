//! The handful of ZooKeeper requests a Kafka 2.5 broker sends, on the shared `jute` codec
//! (the crate the server decodes them with): connect, create (opcode 1, never create2, so
//! the wire matches the Java client inside Kafka 2.5), delete, exists, getData, setData,
//! getChildren2, multi with check/create/setData/delete, ping, closeSession and watch
//! notifications. Null data is sent as a jute buffer of length -1, which is how Kafka writes
//! its persistent paths; every ACL is world:anyone with all permissions, as Kafka 2.5
//! writes without `zookeeper.set.acl`.
//!
//! Pure bytes in, bytes out; used by [`super::ZkClient`]. What is broker-specific here is
//! the chroot: paths gain it on the way out and lose it on the way back.

use bytes::Bytes;
pub use ::jute::{DecodeError, Stat};
use ::jute::{Acl, CreateRequest, OpCode, Reader, Request, Response, Writer};

pub const XID_WATCH: i32 = ::jute::XID_NOTIFICATION;
pub const XID_PING: i32 = ::jute::XID_PING;

/// ZooKeeper error codes the broker reacts to (KeeperException.Code).
pub mod code {
    use ::jute::ErrorCode;

    pub const OK: i32 = ErrorCode::Ok as i32;
    pub const CONNECTION_LOSS: i32 = ErrorCode::ConnectionLoss as i32;
    pub const NO_NODE: i32 = ErrorCode::NoNode as i32;
    pub const BAD_VERSION: i32 = ErrorCode::BadVersion as i32;
    pub const NODE_EXISTS: i32 = ErrorCode::NodeExists as i32;
    pub const NOT_EMPTY: i32 = ErrorCode::NotEmpty as i32;
    pub const SESSION_EXPIRED: i32 = ErrorCode::SessionExpired as i32;
    /// Marker used inside multi results for "rolled back" (RuntimeInconsistency).
    pub const RUNTIME_INCONSISTENCY: i32 = ErrorCode::RuntimeInconsistency as i32;
}

/// One operation inside a multi request (paths relative to the chroot).
#[derive(Debug, Clone)]
pub enum Op {
    Check { path: String, version: i32 },
    Create { path: String, data: Option<Vec<u8>>, ephemeral: bool },
    SetData { path: String, data: Option<Vec<u8>>, version: i32 },
    Delete { path: String, version: i32 },
}

/// Result of one multi operation (a created path relative to the chroot).
#[derive(Debug, Clone)]
pub enum OpResult {
    Check,
    Create(String),
    SetData(Stat),
    Delete,
    Error(i32),
}

/// A create as Kafka 2.5 sends it: opcode create (1), open ACL, flags 0/1 (+2 sequential).
pub fn create(path: String, data: Option<Vec<u8>>, flags: i32) -> Request {
    Request::Create(CreateRequest { path, data, acl: Acl::world_all(), flags, ttl: None })
}

/// The body of a request (header excluded).
pub fn body(op: OpCode, req: &Request) -> Bytes {
    let mut w = Writer::new();
    req.write(op, &mut w);
    w.buf.freeze()
}

/// The connect request: protocol 0, with the readOnly flag (false) as 3.4+ clients send.
pub fn connect(last_zxid: i64, timeout_ms: i32, session_id: i64, passwd: &[u8]) -> Bytes {
    let req = ::jute::ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: last_zxid,
        timeout: timeout_ms,
        session_id,
        passwd: passwd.to_vec(),
        read_only: Some(false),
    };
    let mut w = Writer::new();
    req.write(&mut w);
    w.buf.freeze()
}

/// Decodes the connect answer.
pub fn connected(b: &[u8]) -> Result<::jute::ConnectResponse, DecodeError> {
    ::jute::ConnectResponse::read(&mut Reader::new(b))
}

/// Decodes the body answering a request with opcode `op`.
pub fn response(op: OpCode, b: &[u8]) -> Result<Response, DecodeError> {
    Response::read(op, &mut Reader::new(b))
}

/// A watch notification's (type, path).
pub fn watch_event(b: &[u8]) -> Result<(i32, String), DecodeError> {
    let ev = ::jute::WatcherEvent::read(&mut Reader::new(b))?;
    Ok((ev.typ, ev.path))
}

/// A multi of broker ops, paths prefixed with `chroot`.
pub fn multi(ops: &[Op], chroot: &str) -> Request {
    let full = |p: &str| format!("{chroot}{p}");
    Request::Multi(
        ops.iter()
            .map(|op| match op {
                Op::Check { path, version } => (OpCode::Check, Request::Check { path: full(path), version: *version }),
                Op::Create { path, data, ephemeral } => (OpCode::Create, create(full(path), data.clone(), i32::from(*ephemeral))),
                Op::SetData { path, data, version } => {
                    (OpCode::SetData, Request::SetData { path: full(path), data: data.clone(), version: *version })
                }
                Op::Delete { path, version } => (OpCode::Delete, Request::Delete { path: full(path), version: *version }),
            })
            .collect(),
    )
}

/// The broker's view of a multi's results, created paths made relative to `chroot`.
pub fn multi_results(results: Vec<::jute::OpResult>, chroot: &str) -> Result<Vec<OpResult>, DecodeError> {
    results
        .into_iter()
        .map(|r| {
            Ok(match r {
                ::jute::OpResult::Check => OpResult::Check,
                ::jute::OpResult::Create { path, .. } => OpResult::Create(path.strip_prefix(chroot).map(str::to_owned).unwrap_or(path)),
                ::jute::OpResult::SetData(s) => OpResult::SetData(s),
                ::jute::OpResult::Delete => OpResult::Delete,
                ::jute::OpResult::Error(e) => OpResult::Error(e),
                ::jute::OpResult::GetData { .. } | ::jute::OpResult::GetChildren(_) => {
                    return Err(DecodeError::Unknown { what: "multi result of a write multi", value: 0 })
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_bytes_are_kafkas() {
        let b = body(OpCode::Multi, &multi(&[Op::Check { path: "/controller_epoch".into(), version: 1 }], ""));
        // header(4+1+4) + path(4+17) + version(4) + end header(9)
        assert_eq!(b.len(), 9 + 21 + 4 + 9);
        let mut w = Writer::new();
        w.int(OpCode::Check as i32).bool(false).int(0);
        w.int(-1).bool(false).int(0).int(-101);
        w.int(-1).bool(true).int(-1);
        let Ok(Response::Multi(res)) = response(OpCode::Multi, &w.buf) else { panic!("not a multi answer") };
        let res = multi_results(res, "").unwrap();
        assert!(matches!(res[0], OpResult::Check));
        assert!(matches!(res[1], OpResult::Error(-101)));
    }

    #[test]
    fn null_data_is_minus_one_and_acl_is_open() {
        let b = body(OpCode::Create, &create("/brokers".into(), None, 0));
        let mut want = Writer::new();
        want.string("/brokers").int(-1).int(1).int(31).string("world").string("anyone").int(0);
        assert_eq!(b, want.buf.freeze());
    }

    #[test]
    fn chroot_goes_on_and_comes_off() {
        let b = body(OpCode::Multi, &multi(&[Op::Create { path: "/a".into(), data: Some(b"x".to_vec()), ephemeral: true }], "/kafka"));
        assert!(b.windows(7).any(|w| w == b"/kafka/"));
        let res = multi_results(vec![::jute::OpResult::Create { path: "/kafka/a".into(), stat: None }], "/kafka").unwrap();
        assert!(matches!(&res[0], OpResult::Create(p) if p == "/a"));
    }

    #[test]
    fn truncated_answers_are_errors() {
        assert!(response(OpCode::GetData, &[0, 0, 0, 9, 1]).is_err());
        assert!(connected(&[0, 0]).is_err());
    }
}
