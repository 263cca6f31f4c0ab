//! The local terminal: raw mode for `run -it`/`exec -it`/`attach`, its size for the
//! resize requests, and restoring it on every way out.
//!
//! Raw mode is entered only when stdin is a terminal; the saved attributes are restored
//! when the guard drops, which every command path reaches before `main` returns (we never
//! call `process::exit` while a guard is alive).

use rustix::termios::{self, OptionalActions, Termios};
use std::os::fd::AsFd;

/// Restores the terminal attributes it saved when dropped.
pub struct RawGuard {
    saved: Termios,
}

impl RawGuard {
    /// Put stdin's terminal into raw mode; `None` if stdin is not a terminal.
    pub fn enter() -> Option<RawGuard> {
        let stdin = std::io::stdin();
        let fd = stdin.as_fd();
        if !termios::isatty(fd) {
            return None;
        }
        let saved = termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(fd, OptionalActions::Now, &raw).ok()?;
        Some(RawGuard { saved })
    }
}

impl Drop for RawGuard {
    fn drop(&mut self) {
        let stdin = std::io::stdin();
        let _ = termios::tcsetattr(stdin.as_fd(), OptionalActions::Now, &self.saved);
    }
}

/// Whether stdin is a terminal.
pub fn stdin_is_tty() -> bool {
    termios::isatty(std::io::stdin().as_fd())
}

/// Whether stdout is a terminal.
pub fn stdout_is_tty() -> bool {
    termios::isatty(std::io::stdout().as_fd())
}

/// The (height, width) of the terminal on stdout, or stdin as a fallback.
pub fn size() -> Option<(u16, u16)> {
    let out = std::io::stdout();
    let inp = std::io::stdin();
    let ws = termios::tcgetwinsize(out.as_fd())
        .or_else(|_| termios::tcgetwinsize(inp.as_fd()))
        .ok()?;
    if ws.ws_row == 0 || ws.ws_col == 0 {
        return None;
    }
    Some((ws.ws_row, ws.ws_col))
}
