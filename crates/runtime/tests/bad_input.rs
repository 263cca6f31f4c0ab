//! Bad input: each mistake gets a one-line error naming the field or state, a non-zero
//! exit, and leaves nothing behind — also when create fails halfway, after the state
//! dir, cgroup and namespaces exist.

mod common;

use common::*;
use serde_json::json;

/// Runs `create` on the bundle and returns its stderr; asserts failure, a one-line
/// message, and no leftovers.
fn create_fails(b: &Bundle) -> String {
    let rt = berth();
    let id = unique_id("bad");
    let _g = Guard::new(&rt, &id);
    let (status, _, err) = run_detached(
        &rt,
        &["create", "--bundle", b.path().to_str().unwrap(), &id],
    );
    assert!(!status.success(), "create succeeded");
    assert_eq!(status.code(), Some(1));
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
    assert_nothing_left(&rt, &id, b);
    err
}

fn bundle_with(edit: impl FnOnce(&mut serde_json::Value)) -> Bundle {
    let mut b = sleeper();
    b.config_mut(edit);
    b
}

#[test]
fn malformed_config_json() {
    let b = Bundle::busybox();
    std::fs::write(
        b.config_path(),
        "{\"ociVersion\": \"1.0.2\", \"process\": {",
    )
    .unwrap();
    let err = create_fails(&b);
    assert!(
        err.contains("config.json") && err.contains("line 1"),
        "{err}"
    );
}

#[test]
fn wrong_type_names_the_field() {
    let err = create_fails(&bundle_with(|c| {
        c["process"]["user"]["uid"] = json!("root")
    }));
    assert!(err.contains("process.user.uid"), "{err}");
}

#[test]
fn incomplete_configs() {
    let err = create_fails(&bundle_with(|c| {
        c.as_object_mut().unwrap().remove("process");
    }));
    assert!(err.contains("process: missing"), "{err}");
    let err = create_fails(&bundle_with(|c| {
        c.as_object_mut().unwrap().remove("root");
    }));
    assert!(err.contains("root: missing"), "{err}");
    let err = create_fails(&bundle_with(|c| c["process"]["args"] = json!([])));
    assert!(err.contains("process.args"), "{err}");
    let err = create_fails(&bundle_with(|c| {
        c["process"]["cwd"] = json!("relative/dir")
    }));
    assert!(err.contains("process.cwd"), "{err}");
}

#[test]
fn missing_rootfs() {
    let err = create_fails(&bundle_with(|c| {
        c["root"]["path"] = json!("no-such-rootfs")
    }));
    assert!(
        err.contains("root.path") && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn unknown_namespace() {
    let err = create_fails(&bundle_with(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "bogus"}));
    }));
    assert!(
        err.contains("linux.namespaces[5].type") && err.contains("bogus"),
        "{err}"
    );
    let err = create_fails(&bundle_with(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "pid"}));
    }));
    assert!(
        err.contains("linux.namespaces[5].type") && err.contains("twice"),
        "{err}"
    );
    let err = create_fails(&bundle_with(|c| {
        c["linux"]["namespaces"][1]["path"] = json!("/proc/no/such/ns");
    }));
    assert!(err.contains("linux.namespaces[1].path"), "{err}");
}

#[test]
fn invalid_cgroup_values() {
    // Caught while parsing.
    let err = create_fails(&bundle_with(|c| {
        c["linux"]["resources"]["memory"] = json!({"limit": "lots"})
    }));
    assert!(err.contains("linux.resources.memory.limit"), "{err}");
    // Caught by the kernel, halfway through create: the cgroup exists by then.
    let err = create_fails(&bundle_with(|c| {
        c["linux"]["resources"]["cpu"] = json!({"quota": 500, "period": 100000})
    }));
    assert!(err.contains("cpu"), "{err}");
    let err = create_fails(&bundle_with(|c| {
        c["linux"]["resources"]["cpu"] = json!({"cpus": "999"})
    }));
    assert!(err.contains("cpuset.cpus") && err.contains("999"), "{err}");
}

#[test]
fn failures_halfway_through_create() {
    // A bind mount whose source is missing fails in the init, after namespaces exist.
    let err = create_fails(&bundle_with(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/x", "type": "bind", "source": "/no/such/dir", "options": ["rbind"]
        }));
    }));
    assert!(
        err.contains("mounts[7]") && err.contains("/no/such/dir"),
        "{err}"
    );
    // A program that is not there, found missing before create returns.
    let err = create_fails(&bundle_with(|c| {
        c["process"]["args"] = json!(["no-such-program"])
    }));
    assert!(
        err.contains("no-such-program") && err.contains("not found"),
        "{err}"
    );
    // An unknown user for setgroups is fine, but a hostname without a uts namespace is not.
    let err = create_fails(&bundle_with(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "uts");
    }));
    assert!(err.contains("hostname"), "{err}");
}

#[test]
fn rlimits_above_the_hard_limit() {
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .maximum
        .unwrap_or(u64::MAX);
    if hard == u64::MAX {
        return;
    }
    let err = create_fails(&bundle_with(|c| {
        c["process"]["rlimits"] =
            json!([{"type": "RLIMIT_NOFILE", "hard": hard + 1, "soft": 1024}]);
    }));
    // Root here lacks CAP_SYS_RESOURCE, so raising the hard limit must be refused clearly.
    let has_cap = caps::has_cap(
        None,
        caps::CapSet::Effective,
        caps::Capability::CAP_SYS_RESOURCE,
    )
    .unwrap_or(false);
    if !has_cap {
        assert!(
            err.contains("RLIMIT_NOFILE") && err.contains("CAP_SYS_RESOURCE"),
            "{err}"
        );
    }
    let err = create_fails(&bundle_with(|c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 10, "soft": 20}]);
    }));
    assert!(
        err.contains("soft limit 20 is above its hard limit 10"),
        "{err}"
    );
}

#[test]
fn duplicate_and_unknown_ids() {
    let rt = berth();
    let b = bundle_with(|_| {});
    let id = unique_id("dup");
    let _g = create(&rt, &b, &id);
    let (status, _, err) = run_detached(
        &rt,
        &["create", "--bundle", b.path().to_str().unwrap(), &id],
    );
    assert!(!status.success());
    assert!(
        err.contains(&format!("container with id {id} already exists")),
        "{err}"
    );
    // The first container is untouched.
    assert_eq!(status_of(&rt, &id), "created");
    for cmd in ["start", "state", "pause", "resume", "kill", "ps"] {
        let out = run(&rt, &[cmd, "no-such-id"]);
        assert!(!out.status.success(), "{cmd}");
        assert!(
            stderr(&out).contains("container no-such-id does not exist"),
            "{cmd}: {}",
            stderr(&out)
        );
    }
    let out = run(
        &rt,
        &[
            "create",
            "--bundle",
            b.path().to_str().unwrap(),
            "../escape",
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("invalid container id"),
        "{}",
        stderr(&out)
    );
}

fn status_of(rt: &Runtime, id: &str) -> String {
    status(rt, id)
}

#[test]
fn terminal_without_a_console_socket() {
    let mut b = bundle_with(|_| {});
    b.set_terminal(true);
    let err = create_fails(&b);
    assert!(
        err.contains("process.terminal") && err.contains("--console-socket"),
        "{err}"
    );
}

#[test]
fn unknown_capability_is_named() {
    let err = create_fails(&bundle_with(|c| {
        c["process"]["capabilities"]["bounding"] = json!(["CAP_CHOWN", "CAP_BOGUS"])
    }));
    assert!(err.contains("CAP_BOGUS"), "{err}");
}
