//! One session with a ZooKeeper ensemble: connecting (and explaining a failure in one line
//! that names the address), printing session state changes as zkCli's default watcher does,
//! and closing cleanly so ephemeral nodes go away at once.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zookeeper_client::{Client, Error as ZkError, SessionState};

use super::output::Console;
use super::watches::{event_block, state_name, WatchRegistry};

/// A live (or once live) session.
pub struct Connection {
    pub client: Client,
    /// The connect string as the user gave it, chroot included; shown in the prompt.
    pub host: String,
    pub watches: Arc<WatchRegistry>,
    /// Set to stop the state task printing (when the process is exiting).
    quiet: Arc<AtomicBool>,
}

/// How long to wait for the server to confirm a close.
const CLOSE_WAIT: Duration = Duration::from_secs(3);

impl Connection {
    /// Connects to `host` (`h1:p1,h2:p2/chroot`). On success prints the `SyncConnected`
    /// notification (when `print_watches` is on) and starts printing later state changes.
    pub async fn open(
        host: &str,
        session_timeout: Duration,
        console: Arc<Console>,
        print_watches: Arc<AtomicBool>,
    ) -> Result<Connection, String> {
        // Fail fast, naming the address, when no server even accepts TCP. (The client's own
        // fail-eagerly mode would do this too, but it also makes the session give up on the
        // first failed reconnect, so a server restart would expire it.)
        let probe_host = host.to_string();
        if let Ok((false, reasons)) = tokio::task::spawn_blocking(move || probe(&probe_host)).await {
            if !reasons.is_empty() {
                return Err(format!("Unable to connect to {}", reasons.join("; ")));
            }
        }
        let connect = Client::connector()
            .with_session_timeout(session_timeout)
            .with_connection_timeout(Duration::from_secs(5))
            .connect(host);
        // The client keeps trying the hosts until the session timeout; this bound also covers a
        // server that accepts TCP but never answers the handshake.
        let result = tokio::time::timeout(session_timeout + Duration::from_secs(5), connect).await;
        let client = match result {
            Ok(Ok(client)) => client,
            Ok(Err(err)) => return Err(explain_failure(host, &err)),
            Err(_) => return Err(format!("Unable to connect to {host}: timed out")),
        };
        if print_watches.load(Ordering::SeqCst) {
            console.event(&event_block("SyncConnected", "None", None));
        }
        let quiet = Arc::new(AtomicBool::new(false));
        let mut states = client.state_watcher();
        {
            let console = Arc::clone(&console);
            let print_watches = Arc::clone(&print_watches);
            let quiet = Arc::clone(&quiet);
            tokio::spawn(async move {
                loop {
                    let state = states.changed().await;
                    if !quiet.load(Ordering::SeqCst) && print_watches.load(Ordering::SeqCst) {
                        console.event(&event_block(state_name(state), "None", None));
                    }
                    if state.is_terminated() {
                        return;
                    }
                }
            });
        }
        let watches = WatchRegistry::new(console, print_watches);
        Ok(Connection { client, host: host.to_string(), watches, quiet })
    }

    /// zkCli's `States` name for the prompt: CONNECTED, CONNECTING, CLOSED, ...
    pub fn state_label(&self) -> &'static str {
        match self.client.state() {
            SessionState::SyncConnected => "CONNECTED",
            SessionState::ConnectedReadOnly => "CONNECTEDREADONLY",
            SessionState::Disconnected => "CONNECTING",
            SessionState::AuthFailed => "AUTH_FAILED",
            SessionState::Expired | SessionState::Closed => "CLOSED",
        }
    }

    /// Whether requests can still be made (zkCli's `States.isAlive()`).
    pub fn is_alive(&self) -> bool {
        !self.client.state().is_terminated()
    }

    /// Closes the session and waits (bounded) for the server to confirm. With `announce`,
    /// the `Closed` notification prints as zkCli's `close`/`quit` print it.
    pub async fn close(self, announce: bool) {
        self.quiet.store(!announce, Ordering::SeqCst);
        if self.client.state().is_terminated() {
            return;
        }
        let mut states = self.client.state_watcher();
        // Dropping the last client handle makes the session send closeSession.
        drop(self.client);
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            while !states.changed().await.is_terminated() {}
        })
        .await;
        // Give the state task its turn to print `Closed` before the caller prints more.
        tokio::task::yield_now().await;
    }

    /// Stops printing state changes (before the process exits without `quit`).
    pub fn silence(&self) {
        self.quiet.store(true, Ordering::SeqCst);
    }
}

/// One line saying why connecting failed, naming the address(es).
fn explain_failure(host: &str, err: &ZkError) -> String {
    match err {
        ZkError::NoHosts | ZkError::ConnectionLoss | ZkError::Timeout => {
            let (_, reasons) = probe(host);
            if reasons.is_empty() {
                format!("Unable to connect to {host}: {err}")
            } else {
                format!("Unable to connect to {}", reasons.join("; "))
            }
        }
        ZkError::BadArguments(reason) => format!("Invalid connect string \"{host}\": {reason}"),
        other => format!("Unable to connect to {host}: {other}"),
    }
}

/// Tries a plain TCP connect to each `host:port`: whether any accepted, and for each the
/// operating system's reason (`Connection refused`, `No route to host`, ...).
fn probe(connect_string: &str) -> (bool, Vec<String>) {
    let hosts = connect_string.split('/').next().unwrap_or_default();
    let mut reasons = Vec::new();
    let mut any_ok = false;
    for hostport in hosts.split(',').map(str::trim).filter(|h| !h.is_empty()) {
        let addrs = match hostport.to_socket_addrs() {
            Ok(addrs) => addrs.collect::<Vec<_>>(),
            Err(e) => {
                reasons.push(format!("{hostport}: {}", strip_os_error(&e.to_string())));
                continue;
            }
        };
        let mut reason = None;
        for addr in &addrs {
            match TcpStream::connect_timeout(addr, Duration::from_secs(2)) {
                Ok(_) => {
                    any_ok = true;
                    reason = Some("connected over TCP but no ZooKeeper session was established".to_string());
                    break;
                }
                Err(e) => reason = Some(strip_os_error(&e.to_string())),
            }
        }
        reasons.push(format!("{hostport}: {}", reason.unwrap_or_else(|| "no address".to_string())));
    }
    (any_ok, reasons)
}

fn strip_os_error(s: &str) -> String {
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}
