//! OCI lifecycle hooks.
//!
//! Each hook gets the container's state JSON on stdin, runs with exactly the env it
//! lists, and is killed when its timeout (seconds) passes. A failing prestart,
//! createRuntime, createContainer, startContainer or poststart hook fails the
//! operation; a failing poststop hook is only logged, as the runtime spec says.

use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::error::{Error, Result};

pub fn run_all(kind: &str, hooks: Option<&Vec<Hook>>, state: &str) -> Result<()> {
    for (i, hook) in hooks.into_iter().flatten().enumerate() {
        run(hook, state).map_err(|e| Error::Hook(format!("{kind} hook #{i}: {e}")))?;
    }
    Ok(())
}

fn run(hook: &Hook, state: &str) -> std::result::Result<(), String> {
    let path = hook.path();
    let mut cmd = Command::new(path);
    if let Some(args) = hook.args() {
        if let Some((first, rest)) = args.split_first() {
            cmd.arg0(first);
            cmd.args(rest);
        }
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that ignores its stdin may close it early: not an error.
        let _ = stdin.write_all(state.as_bytes());
    }
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(format!("waiting for {}: {e}", path.display())),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{} timed out after {} s",
                path.display(),
                hook.timeout().unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    if status.success() {
        return Ok(());
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    let how = match (status.code(), status.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (_, Some(s)) => format!("was killed by signal {s}"),
        _ => "failed".into(),
    };
    let stderr = stderr.trim();
    if stderr.is_empty() {
        Err(format!("{} {how}", path.display()))
    } else {
        Err(format!("{} {how}: {stderr}", path.display()))
    }
}
