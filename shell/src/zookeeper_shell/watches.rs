//! Watches set by `get -w`, `stat -w`, `ls -w` and `addWatch`, and how their notifications
//! print (`WATCHER::` then `WatchedEvent state:SyncConnected type:NodeDataChanged path:/x`).
//!
//! zkCli registers every watch with one default watcher, so a path watched twice notifies
//! once; the registry here keeps one live watch per (path, kind) the same way. Each live watch
//! is a task waiting on the client's watcher; `removewatches` cancels the task, which drops the
//! watcher and makes the client remove the watch on the server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use zookeeper_client::{EventType, OneshotWatcher, PersistentWatcher, SessionState, WatchedEvent};

use super::output::Console;

/// What a watch is waiting for. Data covers `get -w` and `stat -w` on an existing node; Exist
/// is `stat -w` on a missing node; Child is `ls -w`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatchKind {
    Data,
    Exist,
    Child,
    Persistent,
    PersistentRecursive,
}

impl WatchKind {
    /// The event zkCli prints when a watch of this kind is removed.
    fn removed_event(self) -> &'static str {
        match self {
            WatchKind::Data | WatchKind::Exist => "DataWatchRemoved",
            WatchKind::Child => "ChildWatchRemoved",
            WatchKind::Persistent | WatchKind::PersistentRecursive => "PersistentWatchRemoved",
        }
    }
}

/// Which kinds `removewatches -c|-d|-a` selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoveKind {
    Children,
    Data,
    Any,
}

impl RemoveKind {
    fn selects(self, kind: WatchKind) -> bool {
        match self {
            RemoveKind::Children => kind == WatchKind::Child,
            RemoveKind::Data => matches!(kind, WatchKind::Data | WatchKind::Exist),
            RemoveKind::Any => true,
        }
    }
}

struct Entry {
    id: u64,
    cancel: oneshot::Sender<()>,
}

/// The next watch id and the live watches by (path, kind).
type Entries = (u64, HashMap<(String, WatchKind), Entry>);

/// The live watches of one connection.
pub struct WatchRegistry {
    console: Arc<Console>,
    print_watches: Arc<AtomicBool>,
    entries: Mutex<Entries>,
}

/// The four lines zkCli prints for an event: a blank line, `WATCHER::`, a blank line, the event.
pub fn event_block(state: &str, event_type: &str, path: Option<&str>) -> String {
    format!("\nWATCHER::\n\nWatchedEvent state:{state} type:{event_type} path:{}", path.unwrap_or("null"))
}

/// Java's KeeperState name for a session state.
pub fn state_name(state: SessionState) -> &'static str {
    match state {
        SessionState::Disconnected => "Disconnected",
        SessionState::SyncConnected => "SyncConnected",
        SessionState::AuthFailed => "AuthFailed",
        SessionState::ConnectedReadOnly => "ConnectedReadOnly",
        SessionState::Expired => "Expired",
        SessionState::Closed => "Closed",
    }
}

fn event_type_name(t: EventType) -> &'static str {
    match t {
        EventType::Session => "None",
        EventType::NodeCreated => "NodeCreated",
        EventType::NodeDeleted => "NodeDeleted",
        EventType::NodeDataChanged => "NodeDataChanged",
        EventType::NodeChildrenChanged => "NodeChildrenChanged",
    }
}

impl WatchRegistry {
    pub fn new(console: Arc<Console>, print_watches: Arc<AtomicBool>) -> Arc<Self> {
        Arc::new(Self { console, print_watches, entries: Mutex::new((0, HashMap::new())) })
    }

    fn print_event(&self, event: &WatchedEvent) {
        // Session events reach every watcher; the connection's state task prints them once.
        if event.event_type == EventType::Session {
            return;
        }
        if self.print_watches.load(Ordering::SeqCst) {
            let text = event_block(state_name(event.session_state), event_type_name(event.event_type), Some(&event.path));
            self.console.event(&text);
        }
    }

    /// Reserves (path, kind); `None` if a watch of that kind is already live on the path.
    fn reserve(&self, path: &str, kind: WatchKind) -> Option<(u64, oneshot::Receiver<()>)> {
        let mut guard = self.entries.lock().ok()?;
        let (next_id, map) = &mut *guard;
        let key = (path.to_string(), kind);
        if map.contains_key(&key) {
            return None;
        }
        *next_id += 1;
        let (cancel, cancelled) = oneshot::channel();
        map.insert(key, Entry { id: *next_id, cancel });
        Some((*next_id, cancelled))
    }

    fn release(&self, path: &str, kind: WatchKind, id: u64) {
        if let Ok(mut guard) = self.entries.lock() {
            let key = (path.to_string(), kind);
            if guard.1.get(&key).is_some_and(|e| e.id == id) {
                guard.1.remove(&key);
            }
        }
    }

    /// Tracks a one-shot watch; prints its event when it fires.
    pub fn add_oneshot(self: &Arc<Self>, path: &str, kind: WatchKind, watcher: OneshotWatcher) {
        // A second watch of the same kind on the same path is dropped: the first one stays
        // registered on the server and notifies once, as zkCli's single default watcher does.
        let Some((id, cancelled)) = self.reserve(path, kind) else {
            return;
        };
        let registry = Arc::clone(self);
        let path = path.to_string();
        tokio::spawn(async move {
            tokio::select! {
                event = watcher.changed() => {
                    registry.release(&path, kind, id);
                    registry.print_event(&event);
                }
                _ = cancelled => {}
            }
        });
    }

    /// Tracks a persistent (or persistent recursive) watch; prints every event until removed
    /// or the session ends.
    pub fn add_persistent(self: &Arc<Self>, path: &str, kind: WatchKind, mut watcher: PersistentWatcher) {
        let Some((id, mut cancelled)) = self.reserve(path, kind) else {
            return;
        };
        let registry = Arc::clone(self);
        let path = path.to_string();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    event = watcher.changed() => {
                        if event.event_type == EventType::Session && event.session_state.is_terminated() {
                            // The client panics on polling past a terminal event; stop here.
                            registry.release(&path, kind, id);
                            return;
                        }
                        registry.print_event(&event);
                    }
                    _ = &mut cancelled => return,
                }
            }
        });
    }

    /// Removes the watches on `path` selected by `which`; returns the kinds removed (empty if
    /// there were none, which zkCli reports as `No such watcher`).
    pub fn remove(&self, path: &str, which: RemoveKind) -> Vec<WatchKind> {
        let Ok(mut guard) = self.entries.lock() else {
            return Vec::new();
        };
        let keys: Vec<(String, WatchKind)> =
            guard.1.keys().filter(|(p, k)| p == path && which.selects(*k)).cloned().collect();
        let mut removed = Vec::new();
        for key in keys {
            if let Some(entry) = guard.1.remove(&key) {
                // Cancelling drops the client's watcher, which removes the watch on the server.
                let _ = entry.cancel.send(());
                removed.push(key.1);
            }
        }
        removed
    }

    /// Prints the local notification zkCli shows after removing a watch of `kind`.
    pub fn print_removed(&self, path: &str, kind: WatchKind) {
        if self.print_watches.load(Ordering::SeqCst) {
            self.console.event(&event_block("SyncConnected", kind.removed_event(), Some(path)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_format() {
        assert_eq!(
            event_block("SyncConnected", "None", None),
            "\nWATCHER::\n\nWatchedEvent state:SyncConnected type:None path:null"
        );
        assert_eq!(
            event_block("SyncConnected", "NodeDataChanged", Some("/a")),
            "\nWATCHER::\n\nWatchedEvent state:SyncConnected type:NodeDataChanged path:/a"
        );
    }

    #[test]
    fn remove_kinds() {
        assert!(RemoveKind::Data.selects(WatchKind::Exist));
        assert!(!RemoveKind::Data.selects(WatchKind::Child));
        assert!(RemoveKind::Any.selects(WatchKind::Persistent));
    }
}
