//! What a process sees from inside a berth-runc container: its own namespaces, pid 1,
//! hostname, mounts, a read-only root, its env/cwd/user/umask, rlimits and cgroup
//! limits as configured.

mod common;

use common::*;
use serde_json::json;

fn output_of(b: &Bundle) -> String {
    let rt = berth();
    let id = unique_id("iso");
    let (code, out, err) = run_container(&rt, b, &id);
    assert_eq!(code, 0, "container failed: {err}\n{out}");
    assert_nothing_left(&rt, &id, b);
    out
}

#[test]
fn every_namespace_differs_from_the_hosts() {
    let mut b = Bundle::busybox();
    b.config_mut(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "cgroup"}));
    });
    b.set_args(&[
        "sh",
        "-c",
        "for n in pid net ipc uts mnt cgroup user; do echo $n $(readlink /proc/self/ns/$n); done",
    ]);
    let out = output_of(&b);
    for line in out.lines() {
        let (name, inside) = line.split_once(' ').unwrap();
        let host = std::fs::read_link(format!("/proc/self/ns/{name}")).unwrap();
        let host = host.to_str().unwrap();
        if name == "user" {
            assert_eq!(inside, host, "no user namespace was asked for");
        } else {
            assert_ne!(inside, host, "{name} namespace is the host's");
        }
    }
    assert_eq!(out.lines().count(), 7, "{out}");
}

#[test]
fn user_namespace_maps_ids() {
    let mut b = Bundle::busybox();
    b.config_mut(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        // No cgroup mount in a user namespace without cgroupns: keep the test simple.
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["type"] != "cgroup");
    });
    // The rootfs must be readable by the mapped root.
    let status = std::process::Command::new("chown")
        .args(["-R", "100000:100000", b.rootfs().to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    b.set_args(&[
        "sh",
        "-c",
        "cat /proc/self/uid_map; id -u; readlink /proc/self/ns/user",
    ]);
    let out = output_of(&b);
    let mut lines = out.lines();
    let map: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(map, ["0", "100000", "65536"]);
    assert_eq!(lines.next().unwrap(), "0");
    let host = std::fs::read_link("/proc/self/ns/user").unwrap();
    assert_ne!(lines.next().unwrap(), host.to_str().unwrap());
}

#[test]
fn joins_a_namespace_by_path() {
    // A network namespace held open by a sleeping process of our own.
    let mut holder = std::process::Command::new("unshare")
        .args(["--net", "sleep", "1000"])
        .spawn()
        .unwrap();
    let path = format!("/proc/{}/ns/net", holder.id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::read_link(&path).ok() == std::fs::read_link("/proc/self/ns/net").ok() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let want = std::fs::read_link(&path).unwrap();
    let mut b = Bundle::busybox();
    b.config_mut(|c| {
        for ns in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "network" {
                ns["path"] = json!(path);
            }
        }
    });
    b.set_args(&["readlink", "/proc/self/ns/net"]);
    let out = output_of(&b);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(out.trim(), want.to_str().unwrap());
}

#[test]
fn pid_1_hostname_and_domainname() {
    let mut b = Bundle::busybox();
    b.config_mut(|c| {
        c["hostname"] = json!("boxy");
        c["domainname"] = json!("example.org");
    });
    b.set_args(&[
        "sh",
        "-c",
        "echo $$; hostname; cat /proc/sys/kernel/domainname; ps -o pid,args | wc -l",
    ]);
    let out = output_of(&b);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1");
    assert_eq!(lines[1], "boxy");
    assert_eq!(lines[2], "example.org");
    // header + sh + ps + wc: the host's processes are not visible.
    assert!(lines[3].trim().parse::<u32>().unwrap() <= 4, "{out}");
}

#[test]
fn mounts_readonly_root_and_devices() {
    let mut b = Bundle::busybox();
    b.config_mut(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "noexec"]
        }));
    });
    std::fs::create_dir_all(b.path().join("shared")).unwrap();
    std::fs::write(b.path().join("shared/hello.txt"), "from the host\n").unwrap();
    let shared = b.path().join("shared");
    b.config_mut(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/mnt/shared", "type": "bind", "source": shared, "options": ["rbind", "ro", "nosuid", "nodev"]
        }));
    });
    b.set_args(&[
        "sh",
        "-c",
        "touch /rootfile 2>/dev/null && echo root-writable || echo root-readonly; \
         touch /data/x && echo data-writable; \
         cat /mnt/shared/hello.txt; touch /mnt/shared/y 2>/dev/null && echo bind-writable || echo bind-readonly; \
         grep -E ' /(proc|sys|dev|dev/pts|dev/shm|dev/mqueue|sys/fs/cgroup|data|mnt/shared) ' /proc/self/mountinfo | awk '{print $5, $6}' | sort; \
         ls -l /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty | awk '{print $1, $5, $6, $10}'; \
         for l in fd stdin stdout stderr ptmx; do echo \"$l -> $(readlink /dev/$l)\"; done; \
         ls /sys/fs/cgroup | sort | tr '\\n' ' '; echo; \
         echo keys-bytes $(wc -c < /proc/keys); mount | grep -c ' /proc/acpi '",
    ]);
    let out = output_of(&b);
    assert!(out.contains("root-readonly"), "{out}");
    assert!(out.contains("data-writable"), "{out}");
    assert!(out.contains("from the host"), "{out}");
    assert!(out.contains("bind-readonly"), "{out}");
    for m in [
        "/proc ",
        "/sys ro",
        "/dev ",
        "/dev/pts ",
        "/dev/shm ",
        "/dev/mqueue ",
        "/sys/fs/cgroup rw",
        "/data ",
        "/mnt/shared ro",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(m)),
            "mount {m:?} missing:\n{out}"
        );
    }
    assert!(out.contains("crw-rw-rw- 1, 3 /dev/null"), "{out}");
    assert!(out.contains("crw-rw-rw- 5, 0 /dev/tty"), "{out}");
    for link in [
        "fd -> /proc/self/fd",
        "stdin -> /proc/self/fd/0",
        "stdout -> /proc/self/fd/1",
        "stderr -> /proc/self/fd/2",
        "ptmx -> pts/ptmx",
    ] {
        assert!(out.contains(link), "{link} missing: {out}");
    }
    assert!(
        out.contains("cpu cpuacct cpuset devices freezer memory pids systemd"),
        "{out}"
    );
    // Masked paths: a file under /dev/null, a directory under a tmpfs.
    assert!(out.contains("keys-bytes 0"), "/proc/keys not masked: {out}");
    assert!(
        out.trim_end().ends_with('1'),
        "/proc/acpi not masked: {out}"
    );
}

#[test]
fn env_cwd_user_groups_and_umask() {
    let mut b = Bundle::busybox();
    b.set_readonly(false);
    b.config_mut(|c| {
        c["process"]["env"] = json!(["PATH=/bin:/usr/bin", "GREETING=hello world"]);
        c["process"]["cwd"] = json!("/tmp");
        c["process"]["user"] =
            json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 65534], "umask": 63});
    });
    b.set_args(&[
        "sh",
        "-c",
        "echo \"$GREETING\"; pwd; id -u; id -g; id -G; umask; touch f; stat -c %a f; env | wc -l",
    ]);
    let out = output_of(&b);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "hello world");
    assert_eq!(lines[1], "/tmp");
    assert_eq!(lines[2], "1000");
    assert_eq!(lines[3], "1000");
    let groups: Vec<&str> = lines[4].split_whitespace().collect();
    assert!(groups.contains(&"5") && groups.contains(&"65534"), "{out}");
    assert_eq!(lines[5], "0077");
    assert_eq!(lines[6], "600");
}

#[test]
fn capabilities_and_no_new_privileges() {
    let mut b = Bundle::busybox();
    b.set_args(&["sh", "-c", "grep -E '^(Cap|NoNewPrivs)' /proc/self/status"]);
    let out = output_of(&b);
    // runc's default: AUDIT_WRITE (29), KILL (5), NET_BIND_SERVICE (10) = 0x20000420;
    // the ambient set stays empty because the inheritable set is, exactly as under runc.
    for set in [
        "CapInh:\t0000000000000000",
        "CapPrm:\t0000000020000420",
        "CapEff:\t0000000020000420",
        "CapBnd:\t0000000020000420",
        "CapAmb:\t0000000000000000",
        "NoNewPrivs:\t1",
    ] {
        assert!(out.contains(set), "{set} missing:\n{out}");
    }
}

#[test]
fn rlimits_apply_inside() {
    let mut b = Bundle::busybox();
    b.config_mut(|c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 512},
            {"type": "RLIMIT_NPROC", "hard": 300, "soft": 200},
            {"type": "RLIMIT_CORE", "hard": 0, "soft": 0}
        ]);
    });
    b.set_args(&["sh", "-c", "ulimit -n; ulimit -Hn; ulimit -u; ulimit -c"]);
    let out = output_of(&b);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["512", "4096", "200", "0"]);
}

#[test]
fn oom_score_adj_and_sysctl() {
    let mut b = Bundle::busybox();
    b.config_mut(|c| {
        c["process"]["oomScoreAdj"] = json!(500);
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        c["linux"]["readonlyPaths"] = json!([]);
    });
    b.set_args(&[
        "sh",
        "-c",
        "cat /proc/self/oom_score_adj /proc/sys/net/ipv4/ip_forward",
    ]);
    let out = output_of(&b);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["500", "1"]);
}

#[test]
fn cgroup_limits_are_written_to_cgroupfs() {
    let rt = berth();
    let mut b = sleeper();
    let id = unique_id("cglim");
    let cg = format!("/{id}-cg");
    b.config_mut(|c| {
        c["linux"]["cgroupsPath"] = json!(cg);
        c["linux"]["resources"]["memory"] = json!({"limit": 67108864, "reservation": 33554432});
        c["linux"]["resources"]["cpu"] =
            json!({"shares": 256, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"});
        c["linux"]["resources"]["pids"] = json!({"limit": 64});
    });
    let _g = create(&rt, &b, &id);
    let read = |f: &str| {
        std::fs::read_to_string(format!("/sys/fs/cgroup/{f}"))
            .unwrap_or_else(|e| panic!("{f}: {e}"))
            .trim()
            .to_string()
    };
    assert_eq!(
        read(&format!("memory{cg}/memory.limit_in_bytes")),
        "67108864"
    );
    assert_eq!(
        read(&format!("memory{cg}/memory.soft_limit_in_bytes")),
        "33554432"
    );
    assert_eq!(read(&format!("cpu{cg}/cpu.shares")), "256");
    assert_eq!(read(&format!("cpu{cg}/cpu.cfs_quota_us")), "50000");
    assert_eq!(read(&format!("cpu{cg}/cpu.cfs_period_us")), "100000");
    assert_eq!(read(&format!("cpuset{cg}/cpuset.cpus")), "0");
    assert_eq!(read(&format!("pids{cg}/pids.max")), "64");
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    assert!(read(&format!("memory{cg}/cgroup.procs"))
        .lines()
        .any(|l| l == pid.to_string()));
    // The device rules: deny all but the defaults.
    let devices = read(&format!("devices{cg}/devices.list"));
    assert!(
        devices.contains("c 1:3 rwm") && !devices.contains("a *:* rwm"),
        "{devices}"
    );
    assert!(run(&rt, &["delete", "-f", &id]).status.success());
    assert!(!std::path::Path::new(&format!("/sys/fs/cgroup/memory{cg}")).exists());
}

#[test]
fn pids_limit_is_enforced() {
    let mut b = Bundle::busybox();
    b.config_mut(|c| {
        c["linux"]["resources"]["pids"] = json!({"limit": 5});
    });
    b.set_args(&["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; echo spawned; kill $(jobs -p) 2>/dev/null; true"]);
    let rt = berth();
    let id = unique_id("pids");
    let (_code, _out, err) = run_container(&rt, &b, &id);
    assert!(
        err.contains("fork")
            || err.contains("Resource temporarily unavailable")
            || err.contains("can't"),
        "pids.max not enforced: {err}"
    );
}

#[test]
fn no_pivot_uses_chroot() {
    let rt = berth();
    let mut b = Bundle::busybox();
    b.set_args(&["sh", "-c", "ls / | tr '\\n' ' '"]);
    let id = unique_id("nopivot");
    let _g = Guard::new(&rt, &id);
    let out = run(
        &rt,
        &[
            "run",
            "--no-pivot",
            "--bundle",
            b.path().to_str().unwrap(),
            &id,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("bin"), "{}", stdout(&out));
}

#[test]
fn relative_cgroups_path_is_under_the_runtimes_own_cgroup() {
    let rt = berth();
    let mut b = sleeper();
    let id = unique_id("relcg");
    b.config_mut(|c| c["linux"]["cgroupsPath"] = json!(format!("{id}-rel")));
    let _g = create(&rt, &b, &id);
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let mem = own
        .lines()
        .find_map(|l| {
            l.split(':')
                .nth(2)
                .filter(|_| l.split(':').nth(1) == Some("memory"))
        })
        .unwrap()
        .to_string();
    let dir = std::path::Path::new("/sys/fs/cgroup/memory")
        .join(mem.trim_start_matches('/'))
        .join(format!("{id}-rel"));
    assert!(dir.is_dir(), "{} missing", dir.display());
    assert!(run(&rt, &["delete", "-f", &id]).status.success());
    assert!(!dir.exists());
}

#[test]
fn linux_devices_are_created_with_mode_and_owner() {
    let mut b = Bundle::busybox();
    b.config_mut(|c| {
        c["linux"]["devices"] = json!([
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 432, "uid": 1000, "gid": 5},
            {"path": "/dev/extra/loopish", "type": "b", "major": 7, "minor": 200, "fileMode": 384}
        ]);
    });
    b.set_args(&[
        "sh",
        "-c",
        "ls -ln /dev/fuse /dev/extra/loopish | awk '{print $1, $3, $4, $5, $6, $10}'",
    ]);
    let out = output_of(&b);
    assert!(out.contains("crw-rw---- 1000 5 10, 229 /dev/fuse"), "{out}");
    assert!(
        out.contains("brw------- 0 0 7, 200 /dev/extra/loopish"),
        "{out}"
    );
}

#[test]
fn rootfs_propagation_private() {
    let mut b = Bundle::busybox();
    b.config_mut(|c| c["linux"]["rootfsPropagation"] = json!("private"));
    b.set_args(&["sh", "-c", "awk '$5 == \"/\" {print}' /proc/self/mountinfo"]);
    let out = output_of(&b);
    assert!(
        !out.contains("master:") && !out.contains("shared:"),
        "{out}"
    );
    let mut b = Bundle::busybox();
    b.config_mut(|c| c["linux"]["rootfsPropagation"] = json!("sideways"));
    let rt = berth();
    let id = unique_id("prop");
    let (code, _, err) = run_container(&rt, &b, &id);
    assert_ne!(code, 0);
    assert!(err.contains("linux.rootfsPropagation"), "{err}");
}

#[test]
fn bind_mount_propagation_options() {
    let mut b = Bundle::busybox();
    let src = b.path().join("prop-src");
    std::fs::create_dir_all(&src).unwrap();
    b.config_mut(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/shared", "type": "bind", "source": src, "options": ["rbind", "rshared"]}));
        mounts.push(json!({"destination": "/private", "type": "bind", "source": src, "options": ["rbind", "rprivate", "noexec"]}));
    });
    b.set_args(&[
        "sh",
        "-c",
        "awk '$5 == \"/shared\" || $5 == \"/private\" {print $5, $6, $7}' /proc/self/mountinfo",
    ]);
    let out = output_of(&b);
    let shared = out
        .lines()
        .find(|l| l.starts_with("/shared "))
        .unwrap_or_default();
    let private = out
        .lines()
        .find(|l| l.starts_with("/private "))
        .unwrap_or_default();
    assert!(shared.contains("shared:"), "{out}");
    assert!(
        !private.contains("shared:") && private.contains("noexec"),
        "{out}"
    );

    // A shared root: pivot_root needs a private parent, then / is made rshared.
    let mut b = Bundle::busybox();
    b.config_mut(|c| c["linux"]["rootfsPropagation"] = json!("rshared"));
    b.set_args(&[
        "sh",
        "-c",
        "awk '$5 == \"/\" {print $7}' /proc/self/mountinfo",
    ]);
    let out = output_of(&b);
    assert!(out.starts_with("shared:"), "{out}");
}
