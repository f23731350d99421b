//! The Prometheus endpoint: `GET /metrics` (also `/`) on `metrics.prometheus.host`:
//! `metrics.prometheus.port`, answered with [`super::render::render`].
//!
//! Where it sits: `main` binds the port before the broker registers (a port in use is a
//! startup error naming the keys) and spawns [`serve`] once the broker started. The scrape
//! is rendered on a blocking thread; nothing is shared with the Kafka listener but the
//! broker's state, which the rendering only reads.
//!
//! It cannot hurt the broker: HTTP is hyper's with the request head bounded
//! ([`MAX_HEADER_BYTES`]), request bodies are never read, at most [`MAX_CONNECTIONS`]
//! connections are served at once (more are closed at once), a connection that sends no
//! complete head within [`HEAD_TIMEOUT`] is closed and none lives longer than [`IDLE`] (the request
//! in hand finishes, bounded), only GET/HEAD are answered, and the listener and its
//! connections close when the broker starts draining at shutdown.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::broker::Broker;
use crate::lifecycle::Phase;

/// The largest request head hyper buffers (its minimum is 8 KiB).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Connections served at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 16;
/// How long a connection may take to send a request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection lives at most.
pub const IDLE: Duration = Duration::from_secs(30);
/// How long one rendering may take before the scrape gets 503.
const RENDER_BOUND: Duration = Duration::from_secs(10);

/// Serves scrapes on `listener` until the broker starts draining.
pub async fn serve(broker: Arc<Broker>, listener: TcpListener) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let draining = broker.lifecycle.reached(Phase::Draining);
    tokio::pin!(draining);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = &mut draining => break,
            a = listener.accept() => a,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("metrics endpoint: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!("metrics endpoint: {MAX_CONNECTIONS} connections already open; closing the one from {peer}");
            continue;
        };
        let b = broker.clone();
        conns.spawn(async move {
            let svc = hyper::service::service_fn(move |req| answer(req, b.clone()));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES)
                .serve_connection(TokioIo::new(stream), svc);
            let mut conn = std::pin::pin!(conn);
            let ended = tokio::select! {
                r = conn.as_mut() => r,
                _ = tokio::time::sleep(IDLE) => {
                    conn.as_mut().graceful_shutdown();
                    tokio::time::timeout(RENDER_BOUND, conn.as_mut()).await.unwrap_or(Ok(()))
                }
            };
            if let Err(e) = ended {
                tracing::debug!("metrics connection from {peer} ended: {e}");
            }
            drop(permit);
        });
    }
    // Dropping the listener and the set closes the port and every connection.
    conns.abort_all();
    tracing::info!("shutdown: metrics endpoint closed");
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

async fn answer(req: Request<Incoming>, broker: Arc<Broker>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only GET is served\n".into()));
    }
    let path = req.uri().path();
    if path != "/metrics" && path != "/" {
        return Ok(reply(StatusCode::NOT_FOUND, "text/plain", "not found; metrics are at /metrics\n".into()));
    }
    let rendered = tokio::time::timeout(RENDER_BOUND, tokio::task::spawn_blocking(move || super::render::render(&broker))).await;
    Ok(match rendered {
        Ok(Ok(text)) => reply(StatusCode::OK, super::render::CONTENT_TYPE, text),
        _ => reply(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "metrics unavailable\n".into()),
    })
}
