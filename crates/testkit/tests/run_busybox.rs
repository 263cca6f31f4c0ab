//! End-to-end check of the fixture: the same busybox bundle runs under runc and crun.
//!
//! Needs root, runc and crun; a runtime that is not installed is skipped with a note.

use std::process::Stdio;

use berth_testkit::{unique_id, Bundle, Runtime};

fn runs_echo_and_exit_code(runtime: Runtime) {
    if !runtime.available() {
        eprintln!("skipping: {} is not available", runtime.name);
        return;
    }
    let mut bundle = Bundle::busybox();
    bundle.set_args(&["sh", "-c", "echo hello; exit 3"]);
    let id = unique_id(&runtime.name);
    let out = runtime
        .cmd(&["run", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .stdin(Stdio::null())
        .output()
        .expect("spawn runtime");
    runtime.force_delete(&id);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello\n",
        "{} stderr: {}",
        runtime.name,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{} stderr: {}",
        runtime.name,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn busybox_bundle_runs_under_runc() {
    runs_echo_and_exit_code(Runtime::runc());
}

#[test]
fn busybox_bundle_runs_under_crun() {
    runs_echo_and_exit_code(Runtime::crun());
}

#[test]
fn runc_state_reports_a_created_container() {
    let runtime = Runtime::runc();
    if !runtime.available() {
        eprintln!("skipping: runc is not available");
        return;
    }
    let mut bundle = Bundle::busybox();
    bundle.set_args(&["sleep", "1000"]);
    let id = unique_id("state");
    let status = runtime
        .cmd(&["create", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("spawn runc");
    let state = runtime.state(&id);
    runtime.force_delete(&id);
    assert!(status.success());
    let state = state.expect("runc state");
    assert_eq!(state["id"], id.as_str());
    assert_eq!(state["status"], "created");
    assert_eq!(state["bundle"], bundle.path().to_str().unwrap());
}
