//! `get [-s] [-w] path`: the data (`null` for a node without data), `-s` adds the stat block,
//! `-w` leaves a data watch.
//!
//! The client library hands back null and empty data alike as an empty buffer, so an empty
//! node prints `null` — which is what zkCli prints for nodes created without data, the common
//! case (every persistent Kafka znode, `create /x`).

use super::{arg, check_path, parse_args, CmdFuture};
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::format::{data_text, stat_lines};
use crate::zookeeper_shell::options::flag;
use crate::zookeeper_shell::shell::Shell;
use crate::zookeeper_shell::watches::WatchKind;

pub fn run<'a>(sh: &'a mut Shell, words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(exec(sh, words))
}

async fn exec(sh: &mut Shell, words: &[String]) -> Result<(), CliError> {
    let p = parse_args("get", &[flag('s'), flag('w')], words, 2)?;
    let mut watch = p.has('w');
    if p.args.len() > 2 {
        sh.console.err("'get path [watch]' has been deprecated. Please use 'get [-s] [-w] path' instead.");
        watch = true;
    }
    let path = arg(&p, 1).to_string();
    check_path(&path)?;
    let conn = sh.conn()?;
    let (data, stat) = if watch {
        let (d, s, w) = conn.client.get_and_watch_data(&path).await.map_err(|e| CliError::keeper(e, &path))?;
        conn.watches.add_oneshot(&path, WatchKind::Data, w);
        (d, s)
    } else {
        conn.client.get_data(&path).await.map_err(|e| CliError::keeper(e, &path))?
    };
    sh.console.out(&if data.is_empty() { "null".to_string() } else { data_text(&data) });
    if p.has('s') {
        for line in stat_lines(&stat) {
            sh.console.out(&line);
        }
    }
    Ok(())
}
