//! `version`: which shell this is.

use super::CmdFuture;
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::shell::Shell;

pub fn run<'a>(sh: &'a mut Shell, _words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(async move {
        sh.console.out(&format!(
            "ZooKeeper CLI version: zookeeper-shell {} (Rust, zookeeper-client 0.11)",
            env!("CARGO_PKG_VERSION")
        ));
        Ok::<(), CliError>(())
    })
}
