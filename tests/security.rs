//! Docker's security options of `docker run` with the official `docker` CLI:
//! `--privileged`, `--cap-add`, `--security-opt` (seccomp profiles included),
//! `--group-add`, `--sysctl`, `--ulimit`, `--device`, `--cgroupns`, `--userns` and the
//! host namespaces — and escape attempts from real busybox containers (issue #5).
//!
//! Each escape test tries what an attacker in a default container would try, asserts
//! it fails, and then asserts that `--privileged` or the matching `--cap-add` lets
//! it through where Docker's would, so a test that "fails" for an unrelated reason
//! (a missing applet, a broken mount) shows up as a failure on the allowed side. Some
//! attempts are refused twice over (a missing capability *and* the seccomp filter);
//! the ones that only the filter stops (`unshare -U`, `insmod` on a kernel without
//! modules) are named so, and are the ones that need the runtime to enforce seccomp.

use berth_e2e::{ok, text, workspace_bin, Berthd};
use std::process::Output;

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
    // Accepted (apparmor and label are not enforced on this host): the container runs.
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
    // An unknown capability is named, and nothing is made.
    let out = d.docker(&["run", "--rm", "--cap-add", "BOGUS", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("BOGUS"), "{}", text(&out.stderr));
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

/// `docker run --rm <args> busybox sh -c <script>`, whatever its outcome.
fn attempt(d: &Berthd, args: &[&str], script: &str) -> Output {
    let mut all = vec!["run", "--rm"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["busybox", "sh", "-c", script]);
    d.docker(&all)
}

/// Asserts the attempt failed with EPERM ("Operation not permitted", or busybox's
/// "permission denied" for mount) and returns its stderr.
#[track_caller]
fn denied(out: Output, what: &str) -> String {
    let err = text(&out.stderr);
    assert_ne!(
        out.status.code(),
        Some(0),
        "{what} succeeded in a default container: {}",
        text(&out.stdout)
    );
    assert!(
        err.contains("Operation not permitted") || err.contains("permission denied"),
        "{what}: expected EPERM, got: {err}"
    );
    err
}

/// `mount(2)` needs CAP_SYS_ADMIN, and Docker's profile only lets a container with
/// that capability call it at all. Proves the default container cannot mount a
/// filesystem, and that `--cap-add SYS_ADMIN` (capability + the profile's SYS_ADMIN
/// group) and `--privileged` can.
#[test]
fn escape_mount_is_refused() {
    let d = Berthd::start();
    let script = "mkdir -p /mnt && mount -t tmpfs none /mnt && grep ' /mnt ' /proc/mounts";
    denied(attempt(&d, &[], script), "mount -t tmpfs");
    run(&d, &["--cap-add", "SYS_ADMIN"], script);
    run(&d, &["--privileged"], script);
    d.assert_clean();
}

/// CAP_MKNOD is in Docker's default set and the profile allows mknod, so making a
/// node of the host's first SCSI disk works; opening it is what the devices cgroup
/// refuses (only the standard nodes are allowed). `--privileged` opens the cgroup
/// to every device (`a *:* rwm`): the open then reaches the driver, which answers
/// anything but EPERM (ENXIO when the host has no such disk).
#[test]
fn escape_mknod_of_a_host_disk_cannot_be_opened() {
    let d = Berthd::start();
    let script = "mknod /tmp/sda b 8 0 && echo made && head -c1 /tmp/sda > /dev/null";
    let out = attempt(&d, &[], script);
    assert_eq!(text(&out.stdout), "made\n", "{}", text(&out.stderr));
    denied(out, "opening a block device made with mknod");
    let out = attempt(&d, &["--privileged"], script);
    assert_eq!(text(&out.stdout), "made\n", "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("Operation not permitted"),
        "privileged: the devices cgroup refused: {}",
        text(&out.stderr)
    );
    d.assert_clean();
}

/// Loading a kernel module: `insmod` of a bogus file. Without CAP_SYS_MODULE the
/// kernel refuses, and Docker's profile refuses `init_module`/`finit_module` before
/// that. With `--privileged` (or `--cap-add SYS_MODULE`, which the profile follows)
/// the call reaches the kernel and fails on the file instead — ENOEXEC for a bad
/// image, or ENOSYS on a kernel built without modules (this VM's). On such a kernel
/// the default container's EPERM comes from the filter alone: this is a seccomp test.
#[test]
fn escape_loading_a_module_is_refused() {
    let d = Berthd::start();
    let script = "echo bogus > /tmp/x.ko && insmod /tmp/x.ko";
    denied(attempt(&d, &[], script), "insmod");
    for args in [&["--privileged"][..], &["--cap-add", "SYS_MODULE"]] {
        let out = attempt(&d, args, script);
        let err = text(&out.stderr);
        assert_ne!(
            out.status.code(),
            Some(0),
            "{args:?}: a bogus module loaded?"
        );
        assert!(err.contains("insmod"), "{args:?}: {err}");
        assert!(
            !err.contains("Operation not permitted") && !err.contains("permission denied"),
            "{args:?}: init_module did not reach the kernel: {err}"
        );
    }
    d.assert_clean();
}

/// A new user namespace needs no capability at all (any user may make one), so what
/// stops `unshare -U` in a default container is only Docker's profile: `unshare`
/// is in the CAP_SYS_ADMIN group. `seccomp=unconfined`, `--cap-add SYS_ADMIN` and
/// `--privileged` each let it through.
#[test]
fn escape_unshare_user_namespace_is_refused_by_seccomp() {
    let d = Berthd::start();
    denied(attempt(&d, &[], "unshare -U true"), "unshare -U");
    for args in [
        &["--security-opt", "seccomp=unconfined"][..],
        &["--cap-add", "SYS_ADMIN"],
        &["--privileged"],
    ] {
        run(&d, args, "unshare -U true");
    }
    d.assert_clean();
}

/// /proc/sys is read-only in a default container: a host-wide knob
/// (`vm.swappiness`) and a namespaced one (`kernel.hostname`) both refuse writes.
/// `--privileged` remounts nothing read-only; only the namespaced knob is written
/// there, and the host's hostname is checked to be unchanged.
#[test]
fn escape_proc_sys_is_read_only() {
    let d = Berthd::start();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let swappiness = std::fs::read_to_string("/proc/sys/vm/swappiness").unwrap();
    for knob in ["vm/swappiness", "kernel/hostname"] {
        let out = attempt(&d, &[], &format!("echo 10 > /proc/sys/{knob}"));
        assert_ne!(out.status.code(), Some(0), "{knob} was written");
        assert!(
            text(&out.stderr).contains("Read-only file system"),
            "{knob}: {}",
            text(&out.stderr)
        );
    }
    let name = run(
        &d,
        &["--privileged"],
        "echo inside > /proc/sys/kernel/hostname && hostname",
    );
    assert_eq!(name, "inside\n");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/vm/swappiness").unwrap(),
        swappiness
    );
    d.assert_clean();
}

/// The masked /proc files read empty (/dev/null is bound over them). /proc/kcore
/// (the host's memory as an ELF core) is the one the issue names; this VM's kernel
/// has none, so the check runs on every masked file the host has.
#[test]
fn escape_masked_proc_files_read_empty() {
    let d = Berthd::start();
    let masked = [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
        "/proc/latency_stats",
        "/proc/interrupts",
    ];
    let present: Vec<&str> = masked
        .iter()
        .copied()
        .filter(|p| std::path::Path::new(p).exists())
        .collect();
    assert!(!present.is_empty());
    for p in &present {
        let n = run(&d, &[], &format!("wc -c < {p}"));
        assert_eq!(n.trim(), "0", "{p} is readable in a default container");
    }
    if present.contains(&"/proc/kcore") {
        let magic = run(&d, &["--privileged"], "head -c4 /proc/kcore | tail -c3");
        assert_eq!(magic, "ELF");
    }
    d.assert_clean();
}

/// `hostname evil` changes the container's own UTS namespace at most. Without
/// CAP_SYS_ADMIN `sethostname` is refused (capability and profile); with it, the
/// container's name changes and the host's does not.
#[test]
fn escape_hostname_never_reaches_the_host() {
    let d = Berthd::start();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    denied(attempt(&d, &[], "hostname evil"), "hostname");
    for args in [&["--cap-add", "SYS_ADMIN"][..], &["--privileged"]] {
        assert_eq!(run(&d, args, "hostname evil && hostname"), "evil\n");
        assert_eq!(
            std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
            host,
            "{args:?} renamed the host"
        );
    }
    d.assert_clean();
}

/// ptrace of host processes. busybox has no strace, so the test uses the same
/// kernel check through /proc: reading another process's `environ` is
/// `ptrace_may_access(PTRACE_MODE_READ)`, which is what `PTRACE_ATTACH` checks too.
/// In a default container host processes are not even visible (pid namespace: no
/// berthd, no shim in /proc). With `--pid host` they are, and berthd's environ still
/// refuses, because berthd holds capabilities the container lacks and
/// CAP_SYS_PTRACE is not in the default set. `--cap-add SYS_PTRACE` reads it, as
/// with Docker.
#[test]
fn escape_host_processes_cannot_be_traced() {
    let d = Berthd::start();
    let comms = run(&d, &[], "cat /proc/[0-9]*/comm");
    for host_side in ["berthd", "berth-shim", "berth-runc", "systemd", "tini"] {
        assert!(
            !comms.lines().any(|c| c == host_side),
            "{host_side} is visible: {comms}"
        );
    }
    let pid = d.pid();
    let read_env = format!("cat /proc/{pid}/environ | tr '\\0' '\\n' | grep -c =");
    let out = attempt(&d, &["--pid", "host"], &read_env);
    assert_ne!(out.status.code(), Some(0), "berthd's environ was read");
    assert!(
        text(&out.stderr).contains("Permission denied"),
        "{}",
        text(&out.stderr)
    );
    let n = run(&d, &["--pid", "host", "--cap-add", "SYS_PTRACE"], &read_env);
    assert!(n.trim().parse::<u32>().unwrap() > 0, "{n}");
    d.assert_clean();
}

/// Raising a capability: capsh is not in busybox; `setpriv --inh-caps +sys_admin`
/// is the same capset(2). CAP_SYS_ADMIN is not in the bounding set (CapBnd), so no
/// capset can add it, even with CAP_SETPCAP; with `--cap-add SYS_ADMIN` it can.
#[test]
fn escape_capabilities_cannot_be_raised() {
    let d = Berthd::start();
    let bnd = run(&d, &[], "grep CapBnd /proc/self/status");
    let mask = u64::from_str_radix(bnd.split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert_eq!(mask & (1 << 21), 0, "CAP_SYS_ADMIN in the bounding set");
    assert_eq!(mask & (1 << 16), 0, "CAP_SYS_MODULE in the bounding set");
    assert_eq!(mask & (1 << 19), 0, "CAP_SYS_PTRACE in the bounding set");
    denied(
        attempt(&d, &[], "setpriv --inh-caps +sys_admin true"),
        "setpriv --inh-caps +sys_admin",
    );
    run(
        &d,
        &["--cap-add", "SYS_ADMIN"],
        "setpriv --inh-caps +sys_admin true",
    );
    d.assert_clean();
}

/// `no-new-privileges`: a setuid-root copy of busybox, run by an unprivileged user
/// through `docker exec -u 65534` (whose effective set is empty, as Docker's). Its
/// `ping` needs a raw socket, which only root gets: without the option the setuid
/// bit makes it root and the socket is made; with it, the kernel ignores the bit.
#[test]
fn escape_setuid_gains_nothing_with_no_new_privileges() {
    let d = Berthd::start();
    for (name, args, gains) in [
        ("suid-default", &[][..], true),
        (
            "suid-nnp",
            &["--security-opt", "no-new-privileges"][..],
            false,
        ),
    ] {
        let mut all = vec!["run", "-d", "--name", name];
        all.extend_from_slice(args);
        all.extend_from_slice(&["busybox", "sleep", "60"]);
        ok(d.docker(&all));
        ok(d.docker(&[
            "exec",
            name,
            "sh",
            "-c",
            "mkdir -m 755 /tmp/s && cp /bin/busybox /tmp/s/busybox && chmod 4755 /tmp/s/busybox",
        ]));
        let caps = ok(d.docker(&[
            "exec",
            "-u",
            "65534",
            name,
            "grep",
            "CapEff",
            "/proc/self/status",
        ]));
        let unprivileged = caps.split_whitespace().nth(1) == Some("0000000000000000");
        let out = d.docker(&[
            "exec",
            "-u",
            "65534",
            name,
            "/tmp/s/busybox",
            "ping",
            "-c1",
            "-W1",
            "127.0.0.1",
        ]);
        // The container has no network yet: a ping that made its raw socket stops
        // at sendto; one that could not says "permission denied (are you root?)".
        if unprivileged {
            let err = text(&out.stderr);
            assert_eq!(!err.contains("permission denied"), gains, "{name}: {err}");
        }
        let nnp = ok(d.docker(&[
            "exec",
            "-u",
            "65534",
            name,
            "grep",
            "NoNewPrivs",
            "/proc/self/status",
        ]));
        assert_eq!(
            nnp.split_whitespace().nth(1),
            Some(if gains { "0" } else { "1" })
        );
        ok(d.docker(&["rm", "-f", name]));
    }
    d.assert_clean();
}

/// CVE-2019-5736: a container that opens the runtime's binary through
/// `/proc/<pid>/exe` while the runtime enters it for an exec, then writes to it once
/// the runtime has exited, replaces the host's runtime. The container here watches
/// /proc during 20 `docker exec`s, keeps every non-container executable it sees open
/// read-only, and then tries to reopen each for writing (appending nothing, so a
/// vulnerable runtime is detected without being damaged). No reopen may succeed, and
/// the runtime binary on the host must be byte-for-byte unchanged. An exec'd
/// process's own `/proc/self/exe` is a file of the container.
#[test]
fn escape_runtime_binary_cannot_be_overwritten_through_proc_exe() {
    let d = Berthd::start();
    let runtime = workspace_bin("berth-runc");
    let before = std::fs::read(&runtime).unwrap();
    ok(d.docker(&["run", "-d", "--name", "watch", "busybox", "sleep", "120"]));
    let exe = ok(d.docker(&["exec", "watch", "readlink", "/proc/self/exe"]));
    assert!(exe.starts_with("/bin/"), "exec'd process runs {exe}");
    // ash redirects single-digit descriptors only: 3 to 9 hold what was seen.
    let watcher = r#"
        end=$(( $(date +%s) + 15 )); n=2
        while [ $(date +%s) -lt $end ]; do
          for p in /proc/[0-9]*; do
            e=$(readlink $p/exe 2>/dev/null) || continue
            case "$e" in /bin/*|/sbin/*|/usr/*|/tmp/*|"") continue ;; esac
            echo "seen $e" >> /tmp/log
            [ $n -ge 9 ] && continue
            n=$((n + 1))
            eval "command exec $n< $p/exe" 2>/dev/null && echo "held $n $e" >> /tmp/log
          done
        done
        for n in 3 4 5 6 7 8 9; do
          [ -e /proc/$$/fd/$n ] || continue
          if ( : >> /proc/$$/fd/$n ) 2>/dev/null; then
            echo "WROTE $(readlink /proc/$$/fd/$n)" >> /tmp/log
          fi
        done
        echo done >> /tmp/log
    "#;
    ok(d.docker(&["exec", "-d", "watch", "sh", "-c", watcher]));
    for _ in 0..20 {
        ok(d.docker(&["exec", "watch", "true"]));
    }
    d.eventually(30, "the watcher to finish", || {
        let out = d.docker(&["exec", "watch", "cat", "/tmp/log"]);
        text(&out.stdout).contains("done")
    });
    let log = ok(d.docker(&["exec", "watch", "cat", "/tmp/log"]));
    eprintln!("what the container saw:\n{log}");
    assert!(
        !log.contains("WROTE"),
        "a host executable was writable: {log}"
    );
    assert!(
        std::fs::read(&runtime).unwrap() == before,
        "berth-runc changed on the host"
    );
    ok(d.docker(&["rm", "-f", "watch"]));
    d.assert_clean();
}

/// CVE-2024-21626 class: descriptors of the runtime or the shim (a cgroup directory,
/// a state file, a socket) that reach the container. The processes examined are
/// `sleep`s, which open nothing themselves: the container's init and a process of
/// `docker exec -d`. Each must hold exactly its stdio (0, 1, 2), none of it a host
/// directory. (A shell would show its own pipeline descriptors, and `ls` its own
/// directory handle, hence `sleep`.)
#[test]
fn escape_no_descriptor_leaks_into_the_container() {
    let d = Berthd::start();
    ok(d.docker(&["run", "-d", "--name", "fds", "busybox", "sleep", "60"]));
    ok(d.docker(&["exec", "-d", "fds", "sleep", "50"]));
    let list = r#"for p in /proc/[0-9]*; do
        [ "$(cat $p/comm)" = sleep ] || continue
        echo "$(ls $p/fd | sort -n | tr '\n' ' ')"
        for f in $p/fd/*; do readlink $f; done >> /tmp/targets
    done; cat /tmp/targets >&2"#;
    d.eventually(10, "the exec'd sleep", || {
        let out = d.docker(&["exec", "fds", "sh", "-c", "pidof sleep | wc -w"]);
        text(&out.stdout).trim() == "2"
    });
    let out = d.docker(&["exec", "fds", "sh", "-c", list]);
    let fds = ok(out.clone());
    assert_eq!(fds, "0 1 2 \n0 1 2 \n", "{fds}");
    for target in text(&out.stderr).lines() {
        assert!(
            target.starts_with("/dev/") || target.starts_with("pipe:"),
            "a sleep holds {target}"
        );
    }
    ok(d.docker(&["rm", "-f", "fds"]));
    d.assert_clean();
}

/// A syscall tried by a busybox command, and what Docker's default profile does.
struct Probe {
    syscall: &'static str,
    script: &'static str,
    /// Refused with EPERM in a default container.
    blocked: bool,
}

const PROBES: &[Probe] = &[
    Probe {
        syscall: "read/write/execve",
        script: "cat /etc/hostname > /dev/null",
        blocked: false,
    },
    Probe {
        syscall: "mknod",
        script: "mknod /tmp/n c 1 3",
        blocked: false,
    },
    Probe {
        syscall: "chroot",
        script: "chroot / true",
        blocked: false,
    },
    Probe {
        syscall: "personality(PER_LINUX32)",
        script: "linux32 true",
        blocked: false,
    },
    Probe {
        syscall: "personality(PER_LINUX)",
        script: "linux64 true",
        blocked: false,
    },
    Probe {
        syscall: "sched_setaffinity",
        script: "taskset -p 1 $$ > /dev/null",
        blocked: false,
    },
    Probe {
        syscall: "socket(AF_NETLINK)",
        script: "ip link show lo > /dev/null",
        blocked: false,
    },
    Probe {
        syscall: "adjtimex (read)",
        script: "adjtimex > /dev/null",
        blocked: false,
    },
    Probe {
        syscall: "prctl(NO_NEW_PRIVS)",
        script: "setpriv --nnp true",
        blocked: false,
    },
    Probe {
        syscall: "mount",
        script: "mkdir -p /mnt && mount -t tmpfs none /mnt",
        blocked: true,
    },
    Probe {
        syscall: "umount2",
        script: "umount /etc/hostname",
        blocked: true,
    },
    Probe {
        syscall: "unshare(CLONE_NEWUSER)",
        script: "unshare -U true",
        blocked: true,
    },
    Probe {
        syscall: "unshare(CLONE_NEWNET)",
        script: "unshare -n true",
        blocked: true,
    },
    Probe {
        syscall: "setns",
        script: "nsenter -t 1 -u true",
        blocked: true,
    },
    Probe {
        syscall: "sethostname",
        script: "hostname x",
        blocked: true,
    },
    Probe {
        syscall: "init_module",
        script: "echo x > /tmp/m.ko; insmod /tmp/m.ko",
        blocked: true,
    },
    Probe {
        syscall: "settimeofday/clock_settime",
        // Sets the clock to what it reads, so a broken filter costs the host nothing.
        script: "date -s \"$(date +'%Y-%m-%d %H:%M:%S')\"",
        blocked: true,
    },
    Probe {
        syscall: "syslog",
        script: "dmesg",
        blocked: true,
    },
    Probe {
        syscall: "swapon",
        script: "swapon /dev/null",
        blocked: true,
    },
    Probe {
        syscall: "pivot_root",
        script: "pivot_root / /",
        blocked: true,
    },
];

/// What a probe did: `ok`, `EPERM`, or another error.
fn outcome(out: &Output) -> String {
    let err = text(&out.stderr);
    // Some applets report EPERM and still exit 0 (busybox `date -s`): stderr first.
    if err.contains("Operation not permitted") || err.contains("permission denied") {
        "EPERM".into()
    } else if out.status.success() {
        "ok".into()
    } else {
        format!("error: {}", err.trim())
    }
}

/// The default profile against Docker's table: each probe runs in a default
/// container under berth-runc and, when runc is installed, under runc with the same
/// generated spec (berthd `--runtime runc`). Both must agree with each other and
/// with the table. Most blocked calls are refused twice (no capability, and the
/// filter); a last column runs the blocked ones under `seccomp=unconfined` to show
/// which the filter alone refuses: `unshare -U` always, `insmod` on a kernel
/// without modules (where the call would otherwise answer ENOSYS).
#[test]
fn default_profile_blocks_what_dockers_blocks() {
    let d = Berthd::start();
    let with_runc = std::process::Command::new("runc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut filter_only = vec!["unshare(CLONE_NEWUSER)"];
    if !std::path::Path::new("/proc/modules").exists() {
        filter_only.push("init_module");
    }
    let mut report = String::new();
    let mut wrong = Vec::new();
    for p in PROBES {
        let unconfined = if p.blocked {
            outcome(&attempt(
                &d,
                &["--security-opt", "seccomp=unconfined"],
                p.script,
            ))
        } else {
            "-".into()
        };
        if filter_only.contains(&p.syscall) && unconfined == "EPERM" {
            wrong.push(format!("{}: refused without the filter too", p.syscall));
        }
        let ours = outcome(&attempt(&d, &[], p.script));
        let theirs = if with_runc {
            outcome(&attempt(&d, &["--runtime", "runc"], p.script))
        } else {
            "-".into()
        };
        report.push_str(&format!(
            "{:<28} {:<8} {:<10} {:<10} {}\n",
            p.syscall,
            if p.blocked { "blocked" } else { "allowed" },
            ours,
            theirs,
            unconfined
        ));
        let expected_ok = !p.blocked;
        if (ours == "ok") != expected_ok || (p.blocked && ours != "EPERM") {
            wrong.push(format!("berth-runc {}: {ours}", p.syscall));
        }
        if with_runc && theirs != ours {
            wrong.push(format!("{}: berth-runc {ours}, runc {theirs}", p.syscall));
        }
    }
    eprintln!("syscall                      docker   berth-runc runc       unconfined\n{report}");
    assert!(wrong.is_empty(), "{wrong:#?}\n{report}");
    d.assert_clean();
}

/// `--security-opt seccomp=<file>`: the docker CLI sends the file's JSON and berthd
/// converts Docker's format. A profile that allows everything but `mkdir` makes
/// `mkdir` fail with the profile's errno; a profile that does not decode is refused
/// at create with Docker's message, and nothing is left behind.
#[test]
fn custom_seccomp_profiles() {
    let d = Berthd::start();
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
            ]
        }"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    for client in ["docker", "berth"] {
        let args = [
            "run",
            "--rm",
            "--security-opt",
            &opt,
            "busybox",
            "mkdir",
            "/tmp/x",
        ];
        let out = if client == "docker" {
            d.docker(&args)
        } else {
            d.berth(&args)
        };
        assert_ne!(
            out.status.code(),
            Some(0),
            "{client}: mkdir under the profile"
        );
        assert!(
            text(&out.stderr).contains("Permission denied"),
            "{client}: {}",
            text(&out.stderr)
        );
    }
    // Valid JSON that is not a profile passes the CLI and is refused by berthd.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"defaultAction": 5}"#).unwrap();
    let out = d.docker(&[
        "run",
        "--rm",
        "--security-opt",
        &format!("seccomp={}", bad.display()),
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(err.contains("Error response from daemon"), "{err}");
    assert!(err.contains("decoding seccomp profile failed"), "{err}");
    let (status, body) = d.http(
        "POST",
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"SecurityOpt":["seccomp={not json"]}}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("decoding seccomp profile failed"), "{body}");
    assert_eq!(ok(d.docker(&["ps", "-aq"])).trim(), "");
    d.assert_clean();
}

/// `--device`, the devices of `--privileged`, `--cgroupns` and `--userns`.
#[test]
fn devices_cgroupns_and_userns() {
    let d = Berthd::start();
    for client in ["docker", "berth"] {
        let args = [
            "run",
            "--rm",
            "--device",
            "/dev/null:/dev/mynull",
            "busybox",
            "sh",
            "-c",
            "ls -l /dev/mynull && echo x > /dev/mynull",
        ];
        let out = if client == "docker" {
            d.docker(&args)
        } else {
            d.berth(&args)
        };
        let ls = ok(out);
        assert!(ls.contains("1,   3"), "{client}: {ls}");
        let args = ["run", "--rm", "--device", "/dev/nope", "busybox", "true"];
        let out = if client == "docker" {
            d.docker(&args)
        } else {
            d.berth(&args)
        };
        // docker's CLI turns any "no such file or directory" into 127; berth says 125.
        assert!(matches!(out.status.code(), Some(125 | 127)), "{client}");
        assert!(
            text(&out.stderr).contains(
                "error gathering device information while adding custom device \"/dev/nope\": no such file or directory"
            ),
            "{client}: {}",
            text(&out.stderr)
        );
    }
    // Privileged: the host's nodes (here a loop device), not its pts or console.
    let host_loop = std::path::Path::new("/dev/loop0").exists();
    let ls = run(&d, &["--privileged"], "ls /dev");
    if host_loop {
        assert!(ls.lines().any(|l| l == "loop0"), "{ls}");
    }
    assert!(!run(&d, &[], "ls /dev").lines().any(|l| l == "loop0"));

    // Docker's default follows the hierarchy: the host's cgroup namespace on v1.
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let host_ns = std::fs::read_link("/proc/self/ns/cgroup").unwrap();
    let host_ns = host_ns.to_string_lossy();
    let ns = |args: &[&str]| {
        run(&d, args, "readlink /proc/self/ns/cgroup")
            .trim()
            .to_owned()
    };
    assert_eq!(ns(&[]) == host_ns, !v2);
    assert_eq!(ns(&["--cgroupns", "host"]), host_ns);
    assert_ne!(ns(&["--cgroupns", "private"]), host_ns);
    assert_eq!(run(&d, &["--userns", "host"], "echo up"), "up\n");
    let (status, body) = d.http(
        "POST",
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"UsernsMode":"remap"}}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(ok(d.docker(&["ps", "-aq"])).trim(), "");
    d.assert_clean();
}
