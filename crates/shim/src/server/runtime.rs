//! Invoking the OCI runtime (runc's command line) without ever waiting on it
//! directly: every child's status comes from the [`Reaper`].
//!
//! A failed command's message is what the runtime wrote on stderr, trimmed, kept
//! verbatim because berthd shows it to the user (`docker run` prints runc's error).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use super::reaper::{Reaper, Ticket};

pub struct Runtime {
    pub bin: PathBuf,
    pub root: PathBuf,
    pub args: Vec<String>,
    pub id: String,
    pub reaper: Arc<Reaper>,
}

impl Runtime {
    /// `<runtime> --root R <runtime_args> <sub>`.
    pub fn command(&self, sub: &str) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root).args(&self.args).arg(sub);
        c
    }

    /// Spawns `cmd`; the pid and the ticket to claim its status with.
    pub fn spawn(&self, cmd: &mut Command) -> Result<(std::process::Child, Ticket), String> {
        let ticket = self.reaper.ticket();
        let child = cmd
            .spawn()
            .map_err(|e| format!("failed to run {}: {e}", self.bin.display()))?;
        self.reaper.spawned();
        Ok((child, ticket))
    }

    /// Runs `<sub> <before...> <id> <after...>` to completion, feeding `input` on stdin.
    pub fn run(
        &self,
        sub: &str,
        before: &[&str],
        after: &[&str],
        input: Option<&[u8]>,
    ) -> Result<(), String> {
        let mut cmd = self.command(sub);
        cmd.args(before)
            .arg(&self.id)
            .args(after)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let (mut child, ticket) = self.spawn(&mut cmd)?;
        if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
            let _ = stdin.write_all(data);
        }
        let mut err = Vec::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = stderr.read_to_end(&mut err);
        }
        let code = self.reaper.wait(child.id() as i32, ticket);
        if code == 0 {
            Ok(())
        } else {
            Err(failure(sub, code, &err))
        }
    }
}

/// The message of a failed runtime command.
pub fn failure(sub: &str, code: i32, stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    if text.is_empty() {
        format!("runtime {sub} failed with exit code {code}")
    } else {
        text.to_string()
    }
}
