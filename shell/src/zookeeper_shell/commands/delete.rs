//! `delete [-v version] path`: deletes one node (NotEmpty if it has children, BadVersion if
//! `-v` does not match).

use super::{arg, check_path, parse_args, CmdFuture};
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::options::{int_value, valued};
use crate::zookeeper_shell::shell::Shell;

pub fn run<'a>(sh: &'a mut Shell, words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(exec(sh, words))
}

async fn exec(sh: &mut Shell, words: &[String]) -> Result<(), CliError> {
    let p = parse_args("delete", &[valued('v')], words, 2)?;
    if p.args.len() > 2 {
        sh.console.err("'delete path [version]' has been deprecated. Please use 'delete [-v version] path' instead.");
    }
    let path = arg(&p, 1).to_string();
    let version = int_value(&p, 'v')?;
    check_path(&path)?;
    if path == "/" {
        return Err(CliError::keeper(zookeeper_client::Error::BadArguments(&"server error"), &path));
    }
    let conn = sh.conn()?;
    conn.client.delete(&path, version).await.map_err(|e| CliError::keeper(e, &path))
}
