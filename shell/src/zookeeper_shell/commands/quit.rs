//! `quit`: closes the session (printing `Closed` when printwatches is on) and ends the shell
//! with the previous command's exit code.

use super::CmdFuture;
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::shell::Shell;

pub fn run<'a>(sh: &'a mut Shell, _words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(async move {
        sh.quit = true;
        sh.shutdown(true).await;
        Ok::<(), CliError>(())
    })
}
