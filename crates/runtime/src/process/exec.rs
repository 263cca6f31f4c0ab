//! `exec`: a new process inside a running container.
//!
//! berth-runc forks a helper, which joins the container's cgroup and then
//! the init's namespaces (user first) with setns. Because a pid namespace applies only
//! to children, the helper forks once more; that child sets up the process exactly as
//! the init did its own ([`super::init::prepare_process`]) and execs. The sync socket is
//! close-on-exec, so end-of-file on it means the exec succeeded; an error arrives as
//! a `Failed` message instead.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType, Process};
use rustix::fs::{Mode, OFlags};

use crate::channel::{self, Channel, Message};
use crate::error::{Context, Error, Result};
use crate::state::State;
use crate::sys;

pub struct ExecOptions {
    pub process: Process,
    pub console_socket: Option<PathBuf>,
    /// An already connected console socket (foreground `exec -t` without a socket).
    pub console: Option<std::cell::Cell<Option<OwnedFd>>>,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
    /// The runtime's state root, where compiled seccomp filters are cached.
    pub state_root: Option<PathBuf>,
}

/// Starts the process; returns its pid (in the runtime's pid namespace).
pub fn exec(state: &State, opts: &ExecOptions) -> Result<i32> {
    crate::spec::validate_process(&opts.process)?;
    let terminal = opts.process.terminal().unwrap_or(false);
    if terminal && opts.console_socket.is_none() && opts.console.is_none() {
        return Err(Error::Usage("--tty needs --console-socket".into()));
    }
    let console = match (&opts.console_socket, &opts.console, terminal) {
        (Some(p), _, true) => Some(crate::console::connect(p)?),
        (None, Some(cell), true) => cell.take(),
        _ => None,
    };
    // The container's profile, compiled before the fork (the exec'd process gets it too).
    let seccomp = crate::seccomp::prepare_spec(&state.config, opts.state_root.as_deref())?;
    let manager = crate::cgroup_manager(&state.cgroup_path);
    let (parent, child) = channel::pair()?;
    let helper = match sys::fork()? {
        sys::Fork::Child => {
            drop(parent);
            // The helper joins the container's cgroup itself: the fast way on v1
            // (see `CgroupManager::join_self`).
            if let Err(e) = manager.join_self() {
                let _ = child.send(&Message::Failed(e.to_string()));
                sys::exit_now(1);
            }
            let err = helper_main(state, opts, &child, console, seccomp.as_ref());
            let _ = child.send(&Message::Failed(err.to_string()));
            sys::exit_now(1);
        }
        sys::Fork::Parent(pid) => pid,
    };
    drop(child);
    drop(console);
    let reap_helper = || {
        let _ = rustix::process::waitpid(
            rustix::process::Pid::from_raw(helper),
            rustix::process::WaitOptions::empty(),
        );
    };
    parent.send(&Message::Proceed)?;
    let pid = match parent.recv() {
        Ok(Message::InitPid(pid)) => pid,
        Ok(Message::Failed(msg)) => {
            reap_helper();
            return Err(Error::Init(msg));
        }
        Ok(other) => return Err(Error::Init(format!("unexpected message {other:?}"))),
        Err(e) => {
            reap_helper();
            return Err(e);
        }
    };
    reap_helper();
    match parent.recv() {
        Ok(Message::Failed(msg)) => return Err(Error::Init(msg)),
        Ok(other) => return Err(Error::Init(format!("unexpected message {other:?}"))),
        Err(_) => {} // end-of-file: the process has exec'd
    }
    if let Some(p) = &opts.pid_file {
        crate::state::write_atomic(p, pid.to_string().as_bytes())?;
    }
    Ok(pid)
}

fn helper_main(
    state: &State,
    opts: &ExecOptions,
    ch: &Channel,
    console: Option<OwnedFd>,
    seccomp: Option<&crate::seccomp::Filter>,
) -> Error {
    match helper_setup(state, opts, ch, console, seccomp) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn helper_setup(
    state: &State,
    opts: &ExecOptions,
    ch: &Channel,
    console: Option<OwnedFd>,
    seccomp: Option<&crate::seccomp::Filter>,
) -> Result<std::convert::Infallible> {
    sys::reset_signals();
    ch.expect("Proceed", |m| matches!(m, Message::Proceed))?;
    let namespaces = state
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let mut types: Vec<LinuxNamespaceType> = namespaces.iter().map(|n| n.typ()).collect();
    types.sort_by_key(|t| *t != LinuxNamespaceType::User);
    let mut fds = Vec::new();
    // Open all first: after joining the mount namespace, the host's /proc is gone.
    for t in types {
        let name = crate::spec::ns_proc_name(t);
        let theirs = format!("/proc/{}/ns/{name}", state.pid);
        let ours = format!("/proc/self/ns/{name}");
        if std::fs::read_link(&theirs).ok() == std::fs::read_link(&ours).ok() {
            continue;
        }
        let fd = rustix::fs::open(
            theirs.as_str(),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| format!("cannot open {theirs}"))?;
        fds.push((t, fd));
    }
    for (t, fd) in &fds {
        rustix::thread::move_into_link_name_space(fd.as_fd(), None).ctx(|| {
            format!(
                "cannot join the container's {} namespace",
                crate::spec::ns_name(*t)
            )
        })?;
    }
    drop(fds);
    match sys::fork()? {
        sys::Fork::Child => {
            let err = match process_setup(opts, console, seccomp) {
                Ok(never) => match never {},
                Err(e) => e,
            };
            let _ = ch.send(&Message::Failed(err.to_string()));
            sys::exit_now(1);
        }
        sys::Fork::Parent(pid) => {
            ch.send(&Message::InitPid(pid))?;
            sys::exit_now(0);
        }
    }
}

fn process_setup(
    opts: &ExecOptions,
    console: Option<OwnedFd>,
    seccomp: Option<&crate::seccomp::Filter>,
) -> Result<std::convert::Infallible> {
    rustix::process::setsid().ctx(|| "setsid")?;
    if let Some(sock) = &console {
        crate::console::setup(sock.as_fd())?;
    }
    drop(console);
    let program = super::init::prepare_process(&opts.process)?;
    crate::seccomp::load_at(
        seccomp,
        &opts.process,
        crate::seccomp::LoadPoint::BeforeIdentity,
    )?;
    super::init::switch_identity(&opts.process)?;
    sys::cloexec_from(3 + opts.preserve_fds)?;
    super::init::exec_with_filter(&program, &opts.process, seccomp)
}
