//! Prep: turns a write request into a [`Txn`], validating it against the committed tree *plus*
//! every change still in flight (ZooKeeper's `outstandingChanges`), so a pipeline of writes
//! from many clients sees the effect of the ones ahead of it before they are durable.
//!
//! Validation order and error codes follow ZooKeeper's `PrepRequestProcessor`. A failing
//! request becomes `Txn::Error` (it still takes a zxid); a failing multi becomes a multi of
//! error results: `Ok` before the failing op, its code at it, `RuntimeInconsistency` after.

use crate::config::Config;
use crate::ids::SessionId;
use crate::proto::{perms, Acl, CreateMode, CreateRequest, ErrorCode, OpCode, Request, Stat, CONTAINER_OWNER, EXTENDED_MASK, MAX_TTL};
use crate::tree::acl::{fixup, AuthInfo};
use crate::tree::{is_session_owner, owner_session, parent_of, validate_path, DataTree, Txn};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;

/// The state of a node as prep must see it: committed, or as left by in-flight txns.
#[derive(Debug, Clone)]
pub struct NodeRec {
    pub stat: Stat,
    pub acl: Arc<Vec<Acl>>,
}

#[derive(Debug, Clone)]
struct Change {
    prep_id: u64,
    node: Option<NodeRec>,
}

/// In-flight changes by path, each tagged with the prep id of the txn that left it (the
/// leader's counter, `ZkEntry::prep_id`): zxids exist only at apply (see [`crate::quorum`]),
/// so an in-flight record's zxid fields hold that prep id too; prep never reads them.
#[derive(Default)]
pub struct Pending {
    changes: HashMap<String, Change>,
    /// Ephemerals created by in-flight txns, per session (for closeSession).
    new_ephemerals: HashMap<SessionId, Vec<String>>,
}

type PrepResult<T> = Result<T, ErrorCode>;

/// Everything prep needs about who asks.
pub struct Asker<'a> {
    pub session: SessionId,
    pub auth: &'a AuthInfo,
}

impl Pending {
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    fn record(&self, tree: &DataTree, path: &str) -> Option<NodeRec> {
        match self.changes.get(path) {
            Some(c) => c.node.clone(),
            None => tree.get(path).map(|n| NodeRec { stat: n.stat, acl: n.acl.clone() }),
        }
    }

    fn set(&mut self, path: &str, prep_id: u64, node: Option<NodeRec>, undo: &mut Vec<(String, Option<Change>)>, touched: &mut Vec<String>) {
        let prev = self.changes.insert(path.to_string(), Change { prep_id, node });
        undo.push((path.to_string(), prev));
        touched.push(path.to_string());
    }

    fn rollback(&mut self, undo: Vec<(String, Option<Change>)>) {
        for (path, prev) in undo.into_iter().rev() {
            match prev {
                Some(c) => self.changes.insert(path, c),
                None => self.changes.remove(&path),
            };
        }
    }

    /// Forgets the in-flight records that the txn prepped as `prep_id` left, once it is applied.
    pub fn committed(&mut self, prep_id: u64, touched: &[String], session: SessionId) {
        for p in touched {
            if self.changes.get(p).is_some_and(|c| c.prep_id == prep_id) {
                self.changes.remove(p);
            }
        }
        if let Some(v) = self.new_ephemerals.get_mut(&session) {
            v.retain(|p| !touched.contains(p));
            if v.is_empty() {
                self.new_ephemerals.remove(&session);
            }
        }
    }

    /// Prepares one client write. Returns the txn and the paths whose records it changed.
    #[allow(clippy::too_many_arguments)]
    pub fn prep(&mut self, tree: &DataTree, cfg: &Config, who: &Asker, op: OpCode, req: &Request, prep_id: u64, time: i64) -> (Txn, Vec<String>) {
        let mut undo = Vec::new();
        let mut touched = Vec::new();
        let txn = match req {
            Request::Multi(ops) => {
                let mut txns = Vec::with_capacity(ops.len());
                let mut failed: Option<(usize, ErrorCode)> = None;
                for (i, (sub_op, sub)) in ops.iter().enumerate() {
                    match self.prep_one(tree, cfg, who, *sub_op, sub, prep_id, time, &mut undo, &mut touched) {
                        Ok(t) => txns.push(t),
                        Err(e) => {
                            failed = Some((i, e));
                            break;
                        }
                    }
                }
                match failed {
                    None => Txn::Multi(txns),
                    Some((at, e)) => {
                        self.rollback(std::mem::take(&mut undo));
                        touched.clear();
                        let errs = (0..ops.len())
                            .map(|i| {
                                let code = if i < at {
                                    ErrorCode::Ok
                                } else if i == at {
                                    e
                                } else {
                                    ErrorCode::RuntimeInconsistency
                                };
                                Txn::Error { err: code.code() }
                            })
                            .collect();
                        Txn::Multi(errs)
                    }
                }
            }
            _ => match self.prep_one(tree, cfg, who, op, req, prep_id, time, &mut undo, &mut touched) {
                Ok(t) => t,
                Err(e) => {
                    self.rollback(undo);
                    touched.clear();
                    Txn::Error { err: e.code() }
                }
            },
        };
        self.note_ephemerals(who.session, &txn);
        (txn, touched)
    }

    fn note_ephemerals(&mut self, session: SessionId, txn: &Txn) {
        match txn {
            Txn::Create { path, ephemeral_owner, .. } if owner_session(*ephemeral_owner) == Some(session) => {
                self.new_ephemerals.entry(session).or_default().push(path.clone());
            }
            Txn::Multi(ts) => {
                for t in ts {
                    self.note_ephemerals(session, t);
                }
            }
            _ => {}
        }
    }

    /// Prepares the closing of `session` (by request or expiry): marks its ephemerals deleted.
    pub fn prep_close(&mut self, tree: &DataTree, session: SessionId, prep_id: u64) -> (Txn, Vec<String>) {
        let mut paths: Vec<String> = tree.ephemerals_of(session).map(|s| s.iter().cloned().collect()).unwrap_or_default();
        paths.extend(self.new_ephemerals.remove(&session).unwrap_or_default());
        paths.sort();
        paths.dedup();
        let mut undo = Vec::new();
        let mut touched = Vec::new();
        for p in paths.iter().rev() {
            if let Some(rec) = self.record(tree, p) {
                if rec.stat.ephemeral_owner == session.0 {
                    self.delete_rec(tree, p, prep_id, &mut undo, &mut touched);
                }
            }
        }
        (Txn::CloseSession, touched)
    }

    /// Prepares the reaper's deletion of an empty container or expired TTL node.
    pub fn prep_reap(&mut self, tree: &DataTree, path: &str, prep_id: u64) -> Option<(Txn, Vec<String>)> {
        let rec = self.record(tree, path)?;
        let owner = rec.stat.ephemeral_owner;
        if rec.stat.num_children != 0 || !(owner == CONTAINER_OWNER || (owner & EXTENDED_MASK) == EXTENDED_MASK) {
            return None;
        }
        let mut undo = Vec::new();
        let mut touched = Vec::new();
        self.delete_rec(tree, path, prep_id, &mut undo, &mut touched);
        Some((Txn::Delete { path: path.to_string() }, touched))
    }

    fn delete_rec(&mut self, tree: &DataTree, path: &str, prep_id: u64, undo: &mut Vec<(String, Option<Change>)>, touched: &mut Vec<String>) {
        let parent = parent_of(path);
        if let Some(mut p) = self.record(tree, parent) {
            p.stat.num_children -= 1;
            p.stat.pzxid = prep_id as i64;
            self.set(parent, prep_id, Some(p), undo, touched);
        }
        self.set(path, prep_id, None, undo, touched);
    }

    fn check_version(expected: i32, current: i32) -> PrepResult<i32> {
        if expected != -1 && expected != current {
            return Err(ErrorCode::BadVersion);
        }
        Ok(current.wrapping_add(1))
    }

    #[allow(clippy::too_many_arguments)]
    fn prep_one(
        &mut self,
        tree: &DataTree,
        cfg: &Config,
        who: &Asker,
        op: OpCode,
        req: &Request,
        prep_id: u64,
        time: i64,
        undo: &mut Vec<(String, Option<Change>)>,
        touched: &mut Vec<String>,
    ) -> PrepResult<Txn> {
        match req {
            Request::Create(c) => self.prep_create(tree, cfg, who, op, c, prep_id, time, undo, touched),
            Request::Delete { path, version } => {
                if !validate_path(path, false) || path == "/" {
                    return Err(ErrorCode::BadArguments);
                }
                let parent = self.record(tree, parent_of(path)).ok_or(ErrorCode::NoNode)?;
                if !who.auth.allowed(&parent.acl, perms::DELETE) {
                    return Err(ErrorCode::NoAuth);
                }
                let node = self.record(tree, path).ok_or(ErrorCode::NoNode)?;
                Self::check_version(*version, node.stat.version)?;
                if node.stat.num_children > 0 {
                    return Err(ErrorCode::NotEmpty);
                }
                self.delete_rec(tree, path, prep_id, undo, touched);
                Ok(Txn::Delete { path: path.clone() })
            }
            Request::SetData { path, data, version } => {
                if !validate_path(path, false) {
                    return Err(ErrorCode::BadArguments);
                }
                let mut node = self.record(tree, path).ok_or(ErrorCode::NoNode)?;
                if !who.auth.allowed(&node.acl, perms::WRITE) {
                    return Err(ErrorCode::NoAuth);
                }
                let new_version = Self::check_version(*version, node.stat.version)?;
                let new_length = data.as_ref().map_or(0, |d| d.len() as i32);
                if cfg.enforce_quota {
                    tree.quota_check(path, 0, new_length as i64 - node.stat.data_length as i64)?;
                }
                node.stat.version = new_version;
                node.stat.mzxid = prep_id as i64;
                node.stat.mtime = time;
                node.stat.data_length = new_length;
                self.set(path, prep_id, Some(node), undo, touched);
                Ok(Txn::SetData { path: path.clone(), data: data.clone().map(Bytes::from), version: new_version })
            }
            Request::SetAcl { path, acl, version } => {
                if !validate_path(path, false) {
                    return Err(ErrorCode::BadArguments);
                }
                let acl = fixup(acl, who.auth, cfg.sasl_provider)?;
                let mut node = self.record(tree, path).ok_or(ErrorCode::NoNode)?;
                if !who.auth.allowed(&node.acl, perms::ADMIN) {
                    return Err(ErrorCode::NoAuth);
                }
                let new_version = Self::check_version(*version, node.stat.aversion)?;
                node.stat.aversion = new_version;
                node.acl = Arc::new(acl.clone());
                self.set(path, prep_id, Some(node), undo, touched);
                Ok(Txn::SetAcl { path: path.clone(), acl, version: new_version })
            }
            Request::Check { path, version } => {
                if !validate_path(path, false) {
                    return Err(ErrorCode::BadArguments);
                }
                let node = self.record(tree, path).ok_or(ErrorCode::NoNode)?;
                if !who.auth.allowed(&node.acl, perms::READ) {
                    return Err(ErrorCode::NoAuth);
                }
                Self::check_version(*version, node.stat.version)?;
                Ok(Txn::Check { path: path.clone(), version: node.stat.version })
            }
            _ => Err(ErrorCode::BadArguments),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn prep_create(
        &mut self,
        tree: &DataTree,
        cfg: &Config,
        who: &Asker,
        op: OpCode,
        c: &CreateRequest,
        prep_id: u64,
        time: i64,
        undo: &mut Vec<(String, Option<Change>)>,
        touched: &mut Vec<String>,
    ) -> PrepResult<Txn> {
        // createContainer makes a container whatever the flags say, as ZooKeeper does.
        let mode = if op == OpCode::CreateContainer { CreateMode::Container } else { CreateMode::from_flags(c.flags).ok_or(ErrorCode::BadArguments)? };
        match op {
            OpCode::CreateTtl => {
                if !cfg.extended_types_enabled {
                    return Err(ErrorCode::Unimplemented);
                }
                let ttl = c.ttl.unwrap_or(0);
                if !mode.is_ttl() || ttl <= 0 || ttl > MAX_TTL {
                    return Err(ErrorCode::BadArguments);
                }
            }
            _ if mode.is_ttl() => return Err(ErrorCode::BadArguments),
            _ => {}
        }
        if !validate_path(&c.path, mode.is_sequential()) {
            return Err(ErrorCode::BadArguments);
        }
        if c.path == "/" {
            return Err(ErrorCode::NodeExists);
        }
        let acl = fixup(&c.acl, who.auth, cfg.sasl_provider)?;
        let parent_path = parent_of(&c.path).to_string();
        let mut parent = self.record(tree, &parent_path).ok_or(ErrorCode::NoNode)?;
        if !who.auth.allowed(&parent.acl, perms::CREATE) {
            return Err(ErrorCode::NoAuth);
        }
        let path = if mode.is_sequential() { format!("{}{:010}", c.path, parent.stat.cversion) } else { c.path.clone() };
        if !validate_path(&path, false) {
            return Err(ErrorCode::BadArguments);
        }
        if self.record(tree, &path).is_some() {
            return Err(ErrorCode::NodeExists);
        }
        if is_session_owner(parent.stat.ephemeral_owner) {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        if cfg.enforce_quota {
            tree.quota_check(&path, 1, c.data.as_ref().map_or(0, |d| d.len() as i64))?;
        }
        let owner = match mode {
            _ if mode.is_ephemeral() => who.session.0,
            CreateMode::Container => CONTAINER_OWNER,
            _ if mode.is_ttl() => EXTENDED_MASK | c.ttl.unwrap_or(0),
            _ => 0,
        };
        let parent_cversion = parent.stat.cversion + 1;
        parent.stat.cversion = parent_cversion;
        parent.stat.num_children += 1;
        parent.stat.pzxid = prep_id as i64;
        self.set(&parent_path, prep_id, Some(parent), undo, touched);
        let stat = Stat {
            czxid: prep_id as i64,
            mzxid: prep_id as i64,
            ctime: time,
            mtime: time,
            ephemeral_owner: owner,
            data_length: c.data.as_ref().map_or(0, |d| d.len() as i32),
            pzxid: prep_id as i64,
            ..Stat::default()
        };
        self.set(&path, prep_id, Some(NodeRec { stat, acl: Arc::new(acl.clone()) }), undo, touched);
        Ok(Txn::Create { path, data: c.data.clone().map(Bytes::from), acl, ephemeral_owner: owner, parent_cversion })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Acl;
    use crate::tree::TxnHeader;

    fn cfg() -> Config {
        Config::from_str("dataDir=/tmp/x\nextendedTypesEnabled=true\n").unwrap()
    }

    fn create(path: &str, flags: i32) -> Request {
        Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::world_all(), flags, ttl: None })
    }

    #[test]
    fn pipelined_writes_see_each_other() {
        let tree = DataTree::new();
        let auth = AuthInfo::from_ip("127.0.0.1");
        let who = Asker { session: SessionId(5), auth: &auth };
        let mut p = Pending::default();
        let c = cfg();
        let (t1, _) = p.prep(&tree, &c, &who, OpCode::Create, &create("/a", 0), 1, 0);
        assert!(matches!(t1, Txn::Create { .. }));
        // Second create of /a, before the first is applied: NodeExists.
        let (t2, _) = p.prep(&tree, &c, &who, OpCode::Create, &create("/a", 0), 2, 0);
        assert_eq!(t2, Txn::Error { err: ErrorCode::NodeExists.code() });
        // A child of the in-flight /a works, and sequential names count in-flight creates.
        let (t3, _) = p.prep(&tree, &c, &who, OpCode::Create, &create("/a/s", 2), 3, 0);
        let (t4, _) = p.prep(&tree, &c, &who, OpCode::Create, &create("/a/s", 2), 4, 0);
        match (t3, t4) {
            (Txn::Create { path: p3, .. }, Txn::Create { path: p4, .. }) => {
                assert_eq!(p3, "/a/s0000000000");
                assert_eq!(p4, "/a/s0000000001");
            }
            other => panic!("{other:?}"),
        }
        // Deleting /a while it has in-flight children: NotEmpty.
        let (t5, _) = p.prep(&tree, &c, &who, OpCode::Delete, &Request::Delete { path: "/a".into(), version: -1 }, 5, 0);
        assert_eq!(t5, Txn::Error { err: ErrorCode::NotEmpty.code() });
    }

    #[test]
    fn failed_multi_rolls_back_and_reports_per_op() {
        let tree = DataTree::new();
        let auth = AuthInfo::from_ip("127.0.0.1");
        let who = Asker { session: SessionId(5), auth: &auth };
        let mut p = Pending::default();
        let m = Request::Multi(vec![
            (OpCode::Create, create("/x", 0)),
            (OpCode::Delete, Request::Delete { path: "/nope".into(), version: -1 }),
            (OpCode::Create, create("/y", 0)),
        ]);
        let (t, touched) = p.prep(&tree, &cfg(), &who, OpCode::Multi, &m, 1, 0);
        assert_eq!(t, Txn::Multi(vec![Txn::Error { err: 0 }, Txn::Error { err: -101 }, Txn::Error { err: -2 }]));
        assert!(touched.is_empty() && p.is_empty(), "rolled back");
        // /x is creatable afterwards.
        let (t, _) = p.prep(&tree, &cfg(), &who, OpCode::Create, &create("/x", 0), 2, 0);
        assert!(matches!(t, Txn::Create { .. }));
    }

    #[test]
    fn error_codes() {
        let mut tree = DataTree::new();
        let auth = AuthInfo::from_ip("127.0.0.1");
        let who = Asker { session: SessionId(5), auth: &auth };
        let c = cfg();
        let mut p = Pending::default();
        let apply = |tree: &mut DataTree, p: &mut Pending, op, req: Request, z| {
            let (t, touched) = p.prep(tree, &c, &who, op, &req, z, 0);
            tree.apply(&TxnHeader { session: SessionId(5), cxid: 0, zxid: crate::ids::Zxid(z as i64), time: 0 }, &t, &mut Vec::new());
            p.committed(z, &touched, SessionId(5));
            t
        };
        let e = |code: ErrorCode| Txn::Error { err: code.code() };
        assert_eq!(apply(&mut tree, &mut p, OpCode::Create, create("/no/parent", 0), 1), e(ErrorCode::NoNode));
        apply(&mut tree, &mut p, OpCode::Create, create("/eph", 1), 2);
        assert_eq!(apply(&mut tree, &mut p, OpCode::Create, create("/eph/c", 0), 3), e(ErrorCode::NoChildrenForEphemerals));
        assert_eq!(apply(&mut tree, &mut p, OpCode::SetData, Request::SetData { path: "/eph".into(), data: None, version: 7 }, 4), e(ErrorCode::BadVersion));
        assert_eq!(apply(&mut tree, &mut p, OpCode::Create, create("bad", 0), 5), e(ErrorCode::BadArguments));
        assert_eq!(apply(&mut tree, &mut p, OpCode::Create, create("/f", 9), 6), e(ErrorCode::BadArguments));
        let noacl = Request::Create(CreateRequest { path: "/n".into(), data: None, acl: vec![], flags: 0, ttl: None });
        assert_eq!(apply(&mut tree, &mut p, OpCode::Create, noacl, 7), e(ErrorCode::InvalidAcl));
        let ttl = Request::Create(CreateRequest { path: "/t".into(), data: None, acl: Acl::world_all(), flags: 5, ttl: Some(0) });
        assert_eq!(apply(&mut tree, &mut p, OpCode::CreateTtl, ttl, 8), e(ErrorCode::BadArguments));
        assert!(p.is_empty());
        // closeSession removes the session's ephemerals.
        let (t, touched) = p.prep_close(&tree, SessionId(5), 9);
        assert_eq!(t, Txn::CloseSession);
        assert!(touched.contains(&"/eph".to_string()));
    }
}
