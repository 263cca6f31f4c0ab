//! End-to-end: a real `berth-shim` running busybox containers under `berth-runc`.
//! Run under `tini -s` (the machine's pid 1 reaps orphans slowly).

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_shim::protocol::{ShimConfig, Status};
use berth_shim::{ShimClient, ShimErrorKind, Spawned};
use berth_testkit::{unique_id, workspace_bin, Bundle};
use serde_json::{json, Value};
use tempfile::TempDir;

struct Env {
    bundle: Bundle,
    root: TempDir,
    _sockdir: TempDir,
    cfg: ShimConfig,
    client: ShimClient,
    spawned: Option<Spawned>,
}

fn env(args: &[&str]) -> Env {
    let mut bundle = Bundle::busybox();
    bundle.set_args(args);
    let root = tempfile::tempdir().unwrap();
    let sockdir = tempfile::Builder::new()
        .prefix("bs")
        .tempdir_in("/tmp")
        .unwrap();
    let socket = sockdir.path().join("s");
    let cfg = ShimConfig {
        id: unique_id("shim"),
        bundle: bundle.path().to_path_buf(),
        runtime: workspace_bin("berth-runc"),
        runtime_root: root.path().to_path_buf(),
        runtime_args: Vec::new(),
        socket: socket.clone(),
        tty: false,
        stdin: false,
        stdin_once: false,
        log_path: Some(bundle.path().join("ctr-json.log")),
        log_max_size: 0,
        log_max_file: 1,
    };
    Env {
        bundle,
        root,
        _sockdir: sockdir,
        cfg,
        client: ShimClient::new(socket),
        spawned: None,
    }
}

impl Env {
    fn try_spawn(&mut self) -> Result<Spawned, berth_shim::ShimError> {
        berth_shim::write_config(&self.cfg).unwrap();
        let s = berth_shim::spawn(
            Path::new(env!("CARGO_BIN_EXE_berth-shim")),
            self.bundle.path(),
        )?;
        self.spawned = Some(s);
        Ok(s)
    }

    fn spawn(&mut self) -> Spawned {
        self.try_spawn().expect("spawn")
    }

    fn runtime_list(&self) -> String {
        let out = std::process::Command::new(&self.cfg.runtime)
            .arg("--root")
            .arg(self.root.path())
            .arg("list")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn log_path(&self) -> PathBuf {
        self.cfg.log_path.clone().unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(s) = self.spawned {
            let _ = self.client.shutdown(true);
            if alive(s.shim_pid) {
                if let Some(pid) = rustix::process::Pid::from_raw(s.shim_pid as i32) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
        let _ = std::process::Command::new(&self.cfg.runtime)
            .arg("--root")
            .arg(self.root.path())
            .args(["delete", "--force", &self.cfg.id])
            .output();
    }
}

/// Alive and not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        }
        Err(_) => false,
    }
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads Docker's multiplexed frames until EOF: (stdout, stderr).
fn demux(mut conn: UnixStream) -> (String, String) {
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut all = Vec::new();
    conn.read_to_end(&mut all).expect("stream ends with EOF");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut rest = &all[..];
    while !rest.is_empty() {
        assert!(rest.len() >= 8, "truncated frame header");
        let len = u32::from_be_bytes(rest[4..8].try_into().unwrap()) as usize;
        let body = &rest[8..8 + len];
        match rest[0] {
            1 => out.extend_from_slice(body),
            2 => err.extend_from_slice(body),
            s => panic!("bad stream byte {s}"),
        }
        rest = &rest[8 + len..];
    }
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn process(args: &[&str], terminal: bool) -> Value {
    json!({
        "terminal": terminal,
        "user": {"uid": 0, "gid": 0},
        "args": args,
        "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
        "cwd": "/",
    })
}

fn vm_rss(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .unwrap_or("VmRSS: ?")
        .to_string()
}

#[test]
fn attach_gets_framed_stdout_and_stderr_then_eof_at_exit() {
    let mut e = env(&["sh", "-c", "echo out; echo err >&2; echo more"]);
    e.spawn();
    assert_eq!(e.client.state().unwrap().status, Status::Created);
    let conn = e.client.attach(false, true, true).unwrap();
    e.client.start().unwrap();
    let (out, err) = demux(conn);
    assert_eq!(out, "out\nmore\n");
    assert_eq!(err, "err\n");
    assert_eq!(e.client.wait().unwrap().code, 0);
    let st = e.client.state().unwrap();
    assert_eq!(st.status, Status::Stopped);
    assert!(st.started_at.is_some());
    // After the output ended, an attach gets Ok and EOF at once.
    let late = e.client.attach(false, true, true).unwrap();
    assert_eq!(demux(late), (String::new(), String::new()));
    // exit.json is there for berthd.
    let exit: Value =
        serde_json::from_slice(&std::fs::read(e.bundle.path().join("exit.json")).unwrap()).unwrap();
    assert_eq!(exit["code"], 0);
}

#[test]
fn wait_reports_exit_codes_and_128_plus_signal_after_kill() {
    let mut e = env(&["sh", "-c", "exit 7"]);
    e.spawn();
    e.client.start().unwrap();
    assert_eq!(e.client.wait().unwrap().code, 7);

    let mut e = env(&["sleep", "100"]);
    e.spawn();
    e.client.start().unwrap();
    assert_eq!(e.client.state().unwrap().status, Status::Running);
    e.client.kill(9, false).unwrap();
    assert_eq!(e.client.wait().unwrap().code, 128 + 9);
    let err = e.client.kill(15, false).unwrap_err();
    assert_eq!(err.kind(), ShimErrorKind::Conflict);
    assert_eq!(err.to_string(), "container is not running");
}

fn log_entries(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each log line is JSON"))
        .collect()
}

#[test]
fn json_file_log_has_dockers_lines_streams_and_timestamps() {
    let mut e = env(&["sh", "-c", "echo a; echo b >&2; printf partial"]);
    e.spawn();
    e.client.start().unwrap();
    e.client.wait().unwrap();
    let path = e.log_path();
    eventually("three log lines", || log_entries(&path).len() == 3);
    let mut entries = log_entries(&path);
    entries.sort_by_key(|v| v["log"].as_str().unwrap().to_string());
    let got: Vec<(String, String)> = entries
        .iter()
        .map(|v| {
            (
                v["log"].as_str().unwrap().to_string(),
                v["stream"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a\n".to_string(), "stdout".to_string()),
            ("b\n".to_string(), "stderr".to_string()),
            ("partial".to_string(), "stdout".to_string()),
        ]
    );
    for v in &entries {
        let t = v["time"].as_str().unwrap();
        assert!(t.ends_with('Z') && t.len() == 30, "{t}");
        let at = humantime::parse_rfc3339(t).unwrap();
        let age = std::time::SystemTime::now().duration_since(at).unwrap();
        assert!(age < Duration::from_secs(60));
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 3);
    }
}

#[test]
fn json_file_log_rotates_at_max_size_keeping_max_file_files() {
    let mut e = env(&["seq", "1", "300"]);
    e.cfg.log_max_size = 1000;
    e.cfg.log_max_file = 3;
    e.spawn();
    e.client.start().unwrap();
    e.client.wait().unwrap();
    let path = e.log_path();
    eventually("the last line", || {
        log_entries(&path)
            .last()
            .is_some_and(|v| v["log"] == "300\n")
    });
    let dir = e.bundle.path();
    let mut logs: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|d| d.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("ctr-json.log"))
        .collect();
    logs.sort();
    assert_eq!(logs, ["ctr-json.log", "ctr-json.log.1", "ctr-json.log.2"]);
    for l in &logs {
        assert!(std::fs::metadata(dir.join(l)).unwrap().len() <= 1000, "{l}");
    }
    // The rotated files hold the lines just before the live one's.
    let older = log_entries(&dir.join("ctr-json.log.1"));
    let live = log_entries(&path);
    let last_old: u32 = older.last().unwrap()["log"]
        .as_str()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let first_live: u32 = live[0]["log"].as_str().unwrap().trim().parse().unwrap();
    assert_eq!(last_old + 1, first_live);
}

#[test]
fn tty_attach_is_raw_and_resize_is_seen_by_stty() {
    let mut e = env(&["sh", "-c", "sleep 1; stty size"]);
    e.bundle.set_terminal(true);
    e.cfg.tty = true;
    e.spawn();
    let mut conn = e.client.attach(false, true, true).unwrap();
    e.client.start().unwrap();
    e.client.resize(123, 45).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut out = Vec::new();
    conn.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
    assert_eq!(text.trim(), "45 123", "{text:?}");
    assert_eq!(e.client.wait().unwrap().code, 0);
    // The log has it as stdout.
    let path = e.log_path();
    eventually("the tty log line", || !log_entries(&path).is_empty());
    let entries = log_entries(&path);
    assert_eq!(entries[0]["stream"], "stdout");
    assert_eq!(entries[0]["log"], "45 123\r\n");
    // No terminal: resize is a conflict.
    let mut e = env(&["true"]);
    e.spawn();
    assert_eq!(
        e.client.resize(10, 10).unwrap_err().kind(),
        ShimErrorKind::Conflict
    );
}

#[test]
fn stdin_through_attach_with_stdin_once_ends_the_input() {
    let mut e = env(&["sh", "-c", "cat; echo done"]);
    e.cfg.stdin = true;
    e.cfg.stdin_once = true;
    e.spawn();
    let mut conn = e.client.attach(true, true, true).unwrap();
    e.client.start().unwrap();
    conn.write_all(b"hello\nworld\n").unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    let (out, err) = demux(conn);
    assert_eq!(out, "hello\nworld\ndone\n");
    assert_eq!(err, "");
    assert_eq!(e.client.wait().unwrap().code, 0);
}

#[test]
fn exec_streams_output_and_reports_its_exit_code() {
    let mut e = env(&["sleep", "100"]);
    e.spawn();
    // Not started yet: exec is a conflict.
    let err = e
        .client
        .exec("early", process(&["true"], false), false, false)
        .unwrap_err();
    assert_eq!(err.kind(), ShimErrorKind::Conflict);
    e.client.start().unwrap();

    let (pid, conn) = e
        .client
        .exec(
            "e1",
            process(&["sh", "-c", "echo hi; echo oops >&2; exit 3"], false),
            false,
            false,
        )
        .unwrap();
    assert!(pid > 0);
    let (out, err) = demux(conn.unwrap());
    assert_eq!((out.as_str(), err.as_str()), ("hi\n", "oops\n"));
    assert_eq!(e.client.exec_wait("e1").unwrap().code, 3);

    // stdin to an exec; EOF closes it.
    let (_, conn) = e
        .client
        .exec("e2", process(&["cat"], false), true, false)
        .unwrap();
    let mut conn = conn.unwrap();
    conn.write_all(b"via exec\n").unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    assert_eq!(demux(conn).0, "via exec\n");
    assert_eq!(e.client.exec_wait("e2").unwrap().code, 0);

    // A tty exec, detached, then resized.
    let (_, conn) = e
        .client
        .exec("e3", process(&["sleep", "2"], true), false, true)
        .unwrap();
    assert!(conn.is_none());
    e.client.exec_resize("e3", 80, 24).unwrap();
    assert_eq!(e.client.exec_wait("e3").unwrap().code, 0);

    // Exec output is not in the container's log.
    assert!(log_entries(&e.log_path()).is_empty());

    let err = e.client.exec_wait("nope").unwrap_err();
    assert_eq!(err.kind(), ShimErrorKind::NotFound);

    e.client.kill(9, false).unwrap();
    e.client.wait().unwrap();
    let err = e
        .client
        .exec("late", process(&["true"], false), false, false)
        .unwrap_err();
    assert_eq!(err.kind(), ShimErrorKind::Conflict);
    assert!(err.to_string().contains("is not running"), "{err}");
}

#[test]
fn shim_outlives_its_parent_and_shutdown_leaves_nothing() {
    let mut e = env(&["sleep", "100"]);
    let s = e.spawn();
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", s.shim_pid)).unwrap();
    let ppid: u32 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(
        ppid,
        std::process::id(),
        "the shim must not be the test's child"
    );
    e.client.start().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    eprintln!(
        "idle shim {} with a sleep container: {}",
        s.shim_pid,
        vm_rss(s.shim_pid)
    );

    let err = e.client.shutdown(false).unwrap_err();
    assert_eq!(err.kind(), ShimErrorKind::Conflict);
    e.client.shutdown(true).unwrap();
    assert!(!e.cfg.socket.exists(), "socket left behind");
    assert!(
        !e.runtime_list().contains(&e.cfg.id),
        "runtime state left behind"
    );
    eventually("the shim and the init to be gone", || {
        !alive(s.shim_pid) && !alive(s.pid)
    });
    let err = e.client.state().unwrap_err();
    assert_eq!(err.kind(), ShimErrorKind::Unavailable);
}

#[test]
fn a_missing_program_fails_spawn_with_the_runtimes_error_and_leaves_nothing() {
    let mut e = env(&["/no/such/program"]);
    let err = e.try_spawn().unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("/no/such/program"), "{msg}");
    assert!(!e.cfg.socket.exists(), "socket left behind");
    assert!(
        !e.runtime_list().contains(&e.cfg.id),
        "runtime state left behind"
    );
    let bundle = e.bundle.path().to_string_lossy().into_owned();
    eventually("no shim process for this bundle", || {
        !std::fs::read_dir("/proc").unwrap().any(|p| {
            let p = p.unwrap().path();
            std::fs::read(p.join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&bundle))
                .unwrap_or(false)
        })
    });
}

#[test]
fn pause_resume_and_update() {
    let mut e = env(&["sleep", "100"]);
    e.spawn();
    e.client.start().unwrap();
    e.client.pause().unwrap();
    assert_eq!(e.client.state().unwrap().status, Status::Paused);
    assert_eq!(
        e.client.pause().unwrap_err().kind(),
        ShimErrorKind::Conflict
    );
    e.client.resume().unwrap();
    assert_eq!(e.client.state().unwrap().status, Status::Running);
    e.client.update(json!({"pids": {"limit": 100}})).unwrap();
}

#[test]
fn tty_stdin_reaches_the_shell() {
    let mut e = env(&["sh"]);
    e.bundle.set_terminal(true);
    e.cfg.tty = true;
    e.cfg.stdin = true;
    e.spawn();
    let mut conn = e.client.attach(true, true, false).unwrap();
    e.client.start().unwrap();
    conn.write_all(b"echo via-$((40+2))\nexit 5\n").unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut out = Vec::new();
    conn.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("via-42"), "{text:?}");
    assert_eq!(e.client.wait().unwrap().code, 5);
}

#[test]
fn shutdown_of_a_created_container_needs_no_force() {
    let mut e = env(&["sleep", "100"]);
    let s = e.spawn();
    e.client.shutdown(false).unwrap();
    assert!(!e.cfg.socket.exists());
    assert!(!e.runtime_list().contains(&e.cfg.id));
    eventually("the init to be gone", || !alive(s.pid));
}

/// Resident and total KiB of the shim's code mapping (its executable's `r-xp`).
fn code_pages(pid: u32) -> (u64, u64) {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut in_code = false;
    let (mut size, mut rss) = (0, 0);
    for line in smaps.lines() {
        let field = |l: &str| -> u64 {
            l.split_ascii_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        if line.contains(" r-xp ") {
            in_code = line.ends_with("berth-shim");
        } else if line.contains('-') && line.split_ascii_whitespace().count() >= 5 {
            in_code = false;
        } else if in_code && line.starts_with("Size:") {
            size += field(line);
        } else if in_code && line.starts_with("Rss:") {
            rss += field(line);
        }
    }
    (rss, size)
}

#[test]
fn an_idle_shim_gives_back_its_code_pages_and_still_serves() {
    let mut e = env(&["sleep", "100"]);
    let s = e.spawn();
    e.client.start().unwrap();
    // Once no request has come for a while, most of the code is unmapped.
    eventually("the idle shim to drop its code pages", || {
        let (rss, size) = code_pages(s.shim_pid);
        size > 0 && rss * 2 < size
    });
    // It faults back in: requests work as before.
    let (_, conn) = e
        .client
        .exec(
            "after-idle",
            process(&["echo", "awake"], false),
            false,
            false,
        )
        .unwrap();
    assert_eq!(demux(conn.unwrap()).0, "awake\n");
    assert_eq!(e.client.exec_wait("after-idle").unwrap().code, 0);
    assert_eq!(e.client.state().unwrap().status, Status::Running);
}
