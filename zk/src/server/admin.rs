//! The AdminServer's commands (`GET <admin.commandURL>/<name>`), answered as ZooKeeper 3.8's
//! JettyAdminServer answers them: a JSON object holding `"command"` (the primary name) and
//! `"error"` (null, or a message), plus each command's fields under 3.8's names.
//!
//! Where it sits: [`super::http`] receives the HTTP request and sends
//! [`super::core::CoreMsg::Admin`] over the core's channel; the core calls [`command`] with a
//! read-only [`View`] (the same one the four-letter words see) and sends the rendered answer
//! back. Everything here is a pure function of the view, so it is unit-tested without a server.
//!
//! Checked against Debian's Apache ZooKeeper 3.8.0 (tests/zk/test_admin_metrics.py). One
//! deliberate difference: an unknown command is answered with HTTP 404 (3.8.0 answers 200;
//! the JSON body, `{"command": <name>, "error": "Unknown command: <name>"}`, is the same),
//! so that a monitoring probe of a misspelt command fails visibly. `dump`'s expiry times are
//! wall-clock ms (3.8's are its monotonic clock's ms), rounded up to the tick as 3.8's.
//!
//! Differences from 3.8, each because we have no such state: `hash`, `zabstate`,
//! `observers`, `get_trace_mask`/`set_trace_mask` and `observer_connection_stat_reset` are not
//! offered; `environment` and `system_properties` report this process, not a JVM.

use super::fourlw::{self, Mv, View, VERSION};
use super::roles::Role;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Every command: (primary name, aliases). The primary name is what `"command"` holds.
pub const COMMANDS: &[(&str, &[&str])] = &[
    ("configuration", &["conf", "config"]),
    ("connection_stat_reset", &["crst"]),
    ("connections", &["cons"]),
    ("dirs", &[]),
    ("dump", &[]),
    ("environment", &["env", "envi"]),
    ("initial_configuration", &["icfg"]),
    ("is_read_only", &["isro"]),
    ("last_snapshot", &["lsnp"]),
    ("leader", &["lead"]),
    ("monitor", &["mntr"]),
    ("ruok", &[]),
    ("server_stats", &["srvr"]),
    ("stat_reset", &["srst"]),
    ("stats", &["stat"]),
    ("system_properties", &["sysp"]),
    ("voting_view", &[]),
    ("watch_summary", &["wchs"]),
    ("watches", &["wchc"]),
    ("watches_by_path", &["wchp"]),
];

/// 3.8's message for a command that needs a running server while there is no leader.
const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// The primary name of a command or alias.
pub fn primary(name: &str) -> Option<&'static str> {
    COMMANDS.iter().find(|(p, a)| *p == name || a.contains(&name)).map(|(p, _)| *p)
}

/// The page at `admin.commandURL` itself: a link per command, as 3.8's CommandListServlet.
pub fn list_page(base: &str) -> String {
    COMMANDS.iter().map(|(p, _)| format!("<a href=\"{base}/{p}\">{p}</a><br/>\n")).collect()
}

/// The answer to one command: HTTP status, the JSON object, and the reset it asks the core
/// to apply afterwards (crst/srst), if any.
pub fn command(core: &View, name: &str) -> (u16, Value, Option<fourlw::Reset>) {
    let Some(cmd) = primary(name) else {
        return (404, json!({"command": name, "error": format!("Unknown command: {name}")}), None);
    };
    let mut m = Map::new();
    m.insert("command".into(), Value::from(cmd));
    m.insert("error".into(), Value::Null);
    let serving = core.role != Role::Electing;
    let needs_server = !matches!(cmd, "environment" | "monitor" | "system_properties");
    if needs_server && !serving {
        m.insert("error".into(), Value::from(NOT_SERVING));
        return (200, Value::Object(m), None);
    }
    let mut reset = None;
    match cmd {
        "ruok" => {}
        "configuration" => m.extend(configuration(core)),
        "connections" => {
            m.insert("connections".into(), connections(core, true));
            m.insert("secure_connections".into(), json!([]));
        }
        "connection_stat_reset" => reset = Some(fourlw::Reset::Connections),
        "stat_reset" => reset = Some(fourlw::Reset::Server),
        "dirs" => {
            m.insert("datadir_size".into(), json!(fourlw::dir_size(&core.cfg.snap_dir())));
            m.insert("logdir_size".into(), json!(fourlw::dir_size(&core.cfg.log_dir())));
        }
        "dump" => {
            m.insert("expiry_time_to_session_ids".into(), expiry_map(core));
            let mut eph = Map::new();
            for (id, paths) in core.tree.ephemeral_owners() {
                eph.insert(id.0.to_string(), json!(paths.iter().collect::<Vec<_>>()));
            }
            m.insert("session_id_to_ephemeral_paths".into(), Value::Object(eph));
        }
        "environment" => m.extend(environment()),
        "system_properties" => m.extend(system_properties(core)),
        "initial_configuration" => {
            let text = core.cfg.source.as_ref().and_then(|p| std::fs::read_to_string(p).ok());
            m.insert("initial_configuration".into(), text.map_or(Value::Null, Value::from));
        }
        "is_read_only" => {
            m.insert("read_only".into(), json!(core.log_blocked));
        }
        "last_snapshot" => {
            let (zxid, ts) = last_snapshot(core);
            m.insert("zxid".into(), json!(zxid));
            m.insert("timestamp".into(), json!(ts));
        }
        "leader" => {
            if core.standalone {
                // 3.8 answers this for quorum members only.
                m.insert("error".into(), json!("server is not initialized"));
            } else {
                let leader = match core.role {
                    Role::Leader => Some(core.my_id),
                    Role::Follower(l) => Some(l),
                    Role::Electing => None,
                };
                m.insert("is_leader".into(), json!(core.role == Role::Leader));
                m.insert("leader_id".into(), json!(leader.map_or(-1, |l| l as i64)));
                let ip = leader.and_then(|l| core.cfg.servers.get(&l)).map(|p| format!("{}:{}", p.host, p.peer_port)).unwrap_or_default();
                m.insert("leader_ip".into(), json!(ip));
            }
        }
        "monitor" => {
            for (k, v) in fourlw::monitor_values(core) {
                m.insert(k.into(), mv_json(v));
            }
        }
        "server_stats" | "stats" => {
            m.insert("version".into(), json!(VERSION));
            m.insert("read_only".into(), json!(core.log_blocked));
            m.insert("server_stats".into(), server_stats(core));
            m.insert("client_response".into(), client_response());
            m.insert("node_count".into(), json!(core.tree.node_count()));
            if cmd == "stats" {
                // 3.8 lists the brief form here and the full one under `connections`.
                m.insert("connections".into(), connections(core, false));
                m.insert("secure_connections".into(), json!([]));
            }
        }
        "voting_view" => {
            let mut view = Map::new();
            if !core.standalone {
                for (id, p) in &core.cfg.servers {
                    view.insert(id.to_string(), json!(format!("{}:{}:{}:participant", p.host, p.peer_port, p.election_port)));
                }
            }
            m.insert("current_config".into(), Value::Object(view));
        }
        "watch_summary" => {
            m.insert("num_connections".into(), json!(core.watches.session_count()));
            m.insert("num_paths".into(), json!(core.watches.path_count()));
            m.insert("num_total_watches".into(), json!(core.watches.count()));
        }
        "watches" => {
            let mut w = Map::new();
            for (sess, paths) in core.watches.by_session() {
                w.insert(sess.0.to_string(), json!(paths));
            }
            m.insert("session_id_to_watched_paths".into(), Value::Object(w));
        }
        "watches_by_path" => {
            let mut w = Map::new();
            for (path, sessions) in core.watches.by_path() {
                w.insert(path, json!(sessions.iter().map(|s| s.0).collect::<Vec<_>>()));
            }
            m.insert("path_to_session_ids".into(), Value::Object(w));
        }
        _ => {}
    }
    (200, Value::Object(m), reset)
}

fn mv_json(v: Mv) -> Value {
    match v {
        Mv::Int(i) => json!(i),
        Mv::Float(x) => json!(x),
        Mv::Str(s) => json!(s),
    }
}

fn ms(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// 3.8's ZooKeeperServerConf keys.
fn configuration(core: &View) -> Map<String, Value> {
    let cfg = core.cfg;
    let mut m = Map::new();
    m.insert("client_port".into(), json!(cfg.client_port));
    m.insert("data_dir".into(), json!(cfg.snap_dir().display().to_string()));
    m.insert("data_log_dir".into(), json!(cfg.log_dir().display().to_string()));
    m.insert("tick_time".into(), json!(cfg.tick_time));
    m.insert("max_client_cnxns".into(), json!(cfg.max_client_cnxns));
    m.insert("min_session_timeout".into(), json!(cfg.min_session_timeout));
    m.insert("max_session_timeout".into(), json!(cfg.max_session_timeout));
    m.insert("server_id".into(), json!(if core.standalone { 0 } else { core.my_id }));
    m.insert("client_port_listen_backlog".into(), json!(-1));
    m
}

/// 3.8's ServerCnxn connection info: the full form for `connections`, the brief one (five
/// counters) for `stats`.
fn connections(core: &View, full: bool) -> Value {
    let mut conns: Vec<_> = core.conns.values().collect();
    conns.sort_by_key(|c| c.addr);
    let list = conns
        .into_iter()
        .map(|c| {
            let s = &c.stats;
            let mut m = Map::new();
            m.insert("remote_socket_address".into(), json!(c.addr.to_string()));
            m.insert("interest_ops".into(), json!(1));
            m.insert("outstanding_requests".into(), json!(0));
            m.insert("packets_received".into(), json!(s.received));
            m.insert("packets_sent".into(), json!(s.sent));
            if full {
                let (min, avg) = if s.count == 0 { (0, 0) } else { (s.min_latency, s.total_latency / s.count) };
                m.insert("session_id".into(), json!(format!("{:x}", c.session)));
                m.insert("last_operation".into(), json!(s.last_op));
                m.insert("established".into(), json!(ms(s.established)));
                m.insert("session_timeout".into(), json!(core.sessions.get(c.session).map_or(0, |x| x.timeout)));
                m.insert("last_cxid".into(), json!(format!("{:#x}", s.last_cxid)));
                m.insert("last_zxid".into(), json!(format!("{:#x}", s.last_zxid.0)));
                m.insert("last_response_time".into(), json!(ms(s.last_response)));
                m.insert("last_latency".into(), json!(s.last_latency));
                m.insert("min_latency".into(), json!(min));
                m.insert("avg_latency".into(), json!(avg));
                m.insert("max_latency".into(), json!(s.max_latency));
            }
            Value::Object(m)
        })
        .collect();
    Value::Array(list)
}

/// 3.8's ServerStats object (`server_stats` in srvr/stat).
fn server_stats(core: &View) -> Value {
    let (min, avg, max) = core.stats.latency();
    json!({
        "packets_sent": core.stats.sent,
        "packets_received": core.stats.received,
        "fsync_threshold_exceed_count": 0,
        "client_response_stats": client_response(),
        "max_latency": max,
        "min_latency": min,
        "avg_latency": avg,
        "data_dir_size": fourlw::dir_size(&core.cfg.snap_dir()),
        "log_dir_size": fourlw::dir_size(&core.cfg.log_dir()),
        "last_processed_zxid": core.tree.last_zxid.0,
        "outstanding_requests": core.outstanding,
        "server_state": fourlw::mode(core),
        "num_alive_client_connections": core.conns.len(),
        "provider_null": false,
        "uptime": core.started.elapsed().map(|d| d.as_millis() as u64).unwrap_or(0),
        "auth_failed_count": 0,
        "non_mtlsremote_conn_count": 0,
        "non_mtlslocal_conn_count": 0,
    })
}

/// Response-size statistics are not kept: -1 is 3.8's value before the first response.
fn client_response() -> Value {
    json!({"last_buffer_size": -1, "min_buffer_size": -1, "max_buffer_size": -1})
}

/// Expiry time (wall clock, ms, rounded up to the tick as 3.8's buckets) -> session ids.
fn expiry_map(core: &View) -> Value {
    let now = tokio::time::Instant::now();
    let wall = ms(std::time::SystemTime::now());
    let tick = core.cfg.tick_time.max(1) as i64;
    let mut by_time: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (id, deadline) in core.sessions.deadlines() {
        let left = deadline.saturating_duration_since(now).as_millis() as i64;
        let at = (wall + left + tick - 1) / tick * tick;
        by_time.entry(at).or_default().push(id.0);
    }
    let mut m = Map::new();
    for (t, mut ids) in by_time {
        ids.sort_unstable();
        m.insert(t.to_string(), json!(ids));
    }
    Value::Object(m)
}

/// (zxid in hex, modification time in seconds) of the newest snapshot, ("-1", -1) if none.
fn last_snapshot(core: &View) -> (String, i64) {
    let Some(p) = core.last_snapshot else { return ("-1".into(), -1) };
    let zxid = p.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix("snapshot.")).unwrap_or("-1").to_string();
    let ts = std::fs::metadata(p).and_then(|m| m.modified()).map(|t| ms(t) / 1000).unwrap_or(-1);
    (zxid, ts)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string()
}

/// The `environment` keys 3.8 lists that a process without a JVM can fill.
fn environment() -> Map<String, Value> {
    let mut m = Map::new();
    let os = if std::env::consts::OS == "linux" { "Linux" } else { std::env::consts::OS };
    let arch = if std::env::consts::ARCH == "x86_64" { "amd64" } else { std::env::consts::ARCH };
    m.insert("zookeeper.version".into(), json!(VERSION));
    m.insert("host.name".into(), json!(host_name()));
    m.insert("os.name".into(), json!(os));
    m.insert("os.arch".into(), json!(arch));
    m.insert("os.version".into(), json!(std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim()));
    m.insert("user.name".into(), json!(std::env::var("USER").unwrap_or_else(|_| "root".into())));
    m.insert("user.home".into(), json!(std::env::var("HOME").unwrap_or_default()));
    m.insert("user.dir".into(), json!(std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default()));
    m.insert("java.io.tmpdir".into(), json!(std::env::temp_dir().display().to_string()));
    m
}

/// What 3.8 takes as system properties and this server as configuration keys, plus the
/// process facts `environment` reports.
fn system_properties(core: &View) -> Map<String, Value> {
    let cfg = core.cfg;
    let mut m = environment();
    m.remove("zookeeper.version");
    m.remove("host.name");
    m.insert("file.separator".into(), json!("/"));
    m.insert("line.separator".into(), json!("\n"));
    m.insert("path.separator".into(), json!(":"));
    m.insert("jute.maxbuffer".into(), json!(cfg.jute_max_buffer.to_string()));
    m.insert("zookeeper.extendedTypesEnabled".into(), json!(cfg.extended_types_enabled.to_string()));
    m.insert("zookeeper.forceSync".into(), json!(if cfg.force_sync { "yes" } else { "no" }));
    m.insert("zookeeper.admin.enableServer".into(), json!(cfg.admin_enable_server.to_string()));
    m.insert("zookeeper.admin.serverAddress".into(), json!(cfg.admin_server_address));
    m.insert("zookeeper.admin.serverPort".into(), json!(cfg.admin_server_port.to_string()));
    m.insert("zookeeper.admin.commandURL".into(), json!(cfg.admin_command_url));
    m.insert("zookeeper.admin.idleTimeout".into(), json!(cfg.admin_idle_timeout_ms.to_string()));
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::server::stats::ServerStats;
    use crate::session::SessionTracker;
    use crate::tree::DataTree;
    use crate::watch::WatchManager;
    use std::collections::HashMap;

    struct Parts {
        cfg: Config,
        tree: DataTree,
        sessions: SessionTracker,
        watches: WatchManager,
        conns: HashMap<crate::ids::ConnId, super::super::core::Conn>,
        stats: ServerStats,
    }

    fn parts() -> Parts {
        let cfg = Config::from_str("dataDir=/nonexistent-rzk-test\n4lw.commands.whitelist=*\n").unwrap_or_default();
        Parts {
            cfg,
            tree: DataTree::default(),
            sessions: SessionTracker::new(1, 1_700_000_000_000),
            watches: WatchManager::default(),
            conns: HashMap::new(),
            stats: ServerStats::new(),
        }
    }

    fn view(p: &Parts, role: Role) -> View<'_> {
        View {
            cfg: &p.cfg,
            my_id: 1,
            standalone: true,
            role,
            log_blocked: false,
            tree: &p.tree,
            sessions: &p.sessions,
            watches: &p.watches,
            conns: &p.conns,
            stats: &p.stats,
            started: std::time::SystemTime::now(),
            outstanding: 0,
            metrics: None,
            last_snapshot: None,
        }
    }

    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        k.sort();
        k
    }

    #[test]
    fn every_answer_names_its_command_and_error() {
        let p = parts();
        let v = view(&p, Role::Leader);
        for (name, aliases) in COMMANDS {
            for n in std::iter::once(name).chain(aliases.iter()) {
                let (status, body, _) = command(&v, n);
                assert_eq!(status, 200, "{n}");
                assert_eq!(body["command"], json!(name), "{n}");
                assert!(body.get("error").is_some(), "{n}");
            }
        }
        assert_eq!(command(&v, "ruok").1, json!({"command": "ruok", "error": null}));
    }

    #[test]
    fn unknown_command_is_404_with_error() {
        let p = parts();
        let (status, body, reset) = command(&view(&p, Role::Leader), "nope");
        assert_eq!(status, 404);
        assert_eq!(body, json!({"command": "nope", "error": "Unknown command: nope"}));
        assert!(reset.is_none());
    }

    #[test]
    fn monitor_has_mntr_keys_and_values() {
        let p = parts();
        let v = view(&p, Role::Leader);
        let (_, body, _) = command(&v, "mntr");
        for k in ["version", "server_state", "avg_latency", "znode_count", "watch_count", "ephemerals_count", "approximate_data_size", "num_alive_connections", "outstanding_requests", "packets_received", "packets_sent", "open_file_descriptor_count", "uptime"] {
            assert!(body.get(k).is_some(), "missing {k}");
        }
        assert_eq!(body["znode_count"], json!(p.tree.node_count()));
        assert_eq!(body["server_state"], json!("standalone"));
        let text = fourlw::answer(&v, "mntr").0;
        assert!(text.contains(&format!("zk_znode_count\t{}\n", p.tree.node_count())), "{text}");
    }

    #[test]
    fn documented_key_sets() {
        let p = parts();
        let v = view(&p, Role::Leader);
        let k = |n: &str| keys(&command(&v, n).1);
        assert_eq!(k("watch_summary"), ["command", "error", "num_connections", "num_paths", "num_total_watches"]);
        assert_eq!(k("dump"), ["command", "error", "expiry_time_to_session_ids", "session_id_to_ephemeral_paths"]);
        assert_eq!(k("is_read_only"), ["command", "error", "read_only"]);
        assert_eq!(k("dirs"), ["command", "datadir_size", "error", "logdir_size"]);
        assert_eq!(k("last_snapshot"), ["command", "error", "timestamp", "zxid"]);
        assert_eq!(k("connections"), ["command", "connections", "error", "secure_connections"]);
        assert_eq!(k("configuration"), ["client_port", "client_port_listen_backlog", "command", "data_dir", "data_log_dir", "error", "max_client_cnxns", "max_session_timeout", "min_session_timeout", "server_id", "tick_time"]);
        assert_eq!(k("server_stats"), ["client_response", "command", "error", "node_count", "read_only", "server_stats", "version"]);
        assert!(k("stats").contains(&"connections".to_string()) && k("stats").contains(&"secure_connections".to_string()));
        assert_eq!(k("voting_view"), ["command", "current_config", "error"]);
        assert_eq!(command(&v, "leader").1["error"], json!("server is not initialized"));
    }

    #[test]
    fn not_serving_while_electing() {
        let p = parts();
        let v = view(&p, Role::Electing);
        assert_eq!(command(&v, "dump").1["error"], json!(NOT_SERVING));
        assert_eq!(command(&v, "environment").1["error"], Value::Null);
    }

    #[test]
    fn resets_are_reported() {
        let p = parts();
        let v = view(&p, Role::Leader);
        assert_eq!(command(&v, "crst").2, Some(fourlw::Reset::Connections));
        assert_eq!(command(&v, "stat_reset").2, Some(fourlw::Reset::Server));
        assert!(list_page("/commands").contains("<a href=\"/commands/monitor\">monitor</a>"));
    }
}
