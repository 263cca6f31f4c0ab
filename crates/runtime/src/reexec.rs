//! Running from a copy of berth-runc that no container can write to (CVE-2019-5736).
//!
//! A process inside a container can reach the runtime's binary through
//! `/proc/<pid>/exe` of any berth-runc process that joined the container's namespaces
//! (the init before it execs, an `exec` helper). In CVE-2019-5736 the container kept an
//! `O_PATH` of that link and, once runc had exited (so ETXTBSY no longer applied),
//! reopened it for writing and replaced runc on the host. So before `create`, `run`
//! and `exec` fork anything, berth-runc re-executes itself from a copy that cannot be
//! opened for writing at all:
//!
//! 1. **A read-only detached bind mount** of its own binary (runc ≥ 1.2 does the same
//!    idea with a read-only bind or an overlay): `open_tree(OPEN_TREE_CLONE)` of
//!    `/proc/self/exe`, `mount_setattr(MOUNT_ATTR_RDONLY)`, then `execveat` of that fd.
//!    The mount is never attached to any namespace, so there is no mount storm and no
//!    unshare; no byte is copied and the page cache is shared, so it costs one extra
//!    exec. Every path to the file then goes through that mount: writes get `EROFS`.
//!    Needs CAP_SYS_ADMIN over the mount namespace and Linux ≥ 5.12.
//! 2. **A sealed memfd** otherwise (runc ≤ 1.1): the binary is copied into
//!    `memfd_create(MFD_CLOEXEC | MFD_ALLOW_SEALING)` (`copy_file_range`, falling back
//!    to `sendfile`), sealed against writes, growth, shrinking and further sealing, and
//!    executed. It costs a copy of the binary per start and keeps that much shared
//!    memory per runtime process alive.
//!
//! `BERTH_RUNC_REEXEC=memfd` forces the second way (for tests and measurements). Whether
//! the process already runs from a safe copy is read from the kernel, not from the
//! environment: `/proc/self/exe` is a memfd carrying the write seals, or lies on a
//! read-only mount. A caller's environment can therefore not switch the protection off.
//! [`GUARD`] only stops a loop if a re-exec did not yield a protected binary.

use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{Mode, OFlags, SealFlags, StatVfsMountFlags};

use crate::error::{Context, Error, Result};
use crate::sys;

/// Set in the environment of the re-executed runtime, removed again by [`ensure`].
pub const GUARD: &str = "_BERTH_RUNC_REEXECED";

/// Selects the way (`mount` or `memfd`); unset means "mount, else memfd".
pub const MODE_VAR: &str = "BERTH_RUNC_REEXEC";

/// The seals a memfd copy carries: no writes, no size change, no further seal changes.
const SEALS: SealFlags = SealFlags::SEAL
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::WRITE);

/// How the running binary is protected from writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// A memfd with [`SEALS`].
    SealedMemfd,
    /// A file on a read-only mount.
    ReadOnlyMount,
}

/// runc's global options that take a value: the subcommand is the first other word.
const GLOBAL_WITH_VALUE: &[&str] = &["--root", "--log", "--log-format", "--criu"];

/// Whether the command line names a subcommand that forks into a container's
/// namespaces: `create`, `run` or `exec`.
pub fn enters_container(args: &[OsString]) -> bool {
    subcommand(args).is_some_and(|s| matches!(s, "create" | "run" | "exec"))
}

fn subcommand(args: &[OsString]) -> Option<&str> {
    let mut words = args.iter().skip(1).filter_map(|a| a.to_str());
    while let Some(w) = words.next() {
        if GLOBAL_WITH_VALUE.contains(&w) {
            words.next();
        } else if !w.starts_with('-') {
            return Some(w);
        }
    }
    None
}

/// How `file` (an open executable) is protected from writes, if at all.
pub fn protection(file: impl AsFd) -> Option<Protection> {
    let file = file.as_fd();
    if rustix::fs::fcntl_get_seals(file).is_ok_and(|s| s.contains(SEALS)) {
        return Some(Protection::SealedMemfd);
    }
    if rustix::fs::fstatvfs(file).is_ok_and(|s| s.f_flag.contains(StatVfsMountFlags::RDONLY)) {
        return Some(Protection::ReadOnlyMount);
    }
    None
}

/// Makes sure that, when `args` enter a container, this process runs from a protected
/// copy of its binary: returns at once if it already does (or need not), and otherwise
/// re-executes itself and returns only with the error that stopped it.
pub fn ensure(args: &[OsString]) -> Result<()> {
    let reexeced = std::env::var_os(GUARD).is_some();
    if reexeced {
        // Not for the container's hooks and processes to see.
        std::env::remove_var(GUARD);
    }
    if !enters_container(args) {
        return Ok(());
    }
    let exe = rustix::fs::open(
        "/proc/self/exe",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "cannot open /proc/self/exe")?;
    if protection(&exe).is_some() {
        return Ok(());
    }
    if reexeced {
        return Err(Error::Init(
            "berth-runc re-executed itself but its binary is still writable".into(),
        ));
    }
    let mut env: Vec<OsString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut e = k;
            e.push("=");
            e.push(v);
            e
        })
        .collect();
    env.push(format!("{GUARD}=1").into());
    let copy = match std::env::var(MODE_VAR).as_deref() {
        Ok("memfd") => sealed_memfd(&exe)?,
        Ok("mount") => read_only_mount()?,
        _ => match read_only_mount() {
            Ok(fd) => fd,
            Err(e) => {
                crate::logging::debug(&format!("{e}; copying the binary into a memfd"));
                sealed_memfd(&exe)?
            }
        },
    };
    drop(exe);
    Err(sys::execveat_fd(copy.as_fd(), args, &env))
}

/// A read-only, detached bind mount of the running binary.
pub fn read_only_mount() -> Result<OwnedFd> {
    use rustix::mount::OpenTreeFlags;
    let fd = rustix::mount::open_tree(
        rustix::fs::CWD,
        "/proc/self/exe",
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .ctx(|| "cannot bind-mount /proc/self/exe (open_tree)")?;
    sys::mount_setattr_rdonly(fd.as_fd())
        .ctx(|| "cannot make the bind mount of /proc/self/exe read-only")?;
    Ok(fd)
}

/// A sealed memfd holding a copy of `exe`.
pub fn sealed_memfd(exe: &OwnedFd) -> Result<OwnedFd> {
    use rustix::fs::MemfdFlags;
    let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    // With vm.memfd_noexec set, a memfd is only executable when asked for (Linux ≥ 6.3,
    // where older kernels reject the flag).
    let memfd = rustix::fs::memfd_create("berth-runc", flags | MemfdFlags::EXEC)
        .or_else(|_| rustix::fs::memfd_create("berth-runc", flags))
        .ctx(|| "cannot create a memfd for the runtime's copy")?;
    let mut from = std::fs::File::from(exe.try_clone().ctx(|| "cannot dup /proc/self/exe")?);
    let mut to = std::fs::File::from(memfd);
    // std's copy between files uses copy_file_range, then sendfile, then read/write.
    std::io::copy(&mut from, &mut to).ctx(|| "cannot copy the runtime into a memfd")?;
    let memfd = OwnedFd::from(to);
    rustix::fs::fcntl_add_seals(&memfd, SEALS).ctx(|| "cannot seal the runtime's memfd")?;
    Ok(memfd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn only_commands_that_enter_a_container() {
        assert!(enters_container(&args(&["berth-runc", "create", "x"])));
        assert!(enters_container(&args(&[
            "berth-runc",
            "--root",
            "/run/x",
            "--debug",
            "run",
            "-d",
            "x"
        ])));
        assert!(enters_container(&args(&[
            "berth-runc",
            "--log",
            "run",
            "exec",
            "x",
            "ls"
        ])));
        assert!(!enters_container(&args(&[
            "berth-runc",
            "--root",
            "run",
            "state",
            "run"
        ])));
        assert!(!enters_container(&args(&["berth-runc", "start", "create"])));
        assert!(!enters_container(&args(&["berth-runc", "--version"])));
    }

    #[test]
    fn a_sealed_memfd_is_protected_and_its_source_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bin");
        std::fs::write(&path, b"\x7fELF not really").unwrap();
        let file = rustix::fs::open(&path, OFlags::RDONLY, Mode::empty()).unwrap();
        let writable = !rustix::fs::fstatvfs(&file)
            .unwrap()
            .f_flag
            .contains(StatVfsMountFlags::RDONLY);
        if writable {
            assert_eq!(protection(&file), None);
        }
        let memfd = sealed_memfd(&file).unwrap();
        assert_eq!(protection(&memfd), Some(Protection::SealedMemfd));
        let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&memfd));
        assert_eq!(std::fs::read(&path).unwrap(), b"\x7fELF not really");
        // The memfd can still be opened for writing; every write is refused.
        let mut w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let err = std::io::Write::write(&mut w, b"x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
        let err = w.set_len(0).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
    }
}
