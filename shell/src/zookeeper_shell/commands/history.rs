//! `history`: the last ten commands and this one, numbered for `redo`.

use super::CmdFuture;
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::shell::Shell;

pub fn run<'a>(sh: &'a mut Shell, _words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(async move {
        let last = sh.count;
        for i in last.saturating_sub(10)..=last {
            let line = sh.history.get(&i).map_or("null", String::as_str);
            sh.console.out(&format!("{i} - {line}"));
        }
        Ok::<(), CliError>(())
    })
}
