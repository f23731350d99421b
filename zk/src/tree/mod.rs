//! The DataTree: every znode with its data, ACL and Stat, the ephemeral index, and the
//! containers and TTL nodes the reaper watches. No networking and no disk: the server's core
//! calls [`DataTree::apply`] with each committed transaction, reads call the getters, and
//! the snapshot module serializes it with [`DataTree::write_nodes`].
//!
//! Stat rules, as ZooKeeper computes them:
//! - the stored `cversion` counts child *creates*; clients see `2 * stored - numChildren`
//!   (every create is matched by a delete except for the children still present), which is
//!   ZooKeeper's `DataNode.copyStat`; sequential suffixes come from the stored count;
//! - container and TTL nodes store a marker in `ephemeralOwner`; clients see 0;
//! - create: the node's czxid = mzxid = pzxid = zxid, ctime = mtime = txn time; the parent's
//!   stored cversion becomes the txn's `parent_cversion` (old + 1) and its pzxid the zxid;
//! - delete: the parent's pzxid = zxid (only moving forward); its reported cversion rises
//!   because numChildren falls;
//! - setData: version from the txn, mzxid, mtime; the parent is untouched;
//! - setACL: aversion from the txn; mzxid unchanged.

pub mod acl;
pub mod quota;
pub mod txn;

use crate::proto::{perms, Acl, DecodeError, ErrorCode, EventType, Id, Reader, Stat, Writer, CONTAINER_OWNER, EXTENDED_MASK};
use crate::ids::{SessionId, Zxid};
use bytes::Bytes;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
pub use txn::{Txn, TxnHeader};

#[derive(Debug, Clone)]
pub struct Node {
    pub data: Option<Bytes>,
    pub acl: Arc<Vec<Acl>>,
    /// Kept current, including `data_length` and `num_children`.
    pub stat: Stat,
    pub children: BTreeSet<String>,
}

/// What applying one transaction produced, for the reply (stats in the client's view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyResult {
    pub err: ErrorCode,
    pub path: Option<String>,
    pub stat: Option<Stat>,
    /// One entry per sub-transaction of a multi.
    pub multi: Vec<ApplyResult>,
}

impl ApplyResult {
    fn ok() -> Self {
        ApplyResult { err: ErrorCode::Ok, path: None, stat: None, multi: Vec::new() }
    }
    fn err(e: ErrorCode) -> Self {
        ApplyResult { err: e, ..Self::ok() }
    }
}

/// A watch trigger produced by apply: which event happened on which path, and that node's ACL
/// (watchers without READ on it are not told, as in ZooKeeper 3.8).
pub type Trigger = (EventType, String, Arc<Vec<Acl>>);

pub struct DataTree {
    nodes: HashMap<String, Node>,
    ephemerals: HashMap<SessionId, BTreeSet<String>>,
    /// Container and TTL nodes: candidates for the reaper.
    extended: HashSet<String>,
    /// Paths with a quota (a `zookeeper_limits` node under `/zookeeper/quota`); see [`quota`].
    quota_roots: BTreeSet<String>,
    pub last_zxid: Zxid,
    data_size: u64,
}

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

/// The parent of an absolute path (`/a/b` -> `/a`, `/a` -> `/`).
pub fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

fn name_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// `PathUtils.validatePath`: absolute, no empty or `.`/`..` segments, no trailing slash,
/// no control or reserved characters. `sequential` allows the trailing slash of `/a/`.
pub fn validate_path(path: &str, sequential: bool) -> bool {
    if !path.starts_with('/') {
        return false;
    }
    if path == "/" {
        return true;
    }
    let p = if sequential { format!("{path}1") } else { path.to_string() };
    if p.ends_with('/') {
        return false;
    }
    for seg in p[1..].split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return false;
        }
    }
    !p.chars().any(|c| {
        let u = c as u32;
        u == 0 || (0x1..=0x1f).contains(&u) || (0x7f..=0x9f).contains(&u) || (0xe000..=0xf8ff).contains(&u) || (0xfff0..=0xffff).contains(&u)
    })
}

/// The Stat a client sees for a stored one (see the module docs).
pub fn client_stat(stat: &Stat) -> Stat {
    let mut s = *stat;
    s.cversion = stat.cversion.wrapping_mul(2).wrapping_sub(stat.num_children);
    if !is_session_owner(stat.ephemeral_owner) {
        s.ephemeral_owner = 0;
    }
    s
}

impl Node {
    pub fn client_stat(&self) -> Stat {
        client_stat(&self.stat)
    }
}

/// Is this `ephemeralOwner` a real session (not 0, not a container or TTL marker)?
pub fn is_session_owner(owner: i64) -> bool {
    owner != 0 && owner != CONTAINER_OWNER && (owner & EXTENDED_MASK) != EXTENDED_MASK
}

/// The session an `ephemeralOwner` names, if it names one (see [`is_session_owner`]).
pub fn owner_session(owner: i64) -> Option<SessionId> {
    is_session_owner(owner).then_some(SessionId(owner))
}

impl DataTree {
    /// A fresh tree: `/`, `/zookeeper`, `/zookeeper/quota`, `/zookeeper/config`, with the
    /// exact stats a fresh Apache ZooKeeper 3.8 shows for them.
    pub fn new() -> DataTree {
        let mut t = DataTree { nodes: HashMap::new(), ephemerals: HashMap::new(), extended: HashSet::new(), quota_roots: BTreeSet::new(), last_zxid: Zxid(0), data_size: 0 };
        let empty = || Some(Bytes::new());
        t.insert_raw("/", empty(), Arc::new(Acl::world_all()), Stat::default());
        t.insert_raw("/zookeeper", empty(), Arc::new(Acl::world_all()), Stat::default());
        t.insert_raw("/zookeeper/quota", empty(), Arc::new(Acl::world_all()), Stat::default());
        let read_only = vec![Acl { perms: perms::READ, id: Id::new("world", "anyone") }];
        t.insert_raw("/zookeeper/config", empty(), Arc::new(read_only), Stat { aversion: -1, ..Stat::default() });
        t
    }

    /// Inserts a node as-is (snapshot load and bootstrap); links it under its parent.
    fn insert_raw(&mut self, path: &str, data: Option<Bytes>, acl: Arc<Vec<Acl>>, mut stat: Stat) {
        stat.data_length = data.as_ref().map_or(0, |d| d.len() as i32);
        stat.num_children = 0;
        self.data_size += path.len() as u64 + stat.data_length as u64;
        if path != "/" {
            let parent = parent_of(path).to_string();
            if let Some(p) = self.nodes.get_mut(&parent) {
                p.children.insert(name_of(path).to_string());
                p.stat.num_children = p.children.len() as i32;
            }
        }
        self.index(path, stat.ephemeral_owner);
        if let Some(target) = quota::quota_target(path, quota::LIMITS_NODE) {
            self.quota_roots.insert(target);
        }
        let children = self.nodes.remove(path).map(|n| n.children).unwrap_or_default();
        stat.num_children = children.len() as i32;
        self.nodes.insert(path.to_string(), Node { data, acl, stat, children });
    }

    fn index(&mut self, path: &str, owner: i64) {
        if let Some(session) = owner_session(owner) {
            self.ephemerals.entry(session).or_default().insert(path.to_string());
        } else if owner != 0 {
            self.extended.insert(path.to_string());
        }
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn approximate_data_size(&self) -> u64 {
        self.data_size
    }

    pub fn ephemerals_of(&self, session: SessionId) -> Option<&BTreeSet<String>> {
        self.ephemerals.get(&session)
    }

    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(|s| s.len()).sum()
    }

    /// All sessions owning ephemerals, for `dump`.
    pub fn ephemeral_owners(&self) -> impl Iterator<Item = (&SessionId, &BTreeSet<String>)> {
        self.ephemerals.iter()
    }

    /// Number of descendants of `path` (not counting itself), for getAllChildrenNumber.
    pub fn all_children_number(&self, path: &str) -> i32 {
        let mut n = 0i32;
        let mut stack = vec![path.to_string()];
        while let Some(p) = stack.pop() {
            if let Some(node) = self.nodes.get(&p) {
                for c in &node.children {
                    n += 1;
                    stack.push(if p == "/" { format!("/{c}") } else { format!("{p}/{c}") });
                }
            }
        }
        n
    }

    /// Containers with no children that once had some, and TTL nodes with no children whose
    /// TTL has passed since their last change: what the reaper should delete at `now` (ms).
    pub fn reapable(&self, now: i64) -> Vec<String> {
        let mut out: Vec<String> = self
            .extended
            .iter()
            .filter_map(|p| {
                let n = self.nodes.get(p)?;
                if !n.children.is_empty() {
                    return None;
                }
                let owner = n.stat.ephemeral_owner;
                let due = if owner == CONTAINER_OWNER {
                    n.stat.cversion > 0
                } else {
                    let ttl = owner & !EXTENDED_MASK;
                    now - n.stat.mtime > ttl
                };
                due.then(|| p.clone())
            })
            .collect();
        out.sort();
        out
    }

    /// Executes one committed transaction. Failures here mean the txn did not fit the tree
    /// (prep validated it, so this happens only for a log that does not match its snapshot);
    /// they are reported, never panicked on.
    pub fn apply(&mut self, h: &TxnHeader, txn: &Txn, triggers: &mut Vec<Trigger>) -> ApplyResult {
        if h.zxid > self.last_zxid {
            self.last_zxid = h.zxid;
        }
        self.apply_one(h, txn, triggers)
    }

    fn apply_one(&mut self, h: &TxnHeader, txn: &Txn, triggers: &mut Vec<Trigger>) -> ApplyResult {
        match txn {
            Txn::CreateSession { .. } => ApplyResult::ok(),
            Txn::CloseSession => {
                let paths: Vec<String> = self.ephemerals.get(&h.session).map(|s| s.iter().rev().cloned().collect()).unwrap_or_default();
                for p in paths {
                    let _ = self.delete(&p, h.zxid, triggers);
                }
                self.ephemerals.remove(&h.session);
                ApplyResult::ok()
            }
            Txn::Create { path, data, acl, ephemeral_owner, parent_cversion } => {
                match self.create(path, data.clone(), acl, *ephemeral_owner, *parent_cversion, h, triggers) {
                    Ok(stat) => ApplyResult { path: Some(path.clone()), stat: Some(client_stat(&stat)), ..ApplyResult::ok() },
                    Err(e) => ApplyResult::err(e),
                }
            }
            Txn::Delete { path } => match self.delete(path, h.zxid, triggers) {
                Ok(()) => ApplyResult::ok(),
                Err(e) => ApplyResult::err(e),
            },
            Txn::SetData { path, data, version } => {
                let Some(n) = self.nodes.get_mut(path) else { return ApplyResult::err(ErrorCode::NoNode) };
                let old = n.stat.data_length as u64;
                n.data = data.clone();
                n.stat.data_length = data.as_ref().map_or(0, |d| d.len() as i32);
                n.stat.version = *version;
                n.stat.mzxid = h.zxid.0;
                n.stat.mtime = h.time;
                let stat = n.stat;
                let acl = n.acl.clone();
                self.data_size = self.data_size - old + stat.data_length as u64;
                self.quota_account(path, 0, stat.data_length as i64 - old as i64);
                triggers.push((EventType::NodeDataChanged, path.clone(), acl));
                ApplyResult { stat: Some(client_stat(&stat)), ..ApplyResult::ok() }
            }
            Txn::SetAcl { path, acl, version } => {
                let Some(n) = self.nodes.get_mut(path) else { return ApplyResult::err(ErrorCode::NoNode) };
                n.acl = Arc::new(acl.clone());
                n.stat.aversion = *version;
                ApplyResult { stat: Some(client_stat(&n.stat)), ..ApplyResult::ok() }
            }
            Txn::Check { path, .. } => {
                if self.nodes.contains_key(path) {
                    ApplyResult::ok()
                } else {
                    ApplyResult::err(ErrorCode::NoNode)
                }
            }
            Txn::Multi(txns) => {
                let multi = txns.iter().map(|t| self.apply_one(h, t, triggers)).collect();
                ApplyResult { multi, ..ApplyResult::ok() }
            }
            Txn::Error { err } => ApplyResult::err(ErrorCode::from_i32(*err).unwrap_or(ErrorCode::SystemError)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        path: &str,
        data: Option<Bytes>,
        acl: &[Acl],
        owner: i64,
        parent_cversion: i32,
        h: &TxnHeader,
        triggers: &mut Vec<Trigger>,
    ) -> Result<Stat, ErrorCode> {
        if self.nodes.contains_key(path) {
            return Err(ErrorCode::NodeExists);
        }
        // Prep refuses such paths; a log that holds one anyway must not link a node under
        // itself (`""` or `"//"` would become a child of `/` named `""`).
        if !validate_path(path, false) {
            return Err(ErrorCode::BadArguments);
        }
        let parent_path = parent_of(path).to_string();
        let Some(parent) = self.nodes.get_mut(&parent_path) else { return Err(ErrorCode::NoNode) };
        let parent_acl = parent.acl.clone();
        parent.children.insert(name_of(path).to_string());
        parent.stat.num_children = parent.children.len() as i32;
        parent.stat.cversion = parent_cversion;
        parent.stat.pzxid = h.zxid.0;
        let data_length = data.as_ref().map_or(0, |d| d.len() as i32);
        let stat = Stat {
            czxid: h.zxid.0,
            mzxid: h.zxid.0,
            ctime: h.time,
            mtime: h.time,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: owner,
            data_length,
            num_children: 0,
            pzxid: h.zxid.0,
        };
        self.data_size += path.len() as u64 + data_length as u64;
        let acl = Arc::new(acl.to_vec());
        self.nodes.insert(path.to_string(), Node { data, acl: acl.clone(), stat, children: BTreeSet::new() });
        self.index(path, owner);
        self.quota_after_create(path, data_length as i64);
        triggers.push((EventType::NodeCreated, path.to_string(), acl));
        triggers.push((EventType::NodeChildrenChanged, parent_path, parent_acl));
        Ok(stat)
    }

    fn delete(&mut self, path: &str, zxid: Zxid, triggers: &mut Vec<Trigger>) -> Result<(), ErrorCode> {
        if path == "/" {
            return Err(ErrorCode::BadArguments);
        }
        // Prep refuses this too; a log that asks anyway must not leave the children orphaned.
        if self.nodes.get(path).is_some_and(|n| !n.children.is_empty()) {
            return Err(ErrorCode::NotEmpty);
        }
        let Some(node) = self.nodes.remove(path) else { return Err(ErrorCode::NoNode) };
        self.data_size = self.data_size.saturating_sub(path.len() as u64 + node.stat.data_length as u64);
        let owner = node.stat.ephemeral_owner;
        if let Some(session) = owner_session(owner) {
            if let Some(set) = self.ephemerals.get_mut(&session) {
                set.remove(path);
                if set.is_empty() {
                    self.ephemerals.remove(&session);
                }
            }
        } else if owner != 0 {
            self.extended.remove(path);
        }
        self.quota_account(path, -1, -(node.stat.data_length as i64));
        if let Some(target) = quota::quota_target(path, quota::LIMITS_NODE) {
            self.quota_roots.remove(&target);
        }
        let parent_path = parent_of(path).to_string();
        let mut parent_acl = Arc::new(Vec::new());
        if let Some(parent) = self.nodes.get_mut(&parent_path) {
            parent_acl = parent.acl.clone();
            parent.children.remove(name_of(path));
            parent.stat.num_children = parent.children.len() as i32;
            if zxid.0 > parent.stat.pzxid {
                parent.stat.pzxid = zxid.0;
            }
        }
        triggers.push((EventType::NodeDeleted, path.to_string(), node.acl.clone()));
        triggers.push((EventType::NodeChildrenChanged, parent_path, parent_acl));
        Ok(())
    }

    /// The path whose quota covers `path` (none inside `/zookeeper`).
    fn quota_root_for(&self, path: &str) -> Option<String> {
        if self.quota_roots.is_empty() || path == "/zookeeper" || path.starts_with("/zookeeper/") {
            return None;
        }
        let mut p = path;
        loop {
            if self.quota_roots.contains(p) {
                return Some(p.to_string());
            }
            if p == "/" {
                return None;
            }
            p = parent_of(p);
        }
    }

    fn quota_text(&self, path: &str) -> Option<quota::StatsTrack> {
        let n = self.nodes.get(path)?;
        Some(quota::StatsTrack::parse(&String::from_utf8_lossy(n.data.as_deref().unwrap_or_default())))
    }

    /// Replaces a quota stats node's data, leaving its version and mzxid as they are.
    fn set_stats_data(&mut self, stats_path: &str, count: i64, bytes: i64) {
        let text = Bytes::from(quota::StatsTrack::stats_text(count, bytes));
        if let Some(n) = self.nodes.get_mut(stats_path) {
            let old = n.stat.data_length as u64;
            n.stat.data_length = text.len() as i32;
            self.data_size = self.data_size - old.min(self.data_size) + text.len() as u64;
            n.data = Some(text);
        }
    }

    /// A node under a quota changed by `count` nodes and `bytes` of data: the stats follow,
    /// and going over a soft limit is logged.
    fn quota_account(&mut self, path: &str, count: i64, bytes: i64) {
        let Some(root) = self.quota_root_for(path) else { return };
        let stats_path = quota::stats_path(&root);
        let Some(cur) = self.quota_text(&stats_path) else { return };
        let (c, b) = (cur.count.max(0) + count, cur.bytes.max(0) + bytes);
        self.set_stats_data(&stats_path, c, b);
        if let Some(limits) = self.quota_text(&quota::limits_path(&root)) {
            if limits.count > -1 && c > limits.count {
                tracing::warn!("Quota exceeded: {root} count={c} limit={}", limits.count);
            }
            if limits.bytes > -1 && b > limits.bytes {
                tracing::warn!("Quota exceeded: {root} bytes={b} limit={}", limits.bytes);
            }
        }
    }

    fn quota_after_create(&mut self, path: &str, data_length: i64) {
        if let Some(target) = quota::quota_target(path, quota::LIMITS_NODE) {
            self.quota_roots.insert(target);
            return;
        }
        if let Some(target) = quota::quota_target(path, quota::STATS_NODE) {
            // A new stats node starts from what the subtree holds now.
            let (mut count, mut bytes) = (0i64, 0i64);
            let mut stack = vec![target];
            while let Some(p) = stack.pop() {
                let Some(n) = self.nodes.get(&p) else { continue };
                count += 1;
                bytes += n.stat.data_length as i64;
                for c in &n.children {
                    stack.push(if p == "/" { format!("/{c}") } else { format!("{p}/{c}") });
                }
            }
            self.set_stats_data(path, count, bytes);
            return;
        }
        self.quota_account(path, 1, data_length);
    }

    /// `zookeeper.enforceQuota`: would a change of `count` nodes and `bytes` of data at `path`
    /// go over its quota's hard limits? QuotaExceeded if so.
    pub fn quota_check(&self, path: &str, count: i64, bytes: i64) -> Result<(), ErrorCode> {
        let Some(root) = self.quota_root_for(path) else { return Ok(()) };
        let (Some(limits), Some(stats)) = (self.quota_text(&quota::limits_path(&root)), self.quota_text(&quota::stats_path(&root))) else {
            return Ok(());
        };
        if limits.count_hard > -1 && stats.count + count > limits.count_hard {
            return Err(ErrorCode::QuotaExceeded);
        }
        if limits.bytes_hard > -1 && stats.bytes + bytes > limits.bytes_hard {
            return Err(ErrorCode::QuotaExceeded);
        }
        Ok(())
    }

    /// Serializes every node, parents before children: `count:long` then per node
    /// `path data(buffer) acl(vector<ACL>) stat(Stat)`. Used inside a snapshot file.
    pub fn write_nodes(&self, w: &mut Writer) {
        w.long(self.nodes.len() as i64);
        self.visit_preorder(|p, n| {
            w.string(p).buffer(n.data.as_deref());
            Acl::write_list(&n.acl, w);
            n.stat.write(w);
        });
    }

    /// Every node, parents before children, children in name order.
    pub fn visit_preorder(&self, mut f: impl FnMut(&str, &Node)) {
        let mut stack = vec!["/".to_string()];
        while let Some(p) = stack.pop() {
            let Some(n) = self.nodes.get(&p) else { continue };
            f(&p, n);
            for c in n.children.iter().rev() {
                stack.push(if p == "/" { format!("/{c}") } else { format!("{p}/{c}") });
            }
        }
    }

    /// Reads what [`DataTree::write_nodes`] wrote.
    pub fn read_nodes(r: &mut Reader, last_zxid: Zxid) -> Result<DataTree, DecodeError> {
        let mut t = DataTree::empty_for_load(last_zxid);
        let at = r.position();
        let count = r.long()?;
        if count < 1 || count as u64 > r.remaining() as u64 {
            return Err(DecodeError::BadLength { offset: at, len: count });
        }
        let mut acls: HashMap<Vec<Acl>, Arc<Vec<Acl>>> = HashMap::new();
        for _ in 0..count {
            let at = r.position();
            let path = r.string()?;
            let data = r.buffer()?.map(Bytes::from);
            let acl = Acl::read_list(r)?;
            let stat = Stat::read(r)?;
            let acl = acls.entry(acl.clone()).or_insert_with(|| Arc::new(acl)).clone();
            t.load_node(at, &path, data, acl, stat)?;
        }
        Ok(t)
    }

    /// A tree without any node, not even `/`, for a loader that brings every node
    /// ([`DataTree::load_node`], parents first).
    pub fn empty_for_load(last_zxid: Zxid) -> DataTree {
        DataTree { nodes: HashMap::new(), ephemerals: HashMap::new(), extended: HashSet::new(), quota_roots: BTreeSet::new(), last_zxid, data_size: 0 }
    }

    /// Adds a node read from a snapshot (ours or another format) whose parent came before
    /// it; `at` is the byte offset to name in an error. `data_length` and `num_children` are
    /// recomputed; the other Stat fields are kept as stored.
    pub fn load_node(&mut self, at: usize, path: &str, data: Option<Bytes>, acl: Arc<Vec<Acl>>, stat: Stat) -> Result<(), DecodeError> {
        // A path that is not one (say "" or "//") would link a node as a child of itself.
        if !validate_path(path, false) {
            return Err(DecodeError::BadPath { offset: at });
        }
        if path != "/" && !self.nodes.contains_key(parent_of(path)) {
            return Err(DecodeError::Orphan { offset: at });
        }
        self.insert_raw(path, data, acl, stat);
        Ok(())
    }

    /// After a create that found its node already there while replaying a log over a fuzzy
    /// snapshot (one written while transactions went on, as Apache ZooKeeper's are): the
    /// parent's stored cversion and pzxid move up to what the create would have set, as
    /// ZooKeeper's own replay does.
    pub fn settle_replayed_create(&mut self, path: &str, parent_cversion: i32, zxid: Zxid) {
        if let Some(p) = self.nodes.get_mut(parent_of(path)) {
            if p.stat.cversion < parent_cversion {
                p.stat.cversion = parent_cversion;
                p.stat.pzxid = zxid.0;
            }
        }
    }
}

#[cfg(test)]
mod tests;
