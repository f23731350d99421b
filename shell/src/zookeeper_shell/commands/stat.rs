//! `stat [-w] path`: the stat block; `-w` leaves a watch (an exists watch if the node is
//! missing, so its creation is reported).

use super::{arg, check_path, parse_args, CmdFuture};
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::format::stat_lines;
use crate::zookeeper_shell::options::flag;
use crate::zookeeper_shell::shell::Shell;
use crate::zookeeper_shell::watches::WatchKind;

pub fn run<'a>(sh: &'a mut Shell, words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(exec(sh, words))
}

async fn exec(sh: &mut Shell, words: &[String]) -> Result<(), CliError> {
    let p = parse_args("stat", &[flag('w')], words, 2)?;
    let mut watch = p.has('w');
    if p.args.len() > 2 {
        sh.console.err("'stat path [watch]' has been deprecated. Please use 'stat [-w] path' instead.");
        watch = true;
    }
    let path = arg(&p, 1).to_string();
    check_path(&path)?;
    let conn = sh.conn()?;
    let stat = if watch {
        let (s, w) = conn.client.check_and_watch_stat(&path).await.map_err(|e| CliError::keeper(e, &path))?;
        let kind = if s.is_some() { WatchKind::Data } else { WatchKind::Exist };
        conn.watches.add_oneshot(&path, kind, w);
        s
    } else {
        conn.client.check_stat(&path).await.map_err(|e| CliError::keeper(e, &path))?
    };
    let stat = stat.ok_or_else(|| CliError::keeper(zookeeper_client::Error::NoNode, &path))?;
    for line in stat_lines(&stat) {
        sh.console.out(&line);
    }
    Ok(())
}
