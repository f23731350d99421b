//! `addauth scheme auth`: adds credentials to the session (e.g. `addauth digest user:pass`).

use std::time::Duration;

use super::{arg, parse_args, CmdFuture};
use crate::zookeeper_shell::error::{code_message, CliError};
use crate::zookeeper_shell::shell::Shell;

pub fn run<'a>(sh: &'a mut Shell, words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(exec(sh, words))
}

async fn exec(sh: &mut Shell, words: &[String]) -> Result<(), CliError> {
    let p = parse_args("addauth", &[], words, 2)?;
    let scheme = arg(&p, 1).to_string();
    let auth = p.arg(2).unwrap_or_default().as_bytes().to_vec();
    let client = sh.conn()?.client.clone();
    match tokio::time::timeout(Duration::from_secs(30), client.auth(&scheme, &auth)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(CliError::Message(format!(
            "KeeperErrorCode = {}",
            code_message(&e).unwrap_or_else(|| e.to_string())
        ))),
        Err(_) => Err(CliError::Message("KeeperErrorCode = OperationTimeout".into())),
    }
}
