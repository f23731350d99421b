//! `deleteall path [-b batch size]`: deletes a whole subtree, leaves first, in multi requests
//! of up to `batch size` deletes (zkCli's `ZKUtil.deleteRecursive`).

use std::collections::VecDeque;

use super::{arg, check_path, parse_args, CmdFuture};
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::options::valued;
use crate::zookeeper_shell::path::join;
use crate::zookeeper_shell::shell::Shell;

pub fn run<'a>(sh: &'a mut Shell, words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(exec(sh, words))
}

async fn exec(sh: &mut Shell, words: &[String]) -> Result<(), CliError> {
    let p = parse_args("deleteall", &[valued('b')], words, 2)?;
    let batch = match p.value('b') {
        Some(v) => v.parse::<i32>().map_err(|_| CliError::Message("-b argument must be an int value".into()))?,
        None => 1000,
    };
    let batch = usize::try_from(batch).unwrap_or(0).max(1);
    let root = arg(&p, 1).to_string();
    check_path(&root)?;
    let client = sh.conn()?.client.clone();
    // Breadth-first listing; the root must exist.
    let mut tree = vec![root.clone()];
    let mut queue = VecDeque::from([root.clone()]);
    while let Some(node) = queue.pop_front() {
        let children = match client.list_children(&node).await {
            Ok(c) => c,
            Err(e) if node == root => return Err(CliError::keeper(e, &node)),
            Err(zookeeper_client::Error::NoNode) => continue,
            Err(e) => return Err(CliError::keeper(e, &node)),
        };
        for child in children {
            let path = join(&node, &child);
            tree.push(path.clone());
            queue.push_back(path);
        }
    }
    let mut ok = true;
    for chunk in tree.rchunks(batch) {
        let mut writer = client.new_multi_writer();
        for node in chunk.iter().rev() {
            if writer.add_delete(node, None).is_err() {
                ok = false;
            }
        }
        if writer.commit().await.is_err() {
            ok = false;
            break;
        }
    }
    if !ok {
        sh.console.err("Failed to delete some node(s) in the subtree!");
    }
    Ok(())
}
