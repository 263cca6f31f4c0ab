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

/// The path of a binary built from this workspace, for tests of one crate that run
/// another crate's binary (`berthd` runs `berth-shim` and `berth-runc`).
///
/// `$BERTH_BIN/<name>` when `BERTH_BIN` is set, else the binary beside the running
/// test's own directory (`target/<profile>/deps/<test>` → `target/<profile>/<name>`),
/// which `cargo build --workspace` has built before `cargo test` runs the test.
/// Panics, naming the path, when the binary is not there.
pub fn workspace_bin(name: &str) -> std::path::PathBuf {
    let dir = match std::env::var_os("BERTH_BIN") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => {
            let exe = std::env::current_exe().expect("current_exe");
            let deps = exe.parent().expect("test binary has a directory");
            deps.parent().expect("deps has a parent").to_path_buf()
        }
    };
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --workspace --release` first (or set BERTH_BIN)",
        path.display()
    );
    path
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
