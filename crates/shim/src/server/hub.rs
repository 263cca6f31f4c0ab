//! Fan-out of one process's output: to the json-file log and to attached clients.
//!
//! One reader thread per stream (stdout and stderr pipes, or the pty master) reads a
//! chunk and, under the hub's lock, writes it to the log and to every client that
//! asked for that stream: Docker's multiplexed frames without a terminal, raw bytes
//! with one. A client whose write fails (gone, or stalled past [`CLIENT_TIMEOUT`])
//! is dropped; it never blocks the container for longer than that.
//!
//! When the last stream ends (every writer of the pipes or the pty's slave has gone,
//! and what they wrote has been read) the hub is *ended*: each client is shut down,
//! so it sees EOF right after the last byte, and a client attaching later is shut
//! down at once.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::jsonlog::{JsonLog, LineBuffer};
use super::reaper::lock;

/// How long a write to one client may stall before the client is dropped.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout = 1,
    Stderr = 2,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

struct Client {
    conn: UnixStream,
    stdout: bool,
    stderr: bool,
}

struct Inner {
    clients: Vec<Client>,
    /// Streams whose reader has not yet seen EOF.
    open: u8,
    log: Option<JsonLog>,
    lines: [LineBuffer; 2],
}

pub struct Hub {
    tty: bool,
    inner: Mutex<Inner>,
    ended: Condvar,
}

impl Hub {
    /// A hub for `streams` readers (1 with a tty, 2 without).
    pub fn new(tty: bool, streams: u8, log: Option<JsonLog>) -> Arc<Hub> {
        Arc::new(Hub {
            tty,
            inner: Mutex::new(Inner {
                clients: Vec::new(),
                open: streams,
                log,
                lines: Default::default(),
            }),
            ended: Condvar::new(),
        })
    }

    /// Adds a client; if the output has already ended, shuts it down at once.
    pub fn attach(&self, conn: UnixStream, stdout: bool, stderr: bool) {
        let mut inner = lock(&self.inner);
        if inner.open == 0 {
            let _ = conn.shutdown(Shutdown::Both);
            return;
        }
        let _ = conn.set_write_timeout(Some(CLIENT_TIMEOUT));
        inner.clients.push(Client {
            conn,
            stdout,
            stderr,
        });
    }

    /// Waits up to `timeout` for the output to end.
    pub fn wait_ended(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut inner = lock(&self.inner);
        while inner.open > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            inner = self
                .ended
                .wait_timeout(inner, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Starts the reader thread of one stream.
    pub fn spawn_reader(self: &Arc<Self>, src: File, stream: Stream) -> std::io::Result<()> {
        let hub = self.clone();
        std::thread::Builder::new()
            .name(stream.name().into())
            .stack_size(64 * 1024)
            .spawn(move || hub.read_loop(src, stream))?;
        Ok(())
    }

    fn read_loop(&self, mut src: File, stream: Stream) {
        let mut buf = vec![0u8; 8192];
        loop {
            match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.deliver(stream, &buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // EIO: the pty's slave side has closed; anything else: give up too.
                Err(_) => break,
            }
        }
        drop(src);
        self.close(stream);
    }

    fn deliver(&self, stream: Stream, data: &[u8]) {
        let now = SystemTime::now();
        let mut guard = lock(&self.inner);
        let inner = &mut *guard;
        if let Some(log) = inner.log.as_mut() {
            inner.lines[stream as usize - 1].push(data, |line| {
                let _ = log.write(stream.name(), line, now);
            });
        }
        let framed = if self.tty {
            None
        } else {
            let mut f = Vec::with_capacity(8 + data.len());
            f.extend_from_slice(&[stream as u8, 0, 0, 0]);
            f.extend_from_slice(&(data.len() as u32).to_be_bytes());
            f.extend_from_slice(data);
            Some(f)
        };
        let bytes = framed.as_deref().unwrap_or(data);
        inner.clients.retain_mut(|c| {
            let wanted = match stream {
                Stream::Stdout => c.stdout,
                // With a tty there is one stream; either wish gets it.
                Stream::Stderr => c.stderr,
            } || (self.tty && (c.stdout || c.stderr));
            if !wanted {
                return true;
            }
            if (&c.conn).write_all(bytes).is_ok() {
                true
            } else {
                let _ = c.conn.shutdown(Shutdown::Both);
                false
            }
        });
    }

    fn close(&self, stream: Stream) {
        let now = SystemTime::now();
        let mut guard = lock(&self.inner);
        let inner = &mut *guard;
        if let Some(log) = inner.log.as_mut() {
            inner.lines[stream as usize - 1].finish(|line| {
                let _ = log.write(stream.name(), line, now);
            });
        }
        inner.open = inner.open.saturating_sub(1);
        if inner.open == 0 {
            for c in inner.clients.drain(..) {
                let _ = c.conn.shutdown(Shutdown::Both);
            }
            inner.log = None;
            self.ended.notify_all();
        }
    }
}
