//! `getEphemerals [path]`: the ephemeral nodes this session owns (under `path`), as a list.

use super::{check_path, parse_args, CmdFuture};
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::shell::Shell;

pub fn run<'a>(sh: &'a mut Shell, words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(exec(sh, words))
}

async fn exec(sh: &mut Shell, words: &[String]) -> Result<(), CliError> {
    let p = parse_args("getEphemerals", &[], words, 1)?;
    let path = p.arg(1).unwrap_or("/").to_string();
    check_path(&path)?;
    let conn = sh.conn()?;
    let list = conn.client.list_ephemerals(&path).await.map_err(|e| CliError::keeper(e, &path))?;
    sh.console.out(&format!("[{}]", list.join(", ")));
    Ok(())
}
