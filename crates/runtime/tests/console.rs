//! `process.terminal`: a pty made in the container, its master sent over
//! `--console-socket`, and an interactive shell driven through it.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::*;

fn read_until(master: &mut std::fs::File, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains(needle) {
        assert!(
            Instant::now() < deadline,
            "never saw {needle:?} in {seen:?}"
        );
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read from the pty: {e} (so far {seen:?})"),
        }
    }
    seen
}

#[test]
fn terminal_session_over_a_console_socket() {
    let rt = berth();
    let mut b = Bundle::busybox();
    b.set_terminal(true);
    b.set_args(&["sh"]);
    let id = unique_id("tty");
    let sock = ConsoleSocket::new();
    let _g = Guard::new(&rt, &id);
    let (status, _, err) = run_detached(
        &rt,
        &[
            "create",
            "--console-socket",
            sock.path().to_str().unwrap(),
            "--bundle",
            b.path().to_str().unwrap(),
            &id,
        ],
    );
    assert!(status.success(), "{err}");
    let (mut master, name) = sock.recv_master_named(Duration::from_secs(5)).unwrap();
    assert!(
        name.starts_with("/dev/pts/"),
        "payload names the pty: {name:?}"
    );
    assert!(run(&rt, &["start", &id]).status.success());

    // busybox's line editor asks where the cursor is (ESC [6n) and waits for the answer.
    read_until(&mut master, "\x1b[6n");
    master.write_all(b"\x1b[1;1R").unwrap();
    // Only the output, not the echoed input, holds the computed words.
    master
        .write_all(b"tty; [ -t 0 ] && echo tty-$((1+1)); echo sum-$((40+2))\n")
        .unwrap();
    let seen = read_until(&mut master, "sum-42");
    assert!(seen.contains("/dev/pts/0"), "{seen}");
    assert!(seen.contains("tty-2"), "{seen}");

    master.write_all(b"exit 5\n").unwrap();
    wait_status(&rt, &id, "stopped");
}

#[test]
fn exec_with_a_tty() {
    let rt = berth();
    let b = sleeper();
    let id = unique_id("exectty");
    let _g = start(&rt, &b, &id);
    let sock = ConsoleSocket::new();
    let (status, _, err) = run_detached(
        &rt,
        &[
            "exec",
            "-d",
            "--tty",
            "--console-socket",
            sock.path().to_str().unwrap(),
            &id,
            "sh",
            "-c",
            "tty; echo exec-ok; sleep 1",
        ],
    );
    assert!(status.success(), "{err}");
    let mut master = sock.recv_master(Duration::from_secs(5)).unwrap();
    let seen = read_until(&mut master, "exec-ok");
    assert!(seen.contains("/dev/pts/"), "{seen}");
}

#[test]
fn foreground_run_with_a_terminal_and_no_socket() {
    // `script` gives berth-runc a terminal of its own, as an interactive user's shell.
    let rt = berth();
    let mut b = Bundle::busybox();
    b.set_terminal(true);
    b.set_args(&["sh", "-c", "tty; stty size; echo in-tty-$((2+3)); exit 4"]);
    let id = unique_id("fgtty");
    let _g = Guard::new(&rt, &id);
    let cmd = format!(
        "stty cols 100 rows 30; {} run --bundle {} {id}",
        rt.argv_prefix.join(" "),
        b.path().display()
    );
    let out = in_terminal(&cmd);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(4), "{text}\n{}", stderr(&out));
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(text.contains("30 100"), "window size not passed: {text}");
    assert!(text.contains("in-tty-5"), "{text}");
    assert_nothing_left(&rt, &id, &b);
}

#[test]
fn foreground_exec_with_a_tty_and_no_socket() {
    let rt = berth();
    let b = sleeper();
    let id = unique_id("fgexec");
    let _g = start(&rt, &b, &id);
    let cmd = format!(
        "{} exec -t {id} sh -c 'tty; [ -t 1 ] && echo out-$((3+4)); exit 3'",
        rt.argv_prefix.join(" ")
    );
    let out = in_terminal(&cmd);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}\n{}", stderr(&out));
    assert!(text.contains("/dev/pts/"), "{text}");
    assert!(text.contains("out-7"), "{text}");
}
