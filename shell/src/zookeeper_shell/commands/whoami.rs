//! `whoami`: the identities the server has attached to this session (`ip: 127.0.0.1`,
//! `digest: bob`, ...).

use super::CmdFuture;
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::shell::Shell;

pub fn run<'a>(sh: &'a mut Shell, _words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(async move {
        let users = sh.conn()?.client.list_auth_users().await.map_err(|e| CliError::Message(e.to_string()))?;
        sh.console.out("Auth scheme: User");
        for user in users {
            sh.console.out(&format!("{}: {}", user.scheme(), user.user()));
        }
        Ok(())
    })
}
