//! `listquota path`: the quota limits and usage of `path`, printed as ZooKeeper 3.8's zkCli
//! prints them.

use super::{arg, check_path, parse_args, CmdFuture};
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::quota;
use crate::zookeeper_shell::shell::Shell;
use jute::quota::limits_path;
use zookeeper_client::Error as ZkError;

pub fn run<'a>(sh: &'a mut Shell, words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(exec(sh, words))
}

async fn exec(sh: &mut Shell, words: &[String]) -> Result<(), CliError> {
    let p = parse_args("listquota", &[], words, 2)?;
    let path = arg(&p, 1).to_string();
    check_path(&path)?;
    let lp = limits_path(&path);
    sh.console.err(&format!("absolute path is {lp}"));
    let conn = sh.conn()?;
    let limits = match conn.client.get_data(&lp).await {
        Ok((data, _)) => String::from_utf8_lossy(&data).to_string(),
        Err(ZkError::NoNode) => {
            sh.console.err(&format!("quota for {path} does not exist."));
            return Ok(());
        }
        Err(e) => return Err(CliError::keeper(e, &lp)),
    };
    let stats = quota::stats_text(&conn.client, &path).await?;
    sh.console.out(&format!("Output quota for {path} {limits}"));
    if let Some(s) = stats {
        sh.console.out(&format!("Output stat for {path} {s}"));
    }
    Ok(())
}
