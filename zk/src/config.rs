//! `zookeeper.properties`: the configuration file users know from Kafka's distribution.
//!
//! Read once at startup, before anything is opened. Unknown keys are warned about by name;
//! a bad value is a one-line error naming the key, and the server does not start.
//! Keys that Apache ZooKeeper takes as system properties (`jute.maxbuffer`,
//! `extendedTypesEnabled`, `superDigest`, `zookeeper.*`) are plain keys here.
//!
//! Observability keys (served by `server::http`):
//!
//! | key | default here | Apache 3.8 default | meaning |
//! |---|---|---|---|
//! | `admin.enableServer` | `false` | `true` | start the AdminServer (HTTP, JSON commands) |
//! | `admin.serverAddress` | `0.0.0.0` | `0.0.0.0` | its listen address |
//! | `admin.serverPort` | `8080` | `8080` | its port |
//! | `admin.commandURL` | `/commands` | `/commands` | the URL listing the commands; `<url>/<name>` runs one |
//! | `admin.idleTimeout` | `30000` | `30000` | ms an HTTP connection is kept (the request in hand is finished; clients reconnect) |
//! | `metricsProvider.className` | none | DefaultMetricsProvider | `org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider` serves `/metrics` |
//! | `metricsProvider.httpHost` | `0.0.0.0` | `0.0.0.0` | its listen address |
//! | `metricsProvider.httpPort` | `7000` | `7000` | its port |
//!
//! The AdminServer is off by default (Apache's is on) because it answers every command,
//! `dump` and `connections` included, without the four-letter-word whitelist; turn it on
//! where its port is not reachable by clients. The `zookeeper.`-prefixed forms of the
//! `admin.*` keys (Apache's system properties) are accepted too.
//!
//! Authentication keys (ZooKeeper 3.8 takes them as `zookeeper.<key>` system properties, and
//! copies unknown zoo.cfg keys to `zookeeper.<key>`; here both spellings are keys, and
//! [`Config::load_with_env`] reads the `-Dzookeeper.<key>=...` words of `SERVER_JVMFLAGS`,
//! `JVMFLAGS` and `KAFKA_OPTS` under the file, which wins):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `authProvider.<n>` | none | `org.apache.zookeeper.server.auth.SASLAuthenticationProvider` enables SASL (DIGEST-MD5); `digest`/`ip` are always there |
//! | `jaasLoginConfig` (ours) | none | the JAAS file (as `-Djava.security.auth.login.config=`, which is read too) |
//! | `sasl.serverconfig` | `Server` | the JAAS section with `DigestLoginModule` and `user_<name>="<pw>"` |
//! | `superUser` | none | a `sasl` user who is the super user |
//! | `kerberos.removeHostFromPrincipal` / `kerberos.removeRealmFromPrincipal` | false | trim `user/host@REALM` names |
//! | `sessionRequireClientSASLAuth` | false | sessions must authenticate with SASL before any operation |
//! | `enforce.auth.enabled` / `enforce.auth.schemes` | false / none | sessions must authenticate with one of the schemes |
//! | `allowSaslFailedClients` | false | keep a connection whose SASL failed (when SASL is not required) |

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub host: String,
    pub peer_port: u16,
    pub election_port: u16,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub data_log_dir: PathBuf,
    pub client_port: u16,
    pub client_port_address: String,
    pub max_client_cnxns: usize,
    pub tick_time: u32,
    pub init_limit: u32,
    pub sync_limit: u32,
    pub min_session_timeout: u32,
    pub max_session_timeout: u32,
    pub snap_count: u64,
    pub autopurge_snap_retain_count: usize,
    pub autopurge_purge_interval: u32,
    /// `None` = every command allowed (`*`).
    pub four_letter_whitelist: Option<HashSet<String>>,
    pub jute_max_buffer: usize,
    pub extended_types_enabled: bool,
    /// `zookeeper.enforceQuota`: hard quota limits refuse writes (QuotaExceeded).
    pub enforce_quota: bool,
    pub super_digest: Option<String>,
    /// `authProvider.N=...SASLAuthenticationProvider`: SASL (DIGEST-MD5) is offered.
    pub sasl_provider: bool,
    /// The JAAS login file (`jaasLoginConfig`, or `-Djava.security.auth.login.config`).
    pub jaas_login_config: Option<PathBuf>,
    /// `sasl.serverconfig`: the JAAS section of the server (`Server`).
    pub sasl_server_section: String,
    /// The DIGEST-MD5 users of that section (filled by [`Config::load_sasl_users`]).
    pub sasl_users: BTreeMap<String, String>,
    /// A JAAS server section was loaded: the SASL exchange (opcode 102) is served.
    pub sasl_server: bool,
    /// `superUser`: the `sasl` identity that is the super user.
    pub super_user: Option<String>,
    pub kerberos_remove_host: bool,
    pub kerberos_remove_realm: bool,
    /// `sessionRequireClientSASLAuth`.
    pub session_require_sasl: bool,
    /// `enforce.auth.enabled` and `enforce.auth.schemes`.
    pub enforce_auth_enabled: bool,
    pub enforce_auth_schemes: Vec<String>,
    pub allow_sasl_failed_clients: bool,
    /// `reconfigEnabled` (dynamic reconfiguration is not implemented: when false, reconfig is
    /// answered ReconfigDisabled as ZooKeeper does).
    pub reconfig_enabled: bool,
    pub container_check_interval_ms: u64,
    pub force_sync: bool,
    pub servers: BTreeMap<u64, Peer>,
    /// `admin.enableServer`: start the HTTP AdminServer (default false; Apache's is true).
    pub admin_enable_server: bool,
    pub admin_server_address: String,
    pub admin_server_port: u16,
    /// `admin.commandURL`, starting with `/`, without a trailing `/`.
    pub admin_command_url: String,
    pub admin_idle_timeout_ms: u64,
    /// `metricsProvider.className`, if set.
    pub metrics_provider: Option<String>,
    pub metrics_http_host: String,
    pub metrics_http_port: u16,
    pub source: Option<PathBuf>,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0}: cannot read config file: {1}")]
    Read(String, String),
    #[error("invalid value for {key}: {value:?} ({why})")]
    Value { key: String, value: String, why: String },
    #[error("missing required key {0}")]
    Missing(&'static str),
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::new(),
            data_log_dir: PathBuf::new(),
            client_port: 2181,
            client_port_address: "0.0.0.0".into(),
            max_client_cnxns: 0,
            tick_time: 2000,
            init_limit: 10,
            sync_limit: 5,
            min_session_timeout: 0,
            max_session_timeout: 0,
            snap_count: 100_000,
            autopurge_snap_retain_count: 3,
            autopurge_purge_interval: 0,
            // ZooKeeper 3.8 allows only `srvr` by default; `ruok` and `isro` are added because
            // health checks (and the README) rely on them and they reveal nothing.
            four_letter_whitelist: Some(["srvr", "ruok", "isro"].iter().map(|s| s.to_string()).collect()),
            jute_max_buffer: 0xfffff,
            extended_types_enabled: false,
            enforce_quota: false,
            super_digest: None,
            sasl_provider: false,
            jaas_login_config: None,
            sasl_server_section: "Server".into(),
            sasl_users: BTreeMap::new(),
            sasl_server: false,
            super_user: None,
            kerberos_remove_host: false,
            kerberos_remove_realm: false,
            session_require_sasl: false,
            enforce_auth_enabled: false,
            enforce_auth_schemes: Vec::new(),
            allow_sasl_failed_clients: false,
            reconfig_enabled: false,
            container_check_interval_ms: 60_000,
            force_sync: true,
            servers: BTreeMap::new(),
            admin_enable_server: false,
            admin_server_address: "0.0.0.0".into(),
            admin_server_port: 8080,
            admin_command_url: "/commands".into(),
            admin_idle_timeout_ms: 30_000,
            metrics_provider: None,
            metrics_http_host: "0.0.0.0".into(),
            metrics_http_port: 7000,
            source: None,
            warnings: Vec::new(),
        }
    }
}

/// Every four-letter word the server knows (for `*` and validation).
pub const FOUR_LETTER_WORDS: &[&str] =
    &["ruok", "srvr", "stat", "conf", "cons", "crst", "dump", "envi", "mntr", "wchs", "wchc", "wchp", "dirs", "isro", "srst"];

fn num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, ConfigError> {
    v.trim().parse::<T>().map_err(|_| ConfigError::Value { key: key.into(), value: v.into(), why: "not a valid number".into() })
}

fn boolean(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" => Ok(true),
        "false" | "no" => Ok(false),
        _ => Err(ConfigError::Value { key: key.into(), value: v.into(), why: "expected true or false".into() }),
    }
}

/// The metrics provider that serves `/metrics`.
pub const PROMETHEUS_PROVIDER: &str = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";
/// Apache's default provider: no endpoint.
pub const DEFAULT_PROVIDER: &str = "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider";

fn address(key: &str, v: &str) -> Result<String, ConfigError> {
    if v == "localhost" {
        return Ok("127.0.0.1".into());
    }
    if v.parse::<std::net::IpAddr>().is_err() {
        return Err(ConfigError::Value { key: key.into(), value: v.into(), why: "not an IP address".into() });
    }
    Ok(v.into())
}

fn port(key: &str, v: &str) -> Result<u16, ConfigError> {
    let p: u32 = num(key, v)?;
    if p == 0 || p > 65535 {
        return Err(ConfigError::Value { key: key.into(), value: v.into(), why: "port must be 1..65535".into() });
    }
    Ok(p as u16)
}

/// Parses `key=value` / `key: value` lines; `#` and `!` start comments.
pub fn parse_properties(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with('!') {
            continue;
        }
        let idx = l.find(['=', ':']);
        let (k, v) = match idx {
            Some(i) => (l[..i].trim(), l[i + 1..].trim()),
            None => (l, ""),
        };
        out.push((k.to_string(), v.to_string()));
    }
    out
}

/// `authProvider.N` values.
pub const SASL_PROVIDER: &str = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider";
pub const DIGEST_PROVIDER: &str = "org.apache.zookeeper.server.auth.DigestAuthenticationProvider";
pub const IP_PROVIDER: &str = "org.apache.zookeeper.server.auth.IPAuthenticationProvider";

/// System properties that are configuration keys here besides `zookeeper.*` ones.
const PLAIN_SYSPROPS: &[&str] = &["java.security.auth.login.config", "jute.maxbuffer"];

impl Config {
    /// [`Config::load`] with the `-D` system properties of the server start scripts' variables
    /// (`JVMFLAGS`, `SERVER_JVMFLAGS`, `KAFKA_OPTS`) under the file's keys, then the JAAS users.
    pub fn load_with_env(path: &Path) -> Result<Config, ConfigError> {
        let props = jaas::sysprops::from_env(jaas::sysprops::ZOOKEEPER_SERVER_VARS);
        Config::load_with_props(path, &props)
    }

    pub fn load_with_props(path: &Path, props: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let file = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.display().to_string(), e.to_string()))?;
        let mut text = String::new();
        for (k, v) in props {
            if k.starts_with("zookeeper.") || PLAIN_SYSPROPS.contains(&k.as_str()) {
                // A property this server has no key for is the JVM's business: not warned about.
                let probe = Config::from_str(&format!("dataDir=/x\n{k}={v}\n"));
                if probe.as_ref().is_ok_and(|c| c.warnings.is_empty()) || probe.is_err() {
                    text.push_str(&format!("{k}={v}\n"));
                }
            }
        }
        text.push_str(&file);
        let mut c = Config::from_str(&text)?;
        c.source = Some(path.to_path_buf());
        c.load_sasl_users()?;
        Ok(c)
    }

    /// `AuthenticationHelper.isSaslAuthRequired`.
    pub fn sasl_required(&self) -> bool {
        self.enforce_auth_enabled && self.enforce_auth_schemes.iter().any(|s| s == "sasl")
    }

    /// Whether an authentication provider exists for `scheme` (ProviderRegistry).
    pub fn has_provider(&self, scheme: &str) -> bool {
        matches!(scheme, "digest" | "ip") || (scheme == "sasl" && self.sasl_provider)
    }

    /// Reads the DIGEST-MD5 users of the JAAS server section when SASL is enabled. A named
    /// file that cannot be read or parsed, a missing section, or a Kerberos (GSSAPI) login
    /// module is an error: the server does not start.
    pub fn load_sasl_users(&mut self) -> Result<(), ConfigError> {
        let Some(path) = self.jaas_login_config.clone() else {
            if self.sasl_provider {
                self.warnings.push(format!("{SASL_PROVIDER} is configured but no JAAS file (jaasLoginConfig or -Djava.security.auth.login.config): every SASL attempt fails"));
            }
            return Ok(());
        };
        let key = "jaasLoginConfig";
        let bad = |why: String| ConfigError::Value { key: key.into(), value: path.display().to_string(), why };
        let jaas = jaas::JaasConfig::load(&path).map_err(|e| bad(e.to_string()))?;
        let Some(entries) = jaas.section(&self.sasl_server_section) else {
            return Err(bad(format!("no {:?} section in the JAAS file", self.sasl_server_section)));
        };
        for e in entries {
            match e.module_name() {
                "DigestLoginModule" => self.sasl_users.extend(e.users()),
                "Krb5LoginModule" => return Err(bad("GSSAPI (Kerberos, Krb5LoginModule) is not supported by this server; use DigestLoginModule (DIGEST-MD5)".into())),
                other => return Err(bad(format!("login module {other} is not supported; use org.apache.zookeeper.server.auth.DigestLoginModule"))),
            }
        }
        self.sasl_server = true;
        if self.sasl_users.is_empty() {
            self.warnings.push(format!("JAAS section {:?} names no user_<name> entries: every SASL attempt fails", self.sasl_server_section));
        }
        Ok(())
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.display().to_string(), e.to_string()))?;
        let mut c = Config::from_str(&text)?;
        c.source = Some(path.to_path_buf());
        Ok(c)
    }

    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        let mut data_dir = None;
        let mut data_log_dir = None;
        for (k, v) in parse_properties(text) {
            let key = k.as_str();
            match key {
                "dataDir" => data_dir = Some(PathBuf::from(&v)),
                "dataLogDir" => data_log_dir = Some(PathBuf::from(&v)),
                "clientPort" => c.client_port = port(key, &v)?,
                "clientPortAddress" => {
                    if v.parse::<std::net::IpAddr>().is_err() && v != "localhost" {
                        return Err(ConfigError::Value { key: k, value: v, why: "not an IP address".into() });
                    }
                    c.client_port_address = if v == "localhost" { "127.0.0.1".into() } else { v };
                }
                "maxClientCnxns" => c.max_client_cnxns = num(key, &v)?,
                "tickTime" => {
                    c.tick_time = num(key, &v)?;
                    if c.tick_time == 0 {
                        return Err(ConfigError::Value { key: k, value: v, why: "must be positive".into() });
                    }
                }
                "initLimit" => c.init_limit = num(key, &v)?,
                "syncLimit" => c.sync_limit = num(key, &v)?,
                "minSessionTimeout" => c.min_session_timeout = num(key, &v)?,
                "maxSessionTimeout" => c.max_session_timeout = num(key, &v)?,
                "snapCount" => {
                    c.snap_count = num(key, &v)?;
                    if c.snap_count < 2 {
                        return Err(ConfigError::Value { key: k, value: v, why: "must be at least 2".into() });
                    }
                }
                "autopurge.snapRetainCount" => c.autopurge_snap_retain_count = num(key, &v)?,
                "autopurge.purgeInterval" => c.autopurge_purge_interval = num(key, &v)?,
                "4lw.commands.whitelist" => {
                    let words: Vec<String> = v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
                    if words.iter().any(|w| w == "*") {
                        c.four_letter_whitelist = None;
                    } else {
                        for w in &words {
                            if !FOUR_LETTER_WORDS.contains(&w.as_str()) {
                                c.warnings.push(format!("4lw.commands.whitelist: unknown command {w:?} ignored"));
                            }
                        }
                        c.four_letter_whitelist = Some(words.into_iter().collect());
                    }
                }
                "jute.maxbuffer" => {
                    c.jute_max_buffer = num(key, &v)?;
                    if c.jute_max_buffer < 1024 {
                        return Err(ConfigError::Value { key: k, value: v, why: "must be at least 1024".into() });
                    }
                }
                "extendedTypesEnabled" | "zookeeper.extendedTypesEnabled" => c.extended_types_enabled = boolean(key, &v)?,
                "enforceQuota" | "zookeeper.enforceQuota" => c.enforce_quota = boolean(key, &v)?,
                "superDigest" | "zookeeper.DigestAuthenticationProvider.superDigest" => {
                    if !v.contains(':') {
                        return Err(ConfigError::Value { key: k, value: v, why: "expected user:base64digest".into() });
                    }
                    c.super_digest = Some(v);
                }
                "znode.container.checkIntervalMs" | "zookeeper.znode.container.checkIntervalMs" => {
                    c.container_check_interval_ms = num(key, &v)?;
                    if c.container_check_interval_ms == 0 {
                        return Err(ConfigError::Value { key: k, value: v, why: "must be positive".into() });
                    }
                }
                "forceSync" | "zookeeper.forceSync" => c.force_sync = boolean(key, &v)?,
                "admin.enableServer" | "zookeeper.admin.enableServer" => c.admin_enable_server = boolean(key, &v)?,
                "admin.serverAddress" | "zookeeper.admin.serverAddress" => c.admin_server_address = address(key, &v)?,
                "admin.serverPort" | "zookeeper.admin.serverPort" => c.admin_server_port = port(key, &v)?,
                "admin.commandURL" | "zookeeper.admin.commandURL" => {
                    let url = v.trim_end_matches('/');
                    if !url.starts_with('/') || url.contains(char::is_whitespace) {
                        return Err(ConfigError::Value { key: k, value: v, why: "expected a path such as /commands".into() });
                    }
                    c.admin_command_url = url.to_string();
                }
                "admin.idleTimeout" | "zookeeper.admin.idleTimeout" => {
                    c.admin_idle_timeout_ms = num(key, &v)?;
                    if c.admin_idle_timeout_ms == 0 {
                        return Err(ConfigError::Value { key: k, value: v, why: "must be positive".into() });
                    }
                }
                "metricsProvider.className" => {
                    if v != PROMETHEUS_PROVIDER && v != DEFAULT_PROVIDER {
                        return Err(ConfigError::Value { key: k, value: v, why: format!("supported: {PROMETHEUS_PROVIDER}, {DEFAULT_PROVIDER}") });
                    }
                    c.metrics_provider = Some(v);
                }
                "metricsProvider.httpHost" => c.metrics_http_host = address(key, &v)?,
                "metricsProvider.httpPort" => c.metrics_http_port = port(key, &v)?,
                "metricsProvider.exportJvmInfo" => {
                    boolean(key, &v)?;
                }
"reconfigEnabled" => c.reconfig_enabled = boolean(key, &v)?,
                _ if key.starts_with("authProvider.") || key.starts_with("zookeeper.authProvider.") => {
                    match v.as_str() {
                        SASL_PROVIDER => c.sasl_provider = true,
                        DIGEST_PROVIDER | IP_PROVIDER => {}
                        _ => return Err(ConfigError::Value { key: k, value: v, why: format!("supported: {SASL_PROVIDER}") }),
                    }
                }
                "jaasLoginConfig" | "java.security.auth.login.config" => {
                    let p = v.trim_start_matches('=');
                    let p = p.strip_prefix("file://").or_else(|| p.strip_prefix("file:")).unwrap_or(p);
                    c.jaas_login_config = Some(PathBuf::from(p));
                }
                "sasl.serverconfig" | "zookeeper.sasl.serverconfig" => c.sasl_server_section = v,
                "superUser" | "zookeeper.superUser" => c.super_user = Some(v),
                "kerberos.removeHostFromPrincipal" | "zookeeper.kerberos.removeHostFromPrincipal" => c.kerberos_remove_host = boolean(key, &v)?,
                "kerberos.removeRealmFromPrincipal" | "zookeeper.kerberos.removeRealmFromPrincipal" => c.kerberos_remove_realm = boolean(key, &v)?,
                "sessionRequireClientSASLAuth" | "zookeeper.sessionRequireClientSASLAuth" => c.session_require_sasl = boolean(key, &v)?,
                "enforce.auth.enabled" | "zookeeper.enforce.auth.enabled" => c.enforce_auth_enabled = boolean(key, &v)?,
                "enforce.auth.schemes" | "zookeeper.enforce.auth.schemes" => {
                    c.enforce_auth_schemes = v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
                }
                "allowSaslFailedClients" | "zookeeper.allowSaslFailedClients" => c.allow_sasl_failed_clients = boolean(key, &v)?,
                "standaloneEnabled" | "quorumListenOnAllIPs" | "electionAlg" | "peerType" => {}
                _ if key.starts_with("server.") => {
                    let id: u64 = key["server.".len()..]
                        .parse()
                        .map_err(|_| ConfigError::Value { key: k.clone(), value: v.clone(), why: "server id must be a number".into() })?;
                    let spec = v.split(';').next().unwrap_or("");
                    let parts: Vec<&str> = spec.split(':').collect();
                    if parts.len() < 3 {
                        return Err(ConfigError::Value { key: k, value: v, why: "expected host:peerPort:electionPort".into() });
                    }
                    let peer = Peer { host: parts[0].to_string(), peer_port: port(key, parts[1])?, election_port: port(key, parts[2])? };
                    c.servers.insert(id, peer);
                }
                _ => c.warnings.push(format!("unknown configuration key {key:?} ignored")),
            }
        }
        let data_dir = data_dir.ok_or(ConfigError::Missing("dataDir"))?;
        if data_dir.as_os_str().is_empty() {
            return Err(ConfigError::Value { key: "dataDir".into(), value: String::new(), why: "must not be empty".into() });
        }
        c.data_log_dir = data_log_dir.unwrap_or_else(|| data_dir.clone());
        c.data_dir = data_dir;
        if c.min_session_timeout == 0 {
            c.min_session_timeout = 2 * c.tick_time;
        }
        if c.max_session_timeout == 0 {
            c.max_session_timeout = 20 * c.tick_time;
        }
        // AuthenticationHelper: sessionRequireClientSASLAuth means enforcing `sasl`.
        if c.session_require_sasl {
            c.enforce_auth_enabled = true;
            c.enforce_auth_schemes = vec!["sasl".into()];
        }
        if c.enforce_auth_enabled {
            if c.enforce_auth_schemes.is_empty() {
                return Err(ConfigError::Value { key: "enforce.auth.schemes".into(), value: String::new(), why: "required when enforce.auth.enabled=true".into() });
            }
            for s in &c.enforce_auth_schemes {
                if !c.has_provider(s) {
                    return Err(ConfigError::Value { key: "enforce.auth.schemes".into(), value: s.clone(), why: "no authentication provider for this scheme".into() });
                }
            }
        }
        if c.min_session_timeout > c.max_session_timeout {
            return Err(ConfigError::Value {
                key: "minSessionTimeout".into(),
                value: c.min_session_timeout.to_string(),
                why: format!("greater than maxSessionTimeout {}", c.max_session_timeout),
            });
        }
        Ok(c)
    }

    /// The largest request frame (after the length prefix): `jute.maxbuffer` itself, as
    /// ZooKeeper 3.8's `NIOServerCnxn.readLength` checks (a longer frame closes the
    /// connection; `jute.maxbuffer.extrasize` is only for records inside the frame).
    pub fn max_frame(&self) -> usize {
        self.jute_max_buffer
    }

    /// Whether `/metrics` is served (the Prometheus provider is configured).
    pub fn prometheus_enabled(&self) -> bool {
        self.metrics_provider.as_deref() == Some(PROMETHEUS_PROVIDER)
    }

    pub fn allows_4lw(&self, cmd: &str) -> bool {
        self.four_letter_whitelist.as_ref().is_none_or(|w| w.contains(cmd))
    }

    pub fn snap_dir(&self) -> PathBuf {
        self.data_dir.join("version-2")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.data_log_dir.join("version-2")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_default_file() {
        let c = Config::from_str("# comment\ndataDir=/tmp/zookeeper\nclientPort=2181\nmaxClientCnxns=0\nadmin.enableServer=false\n").unwrap();
        assert_eq!(c.client_port, 2181);
        assert_eq!(c.data_log_dir, PathBuf::from("/tmp/zookeeper"));
        assert_eq!((c.min_session_timeout, c.max_session_timeout), (4000, 40000));
        assert!(c.allows_4lw("srvr") && c.allows_4lw("ruok") && !c.allows_4lw("mntr"));
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn errors_name_the_key() {
        let e = Config::from_str("dataDir=/x\nclientPort=abc\n").unwrap_err();
        assert!(e.to_string().contains("clientPort"), "{e}");
        assert_eq!(Config::from_str("clientPort=1\n").unwrap_err(), ConfigError::Missing("dataDir"));
        assert!(Config::from_str("dataDir=/x\nclientPort=70000\n").is_err());
        assert!(Config::from_str("dataDir=/x\nextendedTypesEnabled=maybe\n").unwrap_err().to_string().contains("extendedTypesEnabled"));
        assert!(Config::from_str("dataDir=/x\nserver.1=host:1\n").unwrap_err().to_string().contains("server.1"));
        assert!(Config::from_str("dataDir=/x\nminSessionTimeout=9000\nmaxSessionTimeout=100\n").is_err());
    }

    #[test]
    fn ensemble_and_extras() {
        let c = Config::from_str(
            "dataDir=/x\n4lw.commands.whitelist=*\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889;2182\nbogus=1\njute.maxbuffer=2048\n",
        )
        .unwrap();
        assert!(c.allows_4lw("mntr"));
        assert_eq!(c.servers.len(), 2);
        assert_eq!(c.servers[&2].election_port, 3889);
        assert_eq!(c.warnings.len(), 1);
        assert!(c.warnings[0].contains("bogus"));
        assert_eq!(c.max_frame(), 2048);
    }

    #[test]
    fn admin_and_metrics_keys() {
        let c = Config::from_str("dataDir=/x\n").unwrap();
        assert!(!c.admin_enable_server && !c.prometheus_enabled());
        assert_eq!((c.admin_server_address.as_str(), c.admin_server_port, c.admin_command_url.as_str()), ("0.0.0.0", 8080, "/commands"));
        assert_eq!((c.metrics_http_host.as_str(), c.metrics_http_port, c.admin_idle_timeout_ms), ("0.0.0.0", 7000, 30_000));
        let c = Config::from_str(
            "dataDir=/x\nadmin.enableServer=true\nadmin.serverAddress=127.0.0.1\nadmin.serverPort=9090\nadmin.commandURL=/cmds/\nadmin.idleTimeout=500\n\
             metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\nmetricsProvider.httpHost=localhost\nmetricsProvider.httpPort=7001\nmetricsProvider.exportJvmInfo=false\n",
        )
        .unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert!(c.admin_enable_server && c.prometheus_enabled());
        assert_eq!((c.admin_server_port, c.admin_command_url.as_str(), c.admin_idle_timeout_ms), (9090, "/cmds", 500));
        assert_eq!((c.metrics_http_host.as_str(), c.metrics_http_port), ("127.0.0.1", 7001));
        assert!(Config::from_str("dataDir=/x\nmetricsProvider.className=com.example.Nope\n").unwrap_err().to_string().contains("metricsProvider.className"));
        assert!(Config::from_str("dataDir=/x\nadmin.serverAddress=nohost\n").is_err());
        assert!(Config::from_str("dataDir=/x\nadmin.commandURL=commands\n").is_err());
    }
}
