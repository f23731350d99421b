//! `sync path`: makes the connected server catch up with the leader, then `Sync is OK`.

use super::{arg, check_path, parse_args, CmdFuture};
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::shell::Shell;

pub fn run<'a>(sh: &'a mut Shell, words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(exec(sh, words))
}

async fn exec(sh: &mut Shell, words: &[String]) -> Result<(), CliError> {
    let p = parse_args("sync", &[], words, 2)?;
    let path = arg(&p, 1).to_string();
    check_path(&path)?;
    let client = sh.conn()?.client.clone();
    match tokio::time::timeout(std::time::Duration::from_secs(30), client.sync(&path)).await {
        Ok(Ok(())) => sh.console.out("Sync is OK"),
        Ok(Err(e)) => sh.console.out(&format!("Sync has failed. rc={}", error_code(&e))),
        Err(_) => return Err(CliError::Message("java.util.concurrent.TimeoutException".into())),
    }
    Ok(())
}

/// The numeric KeeperException code zkCli prints for a failed sync.
fn error_code(e: &zookeeper_client::Error) -> i32 {
    use zookeeper_client::Error::*;
    match e {
        ConnectionLoss => -4,
        MarshallingError => -5,
        Unimplemented => -6,
        Timeout => -7,
        BadArguments(_) => -8,
        NoNode => -101,
        NoAuth => -102,
        SessionExpired => -112,
        UnexpectedErrorCode(c) => *c,
        _ => -1,
    }
}
