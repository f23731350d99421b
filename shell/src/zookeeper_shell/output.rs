//! Where text goes: command output to stdout, errors to stderr, and watch notifications to
//! stdout — in interactive mode through rustyline's external printer, so a notification that
//! arrives while the user is typing prints above the prompt and the line is redrawn intact.
//!
//! Write errors (a closed pipe, `| head`) are ignored: the shell must never panic on output.

use std::io::Write;
use std::sync::Mutex;

/// Something that can print a block of text above a live prompt.
pub trait PromptPrinter: Send {
    fn print_above(&mut self, text: String);
}

/// The shell's output channel, shared by the command runner and the watch tasks.
#[derive(Default)]
pub struct Console {
    printer: Mutex<Option<Box<dyn PromptPrinter>>>,
}

impl Console {
    pub fn new() -> Self {
        Self::default()
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

    /// Text printed asynchronously (watch and session events): through the prompt printer in
    /// interactive mode (it redraws the prompt when the user is typing and writes straight
    /// through otherwise), else to stdout.
    pub fn event(&self, text: &str) {
        if let Ok(mut guard) = self.printer.lock() {
            if let Some(printer) = guard.as_mut() {
                printer.print_above(format!("{text}\n"));
                return;
            }
        }
        self.out(text);
    }

    /// Installs the prompt printer (interactive mode only).
    pub fn set_prompt_printer(&self, printer: Box<dyn PromptPrinter>) {
        if let Ok(mut guard) = self.printer.lock() {
            *guard = Some(printer);
        }
    }
}
