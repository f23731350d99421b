//! `setAcl [-s] [-v version] [-R] path acl`: replaces a node's ACL (optionally only at ACL
//! version `-v`); `-R` applies it to the whole subtree, `-s` prints the new stat block.

use zookeeper_client::Acl;

use super::{arg, check_path, parse_args, CmdFuture};
use crate::zookeeper_shell::acl;
use crate::zookeeper_shell::error::{keeper_message, CliError};
use crate::zookeeper_shell::format::stat_lines;
use crate::zookeeper_shell::options::{flag, int_value, valued};
use crate::zookeeper_shell::path::join;
use crate::zookeeper_shell::shell::Shell;

pub fn run<'a>(sh: &'a mut Shell, words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(exec(sh, words))
}

async fn exec(sh: &mut Shell, words: &[String]) -> Result<(), CliError> {
    let p = parse_args("setAcl", &[flag('s'), valued('v'), flag('R')], words, 3)?;
    let path = arg(&p, 1).to_string();
    let (acls, warnings) = acl::parse(arg(&p, 2));
    for w in warnings {
        sh.console.err(&w);
    }
    let version = int_value(&p, 'v')?;
    check_path(&path)?;
    if acls.is_empty() {
        return Err(CliError::Message("Acl is not valid : null".into()));
    }
    let client = sh.conn()?.client.clone();
    if p.has('R') {
        client.get_data(&path).await.map_err(|e| CliError::keeper(e, &path))?;
        set_one(sh, &client, &path, &acls, version).await;
        let mut stack = vec![path];
        while let Some(node) = stack.pop() {
            let mut children = match client.list_children(&node).await {
                Ok(c) => c,
                Err(zookeeper_client::Error::NoNode) => continue,
                Err(e) => return Err(CliError::keeper(e, &node)),
            };
            children.sort_unstable();
            let paths: Vec<String> = children.iter().map(|c| join(&node, c)).collect();
            for child in &paths {
                set_one(sh, &client, child, &acls, version).await;
            }
            stack.extend(paths.into_iter().rev());
        }
        return Ok(());
    }
    let stat = client.set_acl(&path, &acls, version).await.map_err(|e| CliError::keeper(e, &path))?;
    if p.has('s') {
        for line in stat_lines(&stat) {
            sh.console.out(&line);
        }
    }
    Ok(())
}

/// One node of a recursive setAcl: a failure is reported and the walk goes on.
async fn set_one(sh: &Shell, client: &zookeeper_client::Client, path: &str, acls: &[Acl], version: Option<i32>) {
    if let Err(e) = client.set_acl(path, acls, version).await {
        sh.console.out(&keeper_message(&e, path));
    }
}
