//! Structure-aware ZooKeeper inputs for fuzzing, and hostile mutations of them. Not on any
//! server path: nothing in the server calls this module.
//!
//! - [`request`]: a random request body for any opcode a 3.8 client sends (and the ones the
//!   server decodes but no client sends), written here from `zookeeper.jute`'s field lists,
//!   independently of [`crate::proto`]'s writer, together with the [`Request`] value the
//!   server's decoder must produce from it;
//! - [`connect`]: a random `ConnectRequest` (44 or 45 bytes plus the password);
//! - [`history`]: a random sequence of writes prepped and applied as the server does, giving
//!   the transactions (for log files) and the resulting tree and sessions (for snapshots);
//! - [`mutate`]: hostile changes aimed at what a jute reader must not trust (lengths and counts
//!   replaced by -2, 2^31-1, ..., cut-offs, flipped bits, repeated slices, bogus opcodes and
//!   end-of-multi flags).
//!
//! Used by `tests/fuzz_requests.rs`, `tests/fuzz_storage.rs` and `examples/fuzz_frames.rs`
//! (frames for the wire fuzzer `tests/zk/test_wire_fuzz.py`). Paths come from a small pool
//! (so that writes meet the nodes earlier writes made) plus some invalid ones.

use crate::config::Config;
use crate::ids::{SessionId, Zxid};
use crate::proto::{perms, Acl, ConnectRequest, CreateRequest, Id, OpCode, Request, SetWatches, MAX_TTL};
use crate::server::prep::{Asker, Pending};
use crate::tree::acl::AuthInfo;
use crate::tree::{DataTree, Txn, TxnHeader};
use rand::Rng;
use std::collections::BTreeMap;

/// Every request opcode a 3.8 client sends after the handshake, plus `deleteContainer`
/// (which the server decodes although only servers send it).
pub const CLIENT_OPS: &[OpCode] = &[
    OpCode::Create,
    OpCode::Create2,
    OpCode::CreateTtl,
    OpCode::CreateContainer,
    OpCode::Delete,
    OpCode::DeleteContainer,
    OpCode::Exists,
    OpCode::GetData,
    OpCode::SetData,
    OpCode::GetAcl,
    OpCode::SetAcl,
    OpCode::GetChildren,
    OpCode::GetChildren2,
    OpCode::Sync,
    OpCode::Check,
    OpCode::Multi,
    OpCode::MultiRead,
    OpCode::SetWatches,
    OpCode::SetWatches2,
    OpCode::AddWatch,
    OpCode::RemoveWatches,
    OpCode::CheckWatches,
    OpCode::GetEphemerals,
    OpCode::GetAllChildrenNumber,
    OpCode::Reconfig,
    OpCode::Sasl,
    OpCode::Auth,
    OpCode::WhoAmI,
    OpCode::Ping,
    OpCode::CloseSession,
];

/// The write opcodes (they become transactions).
pub const WRITE_OPS: &[OpCode] =
    &[OpCode::Create, OpCode::Create2, OpCode::CreateTtl, OpCode::CreateContainer, OpCode::Delete, OpCode::SetData, OpCode::SetAcl, OpCode::Check, OpCode::Multi];

/// Valid paths, most of them likely to exist after a few creates.
const PATHS: &[&str] = &[
    "/", "/a", "/a/b", "/a/b/c", "/a/d", "/e", "/e/x", "/s", "/c", "/c/k", "/t", "/zookeeper", "/zookeeper/config", "/zookeeper/quota", "/ünï", "/a/b/c/d/e",
];
/// Paths the server must refuse with BadArguments (and one long valid one).
const ODD_PATHS: &[&str] = &["", "a", "/a/", "//", "/a//b", "/.", "/a/..", "/a/./b", "/\u{1}", "/x\u{0}y", "/\u{e000}", "/\u{7f}", "/\u{fff5}"];

/// A generated request body: the opcode, the value the decoder must produce (`None` for
/// opcodes the server answers `Unimplemented` without decoding) and the bytes.
#[derive(Debug, Clone)]
pub struct Body {
    pub op: OpCode,
    pub req: Option<Request>,
    pub bytes: Vec<u8>,
}

/// A jute encoder kept apart from `proto::Writer`, so that a generated body checks the
/// server's decoder against the wire format rather than against its own writer.
#[derive(Default)]
struct Out(Vec<u8>);

impl Out {
    fn int(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn long(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn bool(&mut self, v: bool) {
        self.0.push(u8::from(v));
    }
    fn buffer(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.int(-1),
            Some(b) => {
                self.int(b.len() as i32);
                self.0.extend_from_slice(b);
            }
        }
    }
    fn string(&mut self, s: &str) {
        self.buffer(Some(s.as_bytes()));
    }
    fn strings(&mut self, v: &[String]) {
        self.int(v.len() as i32);
        for s in v {
            self.string(s);
        }
    }
    fn acls(&mut self, v: &[Acl]) {
        self.int(v.len() as i32);
        for a in v {
            self.int(a.perms);
            self.string(&a.id.scheme);
            self.string(&a.id.id);
        }
    }
}

/// A path: mostly from the pool, sometimes invalid or long.
pub fn path<R: Rng>(rng: &mut R) -> String {
    match rng.gen_range(0..40) {
        0..=2 => ODD_PATHS[rng.gen_range(0..ODD_PATHS.len())].to_string(),
        3 => format!("/long-{}", "x".repeat(rng.gen_range(100..400))),
        _ => PATHS[rng.gen_range(0..PATHS.len())].to_string(),
    }
}

fn data<R: Rng>(rng: &mut R) -> Option<Vec<u8>> {
    match rng.gen_range(0..20) {
        0..=2 => None,
        3 => Some((0..rng.gen_range(256..4096)).map(|_| rng.gen()).collect()),
        _ => Some((0..rng.gen_range(0..48)).map(|_| rng.gen()).collect()),
    }
}

fn version<R: Rng>(rng: &mut R) -> i32 {
    match rng.gen_range(0..10) {
        0..=5 => -1,
        6..=8 => rng.gen_range(0..4),
        _ => rng.gen(),
    }
}

fn acl_list<R: Rng>(rng: &mut R) -> Vec<Acl> {
    if rng.gen_bool(0.7) {
        return Acl::world_all();
    }
    let n = rng.gen_range(0..4);
    (0..n)
        .map(|_| {
            let p = if rng.gen_bool(0.8) { rng.gen_range(0..=perms::ALL) } else { rng.gen() };
            let id = match rng.gen_range(0..7) {
                0 => Id::new("world", "anyone"),
                1 => Id::new("digest", "user:gnkwMqf2ENvCoNk3eSY0r9MOGcs="),
                2 => Id::new("ip", "127.0.0.1"),
                3 => Id::new("ip", "10.0.0.0/8"),
                4 => Id::new("auth", ""),
                5 => Id::new("super", ""),
                _ => Id::new("nosuch", "x"),
            };
            Acl { perms: p, id }
        })
        .collect()
}

fn paths<R: Rng>(rng: &mut R) -> Vec<String> {
    (0..rng.gen_range(0..4)).map(|_| path(rng)).collect()
}

fn create_flags<R: Rng>(rng: &mut R, op: OpCode) -> i32 {
    if rng.gen_range(0..20) == 0 {
        return [-1, 7, 100, i32::MIN][rng.gen_range(0..4)];
    }
    match op {
        OpCode::CreateTtl => [5, 6][rng.gen_range(0..2)],
        OpCode::CreateContainer => 4,
        _ => rng.gen_range(0..4),
    }
}

fn create<R: Rng>(rng: &mut R, op: OpCode, o: &mut Out) -> Request {
    let mut p = path(rng);
    let flags = create_flags(rng, op);
    if flags == 2 || flags == 3 || flags == 6 {
        // Sequential: a prefix under an existing parent, sometimes ending in '/'.
        p = if rng.gen_bool(0.3) { "/s/".to_string() } else { format!("{}/q-", ["/s", "/a", "/c"][rng.gen_range(0..3)]) };
    }
    let data = data(rng);
    let acl = acl_list(rng);
    o.string(&p);
    o.buffer(data.as_deref());
    o.acls(&acl);
    o.int(flags);
    let ttl = if op == OpCode::CreateTtl {
        let t = match rng.gen_range(0..10) {
            0 => [0, -1, MAX_TTL + 1, i64::MAX][rng.gen_range(0..4)],
            _ => rng.gen_range(1..=MAX_TTL),
        };
        o.long(t);
        Some(t)
    } else {
        None
    };
    Request::Create(CreateRequest { path: p, data, acl, flags, ttl })
}

/// One sub-operation of a multi (writes) or a multiRead (reads), header included.
fn multi_ops<R: Rng>(rng: &mut R, op: OpCode, o: &mut Out) -> Vec<(OpCode, Request)> {
    let allowed: &[OpCode] = if op == OpCode::Multi {
        &[OpCode::Create, OpCode::Create2, OpCode::CreateContainer, OpCode::CreateTtl, OpCode::Delete, OpCode::SetData, OpCode::Check]
    } else {
        &[OpCode::GetChildren, OpCode::GetData]
    };
    let n = rng.gen_range(0..6);
    let mut ops = Vec::with_capacity(n);
    for _ in 0..n {
        let sub = allowed[rng.gen_range(0..allowed.len())];
        o.int(sub as i32);
        o.bool(false);
        o.int(-1);
        let req = body_into(rng, sub, o).unwrap_or(Request::Ping);
        ops.push((sub, req));
    }
    o.int(-1);
    o.bool(true);
    o.int(-1);
    ops
}

/// Writes the body of `op` into `o`; returns the decoded value, if the server decodes it.
fn body_into<R: Rng>(rng: &mut R, op: OpCode, o: &mut Out) -> Option<Request> {
    use OpCode as O;
    Some(match op {
        O::Create | O::Create2 | O::CreateTtl | O::CreateContainer => create(rng, op, o),
        O::Delete => {
            let (p, v) = (path(rng), version(rng));
            o.string(&p);
            o.int(v);
            Request::Delete { path: p, version: v }
        }
        O::DeleteContainer => {
            let p = path(rng);
            o.string(&p);
            Request::Delete { path: p, version: -1 }
        }
        O::Exists | O::GetData | O::GetChildren | O::GetChildren2 => {
            let (p, w) = (path(rng), rng.gen_bool(0.5));
            o.string(&p);
            o.bool(w);
            match op {
                O::Exists => Request::Exists { path: p, watch: w },
                O::GetData => Request::GetData { path: p, watch: w },
                _ => Request::GetChildren { path: p, watch: w },
            }
        }
        O::SetData => {
            let (p, d, v) = (path(rng), data(rng), version(rng));
            o.string(&p);
            o.buffer(d.as_deref());
            o.int(v);
            Request::SetData { path: p, data: d, version: v }
        }
        O::GetAcl => {
            let p = path(rng);
            o.string(&p);
            Request::GetAcl { path: p }
        }
        O::SetAcl => {
            let (p, a, v) = (path(rng), acl_list(rng), version(rng));
            o.string(&p);
            o.acls(&a);
            o.int(v);
            Request::SetAcl { path: p, acl: a, version: v }
        }
        O::Sync => {
            let p = path(rng);
            o.string(&p);
            Request::Sync { path: p }
        }
        O::Check => {
            let (p, v) = (path(rng), version(rng));
            o.string(&p);
            o.int(v);
            Request::Check { path: p, version: v }
        }
        O::Multi | O::MultiRead => Request::Multi(multi_ops(rng, op, o)),
        O::CheckWatches | O::RemoveWatches => {
            let p = path(rng);
            let typ = if rng.gen_range(0..10) == 0 { rng.gen() } else { rng.gen_range(1..=5) };
            o.string(&p);
            o.int(typ);
            if op == O::CheckWatches {
                Request::CheckWatches { path: p, typ }
            } else {
                Request::RemoveWatches { path: p, typ }
            }
        }
        O::Auth => {
            let (scheme, auth): (&str, &[u8]) = match rng.gen_range(0..6) {
                0..=2 => ("digest", b"user:password"),
                3 => ("digest", b"super:super-secret"),
                4 => ("digest", b"no-colon"),
                _ => ("ip", b"127.0.0.1"),
            };
            o.int(0);
            o.string(scheme);
            o.buffer(Some(auth));
            Request::Auth { typ: 0, scheme: scheme.to_string(), auth: auth.to_vec() }
        }
        O::SetWatches | O::SetWatches2 => {
            let rel = if rng.gen_bool(0.5) { 0 } else { rng.gen() };
            let (data, exist, child) = (paths(rng), paths(rng), paths(rng));
            o.long(rel);
            o.strings(&data);
            o.strings(&exist);
            o.strings(&child);
            let (persistent, recursive) = if op == O::SetWatches2 {
                let (p, r) = (paths(rng), paths(rng));
                o.strings(&p);
                o.strings(&r);
                (p, r)
            } else {
                (Vec::new(), Vec::new())
            };
            Request::SetWatches(SetWatches { relative_zxid: rel, data, exist, child, persistent, recursive })
        }
        O::GetEphemerals => {
            let p = if rng.gen_bool(0.3) { String::new() } else { path(rng) };
            o.string(&p);
            Request::GetEphemerals { prefix: p }
        }
        O::GetAllChildrenNumber => {
            let p = path(rng);
            o.string(&p);
            Request::GetAllChildrenNumber { path: p }
        }
        O::AddWatch => {
            let p = path(rng);
            let mode = if rng.gen_range(0..10) == 0 { rng.gen() } else { rng.gen_range(0..2) };
            o.string(&p);
            o.int(mode);
            Request::AddWatch { path: p, mode }
        }
        O::Reconfig => {
            // ReconfigRequest: joiningServers, leavingServers, newMembers, curConfigId.
            let joining = "server.9=127.0.0.1:2888:3888;2181".to_string();
            o.string(&joining);
            o.string("");
            o.string("");
            o.long(-1);
            Request::Reconfig { joining, leaving: String::new(), new_members: String::new(), config_id: -1 }
        }
        O::Sasl => {
            let token: Vec<u8> = (0..rng.gen_range(0..64)).map(|_| rng.gen()).collect();
            o.buffer(Some(&token));
            Request::Sasl { token }
        }
        O::WhoAmI => Request::WhoAmI,
        O::Ping => Request::Ping,
        O::CloseSession => Request::CloseSession,
        O::Notification | O::CreateSession | O::Error => return None,
    })
}

/// A random body for `op`.
pub fn request<R: Rng>(rng: &mut R, op: OpCode) -> Body {
    let mut o = Out::default();
    let req = body_into(rng, op, &mut o);
    Body { op, req, bytes: o.0 }
}

/// The xid a client uses for `op` (ping, auth and setWatches have fixed ones), else `n`.
pub fn xid_for(op: OpCode, n: i32) -> i32 {
    match op {
        OpCode::Ping => crate::proto::XID_PING,
        OpCode::Auth => crate::proto::XID_AUTH,
        OpCode::SetWatches | OpCode::SetWatches2 => crate::proto::XID_SET_WATCHES,
        _ => n,
    }
}

/// A request frame without its length prefix: `xid op body`.
pub fn request_bytes(xid: i32, op: i32, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + body.len());
    v.extend_from_slice(&xid.to_be_bytes());
    v.extend_from_slice(&op.to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// Puts the length prefix in front of `payload`.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + payload.len());
    v.extend_from_slice(&(payload.len() as i32).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// A random connect request and its bytes (without the length prefix): a new session
/// mostly, sometimes a reattach with some id and password, with or without the readOnly byte.
pub fn connect<R: Rng>(rng: &mut R) -> (ConnectRequest, Vec<u8>) {
    let session_id = if rng.gen_bool(0.8) { 0 } else { rng.gen() };
    let passwd: Vec<u8> = if session_id == 0 { vec![0; 16] } else { (0..16).map(|_| rng.gen()).collect() };
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: if rng.gen_bool(0.9) { 0 } else { rng.gen_range(0..1 << 40) },
        timeout: [4000, 10000, 30000, 0, -1, i32::MAX][rng.gen_range(0..6)],
        session_id,
        passwd,
        read_only: if rng.gen_bool(0.8) { Some(false) } else { None },
    };
    let mut o = Out::default();
    o.int(req.protocol_version);
    o.long(req.last_zxid_seen);
    o.int(req.timeout);
    o.long(req.session_id);
    o.buffer(Some(&req.passwd));
    if let Some(ro) = req.read_only {
        o.bool(ro);
    }
    (req, o.0)
}

/// Applies one to three hostile mutations to `b`.
pub fn mutate<R: Rng>(b: &mut Vec<u8>, rng: &mut R) {
    const HOSTILE: [i32; 10] = [-1, -2, i32::MIN, i32::MAX, 0x7fff_fff0, 0x00ff_ffff, 0x0100_0000, 0x0010_0000, 1 << 20, 65536];
    for _ in 0..rng.gen_range(1..=3) {
        let len = b.len();
        let at = if len == 0 { 0 } else { rng.gen_range(0..len) };
        match rng.gen_range(0..10) {
            // A length or count replaced by a hostile int32 (at an aligned or any offset).
            0 | 1 => {
                let at = if rng.gen_bool(0.5) { at & !3 } else { at };
                let v = HOSTILE[rng.gen_range(0..HOSTILE.len())].to_be_bytes();
                put(b, at, &v);
            }
            // A length that claims exactly what is left, plus one.
            2 => {
                let v = ((len.saturating_sub(at + 4)) as i32 + rng.gen_range(0..2)).to_be_bytes();
                put(b, at, &v);
            }
            // An opcode-like value (a multi header's type, or an unknown one).
            3 => {
                let v: i32 = [-11, -10, -1, 0, 14, 16, 22, 99, 101, 106, 107, 255][rng.gen_range(0..12)];
                put(b, at & !3, &v.to_be_bytes());
            }
            // Cut off.
            4 => b.truncate(at),
            // Flipped bits.
            5 => {
                for _ in 0..rng.gen_range(1..4) {
                    if !b.is_empty() {
                        let i = rng.gen_range(0..b.len());
                        b[i] ^= 1 << rng.gen_range(0..8);
                    }
                }
            }
            // A slice repeated.
            6 if len > 0 => {
                let end = rng.gen_range(at..=len.min(at + 32));
                let piece = b[at..end].to_vec();
                b.splice(at..at, piece);
            }
            // Random bytes inserted.
            7 => {
                let extra: Vec<u8> = (0..rng.gen_range(1..9)).map(|_| rng.gen()).collect();
                b.splice(at..at, extra);
            }
            // A 0xff run (a string that is not UTF-8, a negative length).
            8 => {
                let n = rng.gen_range(1..6);
                for i in 0..n {
                    if let Some(x) = b.get_mut(at + i) {
                        *x = 0xff;
                    }
                }
            }
            _ => {
                if at < len {
                    b.remove(at);
                }
            }
        }
    }
}

fn put(b: &mut [u8], at: usize, v: &[u8]) {
    for (i, x) in v.iter().enumerate() {
        if let Some(y) = b.get_mut(at + i) {
            *y = *x;
        }
    }
}

/// A random run of writes, prepped and applied as the server does.
pub struct History {
    /// Every transaction with its header, in zxid order (failed writes included: they are
    /// `Txn::Error`, as in the log).
    pub txns: Vec<(TxnHeader, Txn)>,
    /// The tree after all of them.
    pub tree: DataTree,
    /// The sessions still open at the end (id -> timeout).
    pub sessions: BTreeMap<SessionId, i32>,
}

/// `n` random writes by a few sessions (creates of every kind, deletes, setData, setACL,
/// check, multi, session creates and closes), each prepped against the tree and applied.
pub fn history<R: Rng>(rng: &mut R, n: usize) -> History {
    let cfg = Config { extended_types_enabled: true, ..Config::default() };
    let mut tree = DataTree::new();
    let mut pending = Pending::default();
    let mut sessions = BTreeMap::new();
    let mut txns = Vec::with_capacity(n);
    let auth = AuthInfo::from_ip("127.0.0.1");
    let base: i64 = 0x0100_0000_0000_0000;
    for i in 0..n {
        let zxid = (1i64 << 32) | (i as i64 + 1);
        let session = SessionId(base | rng.gen_range(1..4));
        let time = 1_700_000_000_000 + i as i64;
        let header = TxnHeader { session, cxid: i as i32, zxid: Zxid(zxid), time };
        let (txn, touched) = match rng.gen_range(0..30) {
            0 => {
                let timeout = rng.gen_range(4000..40000);
                sessions.insert(session, timeout);
                (Txn::CreateSession { timeout }, Vec::new())
            }
            1 => {
                sessions.remove(&session);
                pending.prep_close(&tree, session, zxid as u64)
            }
            _ => {
                let op = WRITE_OPS[rng.gen_range(0..WRITE_OPS.len())];
                let Some(req) = request(rng, op).req else { continue };
                let who = Asker { session, auth: &auth };
                pending.prep(&tree, &cfg, &who, op, &req, zxid as u64, time)
            }
        };
        tree.apply(&header, &txn, &mut Vec::new());
        pending.committed(zxid as u64, &touched, session);
        txns.push((header, txn));
    }
    History { txns, tree, sessions }
}
