//! The receiving end of `--console-socket`: where the runtime sends a pty master.
//!
//! runc's protocol (`docs/terminals.md`): the runtime connects to the path and
//! sends one message whose SCM_RIGHTS carries the master. The runtime may connect,
//! send and exit before we accept (the connection waits in the backlog), so the
//! shim accepts only after the runtime command has succeeded, which also means a
//! failed runtime never leaves the shim blocked in `accept`.
//!
//! Socket paths are limited to 108 bytes; the socket goes in the bundle when that
//! path is short enough, else beside the shim's own socket (which berthd keeps short).

use std::fs::File;
use std::io::{self, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};

use crate::protocol::ShimConfig;

pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    /// Binds a fresh socket named after `tag`.
    pub fn bind(cfg: &ShimConfig, tag: &str) -> io::Result<ConsoleSocket> {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let mut path = cfg.bundle.join(format!("{tag}-{n}.sock"));
        if path.as_os_str().len() >= 100 {
            let dir = cfg.socket.parent().unwrap_or(Path::new("/tmp"));
            path = dir.join(format!(".c{}-{n}", std::process::id()));
        }
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        listener.set_nonblocking(true)?;
        Ok(ConsoleSocket { listener, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts the runtime's connection and receives the master.
    pub fn receive(&self, timeout: Duration) -> io::Result<File> {
        let deadline = Instant::now() + timeout;
        let (stream, _) = loop {
            match self.listener.accept() {
                Ok(s) => break s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(e),
            }
        };
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(timeout))?;
        let mut data = [0u8; 256];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        recvmsg(
            &stream,
            &mut [IoSliceMut::new(&mut data)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )?;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(mut fds) = message {
                if let Some(fd) = fds.next() {
                    return Ok(File::from(fd));
                }
            }
        }
        Err(io::Error::other("the runtime sent no pty master"))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
