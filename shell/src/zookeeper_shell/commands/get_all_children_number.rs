//! `getAllChildrenNumber path`: how many nodes are below `path` (all depths).

use super::{arg, check_path, CmdFuture};
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::options;
use crate::zookeeper_shell::shell::Shell;

pub fn run<'a>(sh: &'a mut Shell, words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(exec(sh, words))
}

async fn exec(sh: &mut Shell, words: &[String]) -> Result<(), CliError> {
    let p = options::parse(&[], words)?;
    if p.args.len() < 2 {
        return Err(CliError::Usage(super::usage_of("getAllChildrenNumber")));
    }
    let path = arg(&p, 1).to_string();
    check_path(&path)?;
    let conn = sh.conn()?;
    let n = conn.client.count_descendants_number(&path).await.map_err(|e| CliError::keeper(e, &path))?;
    sh.console.out(&n.to_string());
    Ok(())
}
