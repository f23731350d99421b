//! `printwatches on|off`: whether watch notifications print; with no argument, says which.

use std::sync::atomic::Ordering;

use super::CmdFuture;
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::shell::Shell;

pub fn run<'a>(sh: &'a mut Shell, words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(async move {
        match words.get(1) {
            None => {
                let state = if sh.print_watches() { "on" } else { "off" };
                sh.console.out(&format!("printwatches is {state}"));
            }
            Some(v) => sh.print_watches.store(v == "on", Ordering::SeqCst),
        }
        Ok::<(), CliError>(())
    })
}
