//! The container's init: from a fresh set of namespaces to the user's program.
//!
//! Order: session, mounts (before pivot_root, while host paths still resolve), the
//! createRuntime handshake and createContainer hooks, pivot_root, the console, sysctl
//! and masked/read-only paths, hostname, rlimits, the program's path, `Ready` to the
//! parent, and the wait on `exec.fifo` that `start` releases. Then the process's
//! identity (groups, user, capabilities, no_new_privs) and the startContainer hooks,
//! last before execve. The seccomp filter goes in right before the identity switch
//! (while CAP_SYS_ADMIN is held), or, with `noNewPrivileges`, right before execve.

use std::io::Write;
use std::os::fd::{OwnedFd, RawFd};
use std::path::Path;

use oci_spec::runtime::{Process, Spec};
use rustix::fs::{Mode, OFlags};

use super::find_executable;
use crate::channel::{Channel, Message};
use crate::error::{Context, Error, Result};
use crate::rootfs::{self, CgroupMounts};
use crate::seccomp::LoadPoint;
use crate::{capabilities, hooks, rlimits, sys};

pub struct InitArgs<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub ch: &'a Channel,
    pub fifo_fd: RawFd,
    pub console: Option<OwnedFd>,
    pub no_pivot: bool,
    pub preserve_fds: u32,
    pub cgroups: CgroupMounts,
    pub in_userns: bool,
    /// The compiled `linux.seccomp`, installed at its load point (see `crate::seccomp`).
    pub seccomp: Option<&'a crate::seccomp::Filter>,
}

/// Runs the init; returns only with the error that stopped it.
pub fn run(a: InitArgs<'_>) -> Error {
    match setup(a) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn setup(a: InitArgs<'_>) -> Result<std::convert::Infallible> {
    let spec = a.spec;
    let process = spec.process().as_ref().expect("validated");
    rustix::process::setsid().ctx(|| "setsid")?;

    rootfs::prepare(spec, a.rootfs, &a.cgroups, a.in_userns)?;
    a.ch.send(&Message::MountsReady)?;
    let state = match a.ch.recv()? {
        Message::Continue { state } => state,
        other => return Err(Error::Init(format!("expected Continue, got {other:?}"))),
    };
    let hooks = spec.hooks().clone().unwrap_or_default();
    hooks::run_all("createContainer", hooks.create_container().as_ref(), &state)?;

    if a.no_pivot {
        rootfs::chroot(a.rootfs)?;
    } else {
        rootfs::pivot(a.rootfs)?;
    }
    if let Some(sock) = &a.console {
        crate::console::setup(std::os::fd::AsFd::as_fd(sock))?;
    }
    drop(a.console);
    rootfs::sysctl(spec)?;
    rootfs::finish(spec)?;
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        rustix::system::sethostname(h.as_bytes()).ctx(|| format!("hostname: cannot set {h:?}"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        rustix::system::setdomainname(d.as_bytes())
            .ctx(|| format!("domainname: cannot set {d:?}"))?;
    }
    let program = prepare_process(process)?;

    a.ch.send(&Message::Ready)?;
    sys::cloexec_from(3 + a.preserve_fds)?;
    // Blocks until `start` opens the fifo for reading.
    let fifo = rustix::fs::open(
        format!("/proc/self/fd/{}", a.fifo_fd).as_str(),
        OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "failed to open exec.fifo")?;
    let mut fifo = std::fs::File::from(fifo);
    fifo.write_all(b"0").ctx(|| "failed to write exec.fifo")?;
    drop(fifo);
    crate::seccomp::load_at(a.seccomp, process, LoadPoint::BeforeIdentity)?;
    switch_identity(process)?;
    hooks::run_all("startContainer", hooks.start_container().as_ref(), &state)?;
    exec_with_filter(&program, process, a.seccomp)
}

/// What can fail about the process, checked while the parent still listens: rlimits,
/// oom score, the program's path, the cwd. Shared with `exec`.
pub fn prepare_process(process: &Process) -> Result<std::path::PathBuf> {
    rlimits::apply(process.rlimits().as_deref().unwrap_or_default())?;
    if let Some(adj) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .ctx(|| format!("process.oomScoreAdj: cannot set {adj}"))?;
    }
    let env = process.env().clone().unwrap_or_default();
    let args = process.args().clone().unwrap_or_default();
    let program = find_executable(&args[0], &env)?;
    let cwd = process.cwd();
    if rustix::process::chdir(cwd).is_err() {
        // runc makes a missing cwd; as root, before the switch to the container's user.
        std::fs::create_dir_all(cwd)
            .ctx(|| format!("process.cwd: cannot create {}", cwd.display()))?;
        rustix::process::chdir(cwd)
            .ctx(|| format!("process.cwd: cannot chdir to {}", cwd.display()))?;
    }
    // Checked here too, not only in execve: before `start`, the error still reaches
    // the caller as a message (the CVE-2024-21626 class: a cwd through a host fd).
    sys::check_cwd_inside_root()?;
    Ok(program)
}

/// The process's identity, last before exec: groups, gid, uid, capabilities,
/// no_new_privs, umask. After the uid switch the process is not dumpable and its own
/// /proc/self is closed to it, so everything needing /proc comes before.
pub fn switch_identity(process: &Process) -> Result<()> {
    let sets = capabilities::resolve(process.capabilities().as_ref())?;
    capabilities::drop_bounding(&sets)?;
    if process.no_new_privileges().unwrap_or(false) {
        rustix::thread::set_no_new_privs(true).ctx(|| "process.noNewPrivileges")?;
    }
    let user = process.user();
    sys::set_keep_caps(true)?;
    if let Err(e) = sys::setgroups(user.additional_gids().as_deref().unwrap_or_default()) {
        // setgroups is denied in a user namespace whose setgroups file says "deny".
        if user
            .additional_gids()
            .as_ref()
            .is_some_and(|g| !g.is_empty())
        {
            return Err(e);
        }
    }
    let gid = rustix::fs::Gid::from_raw(user.gid());
    rustix::thread::set_thread_res_gid(gid, gid, gid)
        .ctx(|| format!("process.user.gid: cannot switch to {}", user.gid()))?;
    let uid = rustix::fs::Uid::from_raw(user.uid());
    rustix::thread::set_thread_res_uid(uid, uid, uid)
        .ctx(|| format!("process.user.uid: cannot switch to {}", user.uid()))?;
    sys::set_keep_caps(false)?;
    for w in capabilities::apply(&sets)? {
        crate::logging::debug(&w);
    }
    if let Some(mask) = user.umask() {
        rustix::process::umask(Mode::from_raw_mode(mask));
    }
    Ok(())
}

pub fn exec(program: &Path, process: &Process) -> Result<std::convert::Infallible> {
    exec_with_filter(program, process, None)
}

/// [`exec`], installing `seccomp` last when no_new_privs lets an unprivileged process
/// do it (its other load point, before the identity switch, is the caller's).
pub fn exec_with_filter(
    program: &Path,
    process: &Process,
    seccomp: Option<&crate::seccomp::Filter>,
) -> Result<std::convert::Infallible> {
    let mut env = process.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", home_of(process.user().uid())));
    }
    let args = process.args().clone().unwrap_or_default();
    crate::seccomp::load_at(seccomp, process, LoadPoint::BeforeExec)?;
    Err(sys::execve(program, &args, &env))
}

/// The user's home from the container's /etc/passwd, or `/`: runc sets HOME this way
/// when the spec's env leaves it out.
fn home_of(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| home_in_passwd(&text, uid))
        .unwrap_or_else(|| "/".to_string())
}

fn home_in_passwd(text: &str, uid: u32) -> Option<String> {
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[5].to_string())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn home_comes_from_passwd() {
        let text =
            "root:x:0:0:root:/root:/bin/sh\nberth:x:1000:1000::/home/berth:/bin/sh\nbad line\n";
        assert_eq!(super::home_in_passwd(text, 0).as_deref(), Some("/root"));
        assert_eq!(
            super::home_in_passwd(text, 1000).as_deref(),
            Some("/home/berth")
        );
        assert_eq!(super::home_in_passwd(text, 7), None);
    }
}
