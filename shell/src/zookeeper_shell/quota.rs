//! What setquota, listquota and delquota share: the quota znodes under `/zookeeper/quota`
//! (formats in `jute::quota`), read and written as ZooKeeper 3.8's zkCli does.

use jute::quota::{limits_path, stats_path, StatsTrack, QUOTA_ROOT};
use zookeeper_client::{Acls, Client, CreateMode, Error as ZkError};

use super::error::CliError;

/// The quota limits of `path`, if it has them.
pub async fn limits(client: &Client, path: &str) -> Result<Option<(StatsTrack, i32)>, CliError> {
    let lp = limits_path(path);
    match client.get_data(&lp).await {
        Ok((data, stat)) => Ok(Some((StatsTrack::parse(&String::from_utf8_lossy(&data)), stat.version))),
        Err(ZkError::NoNode) => Ok(None),
        Err(e) => Err(CliError::keeper(e, &lp)),
    }
}

/// The usage text of `path`'s stats node, if any.
pub async fn stats_text(client: &Client, path: &str) -> Result<Option<String>, CliError> {
    let sp = stats_path(path);
    match client.get_data(&sp).await {
        Ok((data, _)) => Ok(Some(String::from_utf8_lossy(&data).to_string())),
        Err(ZkError::NoNode) => Ok(None),
        Err(e) => Err(CliError::keeper(e, &sp)),
    }
}

/// An ancestor of `path` with a quota (zkCli refuses nested quotas).
pub async fn quota_ancestor(client: &Client, path: &str) -> Result<Option<String>, CliError> {
    let mut p = path;
    while let Some(i) = p.rfind('/') {
        p = if i == 0 { "/" } else { &p[..i] };
        if p == "/" {
            return Ok(None);
        }
        if limits(client, p).await?.is_some() {
            return Ok(Some(p.to_string()));
        }
    }
    Ok(None)
}

/// A descendant of `path` with a quota: any limits node below `/zookeeper/quota<path>`.
pub async fn quota_descendant(client: &Client, path: &str) -> Result<Option<String>, CliError> {
    let base = format!("{QUOTA_ROOT}{path}");
    let mut stack = vec![base.clone()];
    let mut seen = 0usize;
    while let Some(p) = stack.pop() {
        seen += 1;
        if seen > 100_000 {
            break; // bounded walk of /zookeeper/quota
        }
        let children = match client.list_children(&p).await {
            Ok(c) => c,
            Err(ZkError::NoNode) => continue,
            Err(e) => return Err(CliError::keeper(e, &p)),
        };
        for c in children {
            let child = format!("{p}/{c}");
            if c == jute::quota::LIMITS_NODE && p != base {
                return Ok(Some(p[QUOTA_ROOT.len()..].to_string()));
            }
            stack.push(child);
        }
    }
    Ok(None)
}

/// Creates `path` and its missing parents as empty persistent nodes.
pub async fn ensure(client: &Client, path: &str) -> Result<(), CliError> {
    let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
    let mut at = String::new();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        at.push('/');
        at.push_str(seg);
        match client.create(&at, b"", &options).await {
            Ok(_) | Err(ZkError::NodeExists) => {}
            Err(e) => return Err(CliError::keeper(e, &at)),
        }
    }
    Ok(())
}

/// Deletes the quota znodes of `path` and the `/zookeeper/quota` parents left empty.
pub async fn remove(client: &Client, path: &str) -> Result<(), CliError> {
    for p in [limits_path(path), stats_path(path)] {
        match client.delete(&p, None).await {
            Ok(()) | Err(ZkError::NoNode) => {}
            Err(e) => return Err(CliError::keeper(e, &p)),
        }
    }
    let mut dir = format!("{QUOTA_ROOT}{path}");
    while dir.len() > QUOTA_ROOT.len() {
        match client.delete(&dir, None).await {
            Ok(()) | Err(ZkError::NoNode) => {}
            Err(ZkError::NotEmpty) => break,
            Err(e) => return Err(CliError::keeper(e, &dir)),
        }
        match dir.rfind('/') {
            Some(i) => dir.truncate(i),
            None => break,
        }
    }
    Ok(())
}
