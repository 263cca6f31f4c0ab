//! The "Are you sure you want to continue? [y/N]" confirmation of the prune commands.

use std::io::{BufRead, Write};

/// Print `warning` and ask; anything but "y"/"yes" (or no terminal answer) is a no.
pub fn confirm(warning: &str) -> bool {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_lowercase().as_str(), "y" | "yes")
}
