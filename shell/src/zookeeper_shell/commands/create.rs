//! `create [-s] [-e] [-c] [-t ttl] path [data] [acl]`: prints `Created /path` (with the
//! sequence suffix for `-s`) on stderr, as zkCli does.

use std::time::Duration;

use zookeeper_client::{Acls, CreateMode, Error as ZkError};

use super::{arg, parse_args, CmdFuture};
use crate::zookeeper_shell::acl;
use crate::zookeeper_shell::error::CliError;
use crate::zookeeper_shell::options::{flag, valued};
use crate::zookeeper_shell::path;
use crate::zookeeper_shell::shell::Shell;

/// The largest TTL ZooKeeper can encode (40 bits of milliseconds).
const MAX_TTL: i64 = 0x00FF_FFFF_FFFF;

pub fn run<'a>(sh: &'a mut Shell, words: &'a [String]) -> CmdFuture<'a> {
    Box::pin(exec(sh, words))
}

async fn exec(sh: &mut Shell, words: &[String]) -> Result<(), CliError> {
    let p = parse_args("create", &[flag('e'), flag('s'), flag('c'), valued('t')], words, 2)?;
    let (e, s, c, t) = (p.has('e'), p.has('s'), p.has('c'), p.has('t'));
    if c && (e || s) {
        return Err(CliError::Message(
            "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.".into(),
        ));
    }
    let ttl = match p.value('t') {
        Some(v) if t => v.parse::<i64>().map_err(|_| CliError::Message("-t argument must be a long value".into()))?,
        _ => 0,
    };
    if t && e {
        return Err(CliError::Message("TTLs cannot be used with Ephemeral znodes".into()));
    }
    if t && c {
        return Err(CliError::Message("TTLs cannot be used with Container znodes".into()));
    }
    if t && (ttl <= 0 || ttl > MAX_TTL) {
        return Err(CliError::Message(format!("ttl must be positive and cannot be larger than: {MAX_TTL}")));
    }
    let mode = match (e, s, c) {
        (true, true, _) => CreateMode::EphemeralSequential,
        (true, false, _) => CreateMode::Ephemeral,
        (false, true, _) => CreateMode::PersistentSequential,
        (false, false, true) => CreateMode::Container,
        (false, false, false) => CreateMode::Persistent,
    };
    let path = arg(&p, 1).to_string();
    let data = p.arg(2).unwrap_or_default().as_bytes().to_vec();
    let acl_list = match p.arg(3) {
        Some(text) => {
            let (acls, warnings) = acl::parse(text);
            for w in warnings {
                sh.console.err(&w);
            }
            Some(acls)
        }
        None => None,
    };
    path::validate(&path, s).map_err(CliError::MalformedPath)?;
    if acl_list.as_ref().is_some_and(Vec::is_empty) {
        sh.console.err("KeeperErrorCode = InvalidACL");
        return Err(CliError::Message("Acl is not valid : null".into()));
    }
    let acls = match &acl_list {
        Some(list) => Acls::new(list),
        None => Acls::anyone_all(),
    };
    let mut options = mode.with_acls(acls);
    if t {
        options = options.with_ttl(Duration::from_millis(ttl as u64));
    }
    let conn = sh.conn()?;
    match conn.client.create(&path, &data, &options).await {
        Ok((_, sequence)) => {
            let created = if s { format!("{path}{sequence}") } else { path };
            sh.console.err(&format!("Created {created}"));
            Ok(())
        }
        Err(ZkError::InvalidAcl) => {
            sh.console.err(&format!("KeeperErrorCode = InvalidACL for {path}"));
            Err(CliError::keeper(ZkError::InvalidAcl, &path))
        }
        Err(err) => Err(CliError::keeper(err, &path)),
    }
}
