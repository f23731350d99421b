//! The process command line: `zookeeper-shell host:port[,host:port...][/chroot] [command
//! args...]` as Kafka's `zookeeper-shell.sh` takes it, plus zkCli's own flags (`-server`,
//! `-timeout`, `-r`, `-waitforconnection`).

use std::time::Duration;

/// What the user asked for.
#[derive(Debug, PartialEq, Eq)]
pub struct Invocation {
    pub server: String,
    pub session_timeout: Duration,
    /// The command and its arguments (run once, then exit); empty for a prompt or a script.
    pub command: Vec<String>,
}

/// The text printed for `-h`/`--help` or a bad command line.
pub const USAGE: &str = "USAGE: zookeeper-shell host:port[,host:port...][/chroot] [command args...]\n\
       zookeeper-shell -server host:port[/chroot] [-timeout ms] [command args...]\n\
Without a command it reads commands from the terminal (with history and tab completion) or,\n\
when stdin is not a terminal, one command per line. Type `help` for the list of commands.";

/// Parsed command line, or `Err(message)` to print with the usage (exit 2), or
/// `Err("")` for an explicit `--help` (exit 0).
pub fn parse(args: &[String]) -> Result<Invocation, String> {
    let mut server: Option<String> = None;
    let mut timeout_ms: u64 = 30_000;
    let mut it = args.iter();
    let mut command = Vec::new();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" | "-help" => return Err(String::new()),
            "-server" => server = Some(it.next().ok_or("Error: no argument found for option -server")?.clone()),
            "-timeout" => {
                let v = it.next().ok_or("Error: no argument found for option -timeout")?;
                timeout_ms = v.parse().map_err(|_| format!("Error: -timeout must be a number of milliseconds: {v}"))?;
            }
            "-r" | "-waitforconnection" => {}
            "-client-configuration" | "-zk-tls-config-file" => {
                return Err(format!("Error: {arg} (TLS/client configuration files) is not supported"));
            }
            _ if server.is_none() && !arg.starts_with('-') => server = Some(arg.clone()),
            _ => {
                command.push(arg.clone());
                command.extend(it.by_ref().cloned());
            }
        }
    }
    Ok(Invocation {
        server: server.unwrap_or_else(|| "localhost:2181".to_string()),
        session_timeout: Duration::from_millis(timeout_ms.max(1)),
        command,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn kafka_style() {
        let inv = parse(&v("localhost:2181 get /brokers/ids/0")).unwrap();
        assert_eq!(inv.server, "localhost:2181");
        assert_eq!(inv.command, v("get /brokers/ids/0"));
        let inv = parse(&v("h1:1,h2:2/chroot")).unwrap();
        assert_eq!(inv.server, "h1:1,h2:2/chroot");
        assert!(inv.command.is_empty());
    }

    #[test]
    fn zkcli_style() {
        let inv = parse(&v("-server 127.0.0.1:2181 -timeout 5000 ls -s /")).unwrap();
        assert_eq!(inv.server, "127.0.0.1:2181");
        assert_eq!(inv.session_timeout, Duration::from_millis(5000));
        assert_eq!(inv.command, v("ls -s /"));
    }

    #[test]
    fn options_after_command_belong_to_it() {
        let inv = parse(&v("127.0.0.1:2181 ls -R /")).unwrap();
        assert_eq!(inv.command, v("ls -R /"));
    }

    #[test]
    fn default_and_errors() {
        assert_eq!(parse(&[]).unwrap().server, "localhost:2181");
        assert!(parse(&v("-server")).is_err());
        assert_eq!(parse(&v("--help")).unwrap_err(), "");
    }
}
