//! `config [-c] [-w] [-s]`: the ensemble configuration (`/zookeeper/config`); `-c` keeps only
//! the server lines and version, `-s` adds the stat block.

use super::{parse_args, CmdFuture};
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::format::{data_text, stat_lines};
use crate::zookeeper_shell::options::flag;
use crate::zookeeper_shell::shell::Shell;
use crate::zookeeper_shell::watches::WatchKind;

pub fn run<'a>(sh: &'a mut Shell, words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(exec(sh, words))
}

async fn exec(sh: &mut Shell, words: &[String]) -> Result<(), CliError> {
    let p = parse_args("config", &[flag('c'), flag('w'), flag('s')], words, 1)?;
    let path = "/zookeeper/config";
    let conn = sh.conn()?;
    let (data, stat) = if p.has('w') {
        let (d, s, w) = conn.client.get_and_watch_config().await.map_err(|e| CliError::keeper(e, path))?;
        conn.watches.add_oneshot(path, WatchKind::Data, w);
        (d, s)
    } else {
        conn.client.get_config().await.map_err(|e| CliError::keeper(e, path))?
    };
    let text = data_text(&data);
    if p.has('c') {
        let kept: Vec<&str> =
            text.lines().filter(|l| l.starts_with("server.") || l.starts_with("version=")).collect();
        sh.console.out(&kept.join(","));
    } else {
        sh.console.out(&text);
    }
    if p.has('s') {
        for line in stat_lines(&stat) {
            sh.console.out(&line);
        }
    }
    Ok(())
}
