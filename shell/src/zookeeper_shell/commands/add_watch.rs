//! `addWatch [-m mode] path`: a persistent watch (`PERSISTENT`) or a persistent recursive
//! watch on the whole subtree (`PERSISTENT_RECURSIVE`, the default); it fires until removed.

use zookeeper_client::AddWatchMode;

use super::{arg, check_path, parse_args, CmdFuture};
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::options::valued;
use crate::zookeeper_shell::shell::Shell;
use crate::zookeeper_shell::watches::WatchKind;

pub const OPTIONS: &str =
    "[-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE";

pub fn run<'a>(sh: &'a mut Shell, words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(exec(sh, words))
}

async fn exec(sh: &mut Shell, words: &[String]) -> Result<(), CliError> {
    let p = parse_args("addWatch", &[valued('m')], words, 2)?;
    let (mode, kind) = match p.value('m') {
        None | Some("PERSISTENT_RECURSIVE") => (AddWatchMode::PersistentRecursive, WatchKind::PersistentRecursive),
        Some("PERSISTENT") => (AddWatchMode::Persistent, WatchKind::Persistent),
        Some(other) => {
            return Err(CliError::Message(format!(
                "Unsupported mode: {other}. Supported modes are PERSISTENT and PERSISTENT_RECURSIVE"
            )))
        }
    };
    let path = arg(&p, 1).to_string();
    check_path(&path)?;
    let conn = sh.conn()?;
    let watcher = conn.client.watch(&path, mode).await.map_err(|e| CliError::keeper(e, &path))?;
    conn.watches.add_persistent(&path, kind, watcher);
    Ok(())
}
