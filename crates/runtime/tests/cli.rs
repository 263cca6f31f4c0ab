//! runc command-line compatibility of berth-runc: what `spec`, `--version`, `features`,
//! `list`, `--log`, flag placement and signal names look like to a caller written for
//! runc (containerd's runc shim, scripts, people).
//!
//! Where runc is installed its output is the reference; where berth-runc deliberately
//! differs (it never chowns the caller's stdio, it has no systemd cgroup driver) the
//! test says so.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;
use serde_json::Value;

/// runc, or `None` after a note when it is not installed.
fn runc() -> Option<Runtime> {
    let rt = Runtime::runc();
    if rt.available() {
        Some(rt)
    } else {
        eprintln!("note: runc is not installed; skipping the comparison with runc");
        None
    }
}

/// Runs a runtime command in `dir` with stdin closed.
fn run_in(rt: &Runtime, dir: &Path, args: &[&str]) -> Output {
    rt.cmd(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} {args:?}: {e}", rt.name))
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("berth-test-cli-")
        .tempdir()
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// spec

#[test]
fn spec_writes_the_same_bytes_as_runc() {
    let Some(runc) = runc() else { return };
    let rt = berth();
    let (ours, theirs) = (tempdir(), tempdir());
    let out = run_in(&rt, ours.path(), &["spec"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_in(&runc, theirs.path(), &["spec"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ours = std::fs::read(ours.path().join("config.json")).unwrap();
    let theirs = std::fs::read(theirs.path().join("config.json")).unwrap();
    assert!(
        ours == theirs,
        "config.json differs from runc's:\n--- berth-runc\n{}\n--- runc\n{}",
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&theirs)
    );
}

#[test]
fn spec_refuses_to_overwrite_config_json() {
    let rt = berth();
    let dir = tempdir();
    assert!(run_in(&rt, dir.path(), &["spec"]).status.success());
    let config = dir.path().join("config.json");
    std::fs::write(&config, "{\"mine\": true}").unwrap();
    let out = run_in(&rt, dir.path(), &["spec"]);
    assert!(!out.status.success(), "a second spec succeeded");
    assert!(stderr(&out).contains("exists"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "{\"mine\": true}",
        "the existing config.json was touched"
    );
}

#[test]
fn spec_bundle_flag_chooses_the_directory() {
    let rt = berth();
    let (cwd, bundle) = (tempdir(), tempdir());
    let out = run_in(
        &rt,
        cwd.path(),
        &["spec", "--bundle", bundle.path().to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(bundle.path().join("config.json").is_file());
    assert!(!cwd.path().join("config.json").exists());
}

fn rootless_spec(rt: &Runtime) -> Value {
    let dir = tempdir();
    let out = run_in(rt, dir.path(), &["spec", "--rootless"]);
    assert!(out.status.success(), "{}: {}", rt.name, stderr(&out));
    let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}\n{text}", rt.name))
}

#[test]
fn spec_rootless_has_a_user_namespace_and_mappings() {
    let spec = rootless_spec(&berth());
    let namespaces: Vec<&str> = spec["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(namespaces.contains(&"user"), "{namespaces:?}");
    // Like runc: without a user-owned network there is no network namespace.
    assert!(!namespaces.contains(&"network"), "{namespaces:?}");
    for key in ["uidMappings", "gidMappings"] {
        let maps = spec["linux"][key]
            .as_array()
            .unwrap_or_else(|| panic!("{key}"));
        assert!(!maps.is_empty(), "{key} is empty");
        assert_eq!(maps[0]["containerID"], 0, "{key}");
        assert!(maps[0]["size"].as_u64().unwrap() >= 1, "{key}");
    }
    let euid = rustix::process::geteuid().as_raw();
    assert_eq!(spec["linux"]["uidMappings"][0]["hostID"], euid);
}

#[test]
fn spec_rootless_matches_runc() {
    let Some(runc) = runc() else { return };
    // Compared as JSON: the key order of runc's rootless output is Go's struct order.
    assert_eq!(rootless_spec(&berth()), rootless_spec(&runc));
}

// ---------------------------------------------------------------------------------------
// --version and features

#[test]
fn version_prints_three_lines_like_runc() {
    let out = run(&berth(), &["--version"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("berth-runc version "), "{text}");
    assert!(lines[1].starts_with("commit: "), "{text}");
    assert!(lines[2].starts_with("spec: "), "{text}");
}

#[test]
fn features_describes_the_runtime_as_json() {
    let out = run(&berth(), &["features"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let f: Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["ociVersionMin", "ociVersionMax"] {
        assert!(f[key].as_str().is_some_and(|v| v.starts_with("1.")), "{f}");
    }
    for key in ["hooks", "mountOptions"] {
        assert!(f[key].as_array().is_some_and(|a| !a.is_empty()), "{key}");
    }
    let ns: Vec<&str> = f["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    for want in ["mount", "pid", "uts", "ipc", "network", "user"] {
        assert!(ns.contains(&want), "namespaces lack {want}: {ns:?}");
    }
    assert!(f["linux"]["cgroup"].is_object(), "{f}");
    // No systemd driver (see systemd_cgroup_is_refused).
    assert_eq!(f["linux"]["cgroup"]["systemd"], false);
}

#[test]
fn features_lists_every_hook_and_namespace_runc_lists() {
    let Some(runc) = runc() else { return };
    let ours: Value = serde_json::from_slice(&run(&berth(), &["features"]).stdout).unwrap();
    let theirs: Value = serde_json::from_slice(&run(&runc, &["features"]).stdout).unwrap();
    for path in ["/hooks", "/linux/namespaces"] {
        let ours = ours.pointer(path).unwrap().as_array().unwrap();
        for item in theirs.pointer(path).unwrap().as_array().unwrap() {
            assert!(ours.contains(item), "{path} lacks {item}");
        }
    }
    assert_eq!(ours["ociVersionMin"], theirs["ociVersionMin"]);
}

// ---------------------------------------------------------------------------------------
// Global options

#[test]
fn log_json_records_the_error_with_time_and_level() {
    let rt = berth();
    let dir = tempdir();
    let log = dir.path().join("log.json");
    let out = run(
        &rt,
        &[
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "start",
            "no-such-id",
        ],
    );
    assert!(!out.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    let last = lines.last().expect("the log is empty");
    assert_eq!(last["level"], "error", "{last}");
    assert!(
        last["msg"].as_str().unwrap().contains("no-such-id"),
        "{last}"
    );
    let time = last["time"].as_str().unwrap();
    humantime::parse_rfc3339_weak(time).unwrap_or_else(|e| panic!("time {time:?}: {e}"));
    // The caller still sees the error on stderr, once.
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no-such-id"), "{err}");
}

#[test]
fn log_text_is_logfmt_like_runc() {
    let rt = berth();
    let dir = tempdir();
    let log = dir.path().join("log.txt");
    let out = run(
        &rt,
        &["--log", log.to_str().unwrap(), "start", "no-such-id"],
    );
    assert!(!out.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let last = text.lines().last().expect("the log is empty");
    // runc: time="2024-01-01T00:00:00Z" level=error msg="container does not exist"
    assert!(last.starts_with("time=\""), "{last}");
    assert!(last.contains(" level=error msg=\""), "{last}");
    assert!(last.contains("no-such-id"), "{last}");
}

#[test]
fn systemd_cgroup_is_refused() {
    // A deliberate difference: runc has a systemd cgroup driver, berth-runc does not, and
    // says so rather than silently using cgroupfs.
    let out = run(&berth(), &["--systemd-cgroup", "list"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not supported"), "{}", stderr(&out));
}

// ---------------------------------------------------------------------------------------
// Flags and arguments

#[test]
fn flags_may_follow_the_container_id() {
    let rt = berth();
    let b = sleeper();
    let id = unique_id("flagsafter");
    let _g = Guard::new(&rt, &id);
    let (st, _, err) = run_detached(
        &rt,
        &["create", &id, "--bundle", b.path().to_str().unwrap()],
    );
    assert!(st.success(), "create <id> --bundle: {err}");
    assert_eq!(status(&rt, &id), "created");
    assert_eq!(rt.state(&id).unwrap()["bundle"], b.path().to_str().unwrap());
    let out = run(&rt, &["update", &id, "--pids-limit", "10"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let max = std::fs::read_to_string(format!("/sys/fs/cgroup/pids/{id}/pids.max"))
        .or_else(|_| std::fs::read_to_string(format!("/sys/fs/cgroup/{id}/pids.max")))
        .unwrap();
    assert_eq!(max.trim(), "10");
    assert!(run(&rt, &["delete", "-f", &id]).status.success());
    assert_nothing_left(&rt, &id, &b);
}

#[test]
fn kill_names_an_invalid_signal() {
    let rt = berth();
    let b = sleeper();
    let id = unique_id("badsig");
    let _g = create(&rt, &b, &id);
    for sig in ["NOSUCHSIG", "SIGNOPE", "99"] {
        let out = run(&rt, &["kill", &id, sig]);
        assert!(!out.status.success(), "kill {sig} succeeded");
        assert!(stderr(&out).contains(sig), "kill {sig}: {}", stderr(&out));
    }
    assert_eq!(
        status(&rt, &id),
        "created",
        "a refused kill changed the state"
    );
}

// ---------------------------------------------------------------------------------------
// list

#[test]
fn list_with_no_containers_prints_runcs_header() {
    let header = match runc() {
        Some(runc) => stdout(&run(&runc, &["list"])),
        None => "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n".into(),
    };
    assert_eq!(stdout(&run(&berth(), &["list"])), header);
}

#[test]
fn list_json_with_no_containers_is_an_empty_array() {
    // runc 1.1 prints `null` here (a nil Go slice); `[]` is the same answer to a JSON
    // reader that wants a list, and what `list -f json` prints after the last delete.
    let out = run(&berth(), &["list", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, Value::Array(vec![]));
    let out = run(&berth(), &["list", "-q"]);
    assert_eq!(stdout(&out), "");
}

#[test]
fn list_table_columns_are_padded_like_runc() {
    let rt = berth();
    let b = sleeper();
    let id = unique_id("lt");
    let _g = create(&rt, &b, &id);
    let text = stdout(&run(&rt, &["list"]));
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    // runc's tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0): each column but the last
    // is max(12, widest cell + 3) wide, cells left-aligned and padded with spaces.
    let widths: Vec<usize> = (0..rows[0].len() - 1)
        .map(|c| rows.iter().map(|r| r[c].len() + 3).max().unwrap().max(12))
        .collect();
    let want: String = rows
        .iter()
        .map(|r| {
            let mut line: String = widths
                .iter()
                .zip(r)
                .map(|(w, cell)| format!("{cell:<w$}"))
                .collect();
            line.push_str(r.last().unwrap());
            line + "\n"
        })
        .collect();
    assert_eq!(text, want);
}

// ---------------------------------------------------------------------------------------
// The caller's stdio

struct Owner {
    uid: u32,
    gid: u32,
    mode: u32,
}

fn owner(meta: &std::fs::Metadata) -> Owner {
    Owner {
        uid: meta.uid(),
        gid: meta.gid(),
        mode: meta.mode() & 0o7777,
    }
}

/// Runs a uid 1000 container whose stdin is /dev/null and whose stdout and stderr are
/// root-owned files, by `run` or by `create` + `start`, and checks that neither the
/// files nor /dev/null changed owner or mode.
///
/// A deliberate difference from runc: runc's init fchown()s its inherited stdio to the
/// container user (`fixStdioPermissions`), so after `runc create` a caller's log file is
/// owned by uid 1000. Chowning descriptors that belong to the caller is never right, so
/// berth-runc does not.
fn stdio_is_not_chowned(detached: bool) {
    use std::os::unix::fs::PermissionsExt;

    let rt = berth();
    let mut b = Bundle::busybox();
    b.set_args(&["sh", "-c", "id -u; echo to-stderr >&2"]);
    b.config_mut(|c| c["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1000}));
    let id = unique_id("stdio");
    let _g = Guard::new(&rt, &id);

    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    for f in [&out, &err] {
        f.set_permissions(std::fs::Permissions::from_mode(0o644))
            .unwrap();
    }
    let null_before = owner(&std::fs::metadata("/dev/null").unwrap());

    let bundle = b.path().to_str().unwrap();
    let command = |args: &[&str]| -> Command {
        let mut cmd = rt.cmd(args);
        cmd.stdin(std::fs::File::open("/dev/null").unwrap())
            .stdout(out.try_clone().unwrap())
            .stderr(err.try_clone().unwrap());
        cmd
    };
    if detached {
        assert!(command(&["create", "--bundle", bundle, &id])
            .status()
            .unwrap()
            .success());
        let st = run(&rt, &["start", &id]);
        assert!(st.status.success(), "{}", stderr(&st));
        wait_status(&rt, &id, "stopped");
    } else {
        let st = command(&["run", "--bundle", bundle, &id]).status().unwrap();
        assert!(st.success(), "run failed");
    }

    let read = |mut f: &std::fs::File| {
        use std::io::{Read, Seek};
        let mut s = String::new();
        f.rewind().unwrap();
        f.read_to_string(&mut s).unwrap();
        s
    };
    assert_eq!(
        read(&out).trim(),
        "1000",
        "the container did not run as 1000"
    );
    assert!(read(&err).contains("to-stderr"), "{}", read(&err));
    for (name, f) in [("stdout", &out), ("stderr", &err)] {
        let o = owner(&f.metadata().unwrap());
        assert_eq!((o.uid, o.gid, o.mode), (0, 0, 0o644), "{name} file changed");
    }
    let null_after = owner(&std::fs::metadata("/dev/null").unwrap());
    assert_eq!(
        (null_after.uid, null_after.gid, null_after.mode),
        (null_before.uid, null_before.gid, null_before.mode),
        "/dev/null changed"
    );
    if detached {
        assert!(run(&rt, &["delete", &id]).status.success());
    }
    assert_nothing_left(&rt, &id, &b);
}

#[test]
fn run_never_chowns_the_callers_stdio() {
    stdio_is_not_chowned(false);
}

#[test]
fn create_never_chowns_the_callers_stdio() {
    stdio_is_not_chowned(true);
}
