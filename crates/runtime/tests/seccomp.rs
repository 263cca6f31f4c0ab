//! `linux.seccomp` end to end: real containers whose system calls the filter answers,
//! the cache of compiled programs under `--root`, `exec`, malformed profiles, and the
//! same profile under runc.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;

use common::*;
use serde_json::{json, Value};

/// A busybox bundle with a writable root, `linux.seccomp` set and `sh -c script` to run.
fn bundle(seccomp: Value, script: &str) -> Bundle {
    let mut b = Bundle::busybox();
    b.set_readonly(false);
    b.config_mut(|c| c["linux"]["seccomp"] = seccomp);
    b.set_args(&["sh", "-c", script]);
    b
}

/// Runs the bundle to completion and checks that nothing is left: (code, stdout, stderr).
fn run_bundle(rt: &Runtime, b: &Bundle) -> (i32, String, String) {
    let id = unique_id("sc");
    let result = run_container(rt, b, &id);
    assert_nothing_left(rt, &id, b);
    result
}

/// Everything allowed except the listed syscalls, which fail with `errno_ret`.
fn blocking(names: &[&str], errno_ret: Option<u32>) -> Value {
    let mut rule = json!({"names": names, "action": "SCMP_ACT_ERRNO"});
    if let Some(e) = errno_ret {
        rule["errnoRet"] = json!(e);
    }
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]})
}

fn mkdir_blocked() -> Value {
    blocking(&["mkdir", "mkdirat"], None)
}

fn cache_files(rt: &Runtime) -> Vec<PathBuf> {
    match std::fs::read_dir(rt.root.path().join("@seccomp")) {
        Ok(d) => d.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn errno_rule_makes_mkdir_fail_while_the_rest_works() {
    let rt = berth();
    let b = bundle(
        mkdir_blocked(),
        "touch /tmp/ok && echo touched; mkdir /tmp/x; echo mkdir=$?; ls /tmp; grep ^Seccomp: /proc/self/status",
    );
    let (code, out, err) = run_bundle(&rt, &b);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("touched\nmkdir=1\nok\n"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "filter mode: {out}");
    assert!(err.contains("Operation not permitted"), "{err}");
}

#[test]
fn errno_ret_is_honoured() {
    let rt = berth();
    let b = bundle(blocking(&["mkdir", "mkdirat"], Some(38)), "mkdir /tmp/x");
    let (code, _, err) = run_bundle(&rt, &b);
    assert_eq!(code, 1);
    assert!(err.contains("Function not implemented"), "ENOSYS: {err}");
}

#[test]
fn default_errno_ret_is_honoured() {
    let rt = berth();
    let mut allow: Vec<&str> = ALLOW_FOR_TRUE.to_vec();
    allow.push("write");
    let b = bundle(
        json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
               "syscalls": [{"names": allow, "action": "SCMP_ACT_ALLOW"}]}),
        "",
    );
    let mut b = b;
    b.set_args(&["/bin/mkdir", "/tmp/x"]);
    let (code, _, err) = run_bundle(&rt, &b);
    assert_eq!(code, 1);
    assert!(err.contains("Function not implemented"), "{err}");
}

#[test]
fn argument_condition_eq_blocks_one_signal_only() {
    // kill(pid, SIGTERM) fails; kill(pid, SIGKILL) goes through.
    let rt = berth();
    let seccomp = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 1, "value": 15, "op": "SCMP_CMP_EQ"}]}]});
    let b = bundle(
        seccomp,
        "sleep 100 & kill -TERM $!; echo term=$?; kill -KILL $!; echo kill=$?; wait $!; echo status=$?",
    );
    let (code, out, err) = run_bundle(&rt, &b);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "term=1\nkill=0\nstatus=137\n", "{err}");
}

#[test]
fn argument_condition_masked_eq_blocks_o_creat() {
    // openat(…, flags & O_CREAT == O_CREAT) fails: files can be read, not created.
    let rt = berth();
    let o_creat = libc::O_CREAT as u64;
    let seccomp = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["openat"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 2, "value": o_creat, "valueTwo": o_creat, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["open"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 1, "value": o_creat, "valueTwo": o_creat, "op": "SCMP_CMP_MASKED_EQ"}]}]});
    let b = bundle(
        seccomp,
        "head -c 5 /etc/passwd; echo; touch /tmp/new; echo touch=$?; test -e /tmp/new; echo exists=$?",
    );
    let (code, out, err) = run_bundle(&rt, &b);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "root:\ntouch=1\nexists=1\n", "{err}");
    assert!(err.contains("Operation not permitted"), "{err}");
}

/// What busybox's `true` and `mkdir`, and berth-runc's last steps before execve, need.
const ALLOW_FOR_TRUE: &[&str] = &[
    "arch_prctl",
    "brk",
    "close",
    "close_range",
    "execve",
    "exit",
    "exit_group",
    "fcntl",
    "futex",
    "getcwd",
    "getrandom",
    "getuid",
    "geteuid",
    "madvise",
    "mmap",
    "mprotect",
    "munmap",
    "prctl",
    "prlimit64",
    "readlink",
    "rseq",
    "rt_sigaction",
    "rt_sigprocmask",
    "set_robust_list",
    "set_tid_address",
    "sigaltstack",
];

#[test]
fn default_errno_with_an_allow_list_runs_true() {
    let rt = berth();
    let mut allow: Vec<&str> = ALLOW_FOR_TRUE.to_vec();
    allow.push("write");
    let seccomp = json!({"defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": allow, "action": "SCMP_ACT_ALLOW"}]});
    let mut b = bundle(seccomp, "");
    b.set_args(&["/bin/true"]);
    let (code, _, err) = run_bundle(&rt, &b);
    assert_eq!(code, 0, "/bin/true under an allow list: {err}");
    // mkdir is not on the list.
    b.set_args(&["/bin/mkdir", "/tmp/x"]);
    let (code, _, err) = run_bundle(&rt, &b);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("Operation not permitted"), "{err}");
}

#[test]
fn kill_actions_end_the_process_with_sigsys() {
    let rt = berth();
    for action in [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL_PROCESS",
    ] {
        let mut b = bundle(
            json!({"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["mkdir", "mkdirat"], "action": action}]}),
            "",
        );
        b.set_args(&["/bin/mkdir", "/tmp/x"]);
        let (code, _, err) = run_bundle(&rt, &b);
        assert_eq!(code, 128 + libc::SIGSYS, "{action}: {err}");
        assert!(!b.rootfs().join("tmp/x").exists(), "{action}");
    }
}

#[test]
fn trap_and_log_actions() {
    let rt = berth();
    // TRAP sends SIGSYS, which the process does not handle.
    let mut b = bundle(
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_TRAP"}]}),
        "",
    );
    b.set_args(&["/bin/mkdir", "/tmp/x"]);
    let (code, _, err) = run_bundle(&rt, &b);
    assert_eq!(code, 128 + libc::SIGSYS, "{err}");
    // LOG lets the call through.
    let mut b = bundle(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"],
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_LOG"}]}),
        "",
    );
    b.set_args(&["/bin/mkdir", "/tmp/x"]);
    let (code, _, err) = run_bundle(&rt, &b);
    assert_eq!(code, 0, "{err}");
    assert!(b.rootfs().join("tmp/x").is_dir());
}

#[test]
fn unknown_syscall_names_are_skipped() {
    let rt = berth();
    let b = bundle(
        blocking(&["no_such_syscall_berth", "mkdir", "mkdirat"], None),
        "echo running; mkdir /tmp/x",
    );
    let id = unique_id("sc");
    let _guard = Guard::new(&rt, &id);
    let out = run(
        &rt,
        &[
            "--debug",
            "run",
            "--bundle",
            b.path().to_str().unwrap(),
            &id,
        ],
    );
    let (out, err) = (stdout(&out), stderr(&out));
    assert_eq!(out, "running\n", "{err}");
    assert!(err.contains("Operation not permitted"), "{err}");
    assert!(
        err.contains(r#"unknown syscall \"no_such_syscall_berth\", skipped"#),
        "a debug line says so: {err}"
    );
    assert_nothing_left(&rt, &id, &b);
}

#[test]
fn a_bad_action_fails_run_naming_the_field_and_leaves_nothing() {
    let rt = berth();
    let seccomp = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["mkdir"], "action": "SCMP_ACT_FOO"}]});
    let b = bundle(seccomp, "true");
    let (code, out, err) = run_bundle(&rt, &b);
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains(r#"linux.seccomp.syscalls[1].action: unknown action "SCMP_ACT_FOO""#),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

#[test]
fn malformed_profiles_fail_before_anything_is_made() {
    let rt = berth();
    let cases = [
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                   "args": [{"index": 1, "value": 15, "op": "SCMP_CMP_FOO"}]}]}),
            r#"linux.seccomp.syscalls[0].args[0].op: unknown operator "SCMP_CMP_FOO""#,
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}),
            r#"linux.seccomp.architectures[0]: unknown architecture "SCMP_ARCH_Z80""#,
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                   "args": [{"index": 9, "value": 15, "op": "SCMP_CMP_EQ"}]}]}),
            "linux.seccomp.syscalls[0].args[0].index: 9 is out of range",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock"}),
            "linux.seccomp.listenerPath: seccomp notify",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
            "is not supported",
        ),
    ];
    for (seccomp, want) in cases {
        let b = bundle(seccomp, "true");
        let (code, _, err) = run_bundle(&rt, &b);
        assert_eq!(code, 1, "{want}");
        assert!(err.contains(want), "want {want:?}: {err}");
    }
}

#[test]
fn non_root_user_with_and_without_no_new_privileges() {
    let rt = berth();
    for nnp in [true, false] {
        let mut b = bundle(
            mkdir_blocked(),
            "id -u; touch /dev/shm/ok && echo touched; mkdir /dev/shm/x; echo mkdir=$?; grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status",
        );
        b.config_mut(|c| {
            c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
            c["process"]["noNewPrivileges"] = json!(nnp);
        });
        let (code, out, err) = run_bundle(&rt, &b);
        assert_eq!(code, 0, "nnp={nnp}: {err}");
        let want = format!(
            "1000\ntouched\nmkdir=1\nNoNewPrivs:\t{}\nSeccomp:\t2\n",
            u8::from(nnp)
        );
        assert_eq!(out, want, "nnp={nnp}: {err}");
        assert!(err.contains("Operation not permitted"), "nnp={nnp}: {err}");
    }
}

#[test]
fn a_second_run_reads_the_cached_program_and_a_removed_file_is_rebuilt() {
    let rt = berth();
    let b = bundle(mkdir_blocked(), "mkdir /tmp/x");
    let debug_run = |rt: &Runtime| {
        let id = unique_id("sc");
        let _guard = Guard::new(rt, &id);
        let out = run(
            rt,
            &[
                "--debug",
                "run",
                "--bundle",
                b.path().to_str().unwrap(),
                &id,
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert_nothing_left(rt, &id, &b);
        stderr(&out)
    };
    assert!(cache_files(&rt).is_empty());
    let err = debug_run(&rt);
    assert!(err.contains("compiled into"), "first run compiles: {err}");
    let files = cache_files(&rt);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        files[0].extension().is_some_and(|e| e == "bpf"),
        "{files:?}"
    );
    let err = debug_run(&rt);
    assert!(
        err.contains("read from"),
        "second run hits the cache: {err}"
    );
    assert!(!err.contains("compiled into"), "{err}");
    assert!(err.contains("Operation not permitted"), "{err}");

    std::fs::remove_file(&files[0]).unwrap();
    let err = debug_run(&rt);
    assert!(err.contains("compiled into"), "{err}");
    assert_eq!(cache_files(&rt), files, "rebuilt under the same name");

    std::fs::write(&files[0], b"not a program").unwrap();
    let err = debug_run(&rt);
    assert!(err.contains("damaged"), "{err}");
    assert!(err.contains("Operation not permitted"), "{err}");
    assert!(std::fs::read(&files[0]).unwrap().starts_with(b"BERTHBPF"));

    // A changed profile is a new file.
    let b2 = bundle(blocking(&["mkdir", "mkdirat"], Some(38)), "true");
    let (code, _, err) = run_bundle(&rt, &b2);
    assert_eq!(code, 0, "{err}");
    assert_eq!(cache_files(&rt).len(), 2);
}

#[test]
fn the_cache_can_be_turned_off() {
    let rt = berth();
    let b = bundle(mkdir_blocked(), "mkdir /tmp/x");
    let id = unique_id("sc");
    let _guard = Guard::new(&rt, &id);
    let out = rt
        .cmd(&["run", "--bundle", b.path().to_str().unwrap(), &id])
        .env("BERTH_SECCOMP_CACHE", "off")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Operation not permitted"));
    assert!(cache_files(&rt).is_empty());
    assert_nothing_left(&rt, &id, &b);
}

#[test]
fn exec_gets_the_containers_filter() {
    let rt = berth();
    let mut b = bundle(mkdir_blocked(), "");
    b.set_args(&["sleep", "1000"]);
    b.config_mut(|c| c["process"]["noNewPrivileges"] = json!(false));
    let id = unique_id("sc");
    let guard = start(&rt, &b, &id);
    let out = run(&rt, &["exec", &id, "mkdir", "/tmp/x"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
    let out = run(
        &rt,
        &["exec", &id, "grep", "^Seccomp:", "/proc/self/status"],
    );
    assert_eq!(stdout(&out), "Seccomp:\t2\n", "{}", stderr(&out));
    // As another user: without no_new_privs the filter goes in before the uid switch,
    // with it right before execve.
    for extra in [&[][..], &["--no-new-privs"][..]] {
        let mut args = vec!["exec", "--user", "1000:1000"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[
            &id,
            "sh",
            "-c",
            "mkdir /dev/shm/x; grep ^NoNewPrivs: /proc/self/status",
        ]);
        let out = run(&rt, &args);
        assert!(
            stderr(&out).contains("Operation not permitted"),
            "{extra:?}: {}",
            stderr(&out)
        );
        let nnp = if extra.is_empty() { "0" } else { "1" };
        assert_eq!(stdout(&out), format!("NoNewPrivs:\t{nnp}\n"), "{extra:?}");
    }
    let out = run(&rt, &["exec", &id, "touch", "/tmp/y"]);
    assert!(out.status.success(), "{}", stderr(&out));
    drop(guard);
    assert_nothing_left(&rt, &id, &b);
}

#[test]
fn features_reports_seccomp() {
    let rt = berth();
    let out = run(&rt, &["features"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["linux"]["seccomp"];
    assert_eq!(s["enabled"], true, "{s}");
    for (key, item) in [
        ("actions", "SCMP_ACT_ERRNO"),
        ("operators", "SCMP_CMP_MASKED_EQ"),
        ("archs", "SCMP_ARCH_X86_64"),
        ("knownFlags", "SECCOMP_FILTER_FLAG_TSYNC"),
        ("supportedFlags", "SECCOMP_FILTER_FLAG_TSYNC"),
    ] {
        assert!(
            s[key].as_array().unwrap().iter().any(|a| a == item),
            "{key}: {s}"
        );
    }
}

#[test]
fn the_same_profile_blocks_the_same_commands_under_runc() {
    let runc = Runtime::runc();
    if !runc.available() {
        eprintln!("note: runc is not installed; skipping the differential test");
        return;
    }
    let seccomp = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        {"names": ["no_such_syscall_berth"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 1, "value": 15, "op": "SCMP_CMP_EQ"}]},
        {"names": ["openat"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 2, "value": 64, "valueTwo": 64, "op": "SCMP_CMP_MASKED_EQ"}]}]});
    let script = "mkdir /tmp/a 2>&1; echo mkdir=$?; rmdir /tmp 2>&1; echo rmdir=$?; \
                  touch /tmp/b 2>&1; echo touch=$?; head -c 5 /etc/group; echo; echo head=$?; \
                  sleep 100 & kill -TERM $! 2>&1; echo term=$?; kill -KILL $!; echo kill=$?; \
                  grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status";
    let outputs: Vec<(String, i32, String)> = [runc, berth()]
        .iter()
        .map(|rt| {
            let b = bundle(seccomp.clone(), script);
            let (code, out, err) = run_bundle(rt, &b);
            // Only the pid in ash's "can't kill pid N" differs.
            let text = format!("{out}{err}");
            let text = match text.split_once("kill pid ") {
                Some((a, b)) => format!(
                    "{a}kill pid N{}",
                    b.trim_start_matches(|c: char| c.is_ascii_digit())
                ),
                None => text,
            };
            (rt.name.clone(), code, text)
        })
        .collect();
    let (_, want_code, want) = &outputs[0];
    assert!(
        want.contains("mkdir=1") && want.contains("term=1"),
        "{want}"
    );
    for (name, code, out) in &outputs[1..] {
        assert_eq!(code, want_code, "{name}");
        assert_eq!(out, want, "{name} (left) differs from runc (right)");
    }
}

/// A profile the size of Docker's default (~350 rules): every x86_64 syscall but a few
/// allowed, plus Docker-style argument rules.
fn docker_sized_profile() -> Value {
    let blocked = [
        "mkdir",
        "mkdirat",
        "mount",
        "umount2",
        "reboot",
        "kexec_load",
    ];
    let names: Vec<String> = (0..460)
        .filter_map(|n| {
            libseccomp::ScmpSyscall::from(n)
                .get_name_by_arch(libseccomp::ScmpArch::X8664)
                .ok()
        })
        .filter(|n| !blocked.contains(&n.as_str()) && n != "personality" && n != "clone")
        .collect();
    json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": names, "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 131072, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 4294967295u64, "op": "SCMP_CMP_EQ"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]})
}

#[test]
fn a_docker_sized_profile_runs_a_shell() {
    let rt = berth();
    let b = bundle(
        docker_sized_profile(),
        "echo hi; mkdir /tmp/x 2>&1; echo mkdir=$?",
    );
    let (code, out, err) = run_bundle(&rt, &b);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("hi\n"), "{out}");
    assert!(out.contains("Operation not permitted\nmkdir=1"), "{out}");
}

/// Prints the compile time against the cached load, from berth-runc's own debug lines
/// and from the wall clock of whole `run`s. `cargo test --release -p berth-runtime
/// --test seccomp -- --ignored --nocapture measure`.
#[test]
#[ignore]
fn measure_compile_against_cached_load() {
    let rt = berth();
    let b = bundle(docker_sized_profile(), "true");
    let micros = |text: &str, marker: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.contains(marker))?;
        let at = line.find(" in ")? + 4;
        line[at..].split(' ').next()?.parse().ok()
    };
    let round = |cache: &str| -> (u64, u128) {
        let id = unique_id("scm");
        let _guard = Guard::new(&rt, &id);
        let start = Instant::now();
        let out = rt
            .cmd(&[
                "--debug",
                "run",
                "--bundle",
                b.path().to_str().unwrap(),
                &id,
            ])
            .env("BERTH_SECCOMP_CACHE", cache)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let wall = start.elapsed().as_micros();
        assert!(out.status.success(), "{}", stderr(&out));
        let err = stderr(&out);
        if let Some(line) = err.lines().find(|l| l.contains("compiled into")) {
            eprintln!("{line}");
        }
        let t = micros(&err, "compiled into")
            .or_else(|| micros(&err, "read from"))
            .unwrap_or_else(|| panic!("no timing line: {err}"));
        (t, wall)
    };
    let n = 20;
    let median = |mut v: Vec<u128>| {
        v.sort();
        v[v.len() / 2]
    };
    let runs = |cache: &str| {
        let all: Vec<(u64, u128)> = (0..n).map(|_| round(cache)).collect();
        (
            median(all.iter().map(|r| u128::from(r.0)).collect()),
            median(all.iter().map(|r| r.1).collect()),
        )
    };
    let off = runs("off");
    round("on");
    let on = runs("on");
    println!(
        "docker-sized profile, median of {n}: compile {} µs (run {} µs) vs cached load {} µs (run {} µs)",
        off.0, off.1, on.0, on.1
    );
}
