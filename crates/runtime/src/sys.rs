//! The few system calls that need `unsafe`: fork, exec, signal masks, setgroups.
//!
//! Everything else goes through rustix's safe wrappers. `fork` is only sound here
//! because `berth-runc` is single-threaded (no tokio, no helper threads): the child
//! gets a consistent copy of the allocator and of every lock.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Error, Result};

pub enum Fork {
    Parent(i32),
    Child,
}

pub fn fork() -> Result<Fork> {
    // SAFETY: berth-runc is single-threaded, so the child may keep running Rust code;
    // it never returns into the caller's stack frames past the fork point's owner.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(Error::Io {
            context: "fork failed".into(),
            source: std::io::Error::last_os_error(),
        }),
        0 => Ok(Fork::Child),
        pid => Ok(Fork::Parent(pid)),
    }
}

/// Leaves the process at once, without running destructors or atexit handlers
/// (which belong to the parent's copy of the state).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(code) }
}

fn cstr(s: &[u8]) -> Result<CString> {
    CString::new(s).map_err(|_| Error::config("a NUL byte in an argument or env entry"))
}

/// Replaces the process image; returns only on failure.
pub fn execve(path: &Path, args: &[String], env: &[String]) -> Error {
    let build = || -> Result<(CString, Vec<CString>, Vec<CString>)> {
        Ok((
            cstr(path.as_os_str().as_bytes())?,
            args.iter()
                .map(|a| cstr(a.as_bytes()))
                .collect::<Result<_>>()?,
            env.iter()
                .map(|e| cstr(e.as_bytes()))
                .collect::<Result<_>>()?,
        ))
    };
    let (p, a, e) = match build() {
        Ok(v) => v,
        Err(e) => return e,
    };
    let mut argv: Vec<*const libc::c_char> = a.iter().map(|s| s.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = e.iter().map(|s| s.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: every pointer is a NUL-terminated string kept alive by `a`, `e` and `p`,
    // and both arrays end with a null pointer.
    unsafe { libc::execve(p.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    Error::Init(format!(
        "exec {:?} failed: {}",
        path,
        std::io::Error::last_os_error()
    ))
}

pub fn unshare(flags: i32) -> Result<()> {
    // SAFETY: unshare only changes this (single-threaded) process's namespaces.
    if unsafe { libc::unshare(flags) } == -1 {
        return Err(Error::Init(format!(
            "unshare({flags:#x}) failed: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

pub fn setgroups(gids: &[u32]) -> Result<()> {
    // SAFETY: the pointer and length describe a live slice of gid_t (u32).
    if unsafe { libc::setgroups(gids.len(), gids.as_ptr()) } == -1 {
        return Err(Error::Init(format!(
            "setgroups({gids:?}) failed: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

pub fn set_keep_caps(keep: bool) -> Result<()> {
    // SAFETY: PR_SET_KEEPCAPS takes one integer argument.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, keep as libc::c_ulong, 0, 0, 0) } == -1 {
        return Err(Error::Init(format!(
            "prctl(PR_SET_KEEPCAPS) failed: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// Marks every fd from `first` up as close-on-exec, so only stdio and the preserved
/// fds reach the container (CVE-2024-21626 was a leaked fd).
pub fn cloexec_from(first: u32) -> Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on this process's fds.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == -1 {
        return Err(Error::Init(format!(
            "close_range failed: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// The signals `run` and `exec` forward to the container, plus SIGCHLD.
pub fn forwarded_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a stack sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [
            libc::SIGCHLD,
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGWINCH,
        ] {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

pub fn block_signals(set: &libc::sigset_t) {
    // SAFETY: sigprocmask with a valid set; the old mask is not needed.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, set, std::ptr::null_mut()) };
}

/// Clears the signal mask and restores default dispositions (in a forked child).
pub fn reset_signals() {
    // SAFETY: an empty set unblocks everything; SIG_DFL is valid for these signals.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for s in [libc::SIGPIPE, libc::SIGINT, libc::SIGTERM] {
            libc::signal(s, libc::SIG_DFL);
        }
    }
}

/// Waits for one of the blocked signals in `set`; returns its number.
pub fn sigwait(set: &libc::sigset_t) -> i32 {
    loop {
        // SAFETY: set is a valid, initialised sigset; info is not requested.
        let s = unsafe { libc::sigwaitinfo(set, std::ptr::null_mut()) };
        if s > 0 {
            return s;
        }
    }
}

pub fn mkfifo(path: &Path, mode: u32) -> Result<()> {
    let p = cstr(path.as_os_str().as_bytes())?;
    // SAFETY: p is a valid NUL-terminated path.
    if unsafe { libc::mkfifo(p.as_ptr(), mode) } == -1 {
        return Err(Error::Io {
            context: format!("failed to create {}", path.display()),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// Exit status as a shell reports it: the code, or 128 + the signal.
pub fn exit_code(status: rustix::process::WaitStatus) -> i32 {
    if let Some(c) = status.exit_status() {
        c
    } else if let Some(s) = status.terminating_signal() {
        128 + s
    } else {
        255
    }
}

/// Sends any signal number, realtime ones included, to a process.
pub fn kill(pid: i32, sig: i32) -> std::io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(pid, sig) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A pending signal from the blocked `set`, taken without waiting.
pub fn pending_signal(set: &libc::sigset_t) -> Option<i32> {
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: set and zero are valid for the call; info is not requested.
    let s = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &zero) };
    (s > 0).then_some(s)
}
