//! `help`: the list of commands and their options, on stdout.

use super::{usage_lines, CmdFuture};
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::shell::Shell;

pub fn run<'a>(sh: &'a mut Shell, _words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(async move {
        for line in usage_lines() {
            sh.console.out(&line);
        }
        Ok::<(), CliError>(())
    })
}
