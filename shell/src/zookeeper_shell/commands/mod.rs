//! The commands, one per file, and the table that names them. The usage text of each is
//! zkCli's, and `usage_lines` prints the same list zkCli prints for an unknown command.

use std::future::Future;
use std::pin::Pin;

use super::error::CliError;
use super::options::{self, OptSpec, Parsed};
use super::path;
use super::shell::Shell;

mod add_watch;
mod addauth;
mod close;
mod config;
mod connect;
mod create;
mod delete;
mod deleteall;
mod delquota;
mod get;
mod get_acl;
mod get_all_children_number;
mod get_ephemerals;
mod help;
mod history;
mod listquota;
mod ls;
mod printwatches;
mod quit;
mod redo;
mod removewatches;
mod set;
mod set_acl;
mod setquota;
mod stat;
mod sync;
mod unsupported;
mod version;
mod whoami;

/// The future a command returns.
pub type CmdFuture<'a> = Pin<Box<dyn Future<Output = Result<(), CliError>> + Send + 'a>>;

/// A command's entry in the table.
pub struct CommandSpec {
    pub name: &'static str,
    /// The options part of the usage line (`[-s] [-w] path`).
    pub options: &'static str,
    /// Runs without a live session (connect, history, ...).
    pub offline: bool,
    /// Hidden from the usage list (zkCli has no `help` command; we accept it).
    pub hidden: bool,
    pub run: for<'a> fn(&'a mut Shell, &'a [String]) -> CmdFuture<'a>,
}

const fn cmd(
    name: &'static str,
    options: &'static str,
    run: for<'a> fn(&'a mut Shell, &'a [String]) -> CmdFuture<'a>,
) -> CommandSpec {
    CommandSpec { name, options, offline: false, hidden: false, run }
}

const fn offline(
    name: &'static str,
    options: &'static str,
    run: for<'a> fn(&'a mut Shell, &'a [String]) -> CmdFuture<'a>,
) -> CommandSpec {
    CommandSpec { name, options, offline: true, hidden: false, run }
}

/// Every command, in zkCli's usage order (Java string order: upper case sorts first).
pub static COMMANDS: &[CommandSpec] = &[
    cmd("addWatch", add_watch::OPTIONS, add_watch::run),
    cmd("addauth", "scheme auth", addauth::run),
    cmd("close", "", close::run),
    cmd("config", "[-c] [-w] [-s]", config::run),
    offline("connect", "host:port", connect::run),
    cmd("create", "[-s] [-e] [-c] [-t ttl] path [data] [acl]", create::run),
    cmd("delete", "[-v version] path", delete::run),
    cmd("deleteall", "path [-b batch size]", deleteall::run),
    cmd("delquota", "[-n|-b|-N|-B] path", delquota::run),
    cmd("get", "[-s] [-w] path", get::run),
    cmd("getAcl", "[-s] path", get_acl::run),
    cmd("getAllChildrenNumber", "path", get_all_children_number::run),
    cmd("getEphemerals", "path", get_ephemerals::run),
    CommandSpec { name: "help", options: "", offline: true, hidden: true, run: help::run },
    offline("history", "", history::run),
    cmd("listquota", "path", listquota::run),
    cmd("ls", "[-s] [-w] [-R] path", ls::run),
    offline("printwatches", "on|off", printwatches::run),
    offline("quit", "", quit::run),
    cmd("reconfig", "[-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | [-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]", unsupported::run),
    offline("redo", "cmdno", redo::run),
    cmd("removewatches", "path [-c|-d|-a] [-l]", removewatches::run),
    cmd("set", "[-s] [-v version] path data", set::run),
    cmd("setAcl", "[-s] [-v version] [-R] path acl", set_acl::run),
    cmd("setquota", "-n|-b|-N|-B val path", setquota::run),
    cmd("stat", "[-w] path", stat::run),
    cmd("sync", "path", sync::run),
    cmd("version", "", version::run),
    cmd("whoami", "", whoami::run),
];

/// Looks a command up by its exact (case-sensitive) name.
pub fn find(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// The names offered by tab completion.
pub fn names() -> Vec<&'static str> {
    COMMANDS.iter().map(|c| c.name).collect()
}

/// zkCli's usage text: a header, then `\tname options` per command.
pub fn usage_lines() -> Vec<String> {
    let mut lines = vec!["ZooKeeper -server host:port -client-configuration properties-file cmd args".to_string()];
    lines.extend(COMMANDS.iter().filter(|c| !c.hidden).map(|c| format!("\t{} {}", c.name, c.options)));
    lines
}

/// `name options`, the text of a wrong-arguments error.
pub fn usage_of(name: &str) -> String {
    find(name).map_or_else(|| name.to_string(), |c| format!("{} {}", c.name, c.options))
}

/// Parses options and requires at least `min_args` words (the command name counts).
pub fn parse_args(name: &str, specs: &[OptSpec], words: &[String], min_args: usize) -> Result<Parsed, CliError> {
    let parsed = options::parse(specs, words)?;
    if parsed.args.len() < min_args {
        return Err(CliError::Usage(usage_of(name)));
    }
    Ok(parsed)
}

/// Checks a path before sending it, with PathUtils' message.
pub fn check_path(p: &str) -> Result<(), CliError> {
    path::validate(p, false).map_err(CliError::MalformedPath)
}

/// The words of `args` from `index`, or an empty string.
pub fn arg(parsed: &Parsed, index: usize) -> &str {
    parsed.arg(index).unwrap_or_default()
}
