//! `berth`, berth's own CLI, against berthd: the same commands a Docker user
//! types, with Docker's output and exit codes.

use berth_e2e::{ok, text, Berthd};

#[test]
fn berth_run_rm_output_and_exit_codes() {
    let d = Berthd::start();
    let out = d.berth(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(text(&out.stdout), "hi\n", "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(0));
    let out = d.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo err >&2; exit 42",
    ]);
    assert_eq!(text(&out.stderr), "err\n");
    assert_eq!(out.status.code(), Some(42));
    assert_eq!(
        d.berth(&["run", "--rm", "busybox", "nosuchcommand"])
            .status
            .code(),
        Some(127)
    );
    let out = d.berth(&["run", "--rm", "nosuchimage"]);
    assert_eq!(out.status.code(), Some(125));
    let out = d.berth(&["run", "--rm", "-m", "10x", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("invalid argument"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(ok(d.berth(&["ps", "-aq"])).trim(), "");
    d.assert_clean();
}

#[test]
fn berth_ps_inspect_logs_exec_and_stop() {
    let d = Berthd::start();
    let id = ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "b1",
        "-e",
        "GREETING=hello",
        "busybox",
        "sh",
        "-c",
        "echo $GREETING; sleep 1000",
    ]));
    let id = id.trim();
    let ps = ok(d.berth(&["ps"]));
    let header = ps.lines().next().unwrap();
    for col in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(header.contains(col), "{header}");
    }
    assert!(ps.lines().nth(1).unwrap().starts_with(&id[..12]), "{ps}");
    assert!(ps.contains("b1"));
    assert_eq!(
        ok(d.berth(&["inspect", "-f", "{{.State.Running}} {{.Name}}", "b1"])).trim(),
        "true /b1"
    );
    d.eventually(10, "the greeting in the log", || {
        text(&d.berth(&["logs", "b1"]).stdout) == "hello\n"
    });
    assert_eq!(
        ok(d.berth(&["exec", "b1", "cat", "/etc/hostname"])).trim(),
        &id[..12]
    );
    assert_eq!(
        d.berth(&["exec", "b1", "sh", "-c", "exit 9"]).status.code(),
        Some(9)
    );
    ok(d.berth(&["stop", "-t", "1", "b1"]));
    assert_eq!(ok(d.berth(&["wait", "b1"])).trim(), "137");
    ok(d.berth(&["rm", "b1"]));
    d.assert_clean();
}

#[test]
fn berth_and_docker_see_the_same_containers() {
    let d = Berthd::start();
    ok(d.docker(&["create", "--name", "shared", "busybox", "true"]));
    assert_eq!(
        ok(d.berth(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])).trim(),
        "shared Created"
    );
    let images = ok(d.berth(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert_eq!(images.trim(), "busybox:latest");
    ok(d.berth(&["rm", "shared"]));
    assert_eq!(ok(d.docker(&["ps", "-aq"])).trim(), "");
}

#[test]
fn berth_run_it_is_an_interactive_shell() {
    let d = Berthd::start();
    let (s, code) = d.interactive_shell(
        &berth_e2e::workspace_bin("berth"),
        &["tty; echo sum-$((40+2))", "exit 6"],
    );
    assert!(s.contains("/dev/pts/0"), "a terminal inside: {s}");
    assert!(s.contains("sum-42"), "{s}");
    assert_eq!(code, Some(6), "{s}");
}
