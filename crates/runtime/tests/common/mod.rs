//! Shared helpers for berth-runc's integration tests: a runtime with its own root, a
//! container guard that force-deletes on drop (also when a test fails midway), and
//! checks that nothing was left behind.

#![allow(dead_code, unused_imports)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use berth_testkit::{unique_id, Bundle, ConsoleSocket, Runtime};

pub fn berth() -> Runtime {
    Runtime::berth(env!("CARGO_BIN_EXE_berth-runc"))
}

/// Runs a runtime command to completion with stdin closed.
pub fn run(rt: &Runtime, args: &[&str]) -> Output {
    rt.cmd(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} {args:?}: {e}", rt.name))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `run --bundle B <id>` to completion: (exit code, stdout, stderr).
pub fn run_container(rt: &Runtime, bundle: &Bundle, id: &str) -> (i32, String, String) {
    let _guard = Guard::new(rt, id);
    let out = run(
        rt,
        &["run", "--bundle", bundle.path().to_str().unwrap(), id],
    );
    (out.status.code().unwrap_or(-1), stdout(&out), stderr(&out))
}

/// Deletes the container with `delete -f` when dropped.
pub struct Guard<'a> {
    rt: &'a Runtime,
    id: String,
}

impl<'a> Guard<'a> {
    pub fn new(rt: &'a Runtime, id: &str) -> Self {
        Guard {
            rt,
            id: id.to_string(),
        }
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.rt.force_delete(&self.id);
    }
}

/// Runs a command that leaves a container behind holding its stdio (create, run -d):
/// stdout and stderr go to files, since a pipe would stay open as long as the container.
pub fn run_detached(rt: &Runtime, args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    let status = rt
        .cmd(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .status()
        .unwrap();
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut s = String::new();
        f.rewind().unwrap();
        f.read_to_string(&mut s).unwrap();
        s
    };
    (status, read(out), read(err))
}

/// Creates a container (its stdio to files) and returns its guard; panics on failure.
pub fn create<'a>(rt: &'a Runtime, bundle: &Bundle, id: &str) -> Guard<'a> {
    let guard = Guard::new(rt, id);
    let (status, _, err) = run_detached(
        rt,
        &["create", "--bundle", bundle.path().to_str().unwrap(), id],
    );
    assert!(status.success(), "{} create failed: {err}", rt.name);
    guard
}

/// A busybox bundle whose process sleeps, for tests that need a running container.
pub fn sleeper() -> Bundle {
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "1000"]);
    b
}

/// Runs a shell command line in a terminal of its own (`script`), as a user would
/// type it; `script -e` passes the command's exit status through.
pub fn in_terminal(cmd: &str) -> Output {
    Command::new("script")
        .args(["-qec", cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Creates and starts a container; returns its guard.
pub fn start<'a>(rt: &'a Runtime, bundle: &Bundle, id: &str) -> Guard<'a> {
    let guard = create(rt, bundle, id);
    let out = run(rt, &["start", id]);
    assert!(
        out.status.success(),
        "{} start failed: {}",
        rt.name,
        stderr(&out)
    );
    guard
}

pub fn status(rt: &Runtime, id: &str) -> String {
    rt.state(id)
        .map(|v| v["status"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

pub fn wait_status(rt: &Runtime, id: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(rt, id) != want {
        assert!(
            Instant::now() < deadline,
            "{id} never became {want}: {}",
            status(rt, id)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Everything berth-runc could leave behind for `id`: state dir, cgroup dirs, mounts
/// of the bundle, processes in the container's cgroup.
pub fn assert_nothing_left(rt: &Runtime, id: &str, bundle: &Bundle) {
    assert_nothing_left_in(rt.root.path(), id, bundle);
}

/// [`assert_nothing_left`] for a runtime whose state root is `root`.
pub fn assert_nothing_left_in(root: &Path, id: &str, bundle: &Bundle) {
    assert!(!root.join(id).exists(), "state dir of {id} left behind");
    for entry in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let p = entry.path().join(id);
        assert!(!p.exists(), "cgroup {} left behind", p.display());
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let b = bundle.path().to_str().unwrap();
    assert!(!mountinfo.contains(b), "a mount under {b} left behind");
    let out = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    assert!(
        !stdout(&out).contains(id),
        "a process mentioning {id} left behind"
    );
}

/// Polls until `path` exists.
pub fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
