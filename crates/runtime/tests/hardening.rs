//! Runtime hardening (issue #5): the container cannot write to the runtime's binary
//! (CVE-2019-5736), reaches no fd of the runtime or its caller and no host directory as
//! its cwd (CVE-2024-21626), and bad rlimits and sysctls fail before anything exists;
//! LSM settings run with a warning.

mod common;

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::process::{Command, Stdio};

use common::*;
use rustix::fs::{Mode, OFlags, StatVfsMountFlags};
use rustix::io::Errno;
use serde_json::json;
use sha2::Digest;

fn sha256(path: &str) -> Vec<u8> {
    sha2::Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

fn init_pid(rt: &Runtime, id: &str) -> i32 {
    rt.state(id).unwrap()["pid"].as_i64().unwrap() as i32
}

/// Makes `cmd` inherit `fds` (each a file and the number it gets in the child) with
/// close-on-exec off, as a careless caller would leak them.
fn leak_fds(cmd: &mut Command, fds: &[(RawFd, RawFd)]) {
    let fds = fds.to_vec();
    // SAFETY: between fork and exec only dup2 and fcntl run, both async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(cmd, move || {
            for &(from, to) in &fds {
                if from != to && libc::dup2(from, to) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                // dup2 clears close-on-exec, but a file already at `to` keeps it.
                libc::fcntl(to, libc::F_SETFD, 0);
            }
            Ok(())
        });
    }
}

/// The fds the container's shell holds (listed from a child, so the listing's own fd
/// does not count): `(number, target)`.
fn fds_listed(text: &str) -> Vec<(u32, String)> {
    text.lines()
        .filter(|l| l.starts_with('l'))
        .filter_map(|l| {
            let (left, target) = l.split_once(" -> ").unwrap_or((l, ""));
            let n = left.split_whitespace().last()?.parse().ok()?;
            Some((n, target.trim().to_string()))
        })
        .collect()
}

const LIST_FDS: &[&str] = &["sh", "-c", "ls -l /proc/$$/fd; true"];

fn check_binary_is_protected(mode: Option<&str>) {
    let rt = berth();
    let bin = env!("CARGO_BIN_EXE_berth-runc");
    let before = sha256(bin);
    let b = sleeper();
    let id = unique_id("sealed");
    let _g = Guard::new(&rt, &id);
    let mut cmd = rt.cmd(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    cmd.env_remove("BERTH_RUNC_REEXEC");
    if let Some(m) = mode {
        cmd.env("BERTH_RUNC_REEXEC", m);
    }
    // Files, not pipes: the init holds its stdio until it exits.
    let err = tempfile::NamedTempFile::new().unwrap();
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err.reopen().unwrap())
        .status()
        .unwrap();
    let text = std::fs::read_to_string(err.path()).unwrap();
    assert!(status.success(), "create: {text}");

    // The init waits on exec.fifo: it is still berth-runc, in the container's namespaces.
    let pid = init_pid(&rt, &id);
    let exe = format!("/proc/{pid}/exe");
    let link = std::fs::read_link(&exe).unwrap();
    let readable = rustix::fs::open(exe.as_str(), OFlags::RDONLY, Mode::empty()).unwrap();
    let protection = berth_runtime::reexec::protection(&readable);
    match mode {
        Some("memfd") => {
            assert!(
                link.to_string_lossy().starts_with("/memfd:berth-runc"),
                "{link:?}"
            );
            assert_eq!(
                protection,
                Some(berth_runtime::reexec::Protection::SealedMemfd)
            );
        }
        _ => assert!(protection.is_some(), "{link:?} is writable"),
    }
    assert_eq!(
        rustix::fs::open(exe.as_str(), OFlags::WRONLY, Mode::empty()).err(),
        Some(Errno::TXTBSY)
    );
    // CVE-2019-5736: keep an O_PATH of the link, let the runtime exec away, reopen it
    // for writing once nothing executes the file any more.
    let kept: OwnedFd = rustix::fs::open(exe.as_str(), OFlags::PATH, Mode::empty()).unwrap();
    let out = run(&rt, &["start", &id]);
    assert!(out.status.success(), "start: {}", stderr(&out));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_link(&exe).ok().as_ref() == Some(&link) {
        assert!(std::time::Instant::now() < deadline, "init never exec'd");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let reopen = format!("/proc/self/fd/{}", kept.as_raw_fd());
    match rustix::fs::open(reopen.as_str(), OFlags::WRONLY, Mode::empty()) {
        // The read-only mount: EROFS, or ETXTBSY while another test runs the binary.
        Err(e) => {
            assert!(
                matches!(e, Errno::ROFS | Errno::TXTBSY | Errno::PERM),
                "{e}"
            );
            assert!(rustix::fs::fstatvfs(&kept)
                .unwrap()
                .f_flag
                .contains(StatVfsMountFlags::RDONLY));
        }
        // A sealed memfd can be opened, never written (checked before writing a byte).
        Ok(fd) => {
            assert!(
                link.to_string_lossy().starts_with("/memfd:"),
                "{link:?} opened for writing"
            );
            assert_eq!(rustix::io::write(&fd, b"x").err(), Some(Errno::PERM));
        }
    }
    assert_eq!(sha256(bin), before, "the runtime binary changed");
}

#[test]
fn runtime_binary_cannot_be_written_from_the_container() {
    check_binary_is_protected(None);
}

#[test]
fn runtime_binary_cannot_be_written_from_the_container_memfd() {
    check_binary_is_protected(Some("memfd"));
}

#[test]
fn container_sees_only_stdio_and_preserved_fds() {
    let rt = berth();
    let mut b = Bundle::busybox();
    b.set_args(LIST_FDS);
    let passed = b.path().join("passed.txt");
    std::fs::write(&passed, "x").unwrap();
    let file = std::fs::File::open(&passed).unwrap();
    let leaked_dir = std::fs::File::open(b.path()).unwrap();
    let leaked_file = std::fs::File::open("/etc/hostname").unwrap();
    for preserve in [0, 1] {
        let id = unique_id("fds");
        let _g = Guard::new(&rt, &id);
        let mut cmd = rt.cmd(&[
            "run",
            "--preserve-fds",
            &preserve.to_string(),
            "--bundle",
            b.path().to_str().unwrap(),
            &id,
        ]);
        leak_fds(
            &mut cmd,
            &[
                (file.as_raw_fd(), 3),
                (leaked_dir.as_raw_fd(), 7),
                (leaked_file.as_raw_fd(), 9),
            ],
        );
        let out = cmd.stdin(Stdio::null()).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let fds = fds_listed(&stdout(&out));
        let numbers: Vec<u32> = fds.iter().map(|f| f.0).collect();
        if preserve == 0 {
            assert_eq!(numbers, [0, 1, 2], "{}", stdout(&out));
        } else {
            assert_eq!(numbers, [0, 1, 2, 3], "{}", stdout(&out));
            assert!(fds[3].1.ends_with("passed.txt"), "{}", stdout(&out));
        }
        assert_nothing_left(&rt, &id, &b);
    }
}

#[test]
fn exec_process_sees_only_stdio_fds() {
    let rt = berth();
    let b = sleeper();
    let id = unique_id("execfds");
    let _g = start(&rt, &b, &id);
    let leaked = std::fs::File::open(b.path()).unwrap();
    let mut cmd = rt.cmd(&["exec", &id, "sh", "-c", "ls -l /proc/$$/fd; true"]);
    leak_fds(&mut cmd, &[(leaked.as_raw_fd(), 5)]);
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let numbers: Vec<u32> = fds_listed(&stdout(&out)).iter().map(|f| f.0).collect();
    assert_eq!(numbers, [0, 1, 2], "{}", stdout(&out));
}

/// CVE-2024-21626: `process.cwd` naming `/proc/self/fd/N` of a host directory fd.
#[test]
fn cwd_through_a_host_directory_fd_is_refused() {
    let rt = berth();
    let host_dir = tempfile::tempdir().unwrap();
    let dir = std::fs::File::open(host_dir.path()).unwrap();
    let escaped = host_dir.path().join("escaped");

    // A leaked fd: closed before anything else, so the cwd does not even resolve.
    let mut b = Bundle::busybox();
    b.set_args(&["sh", "-c", "touch escaped"]);
    b.config_mut(|c| c["process"]["cwd"] = json!("/proc/self/fd/7"));
    let id = unique_id("cwdleak");
    let _g = Guard::new(&rt, &id);
    let mut cmd = rt.cmd(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    leak_fds(&mut cmd, &[(dir.as_raw_fd(), 7)]);
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("process.cwd"), "{}", stderr(&out));
    assert!(
        !escaped.exists(),
        "the container wrote into the host directory"
    );
    assert_nothing_left(&rt, &id, &b);

    // A preserved one: the chdir works, and the check right before execve refuses.
    b.config_mut(|c| c["process"]["cwd"] = json!("/proc/self/fd/3"));
    let id = unique_id("cwdpres");
    let _g = Guard::new(&rt, &id);
    let mut cmd = rt.cmd(&[
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    leak_fds(&mut cmd, &[(dir.as_raw_fd(), 3)]);
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        !escaped.exists(),
        "the container wrote into the host directory"
    );
    assert_nothing_left(&rt, &id, &b);

    // exec: the error comes back to the caller.
    let s = sleeper();
    let id = unique_id("cwdexec");
    let _g = start(&rt, &s, &id);
    let mut cmd = rt.cmd(&[
        "exec",
        "--preserve-fds",
        "1",
        "--cwd",
        "/proc/self/fd/3",
        &id,
        "sh",
        "-c",
        "touch escaped",
    ]);
    leak_fds(&mut cmd, &[(dir.as_raw_fd(), 3)]);
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("outside the container's root"),
        "{}",
        stderr(&out)
    );
    assert!(
        !escaped.exists(),
        "the container wrote into the host directory"
    );
}

/// Runs `create` and expects a one-line config error and no leftovers.
fn create_fails(b: &Bundle) -> String {
    let rt = berth();
    let id = unique_id("hbad");
    let _g = Guard::new(&rt, &id);
    let (status, _, err) = run_detached(
        &rt,
        &["create", "--bundle", b.path().to_str().unwrap(), &id],
    );
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
    assert_nothing_left(&rt, &id, b);
    err
}

#[test]
fn rlimit_above_the_callers_hard_limit_is_refused() {
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .maximum
        .unwrap_or(u64::MAX);
    if hard == u64::MAX || berth_runtime::rlimits::can_raise_hard_limits() {
        eprintln!("skipped: the hard limit can be raised here");
        return;
    }
    let asked = hard.saturating_mul(2).min(u64::MAX - 1);
    let mut b = sleeper();
    b.config_mut(|c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": asked, "soft": 1024}])
    });
    let err = create_fails(&b);
    assert!(
        err.contains(&format!(
            "process.rlimits: RLIMIT_NOFILE hard {asked} is above the caller's hard limit {hard} and CAP_SYS_RESOURCE is missing"
        )),
        "{err}"
    );

    // The same for exec's --process.
    let rt = berth();
    let s = sleeper();
    let id = unique_id("rlexec");
    let _g = start(&rt, &s, &id);
    let mut process = s.config()["process"].clone();
    process["args"] = json!(["true"]);
    process["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": asked, "soft": 1024}]);
    let path = s.path().join("process.json");
    std::fs::write(&path, process.to_string()).unwrap();
    let out = run(&rt, &["exec", "--process", path.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr(&out).contains("RLIMIT_NOFILE hard"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn sysctl_outside_the_containers_namespaces_is_refused() {
    for key in ["kernel.panic", "vm.swappiness"] {
        let mut b = sleeper();
        b.config_mut(|c| c["linux"]["sysctl"] = json!({ key: "1" }));
        let err = create_fails(&b);
        assert!(
            err.contains(&format!("linux.sysctl: \"{key}\" is not namespaced")),
            "{err}"
        );
    }
    // net.* in the host's network namespace.
    let mut b = sleeper();
    b.config_mut(|c| {
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "network");
    });
    let err = create_fails(&b);
    assert!(
        err.contains("\"net.ipv4.ip_forward\" needs a private network namespace"),
        "{err}"
    );
    // A key climbing out of /proc/sys/net.
    let mut b = sleeper();
    b.config_mut(|c| c["linux"]["sysctl"] = json!({"net/../vm/swappiness": "1"}));
    let err = create_fails(&b);
    assert!(err.contains("is not a sysctl name"), "{err}");
}

#[test]
fn namespaced_sysctls_are_set_inside() {
    let rt = berth();
    let mut b = Bundle::busybox();
    b.config_mut(|c| {
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"});
        c["linux"]["readonlyPaths"] = json!([]);
    });
    b.set_args(&[
        "sh",
        "-c",
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni",
    ]);
    let id = unique_id("sysctl");
    let (code, out, err) = run_container(&rt, &b, &id);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().collect::<Vec<_>>(), ["1", "1234"]);
    assert_nothing_left(&rt, &id, &b);
}

#[test]
fn lsm_settings_run_with_a_warning() {
    // Without the LSM (this host), the warning says so; with it, that berth-runc does
    // not apply it. Either way "is not applied".
    let rt = berth();
    let mut b = Bundle::busybox();
    b.set_args(&["echo", "ran"]);
    b.config_mut(|c| {
        c["process"]["apparmorProfile"] = json!("berth-test");
        c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
        c["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0");
    });
    let id = unique_id("lsm");
    let (code, out, err) = run_container(&rt, &b, &id);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "ran");
    for field in [
        "process.apparmorProfile",
        "process.selinuxLabel",
        "linux.mountLabel",
    ] {
        assert!(
            err.lines().any(|l| l.contains("warning")
                && l.contains(field)
                && l.contains("is not applied")),
            "no warning about {field} in {err}"
        );
    }
    assert_nothing_left(&rt, &id, &b);

    // With --log, the warning goes to the log file.
    let log = b.path().join("runc.log");
    let id = unique_id("lsmlog");
    let _g = Guard::new(&rt, &id);
    let out = run(
        &rt,
        &[
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "run",
            "--bundle",
            b.path().to_str().unwrap(),
            &id,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines().any(|l| l.contains("\"level\":\"warning\"")
            && l.contains("process.apparmorProfile: \\\"berth-test\\\" is not applied")),
        "{text}"
    );
}
