//! `redo cmdno`: runs history entry `cmdno` again. The shell resolves it before dispatch
//! (`Shell::process`); a bare `redo` does nothing, as in zkCli.

use super::CmdFuture;
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::shell::Shell;

pub fn run<'a>(_sh: &'a mut Shell, _words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(async move { Ok::<(), CliError>(()) })
}
