//! Typed messages between `berth-runc` and the processes it forks.
//!
//! A `SOCK_SEQPACKET` socketpair keeps message boundaries, so each message is one JSON
//! packet. The parent keeps one end; the intermediate process and the container's init
//! share the other. When every holder of the far end is gone, `recv` sees end-of-file,
//! which is how the parent learns that a child died without saying why.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::{
    recv, send, socketpair, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType,
};
use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};

/// Everything the processes of one create or exec say to each other, in order.
#[derive(Debug, Serialize, Deserialize)]
pub enum Message {
    /// parent → child: the cgroup is joined, go on.
    Proceed,
    /// child → parent: the new user namespace exists; write its id maps.
    UserNsCreated,
    /// parent → child: the id maps are written.
    MapsWritten,
    /// intermediate → parent: the pid of the container's init, as the host sees it.
    InitPid(i32),
    /// init → parent: mounts are done, pivot_root is next; run createRuntime hooks.
    MountsReady,
    /// parent → init: hooks ran; here is the state for createContainer hooks.
    Continue { state: String },
    /// init → parent: the container is set up and waits for `start`.
    Ready,
    /// any child → parent: setup failed.
    Failed(String),
}

pub struct Channel {
    fd: OwnedFd,
}

/// A connected pair: the first end for the parent, the second for the children.
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .ctx(|| "failed to create the sync socketpair")?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn send(&self, msg: &Message) -> Result<()> {
        let bytes = serde_json::to_vec(msg).expect("messages always serialize");
        send(&self.fd, &bytes, SendFlags::NOSIGNAL).ctx(|| "failed to send on the sync socket")?;
        Ok(())
    }

    /// The next message, or an error if the other side closed without one.
    pub fn recv(&self) -> Result<Message> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = loop {
            match recv(&self.fd, &mut buf, RecvFlags::empty()) {
                Ok((n, _)) => break n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e).ctx(|| "failed to receive on the sync socket"),
            }
        };
        if n == 0 {
            return Err(Error::Init(
                "the container process exited during setup".into(),
            ));
        }
        serde_json::from_slice(&buf[..n])
            .map_err(|e| Error::Init(format!("bad message from the container process: {e}")))
    }

    /// Receives and insists on one kind of message; `Failed` becomes an error.
    pub fn expect(&self, what: &str, ok: impl Fn(&Message) -> bool) -> Result<Message> {
        match self.recv()? {
            Message::Failed(msg) => Err(Error::Init(msg)),
            m if ok(&m) => Ok(m),
            m => Err(Error::Init(format!("expected {what}, got {m:?}"))),
        }
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
