//! The interactive prompt: rustyline line editing, a persistent history file, and tab
//! completion of command names and of znode paths read from the server.
//!
//! Commands run on the runtime thread (see `mod.rs`); this thread only edits lines. The
//! completer asks the server for the children of the path being typed, bounded to two seconds.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Context, Editor, Helper};
use tokio::runtime::Handle;
use tokio::sync::Mutex;

use super::commands;
use super::output::Console;
use super::shell::Shell;

/// How long tab completion waits for the server.
const COMPLETION_WAIT: Duration = Duration::from_secs(2);

/// The history file: `$ZOOKEEPER_SHELL_HISTORY`, else `~/.zookeeper-shell_history`.
pub fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ZOOKEEPER_SHELL_HISTORY") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".zookeeper-shell_history"))
}

/// Completion of commands and znode paths.
struct ZkHelper {
    handle: Handle,
    shell: Arc<Mutex<Shell>>,
}

impl ZkHelper {
    fn children(&self, path: &str) -> Vec<String> {
        // Runs between commands, so the shell is free; never wait on it regardless.
        let client = match self.shell.try_lock() {
            Ok(shell) => match shell.conn() {
                Ok(conn) => conn.client.clone(),
                Err(_) => return Vec::new(),
            },
            Err(_) => return Vec::new(),
        };
        let path = path.to_string();
        let list = self
            .handle
            .block_on(async move { tokio::time::timeout(COMPLETION_WAIT, client.list_children(&path)).await });
        match list {
            Ok(Ok(mut children)) => {
                children.sort_unstable();
                children
            }
            _ => Vec::new(),
        }
    }
}

impl Completer for ZkHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before.rfind([' ', '\t']).map_or(0, |i| i + 1);
        let word = &before[start..];
        if word.starts_with('/') {
            // `/brokers/i` -> children of `/brokers` starting with `i`.
            let cut = word.rfind('/').map_or(0, |i| i + 1);
            let (dir, prefix) = word.split_at(cut);
            let parent = if dir == "/" { "/" } else { dir.trim_end_matches('/') };
            let candidates = self
                .children(parent)
                .into_iter()
                .filter(|c| c.starts_with(prefix))
                .map(|c| Pair { display: c.clone(), replacement: format!("{dir}{c}") })
                .collect();
            return Ok((start, candidates));
        }
        if start == 0 {
            let mut names = commands::names();
            names.retain(|n| n.starts_with(word) && *n != "help" || (word.len() > 1 && *n == "help" && n.starts_with(word)));
            names.sort_unstable();
            let candidates =
                names.into_iter().map(|n| Pair { display: n.to_string(), replacement: format!("{n} ") }).collect();
            return Ok((0, candidates));
        }
        Ok((pos, Vec::new()))
    }
}

impl Hinter for ZkHelper {
    type Hint = String;
}
impl Highlighter for ZkHelper {}
impl Validator for ZkHelper {}
impl Helper for ZkHelper {}

/// Reads and runs lines until `quit` or end of input.
pub fn run(handle: &Handle, shell: Arc<Mutex<Shell>>, console: &Console) {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .history_ignore_dups(true)
        .and_then(|b| b.max_history_size(1000))
        .map(|b| b.build())
        .unwrap_or_default();
    let mut editor: Editor<ZkHelper, FileHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            console.err(&format!("Cannot start line editing: {e}"));
            return;
        }
    };
    editor.set_helper(Some(ZkHelper { handle: handle.clone(), shell: Arc::clone(&shell) }));
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    loop {
        let prompt = shell.blocking_lock().prompt();
        match editor.readline(&prompt) {
            Ok(line) => {
                if !line.trim().is_empty() && editor.add_history_entry(line.as_str()).unwrap_or(false) {
                    if let Some(path) = &history {
                        let saved = if path.exists() { editor.append_history(path) } else { editor.save_history(path) };
                        if let Err(e) = saved {
                            console.err(&format!("Cannot write history file {}: {e}", path.display()));
                        }
                    }
                }
                let shell_for_line = Arc::clone(&shell);
                let done = handle.block_on(handle.spawn(async move {
                    let mut sh = shell_for_line.lock().await;
                    sh.execute_line(&line).await;
                    sh.quit
                }));
                match done {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(e) => console.err(&format!("internal error: {e}")),
                }
            }
            // Ctrl-C abandons the line being typed, as in a Unix shell.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                console.err(&format!("Cannot read input: {e}"));
                break;
            }
        }
    }
}
