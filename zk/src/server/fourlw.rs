//! Four-letter words on the client port (ruok, srvr, stat, conf, cons, crst, srst, dump, envi,
//! mntr, wchs, wchc, wchp, dirs, isro), formatted as ZooKeeper 3.8 prints them so that
//! tools parsing them (kazoo's `server_version`, zktop, monitoring scripts) work unchanged.
//! The connection answers `ruok` itself; the rest are computed from a read-only [`View`] of
//! the core. The two that change something (crst, srst) return a [`Reset`] the core applies.

use super::core::Conn;
use super::roles::Role;
use super::stats::ServerStats;
use crate::config::Config;
use crate::ids::ConnId;
use crate::quorum::NodeId;
use crate::session::SessionTracker;
use crate::tree::DataTree;
use crate::watch::WatchManager;
use std::collections::HashMap;
use std::fmt::Write;

/// What the four-letter words see of the core.
pub struct View<'a> {
    pub cfg: &'a Config,
    pub my_id: NodeId,
    pub standalone: bool,
    pub role: Role,
    /// This member's log cannot be written (read-only mode).
    pub log_blocked: bool,
    pub tree: &'a DataTree,
    pub sessions: &'a SessionTracker,
    pub watches: &'a WatchManager,
    pub conns: &'a HashMap<ConnId, Conn>,
    pub stats: &'a ServerStats,
    pub started: std::time::SystemTime,
    pub outstanding: usize,
    pub metrics: Option<&'a openraft::RaftMetrics<NodeId, openraft::BasicNode>>,
    /// The newest snapshot file on disk, if any (the admin server's `last_snapshot`).
    pub last_snapshot: Option<&'a std::path::Path>,
}

/// Counters a four-letter word resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reset {
    /// crst: every connection's counters.
    Connections,
    /// srst: the server's counters.
    Server,
}

pub const VERSION: &str = "3.8.0-rzk-0.1.0, built on 2026-11-21 00:00 UTC";

/// Is this 4-byte prefix a four-letter word rather than a frame length?
pub fn is_four_letter(b: &[u8; 4]) -> Option<&'static str> {
    crate::config::FOUR_LETTER_WORDS.iter().copied().find(|w| w.as_bytes() == b)
}

pub fn not_allowed(cmd: &str) -> String {
    format!("{cmd} is not executed because it is not in the whitelist.\n")
}

pub fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p).map(|rd| rd.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()).unwrap_or(0)
}

fn latency(core: &View) -> (u64, f64, u64) {
    core.stats.latency()
}

fn clients(core: &View, full: bool) -> String {
    let mut out = String::new();
    let mut conns: Vec<_> = core.conns.values().collect();
    conns.sort_by_key(|c| c.addr);
    for c in conns {
        let s = &c.stats;
        if full {
            let ms = |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
            let (min, avg) = if s.count == 0 { (0, 0) } else { (s.min_latency, s.total_latency / s.count) };
            let to = core.sessions.get(c.session).map_or(0, |x| x.timeout);
            let _ = writeln!(
                out,
                " /{}[1](queued=0,recved={},sent={},sid={:#x},lop={},est={},to={},lcxid={:#x},lzxid={:#x},lresp={},llat={},minlat={},avglat={},maxlat={})",
                c.addr, s.received, s.sent, c.session, s.last_op, ms(s.established), to, s.last_cxid, s.last_zxid, ms(s.last_response), s.last_latency, min, avg, s.max_latency
            );
        } else {
            let _ = writeln!(out, " /{}[1](queued=0,recved={},sent={})", c.addr, s.received, s.sent);
        }
    }
    out
}

/// One `mntr` value: printed after its key by `mntr`, a JSON value in the admin server's
/// `monitor`, a gauge sample in the Prometheus exposition (strings are not exported there).
#[derive(Debug, Clone, PartialEq)]
pub enum Mv {
    Int(i64),
    Float(f64),
    Str(String),
}

impl std::fmt::Display for Mv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mv::Int(i) => write!(f, "{i}"),
            Mv::Float(x) => write!(f, "{x:.4}"),
            Mv::Str(s) => f.write_str(s),
        }
    }
}

/// The number of open file descriptors and their limit (from /proc; 0 where unknown).
pub fn file_descriptors() -> (i64, i64) {
    let fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as i64).unwrap_or(0);
    let max = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| l.lines().find(|x| x.starts_with("Max open files")).and_then(|x| x.split_whitespace().nth(3).and_then(|v| v.parse().ok())))
        .unwrap_or(0);
    (fds, max)
}

/// `mntr`'s values, keys without the `zk_` prefix, in `mntr`'s order: the one computation
/// behind `mntr`, the admin server's `monitor` and the Prometheus `/metrics`.
pub fn monitor_values(core: &View) -> Vec<(&'static str, Mv)> {
    let (min, avg, max) = latency(core);
    let (fds, max_fds) = file_descriptors();
    let n = |x: usize| Mv::Int(x as i64);
    let u = |x: u64| Mv::Int(x.min(i64::MAX as u64) as i64);
    let mut v = vec![
        ("version", Mv::Str(VERSION.to_string())),
        ("server_state", Mv::Str(mode(core).into())),
        ("avg_latency", Mv::Float(avg)),
        ("max_latency", u(max)),
        ("min_latency", u(min)),
        ("packets_received", u(core.stats.received)),
        ("packets_sent", u(core.stats.sent)),
        ("num_alive_connections", n(core.conns.len())),
        ("outstanding_requests", n(core.outstanding)),
        ("znode_count", n(core.tree.node_count())),
        ("watch_count", n(core.watches.count())),
        ("ephemerals_count", n(core.tree.ephemeral_count())),
        ("approximate_data_size", u(core.tree.approximate_data_size() as u64)),
        ("open_file_descriptor_count", Mv::Int(fds)),
        ("max_file_descriptor_count", Mv::Int(max_fds)),
        ("global_sessions", n(core.sessions.len())),
        ("local_sessions", Mv::Int(0)),
        ("uptime", u(core.started.elapsed().map(|d| d.as_millis() as u64).unwrap_or(0))),
    ];
    if core.role == Role::Leader && !core.standalone {
        let (f, synced) = followers(core);
        v.push(("learners", n(f)));
        v.push(("followers", n(f)));
        v.push(("synced_followers", n(synced)));
        v.push(("pending_syncs", Mv::Int(0)));
        // A leader's gauge in 3.8 (absent on a standalone server); -1 = no size recorded.
        v.push(("last_proposal_size", Mv::Int(-1)));
    }
    v
}

/// `Mode:` as ZooKeeper prints it.
pub fn mode(core: &View) -> &'static str {
    if core.log_blocked && core.role != Role::Electing {
        return "read-only";
    }
    match core.role {
        Role::Leader if core.standalone => "standalone",
        Role::Leader => "leader",
        Role::Follower(_) => "follower",
        Role::Electing => "electing",
    }
}

/// (followers, synced followers) as the leader sees them: members replicating from it, and
/// those whose matched log index is within a heartbeat's worth of its own.
pub fn followers(core: &View) -> (usize, usize) {
    let Some(m) = core.metrics else { return (0, 0) };
    let Some(rep) = &m.replication else { return (0, 0) };
    let last = m.last_log_index.unwrap_or(0);
    let others: Vec<_> = rep.iter().filter(|(id, _)| **id != core.my_id).collect();
    let synced = others.iter().filter(|(_, l)| l.is_some_and(|l| l.index + 1000 >= last)).count();
    (others.len(), synced)
}

const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

fn server_lines(core: &View) -> String {
    let (min, avg, max) = latency(core);
    format!(
        "Latency min/avg/max: {min}/{avg:.4}/{max}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: {}\nZxid: {:#x}\nMode: {}\nNode count: {}\n",
        core.stats.received,
        core.stats.sent,
        core.conns.len(),
        core.outstanding,
        core.tree.last_zxid,
        mode(core),
        core.tree.node_count()
    )
}

/// The answer to a (whitelisted or not) four-letter word, and what it resets, if anything.
pub fn answer(core: &View, cmd: &str) -> (String, Option<Reset>) {
    let text = text(core, cmd);
    let executed = core.cfg.allows_4lw(cmd) && core.role != Role::Electing;
    let reset = match cmd {
        "crst" if executed => Some(Reset::Connections),
        "srst" if executed => Some(Reset::Server),
        _ => None,
    };
    (text, reset)
}

fn text(core: &View, cmd: &str) -> String {
    if !core.cfg.allows_4lw(cmd) {
        return not_allowed(cmd);
    }
    let cfg = core.cfg;
    let serving = core.role != Role::Electing;
    if !serving && !matches!(cmd, "ruok" | "isro" | "conf" | "envi" | "dirs") {
        return NOT_SERVING.into();
    }
    match cmd {
        "ruok" => "imok".into(),
        // A member without a leader serves nothing (no read-only mode): "null", as ZooKeeper.
        // "ro" while the log cannot be written (writes are refused, reads served).
        "isro" => if !serving { "null".into() } else if core.log_blocked { "ro".into() } else { "rw".into() },
        "srvr" => format!("Zookeeper version: {VERSION}\n{}", server_lines(core)),
        "stat" => format!("Zookeeper version: {VERSION}\nClients:\n{}\n{}", clients(core, false), server_lines(core)),
        "cons" => format!("{}\n", clients(core, true)),
        "crst" => "Connection stats reset.\n".into(),
        "srst" => "Server stats reset.\n".into(),
        "conf" => format!(
            "clientPort={}\nsecureClientPort=-1\ndataDir={}\ndataDirSize={}\ndataLogDir={}\ndataLogSize={}\ntickTime={}\nmaxClientCnxns={}\nminSessionTimeout={}\nmaxSessionTimeout={}\nclientPortListenBacklog=-1\nserverId={}\n{}",
            cfg.client_port,
            cfg.snap_dir().display(),
            dir_size(&cfg.snap_dir()),
            cfg.log_dir().display(),
            dir_size(&cfg.log_dir()),
            cfg.tick_time,
            cfg.max_client_cnxns,
            cfg.min_session_timeout,
            cfg.max_session_timeout,
            if core.standalone { 0 } else { core.my_id },
            if core.standalone {
                String::new()
            } else {
                let mut m = format!("initLimit={}\nsyncLimit={}\n", cfg.init_limit, cfg.sync_limit);
                for (id, p) in &cfg.servers {
                    let _ = writeln!(m, "server.{id}={}:{}:{}:participant", p.host, p.peer_port, p.election_port);
                }
                m
            }
        ),
        "envi" => {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            let osver = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
            let cwd = std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default();
            format!(
                "Environment:\nzookeeper.version={VERSION}\nhost.name={}\nserver.implementation=rust\nos.name={}\nos.arch={}\nos.version={}\nuser.name={}\nuser.home={}\nuser.dir={}\n",
                host.trim(),
                if std::env::consts::OS == "linux" { "Linux" } else { std::env::consts::OS },
                if std::env::consts::ARCH == "x86_64" { "amd64" } else { std::env::consts::ARCH },
                osver.trim(),
                std::env::var("USER").unwrap_or_else(|_| "root".into()),
                std::env::var("HOME").unwrap_or_default(),
                cwd
            )
        }
        "mntr" => {
            let mut s = String::new();
            for (k, v) in monitor_values(core) {
                let _ = writeln!(s, "zk_{k}\t{v}");
            }
            s
        }
        "wchs" => format!(
            "{} connections watching {} paths\nTotal watches:{}\n",
            core.watches.session_count(),
            core.watches.path_count(),
            core.watches.count()
        ),
        "wchc" => {
            let mut s = String::new();
            for (sess, paths) in core.watches.by_session() {
                let _ = writeln!(s, "{sess:#x}");
                for p in paths {
                    let _ = writeln!(s, "\t{p}");
                }
            }
            s
        }
        "wchp" => {
            let mut s = String::new();
            for (path, sessions) in core.watches.by_path() {
                let _ = writeln!(s, "{path}");
                for sess in sessions {
                    let _ = writeln!(s, "\t{sess:#x}");
                }
            }
            s
        }
        "dump" => {
            let mut s = String::new();
            let table = core.sessions.table();
            let _ = writeln!(s, "SessionTracker dump:\nGlobal Sessions({}):", table.len());
            for (id, to) in &table {
                let _ = writeln!(s, "{id:#x}\t{to}ms");
            }
            let mut owners: Vec<_> = core.tree.ephemeral_owners().collect();
            owners.sort_by_key(|(id, _)| **id);
            let _ = writeln!(s, "ephemeral nodes dump:\nSessions with Ephemerals ({}):", owners.len());
            for (id, paths) in owners {
                let _ = writeln!(s, "{id:#x}:");
                for p in paths {
                    let _ = writeln!(s, "\t{p}");
                }
            }
            let _ = writeln!(s, "Connections dump:\nConnections Sets (1)/({}):", core.conns.len());
            s
        }
        "dirs" => format!("datadir_size: {}\nlogdir_size: {}\n", dir_size(&cfg.snap_dir()), dir_size(&cfg.log_dir())),
        other => format!("Unknown command {other}\n"),
    }
}
