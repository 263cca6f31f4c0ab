//! The few system calls that need `unsafe`: fork, exec, signal masks, setgroups,
//! close_range, mount_setattr.
//!
//! Everything else goes through rustix's safe wrappers. `fork` is only sound here
//! because `berth-runc` is single-threaded (no tokio, no helper threads): the child
//! gets a consistent copy of the allocator and of every lock.
//!
//! [`execve`] is the container process's last step, and two checks sit right before it
//! so no caller can forget them (CVE-2024-21626, where runc leaked a `/sys/fs/cgroup`
//! dirfd that `process.cwd = /proc/self/fd/N` then made the process's working
//! directory): every fd from the first one past `--preserve-fds` up is marked
//! close-on-exec with `close_range` (close-on-exec rather than closed, so a failed exec
//! can still report over the sync socket), and the working directory must be reachable
//! from the process's root, i.e. inside the container's rootfs.

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

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

/// The first fd that [`execve`] does not pass on: 3 plus the `--preserve-fds` count,
/// as last given to [`cloexec_from`] in this process.
static CLOEXEC_FROM: AtomicU32 = AtomicU32::new(3);
/// Whether a [`cloexec_from`] call has succeeded in this process.
static CLOEXEC_DONE: AtomicBool = AtomicBool::new(false);

fn c_strings<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<CString>> {
    items.into_iter().map(cstr).collect()
}

/// A null-terminated array of pointers into `strings`, which must outlive it.
fn pointers(strings: &[CString]) -> Vec<*const libc::c_char> {
    let mut v: Vec<*const libc::c_char> = strings.iter().map(|s| s.as_ptr()).collect();
    v.push(std::ptr::null());
    v
}

/// Replaces the process image with the container's program; returns only on failure.
///
/// Right before the exec, the working directory is checked to lie inside the process's
/// root, and every fd from 3 + `--preserve-fds` up becomes close-on-exec.
pub fn execve(path: &Path, args: &[String], env: &[String]) -> Error {
    let build = || -> Result<(CString, Vec<CString>, Vec<CString>)> {
        Ok((
            cstr(path.as_os_str().as_bytes())?,
            c_strings(args.iter().map(|a| a.as_bytes()))?,
            c_strings(env.iter().map(|e| e.as_bytes()))?,
        ))
    };
    let (p, a, e) = match build() {
        Ok(v) => v,
        Err(e) => return e,
    };
    if let Err(e) = check_cwd_inside_root() {
        return e;
    }
    // With `noNewPrivileges`, the seccomp filter is already in force here and may deny
    // close_range. [`cloexec_from`] ran before it (init and exec both call it) and this
    // pass only covers fds opened since; so a denied repeat is not fatal, a first one is.
    let first = CLOEXEC_FROM.load(Ordering::Relaxed);
    if let Err(e) = cloexec_from(first) {
        if !CLOEXEC_DONE.load(Ordering::Relaxed) {
            return e;
        }
    }
    let (argv, envp) = (pointers(&a), pointers(&e));
    // SAFETY: every pointer is a NUL-terminated string kept alive by `a`, `e` and `p`,
    // and both arrays end with a null pointer.
    unsafe { libc::execve(p.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    Error::Init(format!(
        "exec {:?} failed: {}",
        path,
        std::io::Error::last_os_error()
    ))
}

/// Replaces the process image with the executable open at `fd`
/// (`execveat(fd, "", …, AT_EMPTY_PATH)`); returns only on failure.
pub fn execveat_fd(fd: BorrowedFd<'_>, args: &[OsString], env: &[OsString]) -> Error {
    let (a, e) = match (
        c_strings(args.iter().map(|a| a.as_bytes())),
        c_strings(env.iter().map(|e| e.as_bytes())),
    ) {
        (Ok(a), Ok(e)) => (a, e),
        (Err(err), _) | (_, Err(err)) => return err,
    };
    let (argv, envp) = (pointers(&a), pointers(&e));
    // SAFETY: `fd` is open for the call, the empty path is a NUL-terminated literal, and
    // both arrays hold NUL-terminated strings kept alive by `a` and `e`, null-terminated.
    unsafe {
        libc::execveat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr().cast::<*mut libc::c_char>(),
            envp.as_ptr().cast::<*mut libc::c_char>(),
            libc::AT_EMPTY_PATH,
        )
    };
    Error::Io {
        context: "cannot re-execute berth-runc from its protected copy".into(),
        source: std::io::Error::last_os_error(),
    }
}

/// Makes the (detached) mount `fd` refers to read-only: `mount_setattr` with
/// `MOUNT_ATTR_RDONLY`, which rustix does not wrap.
pub fn mount_setattr_rdonly(fd: BorrowedFd<'_>) -> std::io::Result<()> {
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: the path is an empty NUL-terminated literal used with AT_EMPTY_PATH, and
    // `attr` is a live mount_attr whose size is passed along.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if r == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
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
/// fds reach the container (CVE-2024-21626 was a leaked fd). [`execve`] repeats it
/// from the same `first` right before the exec, for fds opened since.
pub fn cloexec_from(first: u32) -> Result<()> {
    CLOEXEC_FROM.store(first, Ordering::Relaxed);
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
    CLOEXEC_DONE.store(true, Ordering::Relaxed);
    Ok(())
}

/// Closes every fd from `first` up: what a caller left open beyond stdio and the
/// `--preserve-fds` ones is never the container's, not even for the init's chdir.
pub fn close_from(first: u32) -> Result<()> {
    // SAFETY: close_range only closes this process's own fds; the caller owns none of
    // them as Rust objects yet (it runs first thing in `main`).
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) };
    if r == -1 {
        return Err(Error::Io {
            context: "close_range failed".into(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// Fails when the working directory lies outside the process's root: after
/// pivot_root, a cwd reached through a host fd (`/proc/self/fd/N`) is not below `/`,
/// and the kernel's getcwd then answers `(unreachable)/…` instead of a path.
pub fn check_cwd_inside_root() -> Result<()> {
    let cwd = match rustix::process::getcwd(Vec::new()) {
        Ok(cwd) => cwd,
        // ENOENT: the directory was removed. Anything else is a seccomp filter (in force
        // already with `noNewPrivileges`) that denies getcwd, which is no escape.
        Err(rustix::io::Errno::NOENT) => {
            return Err(Error::Init(
                "process.cwd: the working directory no longer exists".into(),
            ))
        }
        Err(_) => return Ok(()),
    };
    if !cwd.to_bytes().starts_with(b"/") {
        return Err(Error::Init(format!(
            "process.cwd: the working directory {:?} is outside the container's root filesystem (reached through a host fd?)",
            cwd.to_string_lossy()
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
