//! `delquota [-n|-b|-N|-B] path`: with a flag, lifts that one limit (sets it to -1); without,
//! removes `path`'s quota znodes and the `/zookeeper/quota` parents left empty, as ZooKeeper
//! 3.8's zkCli does.

use super::{arg, check_path, parse_args, CmdFuture};
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::options::flag;
use crate::zookeeper_shell::quota;
use crate::zookeeper_shell::shell::Shell;
use jute::quota::limits_path;

pub fn run<'a>(sh: &'a mut Shell, words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(exec(sh, words))
}

async fn exec(sh: &mut Shell, words: &[String]) -> Result<(), CliError> {
    let p = parse_args("delquota", &[flag('n'), flag('b'), flag('N'), flag('B')], words, 2)?;
    let path = arg(&p, 1).to_string();
    check_path(&path)?;
    let conn = sh.conn()?;
    let Some((mut limits, version)) = quota::limits(&conn.client, &path).await? else {
        sh.console.out(&format!("Quota does not exist for {path}"));
        return Ok(());
    };
    let flags: Vec<char> = ['n', 'b', 'N', 'B'].into_iter().filter(|c| p.has(*c)).collect();
    if flags.is_empty() {
        return quota::remove(&conn.client, &path).await;
    }
    for c in flags {
        match c {
            'n' => limits.count = -1,
            'b' => limits.bytes = -1,
            'N' => limits.count_hard = -1,
            _ => limits.bytes_hard = -1,
        }
    }
    let lp = limits_path(&path);
    conn.client.set_data(&lp, limits.limits_text().as_bytes(), Some(version)).await.map_err(|e| CliError::keeper(e, &lp))?;
    Ok(())
}
