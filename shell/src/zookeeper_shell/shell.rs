//! The command interpreter: zkCli's `executeLine`/`processCmd`. It keeps the connection, the
//! numbered history that `history` and `redo` use, the `printwatches` switch and the exit code
//! of the last command, and dispatches each command to its module in `commands/`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::commands;
use super::connection::Connection;
use super::error::CliError;
use super::output::Console;
use super::tokenize;

/// What the shell remembers between commands.
pub struct Shell {
    pub console: Arc<Console>,
    pub conn: Option<Connection>,
    /// The last connect string (the prompt shows it; `connect` with no argument reuses it).
    pub host: String,
    pub session_timeout: Duration,
    pub history: HashMap<usize, String>,
    /// The number of the next command, as in the prompt `[zk: ...(CONNECTED) 3]`.
    pub count: usize,
    pub print_watches: Arc<AtomicBool>,
    /// The exit code of the last command (0, 1, or 127 for an unknown command).
    pub exit_code: i32,
    /// Set by `quit`.
    pub quit: bool,
    /// The session was closed by `close` (the prompt then says CLOSED, as zkCli's does).
    pub closed: bool,
}

impl Shell {
    pub fn new(console: Arc<Console>, host: &str, session_timeout: Duration) -> Self {
        Shell {
            console,
            conn: None,
            host: host.to_string(),
            session_timeout,
            history: HashMap::new(),
            count: 0,
            print_watches: Arc::new(AtomicBool::new(true)),
            exit_code: 0,
            quit: false,
            closed: false,
        }
    }

    /// Connects to `host`, closing any previous session first (announcing its `Closed`).
    pub async fn connect(&mut self, host: &str) -> Result<(), CliError> {
        if let Some(old) = self.conn.take() {
            old.close(true).await;
        }
        self.host = host.to_string();
        let conn = Connection::open(host, self.session_timeout, Arc::clone(&self.console), Arc::clone(&self.print_watches))
            .await
            .map_err(CliError::Message)?;
        self.conn = Some(conn);
        self.closed = false;
        Ok(())
    }

    /// The live connection, for commands that need one.
    pub fn conn(&self) -> Result<&Connection, CliError> {
        self.conn.as_ref().filter(|c| c.is_alive()).ok_or_else(|| CliError::Message("Not connected".into()))
    }

    /// Whether a live session exists (zkCli's `zk.getState().isAlive()`).
    pub fn is_alive(&self) -> bool {
        self.conn.as_ref().is_some_and(Connection::is_alive)
    }

    /// The interactive prompt: `[zk: host:port(CONNECTED) 0] `.
    pub fn prompt(&self) -> String {
        let state = match &self.conn {
            Some(conn) => conn.state_label(),
            None if self.closed => "CLOSED",
            None => "NOT_CONNECTED",
        };
        format!("[zk: {}({}) {}] ", self.host, state, self.count)
    }

    pub fn print_watches(&self) -> bool {
        self.print_watches.load(Ordering::SeqCst)
    }

    /// Runs one line typed or piped in: numbered, remembered, executed; errors printed.
    pub async fn execute_line(&mut self, line: &str) {
        if line.is_empty() {
            return;
        }
        let words = tokenize::split(line);
        self.history.insert(self.count, line.to_string());
        let result = self.process(&words).await;
        if self.quit {
            return;
        }
        self.finish(result);
        self.count += 1;
    }

    /// Runs the command given on the process command line (no history).
    pub async fn execute_args(&mut self, words: &[String]) {
        let result = self.process(words).await;
        if !self.quit {
            self.finish(result);
        }
    }

    fn finish(&mut self, result: Result<(), CliError>) {
        match result {
            Ok(()) => self.exit_code = 0,
            Err(e) => {
                self.console.err(&e.to_string());
                self.exit_code = e.exit_code();
            }
        }
    }

    /// zkCli's `processZKCmd`, with `redo` resolved first.
    async fn process(&mut self, words: &[String]) -> Result<(), CliError> {
        if words.first().map(String::as_str) == Some("redo") && words.len() >= 2 {
            let target = self.redo_target(&words[1])?;
            let result = self.process_one(&target).await;
            // zkCli prints the redone command's error and then carries on as if redo itself
            // succeeded.
            if let Err(e) = result {
                self.console.err(&e.to_string());
            }
            if self.quit {
                return Ok(());
            }
            return self.require_connection();
        }
        self.process_one(words).await
    }

    /// Finds the words of history entry `number` for `redo`, and records them as this
    /// command's history entry.
    fn redo_target(&mut self, number: &str) -> Result<Vec<String>, CliError> {
        let index = decode_int(number)
            .ok_or_else(|| CliError::Message(format!("Invalid command number: {number}")))?;
        if index < 0 || index as u64 >= self.count as u64 {
            return Err(CliError::Message("Command index out of range".into()));
        }
        let index = index as usize;
        let line = self.history.get(&index).cloned().unwrap_or_default();
        let target = tokenize::split(&line);
        if target.first().map(String::as_str) == Some("redo") {
            return Err(CliError::Message("No redoing redos".into()));
        }
        self.history.insert(self.count, line);
        Ok(target)
    }

    async fn process_one(&mut self, words: &[String]) -> Result<(), CliError> {
        let Some(cmd) = words.first() else {
            self.usage_to_stderr();
            return Err(CliError::Usage("No command entered".into()));
        };
        let Some(spec) = commands::find(cmd) else {
            self.usage_to_stderr();
            return Err(CliError::CommandNotFound(cmd.clone()));
        };
        if spec.offline {
            (spec.run)(self, words).await?;
            // zkCli checks for a live session after these too and says so.
            return self.require_connection();
        }
        if !self.is_alive() {
            self.console.out("Not connected");
            return Ok(());
        }
        (spec.run)(self, words).await
    }

    fn require_connection(&self) -> Result<(), CliError> {
        if !self.quit && !self.is_alive() {
            self.console.out("Not connected");
        }
        Ok(())
    }

    fn usage_to_stderr(&self) {
        for line in commands::usage_lines() {
            self.console.err(&line);
        }
    }

    /// Closes the session at exit. `announce` prints `Closed` as zkCli's `quit` does.
    pub async fn shutdown(&mut self, announce: bool) {
        if let Some(conn) = self.conn.take() {
            if !announce {
                conn.silence();
            }
            conn.close(announce).await;
        }
    }
}

/// Java's `Integer.decode`: optional sign, then decimal, `0x`/`0X`/`#` hex or `0` octal.
fn decode_int(s: &str) -> Option<i64> {
    let (negative, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let value = if let Some(hex) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")).or_else(|| rest.strip_prefix('#')) {
        i64::from_str_radix(hex, 16).ok()?
    } else if rest.len() > 1 && rest.starts_with('0') {
        i64::from_str_radix(&rest[1..], 8).ok()?
    } else {
        rest.parse::<i64>().ok()?
    };
    if value > i64::from(u32::MAX) {
        return None;
    }
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::decode_int;

    #[test]
    fn integer_decode() {
        assert_eq!(decode_int("3"), Some(3));
        assert_eq!(decode_int("0x10"), Some(16));
        assert_eq!(decode_int("010"), Some(8));
        assert_eq!(decode_int("-1"), Some(-1));
        assert_eq!(decode_int("abc"), None);
    }
}
