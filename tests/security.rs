//! Docker's security options of `docker run` with the official `docker` CLI:
//! `--privileged`, `--cap-add`, `--security-opt`, `--group-add`, `--sysctl`,
//! `--ulimit` and the host namespaces.

use berth_e2e::{ok, text, Berthd};

/// `docker run --rm <args> busybox sh -c <script>`, its stdout when it succeeded.
fn run(d: &Berthd, args: &[&str], script: &str) -> String {
    let mut all = vec!["run", "--rm"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["busybox", "sh", "-c", script]);
    ok(d.docker(&all))
}

fn cap_eff(status: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[test]
fn privileged_and_cap_add_allow_mounting() {
    let d = Berthd::start();
    let out = d.docker(&[
        "run", "--rm", "busybox", "mount", "-t", "tmpfs", "none", "/tmp",
    ]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "default container mounted a tmpfs"
    );
    run(
        &d,
        &["--privileged"],
        "mount -t tmpfs none /tmp && grep ' /tmp ' /proc/mounts",
    );
    run(&d, &["--cap-add", "SYS_ADMIN"], "mount -t tmpfs none /tmp");

    let default = cap_eff(&run(&d, &[], "cat /proc/self/status"));
    let privileged = cap_eff(&run(&d, &["--privileged"], "cat /proc/self/status"));
    assert_eq!(default, "00000000a80425fb");
    assert_ne!(default, privileged);
    // Everything the host's root holds, nothing more.
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    let bnd = host
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap();
    assert_eq!(privileged, bnd.trim());

    // Privileged: /sys is writable, no masked paths.
    let mounts = run(&d, &["--privileged"], "grep ' /sys ' /proc/mounts");
    assert!(mounts.contains(" rw,"), "{mounts}");
    let keys = run(&d, &["--privileged"], "wc -c < /proc/keys");
    assert_ne!(keys.trim(), "0");
    d.assert_clean();
}

#[test]
fn security_opt_no_new_privileges_and_unknown_options() {
    let d = Berthd::start();
    let status = |args: &[&str]| {
        run(&d, args, "grep NoNewPrivs /proc/self/status")
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(status(&[]), "0");
    assert_eq!(status(&["--security-opt", "no-new-privileges"]), "1");
    assert_eq!(status(&["--security-opt", "no-new-privileges=true"]), "1");
    // Accepted and not enforced: the container still runs.
    for opt in ["seccomp=unconfined", "apparmor=unconfined", "label=disable"] {
        assert_eq!(run(&d, &["--security-opt", opt], "echo up"), "up\n");
    }

    let out = d.docker(&[
        "run",
        "--rm",
        "--security-opt",
        "bogus=1",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("bogus=1"),
        "{}",
        text(&out.stderr)
    );
    let (status, body) = d.http(
        "POST",
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"SecurityOpt":["nope=1"]}}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("nope=1"), "{body}");
    assert_eq!(ok(d.docker(&["ps", "-aq"])).trim(), "");
    d.assert_clean();
}

#[test]
fn group_add_sysctl_and_ulimit() {
    let d = Berthd::start();
    let ids = run(
        &d,
        &["--group-add", "1234", "--group-add", "nogroup"],
        "id -G",
    );
    let ids: Vec<&str> = ids.split_whitespace().collect();
    assert!(ids.contains(&"1234"), "{ids:?}");
    assert!(ids.contains(&"65534"), "{ids:?}");
    let out = d.docker(&["run", "--rm", "--group-add", "nosuch", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("unable to find group nosuch"),
        "{}",
        text(&out.stderr)
    );

    let v = run(
        &d,
        &["--sysctl", "net.ipv4.ip_forward=1"],
        "cat /proc/sys/net/ipv4/ip_forward",
    );
    assert_eq!(v.trim(), "1");
    let out = d.docker(&[
        "run",
        "--rm",
        "--sysctl",
        "kernel.hostname=x",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("kernel.hostname"),
        "{}",
        text(&out.stderr)
    );
    let (status, body) = d.http(
        "POST",
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"Sysctls":{"vm.swappiness":"1"}}}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("sysctl 'vm.swappiness' is not whitelisted"),
        "{body}"
    );

    let limits = run(
        &d,
        &["--ulimit", "nofile=1024:2048"],
        "ulimit -n; ulimit -Hn",
    );
    assert_eq!(limits, "1024\n2048\n");
    let (status, body) = d.http(
        "POST",
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"Ulimits":[{"Name":"nosuch","Soft":1,"Hard":1}]}}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("nosuch"), "{body}");
    assert_eq!(ok(d.docker(&["ps", "-aq"])).trim(), "");
    d.assert_clean();
}

#[test]
fn host_namespaces() {
    let d = Berthd::start();
    assert_eq!(run(&d, &[], "cat /proc/1/comm; :"), "sh\n");
    let comm = run(&d, &["--pid", "host"], "cat /proc/1/comm; :");
    assert_ne!(comm, "sh\n");
    assert_eq!(
        comm,
        std::fs::read_to_string("/proc/1/comm").unwrap(),
        "pid 1 is the host's"
    );

    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(run(&d, &["--uts", "host"], "hostname"), host);
    assert_ne!(run(&d, &[], "hostname"), host);

    let ns = |args: &[&str]| run(&d, args, "readlink /proc/self/ns/ipc");
    let host_ipc = std::fs::read_link("/proc/self/ns/ipc").unwrap();
    assert_eq!(ns(&["--ipc", "host"]).trim(), host_ipc.to_string_lossy());
    assert_ne!(ns(&[]).trim(), host_ipc.to_string_lossy());
    d.assert_clean();
}
