//! Waiting for a container process in the foreground, forwarding signals to it.
//!
//! `run` and `exec` (without `--detach`) make themselves a child subreaper before
//! forking, so the container's process becomes their child when the intermediate
//! exits. The forwarded signals are blocked before the fork and taken with
//! sigwaitinfo, so none is lost between fork and wait.

use rustix::process::{wait, WaitOptions};

use crate::sys;

/// Call before forking.
pub fn prepare() {
    let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
    sys::block_signals(&sys::forwarded_signals());
}

/// Waits until `pid` exits, forwarding signals to it; returns its shell-style status.
pub fn wait_forwarding(pid: i32) -> i32 {
    let set = sys::forwarded_signals();
    loop {
        // Reap whatever has exited: our process, and orphans reparented to us.
        loop {
            match wait(WaitOptions::NOHANG) {
                Ok(Some((p, status))) => {
                    if p.as_raw_nonzero().get() == pid {
                        return sys::exit_code(status);
                    }
                }
                Ok(None) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return 255,
            }
        }
        let sig = sys::sigwait(&set);
        if sig != libc::SIGCHLD {
            let _ = sys::kill(pid, sig);
        }
    }
}
