//! Behaviour that needs no daemon: help, usage errors and their exit codes (Docker's:
//! 125 for a bad flag or flag value, 1 for a missing argument or an unreachable daemon,
//! 125 when `run` cannot reach the daemon).

use std::process::{Command, Output};

fn berth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env("DOCKER_HOST", "unix:///nonexistent/berth-test.sock")
        .env_remove("BERTH_HOST")
        .output()
        .expect("run berth")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn help_exits_zero() {
    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["ps", "--help"],
        &["container", "ls", "--help"],
    ] {
        let o = berth(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert!(!o.stdout.is_empty());
    }
}

#[test]
fn unknown_flag_is_125() {
    let o = berth(&["ps", "--bogus"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).starts_with("unknown flag: --bogus"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("Usage:  berth ps [OPTIONS]"));

    let o = berth(&["run", "--bogus", "busybox"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).starts_with("unknown flag: --bogus"));
}

#[test]
fn bad_memory_is_125_with_dockers_wording() {
    let o = berth(&["run", "-m", "foo", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o)
            .starts_with("invalid argument \"foo\" for \"-m, --memory\" flag: invalid size: 'foo'"),
        "{}",
        stderr(&o)
    );
    let o = berth(&["create", "--memory", "1x", "busybox"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("invalid suffix: 'x'"));
}

#[test]
fn missing_argument_is_1() {
    let o = berth(&["run"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("berth: 'berth run' requires at least 1 argument"));
    let o = berth(&["stop"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn unreachable_daemon() {
    let o = berth(&["ps"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o)
        .contains("Cannot connect to the berth daemon at unix:///nonexistent/berth-test.sock"));
    let o = berth(&["run", "busybox"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).starts_with("berth: Cannot connect to the berth daemon"));
}

#[test]
fn host_flag_beats_environment() {
    let o = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["-H", "unix:///nonexistent/flag.sock", "ps"])
        .env("DOCKER_HOST", "unix:///nonexistent/env.sock")
        .output()
        .unwrap();
    assert!(stderr(&o).contains("/nonexistent/flag.sock"));
    let o = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["ps"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("BERTH_HOST", "unix:///nonexistent/berth.sock")
        .output()
        .unwrap();
    assert!(stderr(&o).contains("/nonexistent/berth.sock"));
}

#[test]
fn command_args_after_image_are_not_flags() {
    // `-c` after the image belongs to the command; with no daemon this fails at connect,
    // not at parsing (which would be 125 with a usage message).
    let o = berth(&["run", "busybox", "-c", "echo hi"]);
    assert!(stderr(&o).contains("Cannot connect"), "{}", stderr(&o));
}
