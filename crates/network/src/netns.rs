//! Network namespaces pinned by a bind mount at a path, as `ip netns add` does,
//! and running code inside one.
//!
//! A network namespace lives as long as something refers to it: a process, an open
//! file descriptor or a mount of its `nsfs` file. berth pins each container's
//! namespace by bind-mounting `/proc/thread-self/ns/net` onto a plain file, so the
//! namespace outlives the thread that made it and the runtime can join it by path
//! (the OCI spec's `linux.namespaces[].path`).
//!
//! Why a thread of its own: `unshare(CLONE_NEWNET)` and `setns(2)` change the
//! namespace of the *calling thread* only. The daemon is a tokio process whose
//! worker threads run everyone's tasks; a worker that moved into a container's
//! namespace would run unrelated tasks (and open their sockets) in the wrong
//! network. So every namespace change here happens on a freshly spawned
//! `std::thread` that exits when its work is done, and the caller's thread never
//! moves. We never fork: forking a multi-threaded process is unsafe
//! (STYLE.md rule 5), and a thread is all `setns` needs.
//!
//! Mount propagation is left as the parent directory has it. A pin made by the
//! daemon is visible in the daemon's mount namespace and in those that receive
//! its mounts; `ip netns` additionally makes `/run/netns` a shared mount, which
//! berth does not need because the runtime runs in the daemon's mount namespace.
//!
//! See netns(8), unshare(2), setns(2), namespaces(7).

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::mount::UnmountFlags;
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

use crate::error::{Error, Result};

/// `statfs(2)` `f_type` of the `nsfs` filesystem (linux/magic.h).
const NSFS_MAGIC: u64 = 0x6e73_6673;

/// Makes a new network namespace pinned at `path` (parent dirs created, a stale
/// file there is replaced), with `lo` up inside.
pub fn create(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io(format!("create directory {}", parent.display()), e))?;
    }
    remove(path)?;
    let pin = rustix::fs::open(
        path,
        OFlags::CREATE | OFlags::EXCL | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::RUSR,
    )
    .map_err(|e| Error::io(format!("create netns pin {}", path.display()), e.into()))?;
    drop(pin);

    let target = path.to_path_buf();
    let made = spawn("berth-netns-new", move || -> Result<()> {
        // SAFETY: unshare(2) with CLONE_NEWNET only gives this thread a new network
        // namespace; it does not unshare the file table (CLONE_FILES), so no thread
        // can observe file descriptors from a table it does not share.
        unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNET) }
            .map_err(|e| Error::io("unshare a network namespace", e.into()))?;
        rustix::mount::mount_bind("/proc/thread-self/ns/net", &target).map_err(|e| {
            Error::io(
                format!("bind-mount the new netns onto {}", target.display()),
                e.into(),
            )
        })?;
        crate::link::set_up_here("lo")
    })
    .and_then(|r| r);
    if let Err(e) = made {
        if let Err(cleanup) = remove(path) {
            tracing::warn!(path = %path.display(), error = %cleanup, "failed to remove a half-made netns pin");
        }
        return Err(e);
    }
    Ok(())
}

/// Unmounts (MNT_DETACH) and unlinks the pin; Ok if it is not there.
pub fn remove(path: &Path) -> Result<()> {
    match rustix::mount::unmount(path, UnmountFlags::DETACH) {
        // EINVAL: a file that is not a mount point (a stale pin); ENOENT: no file.
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => {}
        Err(e) => {
            return Err(Error::io(
                format!("unmount netns pin {}", path.display()),
                e.into(),
            ))
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("remove netns pin {}", path.display()), e)),
    }
}

/// Whether `path` is a mounted network namespace (nsfs).
pub fn exists(path: &Path) -> bool {
    match rustix::fs::statfs(path) {
        // The field's integer type differs between architectures.
        #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
        Ok(st) => st.f_type as u64 == NSFS_MAGIC,
        Err(_) => false,
    }
}

/// Runs `f` on a new thread that has joined the namespace at `path` (setns) and
/// returns its result. The calling thread's namespace never changes.
///
/// Threads `f` spawns start in the namespace too. A panic in `f` is resumed on the
/// caller's thread.
pub fn run_in<T: Send + 'static>(path: &Path, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let ns = open(path)?;
    let shown = path.display().to_string();
    spawn("berth-netns-run", move || -> Result<T> {
        rustix::thread::move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network))
            .map_err(|e| Error::io(format!("join netns {shown}"), e.into()))?;
        drop(ns);
        Ok(f())
    })?
}

/// Opens a namespace pin, to pass to `setns(2)` or `IFLA_NET_NS_FD`.
pub(crate) fn open(path: &Path) -> Result<OwnedFd> {
    rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::io(format!("open netns {}", path.display()), e.into()))
}

/// Runs `f` on a new named thread and waits for it; a panic is resumed here.
fn spawn<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let thread = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map_err(|e| Error::io("spawn a netns thread", e))?;
    match thread.join() {
        Ok(v) => Ok(v),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
