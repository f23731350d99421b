//! `setquota -n|-b|-N|-B val path`: sets a soft (-n count, -b bytes) or hard (-N, -B) quota on
//! `path`, merging with the limits it has, as ZooKeeper 3.8's zkCli does (the znodes and
//! their formats: `jute::quota`). Refuses quotas above or below another one.

use super::{arg, check_path, parse_args, CmdFuture};
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::options::valued;
use crate::zookeeper_shell::quota;
use crate::zookeeper_shell::shell::Shell;
use jute::quota::{limits_path, stats_path, StatsTrack};
use zookeeper_client::{Acls, CreateMode};

pub fn run<'a>(sh: &'a mut Shell, words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(exec(sh, words))
}

async fn exec(sh: &mut Shell, words: &[String]) -> Result<(), CliError> {
    let p = parse_args("setquota", &[valued('n'), valued('b'), valued('N'), valued('B')], words, 2)?;
    let mut given = Vec::new();
    for letter in ['n', 'b', 'N', 'B'] {
        if let Some(v) = p.value(letter) {
            let v: i64 = v.parse().map_err(|_| CliError::Message("NumberFormatException happens when parsing the option value".into()))?;
            given.push((letter, v));
        }
    }
    if given.is_empty() {
        return Err(CliError::Message(
            "org.apache.commons.cli.MissingOptionException: Missing required option: [-n num soft quota, -b bytes soft quota, -N num hard quota, -B bytes hard quota]".into(),
        ));
    }
    let path = arg(&p, 1).to_string();
    check_path(&path)?;
    let conn = sh.conn()?;
    let client = &conn.client;
    if client.check_stat(&path).await.map_err(|e| CliError::keeper(e, &path))?.is_none() {
        sh.console.err(&format!("{path} does not exist."));
        return Ok(());
    }
    if let Some(parent) = quota::quota_ancestor(client, &path).await? {
        sh.console.err(&format!("{path} has a parent {parent} which has a quota"));
        return Ok(());
    }
    if let Some(child) = quota::quota_descendant(client, &path).await? {
        sh.console.err(&format!("{path} has a child {child} which has a quota"));
        return Ok(());
    }
    let (mut limits, existing) = match quota::limits(client, &path).await? {
        Some((l, _)) => (l, true),
        None => (StatsTrack::default(), false),
    };
    for (letter, v) in given {
        match letter {
            'n' => limits.count = v,
            'b' => limits.bytes = v,
            'N' => limits.count_hard = v,
            _ => limits.bytes_hard = v,
        }
    }
    let lp = limits_path(&path);
    if existing {
        // zkCli warns when the soft limits are already exceeded.
        if let Some(used) = quota::stats_text(client, &path).await? {
            let used = StatsTrack::parse(&used);
            if limits.count > -1 && used.count > limits.count {
                sh.console.out(&format!("[Warning]: the count quota you create is less than the existing count:{}", used.count));
            }
            if limits.bytes > -1 && used.bytes > limits.bytes {
                sh.console.out(&format!("[Warning]: the bytes quota you create is less than the existing bytes:{}", used.bytes));
            }
        }
        client.set_data(&lp, limits.limits_text().as_bytes(), None).await.map_err(|e| CliError::keeper(e, &lp))?;
        return Ok(());
    }
    quota::ensure(client, &format!("{}{path}", jute::quota::QUOTA_ROOT)).await?;
    let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
    client.create(&lp, limits.limits_text().as_bytes(), &options).await.map_err(|e| CliError::keeper(e, &lp))?;
    // The server counts the subtree when the stats node is created.
    let sp = stats_path(&path);
    client.create(&sp, StatsTrack::stats_text(0, 0).as_bytes(), &options).await.map_err(|e| CliError::keeper(e, &sp))?;
    Ok(())
}
