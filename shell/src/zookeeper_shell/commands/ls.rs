//! `ls [-s] [-w] [-R] path`: children as `[a, b, c]` (sorted); `-s` adds the stat block, `-w`
//! leaves a child watch, `-R` prints every path of the subtree (zkCli's DFS: a node's children,
//! then each child's subtree).

use super::{arg, check_path, parse_args, CmdFuture};
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::format::{children_list, stat_lines};
use crate::zookeeper_shell::options::flag;
use crate::zookeeper_shell::path::join;
use crate::zookeeper_shell::shell::Shell;
use crate::zookeeper_shell::watches::WatchKind;

pub fn run<'a>(sh: &'a mut Shell, words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(exec(sh, words))
}

async fn exec(sh: &mut Shell, words: &[String]) -> Result<(), CliError> {
    let p = parse_args("ls", &[flag('?'), flag('s'), flag('w'), flag('R')], words, 2)?;
    let mut watch = p.has('w');
    if p.args.len() > 2 {
        sh.console.err("'ls path [watch]' has been deprecated. Please use 'ls [-w] path' instead.");
        watch = true;
    }
    let path = arg(&p, 1).to_string();
    check_path(&path)?;
    let conn = sh.conn()?;
    let client = conn.client.clone();
    let watches = conn.watches.clone();
    if p.has('R') {
        // The root's data first (NoNode if it is missing), then the DFS over children.
        if watch {
            let (_, _, w) = client.get_and_watch_data(&path).await.map_err(|e| CliError::keeper(e, &path))?;
            watches.add_oneshot(&path, WatchKind::Data, w);
        } else {
            client.get_data(&path).await.map_err(|e| CliError::keeper(e, &path))?;
        }
        sh.console.out(&path);
        let mut stack = vec![path];
        while let Some(node) = stack.pop() {
            let result = if watch {
                client.list_and_watch_children(&node).await.map(|(c, w)| {
                    watches.add_oneshot(&node, WatchKind::Child, w);
                    c
                })
            } else {
                client.list_children(&node).await
            };
            let mut children = match result {
                Ok(c) => c,
                // Deleted between listing its parent and now: skipped, as zkCli does.
                Err(zookeeper_client::Error::NoNode) => continue,
                Err(e) => return Err(CliError::keeper(e, &node)),
            };
            children.sort_unstable();
            let paths: Vec<String> = children.iter().map(|c| join(&node, c)).collect();
            for p in &paths {
                sh.console.out(p);
            }
            stack.extend(paths.into_iter().rev());
        }
        return Ok(());
    }
    let (children, stat) = match (p.has('s'), watch) {
        (true, true) => {
            let (c, s, w) = client.get_and_watch_children(&path).await.map_err(|e| CliError::keeper(e, &path))?;
            watches.add_oneshot(&path, WatchKind::Child, w);
            (c, Some(s))
        }
        (true, false) => {
            let (c, s) = client.get_children(&path).await.map_err(|e| CliError::keeper(e, &path))?;
            (c, Some(s))
        }
        (false, true) => {
            let (c, w) = client.list_and_watch_children(&path).await.map_err(|e| CliError::keeper(e, &path))?;
            watches.add_oneshot(&path, WatchKind::Child, w);
            (c, None)
        }
        (false, false) => (client.list_children(&path).await.map_err(|e| CliError::keeper(e, &path))?, None),
    };
    sh.console.out(&children_list(&children));
    if let Some(stat) = stat {
        for line in stat_lines(&stat) {
            sh.console.out(&line);
        }
    }
    Ok(())
}
