//! The lifecycle operations after create: start, kill, delete, pause, resume, update.
//!
//! Each loads the state, checks the current status allows it (the error names the
//! status), acts, and saves the state after the transition.

use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;
use rustix::fs::{Mode, OFlags};

use crate::error::{Context, Error, Result};
use crate::state::{State, Status};
use crate::{hooks, logging, sys};

fn check(st: &State, op: &'static str, ok: impl Fn(Status) -> bool) -> Result<Status> {
    let status = st.current_status();
    if ok(status) {
        Ok(status)
    } else {
        Err(Error::WrongState {
            op,
            id: st.id.clone(),
            status,
        })
    }
}

/// Releases the init blocked on exec.fifo, then runs poststart hooks.
pub fn start(root: &Path, id: &str) -> Result<()> {
    let mut st = State::load(root, id)?;
    check(&st, "start", |s| s.can_start())?;
    let fifo_path = State::dir(root, id).join("exec.fifo");
    let fifo = rustix::fs::open(
        &fifo_path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("cannot open {}", fifo_path.display()))?;
    // Wait for the init's byte, watching that the init is still alive.
    loop {
        let mut pfd = [rustix::event::PollFd::new(
            &fifo,
            rustix::event::PollFlags::IN,
        )];
        let timeout = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        };
        match rustix::event::poll(&mut pfd, Some(&timeout)) {
            Ok(0) | Err(rustix::io::Errno::INTR) => {
                if !st.init_alive() {
                    return Err(Error::Init(format!(
                        "container {id}: the init process exited before start"
                    )));
                }
            }
            Ok(_) => break,
            Err(e) => return Err(e).ctx(|| "poll exec.fifo"),
        }
    }
    let mut buf = [0u8; 1];
    let n = rustix::io::read(&fifo, &mut buf).unwrap_or(0);
    if n == 0 {
        return Err(Error::Init(format!(
            "container {id}: the init process exited before start"
        )));
    }
    let _ = std::fs::remove_file(&fifo_path);
    st.status = Status::Running;
    st.save(root)?;
    let state_json = st.oci_json(Status::Running).to_string();
    if let Some(h) = st.config.hooks() {
        if let Err(e) = hooks::run_all("poststart", h.poststart().as_ref(), &state_json) {
            // The spec: a failing poststart hook fails start; the container is stopped.
            let _ = kill_all(&st, libc::SIGKILL);
            return Err(e);
        }
    }
    Ok(())
}

/// Parses `KILL`, `SIGKILL`, `9`, `sigkill`, `RTMIN+3`.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(Error::Usage(format!("invalid signal {s:?}")));
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" | "CLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        "RTMIN" => libc::SIGRTMIN(),
        "RTMAX" => libc::SIGRTMAX(),
        other => {
            let rt = other
                .strip_prefix("RTMIN+")
                .and_then(|n| n.parse::<i32>().ok())
                .map(|n| libc::SIGRTMIN() + n)
                .or_else(|| {
                    other
                        .strip_prefix("RTMAX-")
                        .and_then(|n| n.parse::<i32>().ok())
                        .map(|n| libc::SIGRTMAX() - n)
                });
            match rt {
                Some(n) if n <= libc::SIGRTMAX() => n,
                _ => return Err(Error::Usage(format!("unknown signal {s:?}"))),
            }
        }
    };
    Ok(n)
}

pub fn kill(root: &Path, id: &str, sig: i32, all: bool) -> Result<()> {
    let st = State::load(root, id)?;
    let status = check(&st, "kill", |s| s.can_kill())?;
    if all {
        kill_all(&st, sig)?;
    } else {
        sys::kill(st.pid, sig).ctx(|| format!("failed to signal pid {}", st.pid))?;
    }
    if status == Status::Paused && sig == libc::SIGKILL {
        let _ = crate::cgroup_manager(&st.cgroup_path).thaw();
    }
    Ok(())
}

/// Signals every process in the container's cgroup.
fn kill_all(st: &State, sig: i32) -> Result<()> {
    let cg = crate::cgroup_manager(&st.cgroup_path);
    let mut pids = cg.pids().unwrap_or_default();
    if st.init_alive() && !pids.contains(&st.pid) {
        pids.push(st.pid);
    }
    for pid in pids {
        let _ = sys::kill(pid, sig);
    }
    Ok(())
}

/// Deletes a stopped (or, as runc does, created) container; `force` kills it first.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let st = match State::load(root, id) {
        Ok(st) => st,
        Err(Error::NotFound(_)) if force => {
            // Nothing to do for an unknown container, as runc's delete -f.
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let status = st.current_status();
    if !status.can_delete() && !force {
        return Err(Error::WrongState {
            op: "delete",
            id: id.to_string(),
            status,
        });
    }
    let cg = crate::cgroup_manager(&st.cgroup_path);
    if status != Status::Stopped || !cg.pids().unwrap_or_default().is_empty() {
        kill_all(&st, libc::SIGKILL)?;
        let _ = cg.thaw();
        let deadline = Instant::now() + Duration::from_secs(10);
        while (st.init_alive() || !cg.pids().unwrap_or_default().is_empty())
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    if let Err(e) = cg.destroy() {
        return Err(Error::Init(format!(
            "cannot remove the cgroup of {id}: {e}"
        )));
    }
    let dir = State::dir(root, id);
    std::fs::remove_dir_all(&dir).ctx(|| format!("cannot remove {}", dir.display()))?;
    let state_json = st.oci_json(Status::Stopped).to_string();
    if let Some(h) = st.config.hooks() {
        if let Err(e) = hooks::run_all("poststop", h.poststop().as_ref(), &state_json) {
            logging::warn(&e.to_string());
        }
    }
    Ok(())
}

pub fn pause(root: &Path, id: &str) -> Result<()> {
    let st = State::load(root, id)?;
    check(&st, "pause", |s| s.can_pause())?;
    crate::cgroup_manager(&st.cgroup_path).freeze()?;
    Ok(())
}

pub fn resume(root: &Path, id: &str) -> Result<()> {
    let st = State::load(root, id)?;
    check(&st, "resume", |s| s.can_resume())?;
    crate::cgroup_manager(&st.cgroup_path).thaw()?;
    Ok(())
}

/// Writes new limits and keeps them in the saved config.
pub fn update(root: &Path, id: &str, resources: &LinuxResources) -> Result<Vec<String>> {
    let mut st = State::load(root, id)?;
    check(&st, "update", |s| s.can_update())?;
    let warnings = crate::cgroup_manager(&st.cgroup_path).set(resources)?;
    let mut linux = st.config.linux().clone().unwrap_or_default();
    let merged = merge_resources(linux.resources().clone().unwrap_or_default(), resources);
    linux.set_resources(Some(merged));
    st.config.set_linux(Some(linux));
    st.save(root)?;
    Ok(warnings)
}

fn merge_resources(old: LinuxResources, new: &LinuxResources) -> LinuxResources {
    let mut out = old;
    if new.memory().is_some() {
        out.set_memory(*new.memory());
    }
    if new.cpu().is_some() {
        out.set_cpu(new.cpu().clone());
    }
    if new.pids().is_some() {
        out.set_pids(*new.pids());
    }
    if new.block_io().is_some() {
        out.set_block_io(new.block_io().clone());
    }
    out
}

/// Every container under the root, in id order.
pub fn list(root: &Path) -> Result<Vec<State>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).ctx(|| format!("cannot read {}", root.display())),
    };
    for e in entries.flatten() {
        if let Some(id) = e.file_name().to_str() {
            if let Ok(st) = State::load(root, id) {
                out.push(st);
            }
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}
