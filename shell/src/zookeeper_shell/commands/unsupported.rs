//! Commands zkCli has that this shell does not implement (reconfig): a clear error.

use super::CmdFuture;
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::shell::Shell;

pub fn run<'a>(_sh: &'a mut Shell, words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(async move {
        let name = words.first().map_or("", String::as_str);
        Err(CliError::Message(format!("{name} is not supported by this zookeeper-shell")))
    })
}
