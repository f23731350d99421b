//! Read requests, answered by the core from the committed tree (after the session's own
//! earlier writes): exists, getData, getChildren(2), getACL, getAllChildrenNumber,
//! getEphemerals, multiRead, whoAmI, ping, and the watch-management requests
//! (setWatches, addWatch, checkWatches, removeWatches).
//!
//! Sits after [`super::ordering`] (a read is served once the session's earlier writes are
//! applied) and before the reply: it sees a [`ReadCtx`], the committed tree read-only and the
//! asking session's identities; the watch table is the one thing a read changes (it
//! registers watches). Notifications a read produces (setWatches after a reconnect) are
//! returned for the core to send ahead of the reply.

use crate::ids::SessionId;
use crate::proto::*;
use crate::tree::acl::AuthInfo;
use crate::tree::DataTree;
use crate::watch::{Kind, WatchManager};
use bytes::Bytes;

/// What a read may see and touch.
pub struct ReadCtx<'a> {
    pub tree: &'a DataTree,
    pub watches: &'a mut WatchManager,
    /// The connection's proven identities.
    pub auth: &'a AuthInfo,
    pub session: SessionId,
}

/// A read's outcome: the error code, the body (ignored unless Ok), and watch notifications
/// to send to the session before the reply.
pub struct Served {
    pub err: ErrorCode,
    pub resp: Response,
    pub events: Vec<Bytes>,
}

fn readable(core: &ReadCtx, path: &str) -> Result<(), ErrorCode> {
    let node = core.tree.get(path).ok_or(ErrorCode::NoNode)?;
    if core.auth.allowed(&node.acl, perms::READ) {
        Ok(())
    } else {
        Err(ErrorCode::NoAuth)
    }
}

fn valid(path: &str) -> Result<(), ErrorCode> {
    if crate::tree::validate_path(path, false) {
        Ok(())
    } else {
        Err(ErrorCode::BadArguments)
    }
}

/// Serves one read.
pub fn serve(mut core: ReadCtx, frame: RequestFrame) -> Served {
    let mut events = Vec::new();
    match serve_inner(&mut core, frame, &mut events) {
        Ok(resp) => Served { err: ErrorCode::Ok, resp, events },
        Err(err) => Served { err, resp: Response::Empty, events },
    }
}

fn serve_inner(core: &mut ReadCtx, frame: RequestFrame, events: &mut Vec<Bytes>) -> Result<Response, ErrorCode> {
    let session = core.session;
    let op = frame.op;
    match frame.req {
        Request::Ping => Ok(Response::Empty),
        Request::Exists { path, watch } => {
            valid(&path)?;
            let stat = core.tree.get(&path).map(|n| n.client_stat());
            if watch {
                core.watches.add(Kind::Data, &path, session);
            }
            stat.map(Response::Stat).ok_or(ErrorCode::NoNode)
        }
        Request::GetData { path, watch } => {
            valid(&path)?;
            readable(core, &path)?;
            if watch {
                core.watches.add(Kind::Data, &path, session);
            }
            let n = core.tree.get(&path).ok_or(ErrorCode::NoNode)?;
            Ok(Response::Data(n.data.as_ref().map(|d| d.to_vec()), n.client_stat()))
        }
        Request::GetChildren { path, watch } => {
            valid(&path)?;
            readable(core, &path)?;
            if watch {
                core.watches.add(Kind::Child, &path, session);
            }
            let n = core.tree.get(&path).ok_or(ErrorCode::NoNode)?;
            let children: Vec<String> = n.children.iter().cloned().collect();
            Ok(if op == OpCode::GetChildren2 { Response::Children2(children, n.client_stat()) } else { Response::Children(children) })
        }
        Request::GetAcl { path } => {
            valid(&path)?;
            let n = core.tree.get(&path).ok_or(ErrorCode::NoNode)?;
            let auth = core.auth;
            if !auth.allowed(&n.acl, perms::READ | perms::ADMIN) {
                return Err(ErrorCode::NoAuth);
            }
            let mut acl = n.acl.as_ref().clone();
            // Without ADMIN, digest hashes are not shown (ZOOKEEPER-1392).
            if !auth.allowed(&n.acl, perms::ADMIN) {
                for a in &mut acl {
                    if a.id.scheme == "digest" {
                        let user = a.id.id.split(':').next().unwrap_or("").to_string();
                        a.id.id = format!("{user}:x");
                    }
                }
            }
            Ok(Response::Acl(acl, n.client_stat()))
        }
        Request::GetAllChildrenNumber { path } => {
            valid(&path)?;
            readable(core, &path)?;
            Ok(Response::Number(core.tree.all_children_number(&path)))
        }
        Request::GetEphemerals { prefix } => {
            let list = core
                .tree
                .ephemerals_of(session)
                .map(|s| s.iter().filter(|p| prefix.is_empty() || prefix == "/" || p.starts_with(&prefix)).cloned().collect())
                .unwrap_or_default();
            Ok(Response::Paths(list))
        }
        Request::Multi(ops) => {
            let mut out = Vec::with_capacity(ops.len());
            for (_, sub) in ops {
                let r = match sub {
                    Request::GetData { path, .. } => valid(&path).and_then(|_| readable(core, &path)).and_then(|_| {
                        let n = core.tree.get(&path).ok_or(ErrorCode::NoNode)?;
                        Ok(OpResult::GetData { data: n.data.as_ref().map(|d| d.to_vec()), stat: n.client_stat() })
                    }),
                    Request::GetChildren { path, .. } => valid(&path).and_then(|_| readable(core, &path)).and_then(|_| {
                        let n = core.tree.get(&path).ok_or(ErrorCode::NoNode)?;
                        Ok(OpResult::GetChildren(n.children.iter().cloned().collect()))
                    }),
                    _ => Err(ErrorCode::BadArguments),
                };
                out.push(r.unwrap_or_else(|e| OpResult::Error(e.code())));
            }
            Ok(Response::Multi(out))
        }
        Request::WhoAmI => {
            let auth = core.auth;
            Ok(Response::WhoAmI(auth.client_info()))
        }
        Request::SetWatches(sw) => {
            set_watches(core, sw, events);
            Ok(Response::Empty)
        }
        Request::AddWatch { path, mode } => {
            valid(&path)?;
            let kind = match mode {
                ADD_WATCH_PERSISTENT => Kind::Persistent,
                ADD_WATCH_PERSISTENT_RECURSIVE => Kind::Recursive,
                _ => return Err(ErrorCode::BadArguments),
            };
            if let Some(n) = core.tree.get(&path) {
                let auth = core.auth;
                if !auth.allowed(&n.acl, perms::READ) {
                    return Err(ErrorCode::NoAuth);
                }
            }
            core.watches.add(kind, &path, session);
            // ZooKeeper answers addWatch with an ErrorResponse body (an int, 0).
            Ok(Response::Number(0))
        }
        Request::CheckWatches { path, typ } => {
            if core.watches.check(&path, typ, session) {
                Ok(Response::Empty)
            } else {
                Err(ErrorCode::NoWatcher)
            }
        }
        Request::RemoveWatches { path, typ } => {
            if core.watches.remove(&path, typ, session) {
                Ok(Response::Empty)
            } else {
                Err(ErrorCode::NoWatcher)
            }
        }
        _ => Err(ErrorCode::Unimplemented),
    }
}

/// setWatches after a reconnect: fires at once what changed since `relative_zxid`,
/// registers the rest.
fn set_watches(core: &mut ReadCtx, sw: SetWatches, out: &mut Vec<Bytes>) {
    let session = core.session;
    let rel = sw.relative_zxid;
    let mut events: Vec<(EventType, String)> = Vec::new();
    for p in sw.data {
        match core.tree.get(&p) {
            None => events.push((EventType::NodeDeleted, p)),
            Some(n) if n.stat.mzxid > rel => events.push((EventType::NodeDataChanged, p)),
            Some(_) => core.watches.add(Kind::Data, &p, session),
        }
    }
    for p in sw.exist {
        if core.tree.get(&p).is_some() {
            events.push((EventType::NodeCreated, p));
        } else {
            core.watches.add(Kind::Data, &p, session);
        }
    }
    for p in sw.child {
        match core.tree.get(&p) {
            None => events.push((EventType::NodeDeleted, p)),
            Some(n) if n.stat.pzxid > rel => events.push((EventType::NodeChildrenChanged, p)),
            Some(_) => core.watches.add(Kind::Child, &p, session),
        }
    }
    for p in sw.persistent {
        core.watches.add(Kind::Persistent, &p, session);
    }
    for p in sw.recursive {
        core.watches.add(Kind::Recursive, &p, session);
    }
    let zxid = core.tree.last_zxid;
    for (ev, path) in events {
        out.push(event_frame(zxid.0, &WatcherEvent { typ: ev as i32, state: STATE_SYNC_CONNECTED, path }));
    }
}
