//! The official `docker` CLI against a berthd started by the test: what a Docker
//! user types, and what they would check.

use berth_e2e::{ok, text, Berthd};

fn pid_alive(pid: &str) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn version_info_and_ping_answer_as_docker() {
    let d = Berthd::start();
    let v = ok(d.docker(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Server.MinAPIVersion}}",
    ]));
    assert_eq!(v.trim(), "1.41 1.12");
    let info = ok(d.docker(&[
        "info",
        "--format",
        "{{.Images}} {{.Driver}} {{.DefaultRuntime}} {{.LiveRestoreEnabled}}",
    ]));
    assert_eq!(info.trim(), "1 overlay2 berth-runc true");
    let (status, body) = d.http("GET", "/_ping", "");
    assert_eq!((status, body.as_str()), (200, "OK"));
    let (status, body) = d.http("GET", "/v1.99/version", "");
    assert_eq!(status, 400);
    assert!(body.contains("client version 1.99 is too new"), "{body}");
}

#[test]
fn run_rm_gives_output_and_the_containers_exit_status() {
    let d = Berthd::start();
    let out = d.docker(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(text(&out.stdout), "hi\n");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let out = d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(text(&out.stdout), "out\n");
    assert!(text(&out.stderr).contains("err"), "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(3));

    let out = d.docker(&["run", "--rm", "busybox", "nosuchcommand"]);
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));

    let out = d.docker(&["run", "--rm", "-i", "busybox", "cat"]);
    assert_eq!(out.status.code(), Some(0));

    // --rm removed them all, and nothing is left on the host.
    assert_eq!(ok(d.docker(&["ps", "-aq"])).trim(), "");
    d.assert_clean();
}

#[test]
fn stdin_reaches_the_container() {
    let d = Berthd::start();
    let mut child = d
        .client(berth_e2e::docker_cli())
        .args(["run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello berth\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout), "HELLO BERTH\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn detached_container_lifecycle() {
    let d = Berthd::start();
    let id = ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "-l",
        "tier=front",
        "busybox",
        "sleep",
        "1000",
    ]));
    let id = id.trim();
    assert_eq!(id.len(), 64);
    let ps = ok(d.docker(&["ps", "--format", "{{.Names}} {{.Image}} {{.Status}}"]));
    assert!(ps.starts_with("web busybox Up"), "{ps}");
    assert_eq!(
        ok(d.docker(&["ps", "-q", "--filter", "label=tier=front"])).trim(),
        &id[..12]
    );
    assert_eq!(
        ok(d.docker(&["ps", "-q", "--filter", "name=nope"])).trim(),
        ""
    );
    for ancestor in ["busybox", "busybox:latest"] {
        let filter = format!("ancestor={ancestor}");
        assert_eq!(
            ok(d.docker(&["ps", "-q", "--filter", &filter])).trim(),
            &id[..12]
        );
    }

    let pid = d.inspect("web", "{{.State.Pid}}");
    assert!(pid_alive(&pid), "pid {pid} of a running container");
    assert_eq!(
        d.inspect("web", "{{.State.Status}} {{.Name}} {{.Config.Labels.tier}}"),
        "running /web front"
    );

    // Short id prefixes resolve as names do.
    assert_eq!(d.inspect(&id[..5], "{{.Id}}"), id);

    let out = ok(d.docker(&["exec", "web", "sh", "-c", "echo in-$HOSTNAME"]));
    assert_eq!(out.trim(), format!("in-{}", &id[..12]));
    let out = d.docker(&["exec", "web", "sh", "-c", "exit 4"]);
    assert_eq!(out.status.code(), Some(4));
    // A command that is not there: Docker's 127 and its words.
    let out = d.docker(&["exec", "web", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    assert!(
        text(&out.stdout).contains("executable file not found"),
        "{out:?}"
    );
    let out = ok(d.docker(&[
        "exec",
        "-e",
        "X=1",
        "-w",
        "/tmp",
        "-u",
        "1000:1000",
        "web",
        "sh",
        "-c",
        "echo $X $(pwd) $(id -u)",
    ]));
    assert_eq!(out.trim(), "1 /tmp 1000");

    ok(d.docker(&["pause", "web"]));
    assert_eq!(d.inspect("web", "{{.State.Status}}"), "paused");
    ok(d.docker(&["unpause", "web"]));
    assert_eq!(d.inspect("web", "{{.State.Status}}"), "running");

    ok(d.docker(&["rename", "web", "web2"]));
    assert_eq!(d.inspect(id, "{{.Name}}"), "/web2");

    let out = d.docker(&["rm", "web2"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("stop the container before removing or force remove"),
        "{}",
        text(&out.stderr)
    );

    // sleep as pid 1 ignores SIGTERM: stop waits its grace, then SIGKILL.
    ok(d.docker(&["stop", "-t", "1", "web2"]));
    assert_eq!(
        d.inspect("web2", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 137"
    );
    assert!(!pid_alive(&pid));
    let ps = ok(d.docker(&["ps", "-a", "--format", "{{.Status}}"]));
    assert!(ps.starts_with("Exited (137)"), "{ps}");

    let out = d.docker(&["exec", "web2", "true"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("is not running"),
        "{}",
        text(&out.stderr)
    );

    // Started again, then restarted: a new pid each time.
    ok(d.docker(&["start", "web2"]));
    let pid2 = d.inspect("web2", "{{.State.Pid}}");
    assert_ne!(pid2, pid);
    ok(d.docker(&["restart", "-t", "0", "web2"]));
    assert_ne!(d.inspect("web2", "{{.State.Pid}}"), pid2);
    ok(d.docker(&["kill", "web2"]));
    assert_eq!(ok(d.docker(&["wait", "web2"])).trim(), "137");

    ok(d.docker(&["rm", "web2"]));
    assert_eq!(ok(d.docker(&["ps", "-aq"])).trim(), "");
    d.assert_clean();
}

#[test]
fn logs_tail_follow_and_timestamps() {
    let d = Berthd::start();
    let id = ok(d.docker(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo out$i; echo err$i >&2; done; sleep 1; echo last",
    ]));
    let id = id.trim();
    // -f follows until the container exits.
    let out = d.docker(&["logs", "-f", id]);
    assert_eq!(text(&out.stdout), "out1\nout2\nout3\nlast\n");
    assert_eq!(text(&out.stderr), "err1\nerr2\nerr3\n");
    let all = d.docker(&["logs", "--tail", "2", id]);
    let lines = text(&all.stdout).lines().count() + text(&all.stderr).lines().count();
    assert_eq!(lines, 2);
    assert_eq!(text(&all.stdout).lines().last(), Some("last"));
    let out = ok(d.docker(&["logs", "-t", id]));
    let first = out.lines().next().unwrap();
    let (ts, rest) = first.split_once(' ').unwrap();
    assert!(ts.ends_with('Z') && ts.contains('T'), "{first}");
    assert_eq!(rest, "out1");
    // The log is Docker's json-file format on disk. stdout and stderr are separate
    // pipes, so which of out1/err1 comes first on disk is not fixed: take stdout's.
    let path = d.inspect(id, "{{.LogPath}}");
    let text = std::fs::read_to_string(path).unwrap();
    let first: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["stream"] == "stdout")
        .unwrap();
    assert!(first["time"].as_str().unwrap().ends_with('Z'), "{first}");
    assert_eq!(first["log"], "out1\n");
}

#[test]
fn bad_input_gets_dockers_status_and_words_and_leaves_nothing() {
    let d = Berthd::start();
    ok(d.docker(&["create", "--name", "taken", "busybox", "true"]));
    let out = d.docker(&["create", "--name", "taken", "busybox", "true"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("Conflict. The container name \"/taken\" is already in use"),
        "{}",
        text(&out.stderr)
    );

    let out = d.docker(&["run", "--rm", "nosuchimage"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("nosuchimage"),
        "{}",
        text(&out.stderr)
    );

    let out = d.docker(&["run", "--rm", "--memory", "1k", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("Minimum memory limit allowed is 6MB"),
        "{}",
        text(&out.stderr)
    );

    let out = d.docker(&["run", "--rm", "--restart", "always", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));

    let (status, body) = d.http("POST", "/v1.41/containers/create", "{");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("message"), "{body}");
    let (status, body) = d.http(
        "POST",
        "/v1.41/containers/create",
        r#"{"Image":"busybox","Tty":"yes"}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Tty"), "the field is named: {body}");
    let (status, body) = d.http(
        "POST",
        "/v1.41/containers/create",
        r#"{"Image":"busybox","Cmd":"true","Bogus":{"x":[1]},"HostConfig":{"NewThing":7}}"#,
    );
    assert_eq!(status, 201, "unknown fields are ignored: {body}");
    let (status, body) = d.http("GET", "/v1.41/containers/nope/json", "");
    assert_eq!(status, 404);
    assert!(body.contains("No such container: nope"), "{body}");
    let (status, _) = d.http(
        "POST",
        "/containers/json?all=True&filters=%7B%22status%22%3A%5B%22created%22%5D%7D",
        "",
    );
    assert_eq!(status, 405);
    let (status, body) = d.http(
        "GET",
        "/containers/json?all=True&filters=%7B%22status%22%3A%5B%22created%22%5D%7D",
        "",
    );
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2,
        "list-form filters, Python booleans"
    );

    // Still serving; only the two created containers exist on disk.
    ok(d.docker(&["version"]));
    let dirs = std::fs::read_dir(d.data_root().join("containers"))
        .unwrap()
        .count();
    assert_eq!(dirs, 2);
}

#[test]
fn memory_and_cpus_are_in_cgroupfs() {
    let d = Berthd::start();
    let id = ok(d.docker(&[
        "run",
        "-d",
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        "busybox",
        "sleep",
        "100",
    ]));
    let id = id.trim();
    let cg = |ctrl: &str, file: &str| {
        let v1 = format!("/sys/fs/cgroup/{ctrl}{}/{id}/{file}", d.cgroup_parent);
        std::fs::read_to_string(&v1)
            .unwrap_or_else(|e| panic!("{v1}: {e}"))
            .trim()
            .to_owned()
    };
    if std::path::Path::new("/sys/fs/cgroup/memory").exists() {
        assert_eq!(
            cg("memory", "memory.limit_in_bytes"),
            (64u64 << 20).to_string()
        );
        assert_eq!(cg("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(cg("cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(cg("pids", "pids.max"), "50");
    } else {
        assert_eq!(cg("", "memory.max"), (64u64 << 20).to_string());
        assert_eq!(cg("", "cpu.max"), "50000 100000");
    }
    assert_eq!(
        d.inspect(id, "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}"),
        format!("{} 500000000", 64u64 << 20)
    );
    ok(d.docker(&["rm", "-f", id]));
    d.assert_clean();
}

#[test]
fn restart_policies_restart_and_give_up() {
    let d = Berthd::start();
    let id = ok(d.docker(&[
        "run",
        "-d",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]));
    let id = id.trim();
    d.eventually(20, "two restarts then exited", || {
        d.inspect(
            id,
            "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}",
        ) == "2 exited 3"
    });
    let id = ok(d.docker(&[
        "run",
        "-d",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.2",
    ]));
    let id = id.trim();
    d.eventually(20, "always restarts", || {
        d.inspect(id, "{{.RestartCount}}")
            .parse::<u32>()
            .unwrap_or(0)
            >= 2
    });
    ok(d.docker(&["stop", "-t", "1", id]));
    let n = d.inspect(id, "{{.RestartCount}}");
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(
        d.inspect(id, "{{.RestartCount}} {{.State.Running}}"),
        format!("{n} false"),
        "a stopped container stays stopped"
    );
}

#[test]
fn interactive_terminal_session_under_script() {
    let d = Berthd::start();
    let (s, code) = d.interactive_shell(
        &berth_e2e::docker_cli(),
        &["tty; echo sum-$((40+2))", "exit 5"],
    );
    assert!(s.contains("/dev/pts/0"), "a terminal inside: {s}");
    assert!(s.contains("sum-42"), "{s}");
    assert_eq!(code, Some(5), "{s}");
}

#[test]
fn init_runs_an_init_as_pid_1() {
    let d = Berthd::start();
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "cat /proc/1/cmdline | tr '\\0' ' '",
    ]));
    assert!(out.starts_with("/sbin/docker-init -- sh"), "{out}");
}

#[test]
fn events_report_a_run() {
    let d = Berthd::start();
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1;
    ok(d.docker(&["run", "--rm", "--name", "ev", "busybox", "true"]));
    let until = since + 30;
    let out = ok(d.docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .min(until)
            .saturating_add(1)
            .to_string(),
        "--filter",
        "type=container",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]));
    let actions: Vec<&str> = out.lines().collect();
    assert_eq!(
        actions,
        ["create ev", "attach ev", "start ev", "die ev", "destroy ev"],
        "{out}"
    );
}

#[test]
fn bind_mounts_and_tmpfs_reach_the_container() {
    let d = Berthd::start();
    let host = d.dir.path().join("shared");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("note"), "from-host\n").unwrap();
    let vol = format!("{}:/vol:ro", host.display());
    let out = ok(d.docker(&["run", "--rm", "-v", &vol, "--tmpfs", "/scratch", "busybox", "sh", "-c",
        "cat /vol/note; touch /vol/x 2>/dev/null || echo read-only; touch /scratch/y && grep -c ' /scratch tmpfs' /proc/mounts"]));
    assert_eq!(out, "from-host\nread-only\n1\n");
    let rw = format!("{}:/vol", host.display());
    ok(d.docker(&[
        "run",
        "--rm",
        "-v",
        &rw,
        "busybox",
        "sh",
        "-c",
        "echo back > /vol/back",
    ]));
    assert_eq!(
        std::fs::read_to_string(host.join("back")).unwrap(),
        "back\n"
    );

    let out = d.docker(&[
        "run",
        "--rm",
        "-v",
        "/nonexistent-berth:/x",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("bind source path does not exist: /nonexistent-berth"),
        "{}",
        text(&out.stderr)
    );
    // A source that is not an absolute path is a volume name (tests/volumes.rs).
    let out = d.docker(&["run", "--rm", "-v", "@bad:/x", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("\"@bad\" includes invalid characters for a local volume name"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(ok(d.docker(&["ps", "-aq"])).trim(), "");
    d.assert_clean();
}

#[test]
fn an_unnamed_image_runs_by_its_id() {
    let d = Berthd::start();
    ok(d.docker(&[
        "create",
        "--name",
        "src",
        "busybox",
        "sh",
        "-c",
        "echo made > /made",
    ]));
    ok(d.docker(&["start", "-a", "src"]));
    let id = ok(d.docker(&["commit", "src"]));
    let id = id.trim().trim_start_matches("sha256:").to_owned();
    let out = ok(d.docker(&["run", "--rm", &id[..12], "cat", "/made"]));
    assert_eq!(out, "made\n");
}

#[test]
fn ctrl_p_ctrl_q_detaches_and_leaves_the_container_running() {
    let d = Berthd::start();
    for (name, client) in [
        ("dk1", berth_e2e::docker_cli()),
        ("dk2", berth_e2e::workspace_bin("berth")),
    ] {
        let (s, code) = d.in_terminal(
            &format!("{} run -it --name {name} busybox sh", client.display()),
            &["echo typed-$((1+1))", "\x10\x11"],
        );
        assert!(s.contains("typed-2"), "{s}");
        assert_eq!(code, Some(0), "{s}");
        assert_eq!(
            d.inspect(name, "{{.State.Running}}"),
            "true",
            "{} detached, the container runs",
            client.display()
        );
        ok(d.docker(&["rm", "-f", name]));
    }
    d.assert_clean();
}
