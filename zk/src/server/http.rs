//! The two HTTP listeners beside the client port: the AdminServer (`admin.enableServer`,
//! answering `GET <admin.commandURL>[/<command>]` with JSON, see [`super::admin`]) and the
//! Prometheus endpoint (`metricsProvider.className=...PrometheusMetricsProvider`, answering
//! `GET /metrics`, see [`super::prometheus`]).
//!
//! Where it sits: each listener is a tokio task started by [`super::run`]. A request becomes
//! one message on the core's channel ([`CoreMsg::Admin`] / [`CoreMsg::Metrics`], as a
//! four-letter word becomes [`CoreMsg::FourLetter`]); the core computes the answer from its
//! read-only view between two other messages and sends the text back on a oneshot. No state
//! is shared with the request path, and no lock is taken.
//!
//! HTTP is hyper's: headers are bounded ([`MAX_HEADER_BYTES`]), request bodies are never read,
//! a connection is closed `admin.idleTimeout` after it opened (finishing the request in hand), at
//! most [`MAX_CONNECTIONS`] connections are served at once per listener, and only GET/HEAD
//! are answered. A listener that cannot bind logs an error and the server goes on serving
//! ZooKeeper clients, as Apache's AdminServer does. (Apache 3.8 refuses to start when its
//! Prometheus provider cannot bind; here the metrics port behaves like the admin port.)

use super::core::CoreMsg;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// The largest request head hyper buffers (its minimum is 8 KiB).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Connections served at once per listener; more are closed at once.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a request waits for the core's answer.
const CORE_BOUND: Duration = Duration::from_secs(10);

/// Which endpoint a listener serves.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// The AdminServer, its command URL (e.g. `/commands`).
    Admin { base: String },
    /// Prometheus' `/metrics`.
    Metrics,
}

impl Endpoint {
    fn name(&self) -> &'static str {
        match self {
            Endpoint::Admin { .. } => "admin server",
            Endpoint::Metrics => "Prometheus metrics",
        }
    }
}

/// `host:port`, with an IPv6 host in brackets.
pub fn join(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Binds `addr` for `endpoint` and serves it until the process ends; a bind failure is
/// logged (naming the configuration keys) and nothing more happens.
pub async fn start(addr: String, keys: &'static str, endpoint: Endpoint, core: mpsc::UnboundedSender<CoreMsg>, idle: Duration) {
    match TcpListener::bind(&addr).await {
        Ok(l) => {
            tracing::info!(address = %addr, "{} listening on http://{addr}", endpoint.name());
            tokio::spawn(serve(l, endpoint, core, idle));
        }
        Err(e) => tracing::error!(address = %addr, error = %e, "{} not started: cannot listen on {addr} ({keys}); still serving ZooKeeper clients", endpoint.name()),
    }
}

async fn serve(listener: TcpListener, endpoint: Endpoint, core: mpsc::UnboundedSender<CoreMsg>, idle: Duration) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "{}: accept failed", endpoint.name());
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(client = %peer, limit = MAX_CONNECTIONS, "{}: too many connections; closing", endpoint.name());
            continue;
        };
        let endpoint = endpoint.clone();
        let core = core.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| answer(req, endpoint.clone(), core.clone()));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(idle)
                .max_buf_size(MAX_HEADER_BYTES)
                .serve_connection(TokioIo::new(stream), svc);
            // A connection lives at most `idle` (Jetty's idleTimeout closes idle ones; here a
            // keep-alive connection is simply not kept longer): then it finishes the request in
            // hand, bounded, and closes. Scrapers reconnect.
            let mut conn = std::pin::pin!(conn);
            let ended = tokio::select! {
                r = conn.as_mut() => r,
                _ = tokio::time::sleep(idle) => {
                    conn.as_mut().graceful_shutdown();
                    tokio::time::timeout(CORE_BOUND, conn.as_mut()).await.unwrap_or(Ok(()))
                }
            };
            if let Err(e) = ended {
                tracing::debug!(client = %peer, error = %e, "http connection ended");
            }
            drop(permit);
        });
    }
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// Asks the core and waits (bounded) for its answer.
async fn ask<T>(core: &mpsc::UnboundedSender<CoreMsg>, msg: impl FnOnce(oneshot::Sender<T>) -> CoreMsg) -> Option<T> {
    let (tx, rx) = oneshot::channel();
    core.send(msg(tx)).ok()?;
    tokio::time::timeout(CORE_BOUND, rx).await.ok()?.ok()
}

async fn answer(req: Request<Incoming>, endpoint: Endpoint, core: mpsc::UnboundedSender<CoreMsg>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only GET is served\n".into()));
    }
    let path = req.uri().path().to_string();
    let unavailable = || reply(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "the server is shutting down\n".into());
    Ok(match endpoint {
        Endpoint::Metrics => {
            if path != "/metrics" && path != "/" {
                reply(StatusCode::NOT_FOUND, "text/plain", format!("{path} not found; metrics are at /metrics\n"))
            } else {
                match ask(&core, |reply| CoreMsg::Metrics { reply }).await {
                    Some(text) => reply(StatusCode::OK, super::prometheus::CONTENT_TYPE, text),
                    None => unavailable(),
                }
            }
        }
        Endpoint::Admin { base } => {
            let rest = path.strip_prefix(base.as_str());
            match rest {
                Some("") | Some("/") => reply(StatusCode::OK, "text/html", super::admin::list_page(&base)),
                Some(r) if r.starts_with('/') => {
                    let name = r.trim_start_matches('/').trim_end_matches('/').to_string();
                    match ask(&core, |reply| CoreMsg::Admin { cmd: name, reply }).await {
                        Some((status, body)) => reply(StatusCode::from_u16(status).unwrap_or(StatusCode::OK), "application/json", body),
                        None => unavailable(),
                    }
                }
                _ => reply(StatusCode::NOT_FOUND, "text/plain", format!("{path} not found; commands are under {base}\n")),
            }
        }
    })
}
