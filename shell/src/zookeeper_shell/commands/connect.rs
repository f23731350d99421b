//! `connect [host:port[,host:port...][/chroot]]`: closes the current session and opens a new
//! one (to the same servers when no argument is given).

use super::CmdFuture;
use crate::zookeeper_shell::shell::Shell;

pub fn run<'a>(sh: &'a mut Shell, words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(async move {
        let host = words.get(1).cloned().unwrap_or_else(|| sh.host.clone());
        sh.connect(&host).await
    })
}
