//! `set [-s] [-v version] path data`: replaces the data, optionally only at `version`; `-s`
//! prints the new stat block.

use super::{arg, check_path, parse_args, CmdFuture};
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::format::stat_lines;
use crate::zookeeper_shell::options::{flag, int_value, valued};
use crate::zookeeper_shell::shell::Shell;

pub fn run<'a>(sh: &'a mut Shell, words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(exec(sh, words))
}

async fn exec(sh: &mut Shell, words: &[String]) -> Result<(), CliError> {
    let p = parse_args("set", &[flag('s'), valued('v')], words, 3)?;
    let path = arg(&p, 1).to_string();
    let data = arg(&p, 2).as_bytes().to_vec();
    let version = int_value(&p, 'v')?;
    check_path(&path)?;
    let conn = sh.conn()?;
    let stat = conn.client.set_data(&path, &data, version).await.map_err(|e| CliError::keeper(e, &path))?;
    if p.has('s') {
        for line in stat_lines(&stat) {
            sh.console.out(&line);
        }
    }
    Ok(())
}
