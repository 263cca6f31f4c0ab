//! The lifecycle as runc's users drive it: create, start, state, kill, delete, run,
//! exec, pause/resume, update, list, ps — with statuses checked at every step.

mod common;

use common::*;

#[test]
fn create_start_kill_delete_walks_through_every_status() {
    let rt = berth();
    let b = sleeper();
    let id = unique_id("life");
    let _g = create(&rt, &b, &id);

    let st = rt.state(&id).unwrap();
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    assert!(st["pid"].as_i64().unwrap() > 0);
    assert_eq!(st["bundle"], b.path().to_str().unwrap());
    assert_eq!(st["rootfs"], b.rootfs().to_str().unwrap());
    for key in ["ociVersion", "created", "owner"] {
        assert!(st.get(key).is_some(), "state lacks {key}: {st}");
    }

    let out = run(&rt, &["start", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(status(&rt, &id), "running");

    // A second start is refused, naming the status.
    let out = run(&rt, &["start", &id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("running"), "{}", stderr(&out));

    // delete of a running container needs --force.
    let out = run(&rt, &["delete", &id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("running"), "{}", stderr(&out));

    let out = run(&rt, &["kill", &id, "KILL"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_status(&rt, &id, "stopped");
    assert_eq!(rt.state(&id).unwrap()["pid"], 0);

    let out = run(&rt, &["kill", &id, "TERM"]);
    assert!(
        !out.status.success(),
        "kill of a stopped container must fail"
    );
    assert!(stderr(&out).contains("stopped"), "{}", stderr(&out));

    let out = run(&rt, &["delete", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_nothing_left(&rt, &id, &b);
    let out = run(&rt, &["state", &id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
}

#[test]
fn run_passes_the_exit_status_through() {
    let rt = berth();
    for (cmd, want) in [("exit 0", 0), ("exit 3", 3), ("exit 255", 255)] {
        let mut b = Bundle::busybox();
        b.set_args(&["sh", "-c", cmd]);
        let id = unique_id("exit");
        let (code, _, err) = run_container(&rt, &b, &id);
        assert_eq!(code, want, "{cmd}: {err}");
        assert_nothing_left(&rt, &id, &b);
    }
}

#[test]
fn run_reports_death_by_signal_as_128_plus_n() {
    let rt = berth();
    let b = sleeper();
    let id = unique_id("sigexit");
    let _g = Guard::new(&rt, &id);
    let mut child = rt
        .cmd(&["run", "--bundle", b.path().to_str().unwrap(), &id])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_status(&rt, &id, "running");
    assert!(run(&rt, &["kill", &id, "KILL"]).status.success());
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(137));
    assert_nothing_left(&rt, &id, &b);
}

#[test]
fn run_forwards_signals_to_the_container() {
    let rt = berth();
    let mut b = Bundle::busybox();
    b.set_readonly(false);
    b.set_args(&[
        "sh",
        "-c",
        "trap 'exit 42' TERM; touch /tmp/ready; while true; do sleep 0.05; done",
    ]);
    let id = unique_id("fwd");
    let _g = Guard::new(&rt, &id);
    let mut child = rt
        .cmd(&["run", "--bundle", b.path().to_str().unwrap(), &id])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(&b.rootfs().join("tmp/ready"));
    let pid = child.id() as i32;
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(42));
}

#[test]
fn kill_accepts_names_with_and_without_sig_and_numbers() {
    let rt = berth();
    for (sig, want) in [
        ("SIGUSR1", "10"),
        ("HUP", "1"),
        ("15", "15"),
        ("sigint", "2"),
    ] {
        let mut b = Bundle::busybox();
        b.set_readonly(false);
        // The shell traps the signal and exits with 128+n, proving which one arrived.
        b.set_args(&["sh", "-c", "for s in 1 2 10 15; do trap \"echo $s > /tmp/got; exit\" $s; done; touch /tmp/ready; while true; do sleep 0.05; done"]);
        let id = unique_id("sig");
        let _g = start(&rt, &b, &id);
        wait_for_file(&b.rootfs().join("tmp/ready"));
        let out = run(&rt, &["kill", &id, sig]);
        assert!(out.status.success(), "kill {sig}: {}", stderr(&out));
        wait_status(&rt, &id, "stopped");
        let got = std::fs::read_to_string(b.rootfs().join("tmp/got")).unwrap();
        assert_eq!(got.trim(), want, "kill {sig}");
    }
}

#[test]
fn kill_all_reaches_every_process_in_the_container() {
    let rt = berth();
    let mut b = Bundle::busybox();
    b.set_readonly(false);
    b.set_args(&[
        "sh",
        "-c",
        "sleep 1000 & sleep 1000 & touch /tmp/ready; wait",
    ]);
    let id = unique_id("killall");
    let _g = start(&rt, &b, &id);
    wait_for_file(&b.rootfs().join("tmp/ready"));
    let out = run(&rt, &["ps", "--format", "json", &id]);
    let pids: Vec<i32> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(pids.len() >= 3, "expected sh and two sleeps: {pids:?}");
    let out = run(&rt, &["kill", "--all", &id, "KILL"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_status(&rt, &id, "stopped");
    for pid in pids {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| !s.contains(") Z"))
                .unwrap_or(false);
            if !alive {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "pid {pid} survived kill --all"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

#[test]
fn pause_and_resume_freeze_the_container() {
    let rt = berth();
    let b = sleeper();
    let id = unique_id("pause");
    let _g = create(&rt, &b, &id);
    let out = run(&rt, &["pause", &id]);
    assert!(
        !out.status.success(),
        "pause of a created container must fail"
    );
    assert!(stderr(&out).contains("created"), "{}", stderr(&out));
    assert!(run(&rt, &["start", &id]).status.success());
    let out = run(&rt, &["pause", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(status(&rt, &id), "paused");
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let freezer = std::fs::read_to_string(format!("/sys/fs/cgroup/freezer/{id}/freezer.state"))
        .unwrap_or_default();
    assert!(
        freezer.trim() == "FROZEN" || stat.contains(") D"),
        "not frozen: {freezer} {stat}"
    );
    let out = run(&rt, &["resume", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(status(&rt, &id), "running");
    let out = run(&rt, &["resume", &id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("running"), "{}", stderr(&out));
    // delete -f works on a paused container too.
    assert!(run(&rt, &["pause", &id]).status.success());
    let out = run(&rt, &["delete", "-f", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_nothing_left(&rt, &id, &b);
}

#[test]
fn exec_runs_inside_and_passes_its_status() {
    let rt = berth();
    let b = sleeper();
    let id = unique_id("exec");
    let _g = start(&rt, &b, &id);

    let out = run(
        &rt,
        &[
            "exec",
            &id,
            "sh",
            "-c",
            "echo $$ $(hostname) $(cat /proc/1/cmdline | tr '\\0' ' ')",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("runc sleep 1000"),
        "exec is not in the container's namespaces: {text}"
    );

    let out = run(&rt, &["exec", &id, "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));

    let out = run(
        &rt,
        &[
            "exec",
            "--env",
            "FOO=bar",
            "--cwd",
            "/tmp",
            "--user",
            "1000:1000",
            &id,
            "sh",
            "-c",
            "echo $FOO $(pwd) $(id -u):$(id -g)",
        ],
    );
    assert_eq!(
        stdout(&out).trim(),
        "bar /tmp 1000:1000",
        "{}",
        stderr(&out)
    );

    // A process.json instead of args.
    let p = b.path().join("process.json");
    std::fs::write(
        &p,
        r#"{"user":{"uid":0,"gid":0},"args":["sh","-c","exit 9"],"cwd":"/","env":["PATH=/bin"]}"#,
    )
    .unwrap();
    let out = run(&rt, &["exec", "--process", p.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));

    // Its own errors exit 255.
    let out = run(&rt, &["exec", &id, "/no/such/binary"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(stderr(&out).contains("no such file"), "{}", stderr(&out));

    // A detached exec writes its pid file and returns at once.
    let pidfile = b.path().join("exec.pid");
    let (st, _, err) = run_detached(
        &rt,
        &[
            "exec",
            "-d",
            "--pid-file",
            pidfile.to_str().unwrap(),
            &id,
            "sleep",
            "1000",
        ],
    );
    assert!(st.success(), "{err}");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let out = run(&rt, &["ps", "--format", "json", &id]);
    let pids: Vec<i32> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(pids.contains(&pid), "{pid} not in {pids:?}");

    assert!(run(&rt, &["kill", &id, "KILL"]).status.success());
    wait_status(&rt, &id, "stopped");
    let out = run(&rt, &["exec", &id, "true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(stderr(&out).contains("stopped"), "{}", stderr(&out));
}

#[test]
fn update_changes_the_limits_in_cgroupfs() {
    let rt = berth();
    let b = sleeper();
    let id = unique_id("update");
    let _g = start(&rt, &b, &id);
    // Flags after the id, as containerd passes them.
    let out = run(
        &rt,
        &[
            "update",
            &id,
            "--memory",
            "64m",
            "--pids-limit",
            "50",
            "--cpu-quota",
            "20000",
            "--cpu-period",
            "100000",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let read = |f: &str| {
        std::fs::read_to_string(format!("/sys/fs/cgroup/{f}"))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(
        read(&format!("memory/{id}/memory.limit_in_bytes")),
        "67108864"
    );
    assert_eq!(read(&format!("pids/{id}/pids.max")), "50");
    assert_eq!(read(&format!("cpu/{id}/cpu.cfs_quota_us")), "20000");
    let res = b.path().join("res.json");
    std::fs::write(
        &res,
        r#"{"memory":{"limit":134217728},"cpu":{"shares":512}}"#,
    )
    .unwrap();
    let out = run(&rt, &["update", "-r", res.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        read(&format!("memory/{id}/memory.limit_in_bytes")),
        "134217728"
    );
    assert_eq!(read(&format!("cpu/{id}/cpu.shares")), "512");
    let out = run(&rt, &["update", &id, "--memory", "lots"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--memory"), "{}", stderr(&out));
}

#[test]
fn list_shows_containers_in_every_format() {
    let rt = berth();
    let b = sleeper();
    let id = unique_id("list");
    let _g = create(&rt, &b, &id);
    let out = run(&rt, &["list", "-q"]);
    assert_eq!(stdout(&out).trim(), id);
    let out = run(&rt, &["list", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["id"], id.as_str());
    assert_eq!(v[0]["status"], "created");
    let out = run(&rt, &["list"]);
    let text = stdout(&out);
    assert!(text.starts_with("ID"), "{text}");
    assert!(text.contains(&id) && text.contains("created"), "{text}");
    // delete -f works on a created container, and list -q is then empty.
    assert!(run(&rt, &["delete", "-f", &id]).status.success());
    assert_eq!(stdout(&run(&rt, &["list", "-q"])).trim(), "");
    assert_nothing_left(&rt, &id, &b);
}

#[test]
fn ps_table_lists_the_container_processes() {
    let rt = berth();
    let b = sleeper();
    let id = unique_id("ps");
    let _g = start(&rt, &b, &id);
    let out = run(&rt, &["ps", &id]);
    let text = stdout(&out);
    assert!(text.lines().next().unwrap().contains("PID"), "{text}");
    assert!(text.contains("sleep 1000"), "{text}");
}

#[test]
fn delete_of_unknown_ids() {
    let rt = berth();
    let out = run(&rt, &["delete", "no-such-container"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no-such-container does not exist"),
        "{}",
        stderr(&out)
    );
    let out = run(&rt, &["delete", "-f", "no-such-container"]);
    assert!(
        out.status.success(),
        "delete -f of an unknown id succeeds, as runc"
    );
}

#[test]
fn pid_file_and_detached_run() {
    let rt = berth();
    let b = sleeper();
    let id = unique_id("detach");
    let _g = Guard::new(&rt, &id);
    let pidfile = b.path().join("init.pid");
    let (st, _, err) = run_detached(
        &rt,
        &[
            "run",
            "-d",
            "--pid-file",
            pidfile.to_str().unwrap(),
            "--bundle",
            b.path().to_str().unwrap(),
            &id,
        ],
    );
    assert!(st.success(), "{err}");
    let pid: i64 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(rt.state(&id).unwrap()["pid"], pid);
    assert_eq!(status(&rt, &id), "running");
}

#[test]
fn events_stats_reads_the_cgroup() {
    let rt = berth();
    let mut b = sleeper();
    b.config_mut(|c| c["linux"]["resources"]["pids"] = serde_json::json!({"limit": 77}));
    let id = unique_id("events");
    let _g = start(&rt, &b, &id);
    let out = run(&rt, &["events", "--stats", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["data"]["pids"]["current"], 1);
    assert_eq!(v["data"]["pids"]["limit"], 77);
    assert!(
        v["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0,
        "{v}"
    );
}

#[test]
fn preserve_fds_passes_extra_fds_and_closes_the_rest() {
    use std::os::fd::AsRawFd;
    let rt = berth();
    let mut b = Bundle::busybox();
    b.set_args(&[
        "sh",
        "-c",
        "cat <&3; ls /proc/self/fd | sort -n | tr '\\n' ' '",
    ]);
    let id = unique_id("fds");
    let _g = Guard::new(&rt, &id);
    let passed = b.path().join("passed.txt");
    std::fs::write(&passed, "through fd 3\n").unwrap();
    let f = std::fs::File::open(&passed).unwrap();
    let leaked = std::fs::File::open("/etc/hostname").unwrap();
    let (fd, leaked_fd) = (f.as_raw_fd(), leaked.as_raw_fd());
    let mut cmd = rt.cmd(&[
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    // SAFETY: in the child between fork and exec, dup2 is async-signal-safe; it puts
    // the file at fd 3 and leaves `leaked` (close-on-exec off) at its own number.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            if fd != 3 && libc::dup2(fd, 3) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            // dup2 onto itself keeps close-on-exec: clear it either way.
            libc::fcntl(3, libc::F_SETFD, 0);
            let flags = libc::fcntl(leaked_fd, libc::F_GETFD);
            libc::fcntl(leaked_fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
            Ok(())
        });
    }
    let out = cmd.stdin(std::process::Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("through fd 3\n"), "{text}");
    // stdio, fd 3, and the fd ls opened for /proc/self/fd: nothing else leaked in.
    assert_eq!(text.lines().nth(1).unwrap().trim(), "0 1 2 3 4", "{text}");
    drop(leaked);
}

#[test]
fn delete_force_cleans_up_after_a_create_that_was_killed() {
    let rt = berth();
    let mut b = sleeper();
    // The createRuntime hook holds create in the middle: namespaces, cgroup and the
    // init exist, the state says "creating".
    b.config_mut(|c| {
        c["hooks"] =
            serde_json::json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "2"]}]});
    });
    let id = unique_id("killed");
    let _g = Guard::new(&rt, &id);
    let mut child = rt
        .cmd(&["create", "--bundle", b.path().to_str().unwrap(), &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::path::Path::new(&format!("/sys/fs/cgroup/pids/{id}")).exists()
        || status(&rt, &id) != "creating"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "create never got halfway"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(stdout(&run(&rt, &["list", "-q"])).trim(), id);
    let out = run(&rt, &["delete", "-f", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The hook (a child of the killed create) exits by itself; wait for it.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_nothing_left(&rt, &id, &b);
}
