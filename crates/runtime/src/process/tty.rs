//! Foreground `run` with `process.terminal` and no `--console-socket`: berth-runc holds
//! the pty master itself, puts its own terminal in raw mode, and copies bytes both ways
//! until the container exits — what `runc run` does for an interactive shell.

use std::os::fd::{AsFd, OwnedFd};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::termios::{tcgetattr, tcgetwinsize, tcsetattr, tcsetwinsize, OptionalActions};

use crate::sys;

/// Gives the pty the window size of berth-runc's own terminal. Call before `start`,
/// so the container's first `stty size` sees it.
pub fn copy_window_size(master: &OwnedFd) {
    if let Ok(ws) = tcgetwinsize(rustix::stdio::stdin()) {
        let _ = tcsetwinsize(master, ws);
    }
}

/// Copies stdin → master and master → stdout while waiting for `pid`; forwards
/// signals, follows window size changes. Returns the exit status.
pub fn proxy_and_wait(pid: i32, master: OwnedFd) -> i32 {
    let stdin = rustix::stdio::stdin();
    let stdout = rustix::stdio::stdout();
    let saved = tcgetattr(stdin).ok();
    if let Some(t) = &saved {
        let mut raw = t.clone();
        raw.make_raw();
        let _ = tcsetattr(stdin, OptionalActions::Now, &raw);
    }
    let resize = || copy_window_size(&master);
    let mut stdin_open = true;
    let mut buf = [0u8; 8192];
    let code = loop {
        if let Some(code) = super::wait::reap(pid) {
            // Drain what the container wrote last.
            while let Ok(n) = rustix::io::read(&master, &mut buf) {
                if n == 0 || write_all(stdout, &buf[..n]).is_err() {
                    break;
                }
                if !readable(&master) {
                    break;
                }
            }
            break code;
        }
        while let Some(sig) = sys::pending_signal(&sys::forwarded_signals()) {
            if sig == libc::SIGWINCH {
                resize();
            } else if sig != libc::SIGCHLD {
                let _ = sys::kill(pid, sig);
            }
        }
        let mut fds = vec![PollFd::new(&master, PollFlags::IN)];
        if stdin_open {
            fds.push(PollFd::new(&stdin, PollFlags::IN));
        }
        let timeout = Timespec {
            tv_sec: 0,
            tv_nsec: 20_000_000,
        };
        if poll(&mut fds, Some(&timeout)).is_err() {
            continue;
        }
        let master_ready = !fds[0].revents().is_empty();
        let stdin_ready = stdin_open && !fds[1].revents().is_empty();
        drop(fds);
        if master_ready {
            match rustix::io::read(&master, &mut buf) {
                Ok(n) if n > 0 => {
                    let _ = write_all(stdout, &buf[..n]);
                }
                // EIO: every slave fd is closed; the container is on its way out.
                _ => std::thread::sleep(std::time::Duration::from_millis(1)),
            }
        }
        if stdin_ready {
            match rustix::io::read(stdin, &mut buf) {
                Ok(n) if n > 0 => {
                    let _ = write_all(master.as_fd(), &buf[..n]);
                }
                _ => stdin_open = false,
            }
        }
    };
    if let Some(t) = &saved {
        let _ = tcsetattr(stdin, OptionalActions::Now, t);
    }
    code
}

fn readable(fd: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    matches!(poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
}

fn write_all(fd: impl AsFd, mut bytes: &[u8]) -> rustix::io::Result<()> {
    while !bytes.is_empty() {
        match rustix::io::write(&fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
