//! `process.terminal`: a pty made inside the container, its master sent out.
//!
//! As runc does it: the init opens `/dev/ptmx` of the container's own devpts (after
//! pivot_root, so the pty belongs to the container), makes the slave its controlling
//! terminal and stdio, binds it over `/dev/console`, and sends the master over the
//! `--console-socket` with SCM_RIGHTS. The message's payload is the slave's name, which
//! containerd's and runc's `recvtty` read as the file name.

use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};

use crate::error::{Context, Result};

/// Makes the pty, sends its master over `socket`, and makes the slave this process's
/// terminal and stdio.
pub fn setup(socket: BorrowedFd<'_>) -> Result<()> {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
        .ctx(|| "failed to open /dev/ptmx")?;
    grantpt(&master).ctx(|| "grantpt")?;
    unlockpt(&master).ctx(|| "unlockpt")?;
    let name = ptsname(&master, Vec::new()).ctx(|| "ptsname")?;
    let name = name.to_string_lossy().into_owned();
    let slave = rustix::fs::open(
        name.as_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("failed to open {name}"))?;
    // /dev/console shows the same pty, as in a real system.
    let console = Path::new("/dev/console");
    if Path::new("/dev").is_dir() {
        if !console.exists() {
            let _ = std::fs::File::create(console);
        }
        let _ = rustix::mount::mount_bind(name.as_str(), console);
    }
    send_fd(socket, master.as_fd(), name.as_bytes())?;
    drop(master);
    make_stdio(slave)
}

fn make_stdio(slave: OwnedFd) -> Result<()> {
    rustix::process::ioctl_tiocsctty(&slave)
        .ctx(|| "failed to make the pty the controlling terminal")?;
    for target in 0..3 {
        // SAFETY: fds 0..2 are the standard streams; dup2 replaces them atomically.
        let mut t = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(target) };
        let r = rustix::io::dup2(&slave, &mut t);
        std::mem::forget(t);
        r.ctx(|| "dup2 of the pty onto stdio")?;
    }
    Ok(())
}

/// Sends one fd with a payload naming it.
pub fn send_fd(socket: BorrowedFd<'_>, fd: BorrowedFd<'_>, name: &[u8]) -> Result<()> {
    let fds = [fd];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut ancillary = SendAncillaryBuffer::new(&mut space);
    ancillary.push(SendAncillaryMessage::ScmRights(&fds));
    let payload = if name.is_empty() {
        b"pty".as_slice()
    } else {
        name
    };
    sendmsg(
        socket,
        &[IoSlice::new(payload)],
        &mut ancillary,
        SendFlags::NOSIGNAL,
    )
    .ctx(|| "failed to send the pty master over the console socket")?;
    Ok(())
}

/// Connects to a `--console-socket` path.
pub fn connect(path: &Path) -> Result<OwnedFd> {
    let s = std::os::unix::net::UnixStream::connect(path)
        .ctx(|| format!("failed to connect to the console socket {}", path.display()))?;
    Ok(OwnedFd::from(s))
}

/// A socketpair standing in for `--console-socket` when berth-runc itself is the
/// terminal's user (foreground `run -t` without a socket, as runc allows): the first
/// end goes to the container's init, the master arrives on the second.
pub fn local_pair() -> Result<(OwnedFd, OwnedFd)> {
    rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .ctx(|| "failed to create the console socketpair")
}

/// Receives the pty master sent by [`send_fd`].
pub fn recv_fd(socket: BorrowedFd<'_>) -> Result<OwnedFd> {
    use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut ancillary = RecvAncillaryBuffer::new(&mut space);
    let mut buf = [0u8; 4096];
    recvmsg(
        socket,
        &mut [std::io::IoSliceMut::new(&mut buf)],
        &mut ancillary,
        RecvFlags::CMSG_CLOEXEC,
    )
    .ctx(|| "failed to receive the pty master")?;
    for msg in ancillary.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = msg {
            if let Some(fd) = fds.next() {
                return Ok(fd);
            }
        }
    }
    Err(crate::error::Error::Init(
        "no pty master arrived on the console socket".into(),
    ))
}
