//! The shim's one reaper: a thread in `waitpid(-1)`, dispatching statuses by pid.
//!
//! The shim is a child subreaper, so besides the runtime commands it spawns it
//! inherits the container's init and every exec'd process once `runtime create` /
//! `runtime exec --detach` exit, and any orphan of the container. A second waiter
//! (`Child::wait`, `Command::output`) would race `waitpid(-1)` and lose statuses, so
//! nothing else in the shim ever waits: whoever spawns a process takes a [`Ticket`]
//! *before* spawning, then asks for the pid's status with [`Reaper::on_exit`] or
//! [`Reaper::wait`]. A status reaped before anyone asked is kept (with the sequence
//! number of its reaping) and handed out only to a ticket older than it, so a
//! recycled pid never receives a stale status.
//!
//! It is `wait4(-1, __WALL)`: pid -1, not 0 (0 means "my process group", and the
//! container is in its own session), and `__WALL` so that a child cloned with an
//! exit signal other than SIGCHLD is reaped too.

use std::collections::HashMap;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::Duration;

use rustix::io::Errno;
use rustix::process::{wait, WaitOptions};

/// Called with the exit code (status, or 128 + signal).
pub type Callback = Box<dyn FnOnce(i32) + Send>;

/// Taken before spawning a process whose status the taker will claim.
#[derive(Clone, Copy)]
pub struct Ticket(u64);

/// Unclaimed statuses kept at most (orphans nobody asks about are dropped oldest first).
const MAX_UNCLAIMED: usize = 1024;

#[derive(Default)]
struct Inner {
    /// Number of statuses reaped so far.
    seq: u64,
    /// Bumped by [`Reaper::spawned`]; wakes the thread when it had no children.
    generation: u64,
    waiters: HashMap<i32, Callback>,
    unclaimed: HashMap<i32, (u64, i32)>,
}

pub struct Reaper {
    inner: Mutex<Inner>,
    wake: Condvar,
}

impl Reaper {
    /// Starts the reaping thread.
    pub fn start() -> std::io::Result<Arc<Reaper>> {
        let reaper = Arc::new(Reaper {
            inner: Mutex::new(Inner::default()),
            wake: Condvar::new(),
        });
        let r = reaper.clone();
        std::thread::Builder::new()
            .name("reaper".into())
            .stack_size(64 * 1024)
            .spawn(move || r.run())?;
        Ok(reaper)
    }

    /// Take before spawning a child whose status will be claimed.
    pub fn ticket(&self) -> Ticket {
        Ticket(lock(&self.inner).seq)
    }

    /// Call after spawning: the thread may be idle because it had no children.
    pub fn spawned(&self) {
        lock(&self.inner).generation += 1;
        self.wake.notify_all();
    }

    /// Runs `cb` (on the reaper's thread, or this one if already reaped) when `pid`
    /// has been reaped.
    pub fn on_exit(&self, pid: i32, ticket: Ticket, cb: Callback) {
        let mut inner = lock(&self.inner);
        match inner.unclaimed.remove(&pid) {
            Some((seq, code)) if seq > ticket.0 => {
                drop(inner);
                cb(code);
            }
            _ => {
                inner.waiters.insert(pid, cb);
            }
        }
    }

    /// Blocks until `pid` has been reaped; its exit code.
    pub fn wait(&self, pid: i32, ticket: Ticket) -> i32 {
        let (tx, rx) = mpsc::sync_channel(1);
        self.on_exit(
            pid,
            ticket,
            Box::new(move |code| {
                let _ = tx.send(code);
            }),
        );
        rx.recv().unwrap_or(-1)
    }

    fn run(&self) {
        loop {
            let generation = lock(&self.inner).generation;
            match wait(WaitOptions::from_bits_retain(libc::__WALL as u32)) {
                Ok(Some((pid, status))) => {
                    let code = status
                        .exit_status()
                        .or_else(|| status.terminating_signal().map(|s| 128 + s))
                        .unwrap_or(-1);
                    self.dispatch(pid.as_raw_nonzero().get(), code);
                }
                Ok(None) | Err(Errno::INTR) => {}
                Err(Errno::CHILD) => {
                    let inner = lock(&self.inner);
                    if inner.generation == generation {
                        let _ = self.wake.wait_timeout(inner, Duration::from_secs(1));
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    fn dispatch(&self, pid: i32, code: i32) {
        let mut inner = lock(&self.inner);
        inner.seq += 1;
        if let Some(cb) = inner.waiters.remove(&pid) {
            drop(inner);
            cb(code);
            return;
        }
        if inner.unclaimed.len() >= MAX_UNCLAIMED {
            if let Some(oldest) = inner
                .unclaimed
                .iter()
                .min_by_key(|(_, (seq, _))| *seq)
                .map(|(pid, _)| *pid)
            {
                inner.unclaimed.remove(&oldest);
            }
        }
        let seq = inner.seq;
        inner.unclaimed.insert(pid, (seq, code));
    }
}

/// Locks, ignoring poisoning: the shim's state stays usable if a handler panicked.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
