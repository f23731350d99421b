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
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
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

async fn run(cfg: broker::config::BrokerConfig) -> anyhow::Result<()> {
    use anyhow::Context;
    let l = cfg.listeners[0].clone();
    let host = if l.host.is_empty() { "0.0.0.0".to_string() } else { l.host.clone() };
    // Bind before registering, so that a port in use fails before we appear in ZooKeeper.
    let listener = tokio::net::TcpListener::bind((host.as_str(), l.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", host, l.port))?;
    let broker = broker::broker::Broker::start(cfg).await?;
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
    // Keep serving while leadership moves away (clients follow it), then stop.
    broker::server::shutdown::run(&broker).await;
    server.abort();
    broker.shutdown().await;
    if broker.halted.load(std::sync::atomic::Ordering::SeqCst) {
        anyhow::bail!("every log dir has failed");
    }
    Ok(())
}
