//! `kafka-server <server.properties> [--override key=value]...`: the broker binary.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "kafka-server", about = "A Kafka-compatible broker (Kafka 2.5 ZooKeeper layout)")]
struct Args {
    /// server.properties
    config: PathBuf,
    /// Overrides a property from the file (as Kafka's kafka-server-start.sh --override).
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();
    let cfg = match broker::config::BrokerConfig::load(&args.config, &args.overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kafka-server: {e}");
            return ExitCode::from(1);
        }
    };
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kafka-server: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("kafka-server: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Structured lines on stdout (filtered by `RUST_LOG`, default info) and, when `LOG_DIR` is
/// set, Kafka's log4j files there (`broker::log4j`).
fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let stdout = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()));
    let files_on = std::env::var("KAFKA_LOG4J_FILES").map(|v| !v.eq_ignore_ascii_case("false")).unwrap_or(true);
    let files = match std::env::var_os("LOG_DIR").filter(|d| files_on && !d.is_empty()) {
        Some(dir) => match broker::log4j::Log4jFiles::new(std::path::Path::new(&dir), tracing::Level::INFO) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("kafka-server: no log4j files in {}: {e}", std::path::Path::new(&dir).display());
                None
            }
        },
        None => None,
    };
    tracing_subscriber::registry().with(stdout).with(files).init();
}

/// How long in-flight requests may take to finish once the listener stops.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(5);

async fn run(cfg: broker::config::BrokerConfig) -> anyhow::Result<()> {
    use anyhow::Context;
    let l = cfg.listeners[0].clone();
    let host = if l.host.is_empty() { "0.0.0.0".to_string() } else { l.host.clone() };
    // Bind before registering, so that a port in use fails before we appear in ZooKeeper.
    let listener = tokio::net::TcpListener::bind((host.as_str(), l.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", host, l.port))?;
    // The metrics endpoint binds here too: a bad or busy port is a startup error.
    let metrics = if cfg.metrics_prometheus_port != 0 {
        let (h, p) = (cfg.metrics_prometheus_host.clone(), cfg.metrics_prometheus_port);
        let l = tokio::net::TcpListener::bind((h.as_str(), p))
            .await
            .with_context(|| format!("cannot listen on {h}:{p} for metrics (metrics.prometheus.host, metrics.prometheus.port)"))?;
        Some((l, h, p))
    } else {
        None
    };
    let broker = broker::broker::Broker::start(cfg).await?;
    if let Some((l, h, p)) = metrics {
        tracing::info!("Prometheus metrics at http://{h}:{p}/metrics");
        tokio::spawn(broker::metrics::http::serve(broker.clone(), l));
    }
    tracing::info!(
        "[KafkaServer id={}] started (listening on {}:{}, cluster {})",
        broker.id,
        host,
        l.port,
        broker.cluster_id
    );
    let server = tokio::spawn(broker::server::serve(broker.clone(), listener));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = broker.halt.notified() => {}
    }
    // Kafka's order: leadership moves away while we still serve (clients follow it), then
    // the listener stops and in-flight requests finish (bounded), then logs are flushed
    // and the ZooKeeper session closed (the registration goes with it).
    use broker::lifecycle::Phase;
    tracing::info!("shutdown: step 1/4: controlled shutdown");
    broker.lifecycle.advance(Phase::ControlledShutdown);
    broker::server::shutdown::run(&broker).await;
    tracing::info!("shutdown: step 2/4: draining (no new connections; in-flight requests get {} s)", DRAIN.as_secs());
    broker.lifecycle.advance(Phase::Draining);
    match broker.lifecycle.drained(DRAIN).await {
        0 => tracing::info!("shutdown: every in-flight request answered"),
        n => tracing::warn!("shutdown: {n} request(s) still in flight after {} s; closing their connections", DRAIN.as_secs()),
    }
    server.abort();
    tracing::info!("shutdown: step 3/4 and 4/4: flush logs, close the ZooKeeper session");
    broker.shutdown().await;
    if broker.halted.load(std::sync::atomic::Ordering::SeqCst) {
        anyhow::bail!("every log dir has failed");
    }
    Ok(())
}
