//! Watches: one-shot data/exist/child watches and persistent (recursive) watches, keyed by
//! session. The core registers them when reads ask for them and calls [`WatchManager::trigger`]
//! with each apply trigger; the events it returns are sent to those sessions' connections
//! before the reply of the write that caused them, as ZooKeeper does.
//!
//! Watches are local to the server the client is connected to and belong to its current
//! connection: a reconnecting client re-registers them with setWatches.

use crate::ids::SessionId;
use crate::proto::{watcher_type, EventType};
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// getData/exists watch (exists on a missing node too: it fires NodeCreated).
    Data,
    Child,
    Persistent,
    Recursive,
}

#[derive(Default)]
pub struct WatchManager {
    by_path: HashMap<Kind, HashMap<String, HashSet<SessionId>>>,
    by_session: HashMap<SessionId, HashSet<(Kind, String)>>,
}

impl WatchManager {
    pub fn add(&mut self, kind: Kind, path: &str, session: SessionId) {
        self.by_path.entry(kind).or_default().entry(path.to_string()).or_default().insert(session);
        self.by_session.entry(session).or_default().insert((kind, path.to_string()));
    }

    fn remove_one(&mut self, kind: Kind, path: &str, session: SessionId) -> bool {
        let mut removed = false;
        if let Some(m) = self.by_path.get_mut(&kind) {
            if let Some(s) = m.get_mut(path) {
                removed = s.remove(&session);
                if s.is_empty() {
                    m.remove(path);
                }
            }
        }
        if let Some(s) = self.by_session.get_mut(&session) {
            s.remove(&(kind, path.to_string()));
            if s.is_empty() {
                self.by_session.remove(&session);
            }
        }
        removed
    }

    fn has(&self, kind: Kind, path: &str, session: SessionId) -> bool {
        self.by_path.get(&kind).and_then(|m| m.get(path)).is_some_and(|s| s.contains(&session))
    }

    fn kinds(typ: i32) -> &'static [Kind] {
        match typ {
            watcher_type::CHILDREN => &[Kind::Child],
            watcher_type::DATA => &[Kind::Data],
            watcher_type::PERSISTENT => &[Kind::Persistent],
            watcher_type::PERSISTENT_RECURSIVE => &[Kind::Recursive],
            _ => &[Kind::Child, Kind::Data, Kind::Persistent, Kind::Recursive],
        }
    }

    /// checkWatches: does `session` hold a watch of this type on `path`?
    pub fn check(&self, path: &str, typ: i32, session: SessionId) -> bool {
        Self::kinds(typ).iter().any(|k| self.has(*k, path, session))
    }

    /// removeWatches: removes them; false when there was none (NoWatcher).
    pub fn remove(&mut self, path: &str, typ: i32, session: SessionId) -> bool {
        let mut any = false;
        for k in Self::kinds(typ) {
            any |= self.remove_one(*k, path, session);
        }
        any
    }

    /// Drops every watch of a session (its connection closed or it expired).
    pub fn remove_session(&mut self, session: SessionId) {
        if let Some(set) = self.by_session.remove(&session) {
            for (kind, path) in set {
                if let Some(m) = self.by_path.get_mut(&kind) {
                    if let Some(s) = m.get_mut(&path) {
                        s.remove(&session);
                        if s.is_empty() {
                            m.remove(&path);
                        }
                    }
                }
            }
        }
    }

    fn take(&mut self, kind: Kind, path: &str, out: &mut Vec<SessionId>) {
        if let Some(set) = self.by_path.get_mut(&kind).and_then(|m| m.remove(path)) {
            for s in set {
                if let Some(ss) = self.by_session.get_mut(&s) {
                    ss.remove(&(kind, path.to_string()));
                    if ss.is_empty() {
                        self.by_session.remove(&s);
                    }
                }
                out.push(s);
            }
        }
    }

    fn peek(&self, kind: Kind, path: &str, out: &mut Vec<SessionId>) {
        if let Some(set) = self.by_path.get(&kind).and_then(|m| m.get(path)) {
            out.extend(set.iter().copied());
        }
    }

    /// Fires what `event` on `path` triggers; returns the sessions to notify (each once).
    /// One-shot watches are consumed; persistent ones stay.
    pub fn trigger(&mut self, event: EventType, path: &str) -> Vec<SessionId> {
        let mut out = Vec::new();
        match event {
            EventType::NodeChildrenChanged => {
                self.take(Kind::Child, path, &mut out);
                self.peek(Kind::Persistent, path, &mut out);
            }
            EventType::NodeCreated | EventType::NodeDataChanged | EventType::NodeDeleted => {
                self.take(Kind::Data, path, &mut out);
                if event == EventType::NodeDeleted {
                    self.take(Kind::Child, path, &mut out);
                }
                self.peek(Kind::Persistent, path, &mut out);
                if self.by_path.get(&Kind::Recursive).is_some_and(|m| !m.is_empty()) {
                    let mut p = path;
                    loop {
                        self.peek(Kind::Recursive, p, &mut out);
                        if p == "/" {
                            break;
                        }
                        p = crate::tree::parent_of(p);
                    }
                }
            }
            _ => {}
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    pub fn count(&self) -> usize {
        self.by_path.values().map(|m| m.values().map(|s| s.len()).sum::<usize>()).sum()
    }

    pub fn path_count(&self) -> usize {
        let mut paths: HashSet<&String> = HashSet::new();
        for m in self.by_path.values() {
            paths.extend(m.keys());
        }
        paths.len()
    }

    pub fn session_count(&self) -> usize {
        self.by_session.len()
    }

    /// `wchc`: session -> paths.
    pub fn by_session(&self) -> BTreeMap<SessionId, Vec<String>> {
        self.by_session
            .iter()
            .map(|(s, set)| {
                let mut v: Vec<String> = set.iter().map(|(_, p)| p.clone()).collect();
                v.sort();
                v.dedup();
                (*s, v)
            })
            .collect()
    }

    /// `wchp`: path -> sessions.
    pub fn by_path(&self) -> BTreeMap<String, Vec<SessionId>> {
        let mut out: BTreeMap<String, Vec<SessionId>> = BTreeMap::new();
        for m in self.by_path.values() {
            for (p, s) in m {
                out.entry(p.clone()).or_default().extend(s.iter().copied());
            }
        }
        for v in out.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(ns: &[i64]) -> Vec<SessionId> {
        ns.iter().map(|n| SessionId(*n)).collect()
    }

    #[test]
    fn one_shot_and_persistent() {
        let mut w = WatchManager::default();
        w.add(Kind::Data, "/a", SessionId(1));
        w.add(Kind::Child, "/a", SessionId(1));
        w.add(Kind::Child, "/", SessionId(2));
        w.add(Kind::Persistent, "/a", SessionId(3));
        w.add(Kind::Recursive, "/", SessionId(4));
        assert_eq!(w.trigger(EventType::NodeDataChanged, "/a"), ids(&[1, 3, 4]));
        assert_eq!(w.trigger(EventType::NodeDataChanged, "/a"), ids(&[3, 4]), "data watch was one-shot");
        // Deleted fires the child watch too, but session 1 only once.
        w.add(Kind::Data, "/a", SessionId(1));
        assert_eq!(w.trigger(EventType::NodeDeleted, "/a"), ids(&[1, 3, 4]));
        // Recursive watches do not get child events.
        assert_eq!(w.trigger(EventType::NodeChildrenChanged, "/"), ids(&[2]));
        assert!(w.check("/a", watcher_type::PERSISTENT, SessionId(3)));
        assert!(!w.check("/a", watcher_type::DATA, SessionId(3)));
        assert!(w.remove("/a", watcher_type::ANY, SessionId(3)));
        assert!(!w.remove("/a", watcher_type::ANY, SessionId(3)));
        w.remove_session(SessionId(4));
        assert_eq!(w.count(), 0);
    }

    #[test]
    fn recursive_covers_descendants() {
        let mut w = WatchManager::default();
        w.add(Kind::Recursive, "/a", SessionId(9));
        assert_eq!(w.trigger(EventType::NodeCreated, "/a/b/c"), ids(&[9]));
        assert_eq!(w.trigger(EventType::NodeCreated, "/ab"), Vec::<SessionId>::new());
        assert_eq!(w.by_session().get(&SessionId(9)).unwrap(), &vec!["/a".to_string()]);
    }
}
