//! `removewatches path [-c|-d|-a] [-l]`: removes this session's child (`-c`), data (`-d`) or
//! all (`-a`, the default) watches on `path`, printing the `...WatchRemoved` notification; with
//! none to remove it fails with `KeeperErrorCode = No such watcher for path`. `-l` (remove
//! locally when the server is unreachable) is accepted; removal here is always local first.

use super::{arg, check_path, parse_args, CmdFuture};
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::options::flag;
use crate::zookeeper_shell::shell::Shell;
use crate::zookeeper_shell::watches::RemoveKind;

pub fn run<'a>(sh: &'a mut Shell, words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(exec(sh, words))
}

async fn exec(sh: &mut Shell, words: &[String]) -> Result<(), CliError> {
    let p = parse_args("removewatches", &[flag('c'), flag('d'), flag('a'), flag('l')], words, 2)?;
    let path = arg(&p, 1).to_string();
    let which = if p.has('c') {
        RemoveKind::Children
    } else if p.has('d') {
        RemoveKind::Data
    } else {
        RemoveKind::Any
    };
    check_path(&path)?;
    let conn = sh.conn()?;
    let removed = conn.watches.remove(&path, which);
    if removed.is_empty() {
        return Err(CliError::keeper(zookeeper_client::Error::NoWatcher, &path));
    }
    // Let the cancelled watch tasks drop their watchers (which sends the removal) before the
    // next command.
    tokio::task::yield_now().await;
    for kind in removed {
        conn.watches.print_removed(&path, kind);
    }
    Ok(())
}
