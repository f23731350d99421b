//! `getAcl [-s] path`: each ACL entry as `'scheme,'id` and `: perms`; `-s` adds the stat block.

use super::{arg, check_path, parse_args, CmdFuture};
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::format::{acl_lines, stat_lines};
use crate::zookeeper_shell::options::flag;
use crate::zookeeper_shell::shell::Shell;

pub fn run<'a>(sh: &'a mut Shell, words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(exec(sh, words))
}

async fn exec(sh: &mut Shell, words: &[String]) -> Result<(), CliError> {
    let p = parse_args("getAcl", &[flag('s')], words, 2)?;
    let path = arg(&p, 1).to_string();
    check_path(&path)?;
    let conn = sh.conn()?;
    let (acls, stat) = conn.client.get_acl(&path).await.map_err(|e| CliError::keeper(e, &path))?;
    for acl in &acls {
        for line in acl_lines(acl) {
            sh.console.out(&line);
        }
    }
    if p.has('s') {
        for line in stat_lines(&stat) {
            sh.console.out(&line);
        }
    }
    Ok(())
}
