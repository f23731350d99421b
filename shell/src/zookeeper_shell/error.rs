//! The one-line errors a command can end with, their wording and their exit codes.
//!
//! The wording is zkCli's (`Node does not exist: /x`, `version No is not valid : /x`, ...) so
//! that scripts grepping for it keep working; the exit codes are zkCli's too (1, and 127 for an
//! unknown command).

use std::fmt;

use zookeeper_client::Error as ZkError;

/// Why a command failed. Displays as the single line printed on stderr.
#[derive(Debug)]
pub enum CliError {
    /// Wrong arguments: the text is the command's usage (`get [-s] [-w] path`).
    Usage(String),
    /// The option parser rejected the words (commons-cli's exception text).
    Parse(String),
    /// No such command; the usage of every command is printed before this line.
    CommandNotFound(String),
    /// A bad path, caught before anything is sent (`Path must start with / character`).
    MalformedPath(String),
    /// The server (or the client library) answered with an error for `path`.
    Keeper { error: ZkError, path: String },
    /// Any other one-line failure.
    Message(String),
}

impl CliError {
    /// Wraps a client error for the path it concerns.
    pub fn keeper(error: ZkError, path: &str) -> Self {
        CliError::Keeper { error, path: path.to_string() }
    }

    /// The process exit code zkCli uses for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::CommandNotFound(_) => 127,
            _ => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(s) | CliError::Parse(s) | CliError::MalformedPath(s) | CliError::Message(s) => {
                f.write_str(s)
            }
            CliError::CommandNotFound(cmd) => write!(f, "Command not found: Command not found {cmd}"),
            CliError::Keeper { error, path } => f.write_str(&keeper_message(error, path)),
        }
    }
}

impl std::error::Error for CliError {}

/// zkCli's text for a KeeperException on `path`.
pub fn keeper_message(error: &ZkError, path: &str) -> String {
    match error {
        ZkError::NoNode => format!("Node does not exist: {path}"),
        ZkError::NoChildrenForEphemerals => format!("Ephemerals cannot have children: {path}"),
        ZkError::NodeExists => format!("Node already exists: {path}"),
        ZkError::NotEmpty => format!("Node not empty: {path}"),
        ZkError::NotReadOnly => format!("Not a read-only call: {path}"),
        ZkError::InvalidAcl => format!("Acl is not valid : {path}"),
        ZkError::NoAuth => format!("Insufficient permission : {path}"),
        ZkError::BadVersion => format!("version No is not valid : {path}"),
        ZkError::QuotaExceeded => format!("Quota has exceeded : {path}"),
        // The client library reports the server's BadArguments code with this fixed text;
        // other BadArguments are its own argument checks.
        ZkError::BadArguments(reason) if **reason == "server error" => {
            format!("Arguments are not valid : {path}")
        }
        ZkError::BadArguments(reason) => format!("Arguments are not valid : {path} ({reason})"),
        other => match code_message(other) {
            Some(code) => format!("KeeperErrorCode = {code} for {path}"),
            None => format!("{other} for {path}"),
        },
    }
}

/// KeeperException.Code's message for errors that are server codes.
pub fn code_message(error: &ZkError) -> Option<String> {
    let s = match error {
        ZkError::ConnectionLoss => "ConnectionLoss",
        ZkError::MarshallingError => "MarshallingError",
        ZkError::Unimplemented => "Unimplemented",
        ZkError::Timeout => "OperationTimeout",
        ZkError::NoNode => "NoNode",
        ZkError::NoAuth => "NoAuth",
        ZkError::BadVersion => "BadVersion",
        ZkError::NoChildrenForEphemerals => "NoChildrenForEphemerals",
        ZkError::NodeExists => "NodeExists",
        ZkError::InvalidAcl => "InvalidACL",
        ZkError::AuthFailed => "AuthFailed",
        ZkError::NotEmpty => "Directory not empty",
        ZkError::SessionExpired => "Session expired",
        ZkError::SessionMoved => "Session moved",
        ZkError::NotReadOnly => "Not a read-only call",
        ZkError::NoWatcher => "No such watcher",
        ZkError::ReconfigDisabled => "Reconfig is disabled",
        ZkError::QuotaExceeded => "Quota has exceeded",
        ZkError::Throttled => "Op throttled due to high load",
        ZkError::RuntimeInconsistent => "RuntimeInconsistency",
        ZkError::ClientClosed => "Session closed",
        ZkError::UnexpectedErrorCode(code) => return Some(format!("Unknown error {code}")),
        _ => return None,
    };
    Some(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        assert_eq!(CliError::keeper(ZkError::NoNode, "/x").to_string(), "Node does not exist: /x");
        assert_eq!(CliError::keeper(ZkError::BadVersion, "/x").to_string(), "version No is not valid : /x");
        assert_eq!(CliError::keeper(ZkError::NotEmpty, "/x").to_string(), "Node not empty: /x");
        assert_eq!(CliError::keeper(ZkError::NodeExists, "/x").to_string(), "Node already exists: /x");
        assert_eq!(
            CliError::keeper(ZkError::ConnectionLoss, "/").to_string(),
            "KeeperErrorCode = ConnectionLoss for /"
        );
        assert_eq!(CliError::CommandNotFound("foo".into()).exit_code(), 127);
    }
}
