//! `close`: ends the session (its ephemeral nodes go away); the shell stays, `connect` opens a
//! new one.

use super::CmdFuture;
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::shell::Shell;

pub fn run<'a>(sh: &'a mut Shell, _words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(async move {
        if let Some(conn) = sh.conn.take() {
            conn.close(true).await;
            // The prompt keeps the host and says `(CLOSED)`, as zkCli's does.
            sh.closed = true;
        }
        Ok::<(), CliError>(())
    })
}
