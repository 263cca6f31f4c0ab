//! Test fixtures shared by berth's tests.
//!
//! Every end-to-end test of the runtime needs the same few things: an OCI bundle whose
//! rootfs actually runs something ([`Bundle::busybox`]), a way to receive the pty master
//! that a runtime hands over `--console-socket` ([`ConsoleSocket`]), container ids that do
//! not collide between parallel tests ([`unique_id`]), and a uniform way to invoke runc,
//! crun and `berth-runc` on the same bundle for differential tests ([`Runtime`]).
//!
//! Fixtures panic with a descriptive message when the host cannot provide them (a test
//! that cannot build its fixture has nothing to say); the fallible variants return
//! [`Error`].
//!
//! Containers whose init outlives the runtime process (`create`, `run -d`) are reparented
//! to the nearest subreaper; pid 1 on the development machines reaps them only after
//! seconds, so such tests run under `tini -s` or call [`set_subreaper`].

mod bundle;
mod console;
mod error;
mod runtime;

pub use bundle::Bundle;
pub use console::ConsoleSocket;
pub use error::Error;
pub use runtime::Runtime;

use std::sync::atomic::{AtomicU64, Ordering};

/// A container id unique within this machine for the life of this process:
/// `berth-test-<prefix>-<pid>-<counter>`.
pub fn unique_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("berth-test-{prefix}-{}-{n}", std::process::id())
}

/// Makes this process a child subreaper (`prctl(PR_SET_CHILD_SUBREAPER)`), so that
/// container processes orphaned by a runtime are reparented here rather than to pid 1.
///
/// The caller then owns reaping them (`waitpid`); a test that only uses `run` in the
/// foreground does not need this.
pub fn set_subreaper() -> std::io::Result<()> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_ids_differ_and_carry_prefix_and_pid() {
        let a = unique_id("x");
        let b = unique_id("x");
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("berth-test-x-{}-", std::process::id())));
    }
}
