//! `zk-server`: the ZooKeeper-compatible server. `zk-server <zookeeper.properties>`.

use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "zk-server", version, about = "A ZooKeeper-compatible coordination server")]
struct Args {
    /// The configuration file (Kafka's config/zookeeper.properties format).
    config: PathBuf,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,openraft=warn".into()))
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let cfg = match zk::config::Config::load_with_env(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("zk-server: {}: {e}", args.config.display());
            return std::process::ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zk-server: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(zk::server::run(cfg)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zk-server: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
