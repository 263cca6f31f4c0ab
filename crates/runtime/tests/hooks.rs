//! OCI hooks: each stage called in order, with the state JSON on stdin; a failing or
//! hanging hook fails the operation and leaves nothing behind.

mod common;

use common::*;
use serde_json::{json, Value};

fn hook(log: &str, name: &str) -> Value {
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("cat > {log}/{name}.json; echo {name} >> {log}/order")],
        "env": ["HOOK=1"],
        "timeout": 5
    })
}

#[test]
fn hooks_run_in_order_with_the_state() {
    let rt = berth();
    let mut b = Bundle::busybox();
    b.set_readonly(false);
    b.set_args(&["sleep", "1000"]);
    let logdir = tempfile::Builder::new()
        .prefix("berth-test-hooks-")
        .tempdir()
        .unwrap();
    let log = logdir.path().to_str().unwrap().to_string();
    b.config_mut(|c| {
        c["hooks"] = json!({
            "prestart": [hook(&log, "prestart")],
            "createRuntime": [hook(&log, "createRuntime1"), hook(&log, "createRuntime2")],
            "createContainer": [hook(&log, "createContainer")],
            // Runs after pivot_root: the path resolves in the container.
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "cat > /tmp/startContainer.json"]}],
            "poststart": [hook(&log, "poststart")],
            "poststop": [hook(&log, "poststop")]
        });
    });
    let id = unique_id("hooks");
    let _g = create(&rt, &b, &id);
    let order = || std::fs::read_to_string(logdir.path().join("order")).unwrap_or_default();
    assert_eq!(
        order(),
        "prestart\ncreateRuntime1\ncreateRuntime2\ncreateContainer\n"
    );
    let st: Value = serde_json::from_str(
        &std::fs::read_to_string(logdir.path().join("createRuntime1.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["status"], "creating");
    assert_eq!(st["bundle"], b.path().to_str().unwrap());
    let pid = rt.state(&id).unwrap()["pid"].clone();
    assert_eq!(st["pid"], pid);

    assert!(run(&rt, &["start", &id]).status.success());
    wait_for_file(&b.rootfs().join("tmp/startContainer.json"));
    let sc: Value = serde_json::from_str(
        &std::fs::read_to_string(b.rootfs().join("tmp/startContainer.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(sc["id"], id.as_str());
    assert_eq!(
        order(),
        "prestart\ncreateRuntime1\ncreateRuntime2\ncreateContainer\npoststart\n"
    );
    let ps: Value = serde_json::from_str(
        &std::fs::read_to_string(logdir.path().join("poststart.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(ps["status"], "running");

    assert!(run(&rt, &["kill", &id, "KILL"]).status.success());
    wait_status(&rt, &id, "stopped");
    assert!(run(&rt, &["delete", &id]).status.success());
    assert!(order().ends_with("poststart\npoststop\n"), "{}", order());
    let pst: Value = serde_json::from_str(
        &std::fs::read_to_string(logdir.path().join("poststop.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(pst["status"], "stopped");
    assert_nothing_left(&rt, &id, &b);
}

#[test]
fn a_failing_create_runtime_hook_fails_create_and_leaves_nothing() {
    let rt = berth();
    let mut b = sleeper();
    b.config_mut(|c| {
        c["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo no way >&2; exit 3"]}]});
    });
    let id = unique_id("hookfail");
    let _g = Guard::new(&rt, &id);
    let (status, _, err) = run_detached(
        &rt,
        &["create", "--bundle", b.path().to_str().unwrap(), &id],
    );
    assert!(!status.success());
    assert!(
        err.contains("createRuntime hook")
            && err.contains("exited with status 3")
            && err.contains("no way"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");
    assert_nothing_left(&rt, &id, &b);
}

#[test]
fn a_hanging_hook_times_out() {
    let rt = berth();
    let mut b = Bundle::busybox();
    b.set_args(&["true"]);
    b.config_mut(|c| {
        c["hooks"] = json!({"createContainer": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]});
    });
    let id = unique_id("hooktime");
    let _g = Guard::new(&rt, &id);
    let started = std::time::Instant::now();
    let (status, _, err) = run_detached(
        &rt,
        &["create", "--bundle", b.path().to_str().unwrap(), &id],
    );
    assert!(!status.success());
    assert!(err.contains("timed out after 1 s"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_nothing_left(&rt, &id, &b);
}
