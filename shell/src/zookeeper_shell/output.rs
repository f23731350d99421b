//! Where text goes: command output and watch notifications to stdout, errors to stderr.
//!
//! Notifications that arrive while the interactive prompt waits for input print straight to
//! the terminal, after the prompt, as zkCli (JLine) does; the next prompt is drawn below them.
//! (rustyline's external printer would redraw the prompt, but with it rustyline stops
//! rendering fast input — pasted text — until the next key press, so it is not used.)
//!
//! Write errors (a closed pipe, `| head`) are ignored: the shell must never panic on output.

use std::io::Write;

/// The shell's output channel, shared by the command runner and the watch tasks.
#[derive(Default)]
pub struct Console;

impl Console {
    pub fn new() -> Self {
        Console
    }

    /// One line to stdout.
    pub fn out(&self, line: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }

    /// One line to stderr.
    pub fn err(&self, line: &str) {
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{line}");
        let _ = stderr.flush();
    }

    /// Text printed asynchronously (watch and session events).
    pub fn event(&self, text: &str) {
        self.out(text);
    }
}
