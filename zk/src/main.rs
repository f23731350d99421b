//! `zk-server`: the ZooKeeper-compatible server. `zk-server <zookeeper.properties>`;
//! `zk-server --export-apache <dir> <zookeeper.properties>` writes the (stopped) server's state
//! as an Apache ZooKeeper snapshot in `<dir>/version-2/` and exits.

use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "zk-server", version, about = "A ZooKeeper-compatible coordination server")]
struct Args {
    /// The configuration file (Kafka's config/zookeeper.properties format).
    config: PathBuf,
    /// Instead of serving: write this server's data (it must be stopped) as an Apache
    /// ZooKeeper snapshot into DIR/version-2 (DIR then serves as Apache's dataDir), and exit.
    #[arg(long, value_name = "DIR")]
    export_apache: Option<PathBuf>,
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
    if let Some(dir) = &args.export_apache {
        return match zk::migrate::export::export(&cfg, dir) {
            Ok(e) => {
                println!("exported {} znodes and {} sessions at zxid {:#x} to {}", e.znodes, e.sessions, e.zxid.0, e.snapshot.display());
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("zk-server: export to {}: {e:#}", dir.display());
                std::process::ExitCode::FAILURE
            }
        };
    }
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
