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

/// Reaps every exited child (ours, and orphans reparented to us); returns the status
/// of `pid` if it was among them.
pub fn reap(pid: i32) -> Option<i32> {
    loop {
        match wait(WaitOptions::NOHANG) {
            Ok(Some((p, status))) => {
                if p.as_raw_nonzero().get() == pid {
                    return Some(sys::exit_code(status));
                }
            }
            Ok(None) => return None,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return Some(255),
        }
    }
}

/// Waits until `pid` exits, forwarding signals to it; returns its shell-style status.
pub fn wait_forwarding(pid: i32) -> i32 {
    let set = sys::forwarded_signals();
    loop {
        if let Some(code) = reap(pid) {
            return code;
        }
        let sig = sys::sigwait(&set);
        if sig != libc::SIGCHLD {
            let _ = sys::kill(pid, sig);
        }
    }
}
