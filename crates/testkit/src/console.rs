//! The receiving end of `--console-socket`, like runc's `recvtty`.
//!
//! With `process.terminal: true` a runtime creates the pty inside the container and sends
//! the master to the Unix socket named by `--console-socket`: one connection, one
//! `SCM_RIGHTS` message (runc puts the pty's name in the data bytes). See runc's
//! `docs/terminals.md`.

use std::fs::File;
use std::io::{self, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use tempfile::TempDir;

/// A listening Unix stream socket in its own temporary directory.
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
    _dir: TempDir,
}

impl ConsoleSocket {
    /// Binds `console.sock` in a fresh temporary directory; panics if that fails.
    pub fn new() -> Self {
        Self::try_new().unwrap_or_else(|e| panic!("cannot create a console socket: {e}"))
    }

    /// Like [`ConsoleSocket::new`], returning the error.
    pub fn try_new() -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("berth-test-console-")
            .tempdir()?;
        let path = dir.path().join("console.sock");
        let listener = UnixListener::bind(&path)?;
        listener.set_nonblocking(true)?;
        Ok(ConsoleSocket {
            listener,
            path,
            _dir: dir,
        })
    }

    /// The socket path, for `--console-socket`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts one connection and receives one file descriptor over it: the pty master.
    pub fn recv_master(&self, timeout: Duration) -> io::Result<File> {
        self.recv_master_named(timeout).map(|(file, _)| file)
    }

    /// Like [`ConsoleSocket::recv_master`], also returning the data bytes sent with the
    /// descriptor (runc sends the pty's path, e.g. `/dev/pts/3`).
    pub fn recv_master_named(&self, timeout: Duration) -> io::Result<(File, String)> {
        let deadline = Instant::now() + timeout;
        let stream = self.accept_until(deadline)?;
        stream.set_nonblocking(false)?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        stream.set_read_timeout(Some(remaining.max(Duration::from_millis(1))))?;

        let mut data = [0u8; 4096];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let msg = rustix::net::recvmsg(
            &stream,
            &mut [IoSliceMut::new(&mut data)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )?;
        let name = String::from_utf8_lossy(&data[..msg.bytes]).into_owned();
        let mut received = None;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = message {
                for fd in fds {
                    // Keep the first; any extras are closed as they drop.
                    received.get_or_insert(fd);
                }
            }
        }
        match received {
            Some(fd) => Ok((File::from(fd), name)),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "console socket message carried no file descriptor ({} data bytes)",
                    msg.bytes
                ),
            )),
        }
    }

    fn accept_until(&self, deadline: Instant) -> io::Result<UnixStream> {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => return Ok(stream),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "no connection on the console socket",
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl Default for ConsoleSocket {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{IoSlice, Read, Write};
    use std::os::fd::AsFd;

    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

    /// Sends `fd` with `name` as data, the way runc's `utils.SendFd` does.
    fn send_fd(path: &Path, name: &str, fd: std::os::fd::BorrowedFd<'_>) {
        let stream = UnixStream::connect(path).unwrap();
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        let fds = [fd];
        assert!(control.push(SendAncillaryMessage::ScmRights(&fds)));
        rustix::net::sendmsg(
            &stream,
            &[IoSlice::new(name.as_bytes())],
            &mut control,
            SendFlags::empty(),
        )
        .unwrap();
    }

    #[test]
    fn receives_a_descriptor_sent_to_itself() {
        let console = ConsoleSocket::new();
        let (reader, writer) = rustix::pipe::pipe().unwrap();
        let mut reader = File::from(reader);
        let path = console.path().to_path_buf();
        let sender = std::thread::spawn(move || send_fd(&path, "/dev/pts/42", writer.as_fd()));
        let (mut received, name) = console.recv_master_named(Duration::from_secs(5)).unwrap();
        sender.join().unwrap();
        assert_eq!(name, "/dev/pts/42");
        // The original write end was dropped with the thread; only ours is left.
        received.write_all(b"through the socket").unwrap();
        drop(received);
        let mut got = String::new();
        reader.read_to_string(&mut got).unwrap();
        assert_eq!(got, "through the socket");
    }

    #[test]
    fn times_out_without_a_connection() {
        let console = ConsoleSocket::new();
        let err = console.recv_master(Duration::from_millis(50)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn a_message_without_a_descriptor_is_an_error() {
        let console = ConsoleSocket::new();
        let mut s = UnixStream::connect(console.path()).unwrap();
        s.write_all(b"no fd").unwrap();
        let err = console.recv_master(Duration::from_secs(5)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
