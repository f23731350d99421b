//! `close`: ends the session (its ephemeral nodes go away); the shell stays, `connect` opens a
//! new one.

use super::CmdFuture;
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::shell::Shell;

pub fn run<'a>(sh: &'a mut Shell, _words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(async move {
        if let Some(conn) = sh.conn.take() {
            let host = conn.host.clone();
            conn.close(true).await;
            // Keep showing `(CLOSED)` in the prompt, as zkCli does.
            sh.host = host;
        }
        Ok::<(), CliError>(())
    })
}
