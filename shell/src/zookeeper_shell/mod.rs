//! `zookeeper-shell`: a drop-in for ZooKeeper's zkCli and Kafka's `zookeeper-shell.sh`.
//!
//! ```text
//! argv -> invocation -> one command (exit code = its result)
//!                    -> prompt (repl: rustyline, history, completion)
//!                    -> script on stdin (one command per line)
//! line -> tokenize -> shell (history, redo, dispatch) -> commands/<name>.rs
//!      -> zookeeper-client (async, tokio) -> any ZooKeeper-compatible server
//! watch/session events -> watches / connection -> output (stdout, or above the prompt)
//! ```
//!
//! All ZooKeeper work runs on one current-thread tokio runtime owned by a dedicated thread.
//! Because it is single-threaded and runs woken tasks in order, a watch notification that the
//! server sends before a reply is printed before that command's output, as zkCli shows it.
//! The main thread only reads input (and, interactively, edits lines) and hands each command
//! to that runtime, so the session keeps pinging while the user thinks.

pub mod acl;
pub mod commands;
pub mod connection;
pub mod error;
pub mod format;
pub mod invocation;
pub mod options;
pub mod output;
pub mod path;
pub mod quota;
pub mod repl;
pub mod shell;
pub mod tokenize;
pub mod watches;

use std::future::Future;
use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::Mutex;

use self::output::Console;
use self::shell::Shell;

/// Runs the shell with the process arguments (program name excluded); returns the exit code.
pub fn main_with_args(args: &[String]) -> i32 {
    let console = Arc::new(Console::new());
    let inv = match invocation::parse(args) {
        Ok(inv) => inv,
        Err(msg) if msg.is_empty() => {
            console.out(invocation::USAGE);
            return 0;
        }
        Err(msg) => {
            console.err(&msg);
            console.err(invocation::USAGE);
            return 2;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            console.err(&format!("Cannot start the runtime: {e}"));
            return 1;
        }
    };
    let handle = runtime.handle().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let driver = std::thread::Builder::new().name("zk-runtime".into()).spawn(move || {
        runtime.block_on(async {
            let _ = stopped.await;
        });
    });
    let driver = match driver {
        Ok(d) => d,
        Err(e) => {
            console.err(&format!("Cannot start the runtime thread: {e}"));
            return 1;
        }
    };
    let shell = Arc::new(Mutex::new(Shell::new(Arc::clone(&console), &inv.server, inv.session_timeout)));
    let code = run_mode(&handle, &shell, &console, &inv);
    let _ = stop.send(());
    let _ = driver.join();
    code
}

/// Runs `fut` on the runtime thread and waits for it.
fn on_runtime<T: Send + 'static>(handle: &Handle, fut: impl Future<Output = T> + Send + 'static) -> Option<T> {
    handle.block_on(handle.spawn(fut)).ok()
}

fn run_mode(handle: &Handle, shell: &Arc<Mutex<Shell>>, console: &Arc<Console>, inv: &invocation::Invocation) -> i32 {
    console.out(&format!("Connecting to {}", inv.server));
    let interactive = inv.command.is_empty() && std::io::stdin().is_terminal();
    if inv.command.is_empty() {
        console.out("Welcome to ZooKeeper!");
        console.out(if interactive { "JLine support is enabled" } else { "JLine support is disabled" });
    }
    if let Some(name) = inv.command.first() {
        // An unknown command needs no session: fail at once, as zkCli does before it connects.
        if commands::find(name).is_none() {
            for line in commands::usage_lines() {
                console.err(&line);
            }
            let e = error::CliError::CommandNotFound(name.clone());
            console.err(&e.to_string());
            return e.exit_code();
        }
    }
    let server = inv.server.clone();
    let sh = Arc::clone(shell);
    let connected = on_runtime(handle, async move {
        let mut sh = sh.lock().await;
        match sh.connect(&server).await {
            Ok(()) => true,
            Err(e) => {
                sh.console.err(&e.to_string());
                false
            }
        }
    })
    .unwrap_or(false);

    if !inv.command.is_empty() {
        if !connected {
            return 1;
        }
        let words = inv.command.clone();
        let sh = Arc::clone(shell);
        return on_runtime(handle, async move {
            let mut sh = sh.lock().await;
            sh.execute_args(&words).await;
            let quit = sh.quit;
            if !quit {
                sh.shutdown(false).await;
            }
            sh.exit_code
        })
        .unwrap_or(1);
    }

    if interactive {
        repl::run(handle, Arc::clone(shell), console);
    } else {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            let sh = Arc::clone(shell);
            let quit = on_runtime(handle, async move {
                let mut sh = sh.lock().await;
                sh.execute_line(&line).await;
                sh.quit
            })
            .unwrap_or(true);
            if quit {
                break;
            }
        }
    }
    let sh = Arc::clone(shell);
    on_runtime(handle, async move {
        let mut sh = sh.lock().await;
        if !sh.quit {
            // End of input without `quit`: zkCli exits without announcing a close.
            sh.shutdown(false).await;
        }
        sh.exit_code
    })
    .unwrap_or(1)
}
