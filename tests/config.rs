//! berthd's configuration as a Docker user sets it: `daemon.json` (log rotation,
//! the default log driver, bad values refused at start), OCI runtimes chosen per
//! container, log drivers per container, and two daemons side by side.

use berth_e2e::{ok, text, Berthd};

#[test]
fn log_opts_rotate_the_json_log_and_keep_at_most_max_file() {
    let d = Berthd::start_with_config(r#"{"log-opts": {"max-size": "1k", "max-file": "2"}}"#);
    let id = ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "chatty",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 500 ]; do echo line$i; i=$((i+1)); done",
    ]));
    let id = id.trim();
    let log_path = std::path::PathBuf::from(d.inspect(id, "{{.LogPath}}"));
    assert_eq!(
        log_path.file_name().unwrap().to_string_lossy(),
        format!("{id}-json.log")
    );
    let dir = log_path.parent().unwrap().to_owned();
    let logs = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&format!("{id}-json.log")))
            .collect();
        names.sort();
        names
    };
    // Never more than max-file files, however far the container has got.
    while d.inspect(id, "{{.State.Running}}") == "true" {
        assert!(logs().len() <= 2, "{:?}", logs());
    }
    assert_eq!(ok(d.docker(&["wait", id])), "0\n");
    assert_eq!(
        logs(),
        [format!("{id}-json.log"), format!("{id}-json.log.1")]
    );
    for f in logs() {
        let size = std::fs::metadata(dir.join(&f)).unwrap().len();
        // max-size, give or take the record that crossed it.
        assert!(size < 1024 + 200, "{f}: {size} bytes");
        for line in std::fs::read_to_string(dir.join(&f)).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect(line);
            assert_eq!(v["stream"], "stdout", "{line}");
        }
    }
    // logs still gives the newest lines, in order, ending with the last.
    let out = ok(d.docker(&["logs", "chatty"]));
    assert!(out.ends_with("line498\nline499\n"), "{out}");
    let n: Vec<u32> = out
        .lines()
        .map(|l| l.trim_start_matches("line").parse().expect(l))
        .collect();
    assert!(n.len() < 500, "rotated lines are gone: {}", n.len());
    assert!(n.windows(2).all(|w| w[1] == w[0] + 1), "{out}");
    assert_eq!(
        ok(d.docker(&["logs", "--tail", "1", "chatty"])),
        "line499\n"
    );
    assert_eq!(ok(d.berth(&["logs", "--tail", "1", "chatty"])), "line499\n");
    ok(d.docker(&["rm", "chatty"]));
    assert!(logs().is_empty(), "{:?}", logs());
    d.assert_clean();
}

#[test]
fn runtime_runc_runs_and_info_lists_the_runtimes() {
    let d = Berthd::start();
    let runtimes = ok(d.docker(&["info", "--format", "{{json .Runtimes}}"]));
    let v: serde_json::Value = serde_json::from_str(&runtimes).expect(&runtimes);
    for name in ["berth-runc", "runc", "crun"] {
        assert!(v.get(name).is_some(), "{name} in {runtimes}");
    }
    // An unknown runtime is refused before anything is created.
    let out = d.docker(&[
        "run",
        "--rm",
        "--runtime",
        "nosuchruntime",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("unknown or invalid runtime name: nosuchruntime"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(ok(d.docker(&["ps", "-aq"])), "");

    if !std::path::Path::new("/usr/sbin/runc").exists() {
        eprintln!("skipping the runc run: /usr/sbin/runc is missing");
        return;
    }
    let out = d.docker(&["run", "--rm", "--runtime", "runc", "busybox", "echo", "hi"]);
    assert_eq!(text(&out.stdout), "hi\n", "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(0));
    let out = d.berth(&["run", "--rm", "--runtime", "runc", "busybox", "echo", "hi"]);
    assert_eq!(text(&out.stdout), "hi\n", "{}", text(&out.stderr));
    // A detached one: the runtime is recorded, exec and stop work through it.
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "rc",
        "--runtime",
        "runc",
        "busybox",
        "sleep",
        "1000",
    ]));
    assert_eq!(d.inspect("rc", "{{.HostConfig.Runtime}}"), "runc");
    assert_eq!(
        ok(d.docker(&["exec", "rc", "echo", "in-runc"])),
        "in-runc\n"
    );
    ok(d.docker(&["stop", "-t", "1", "rc"]));
    assert_eq!(d.inspect("rc", "{{.State.ExitCode}}"), "137");
    ok(d.docker(&["rm", "rc"]));
    d.assert_clean();
}

#[test]
fn bad_daemon_json_values_stop_berthd_naming_the_key() {
    for (config, words) in [
        (r#"{"log-opts": {"max-file": "zero"}}"#, "max-file"),
        (r#"{"log-opts": {"max-size": "lots"}}"#, "max-size"),
        (r#"{"default-runtime": "nosuchruntime"}"#, "nosuchruntime"),
        (r#"{"log-opts": "#, "daemon.json"),
    ] {
        let (code, output) = Berthd::refuses_to_start_with_config(config);
        assert_ne!(code, Some(0), "{config}: {output}");
        assert!(output.contains(words), "{config}: {output}");
    }
}

#[test]
fn two_daemons_side_by_side_see_only_their_own_containers() {
    let a = Berthd::start();
    let b = Berthd::start();
    ok(a.docker(&["create", "--name", "only-a", "busybox", "true"]));
    ok(b.docker(&["create", "--name", "only-b", "busybox", "true"]));
    // The same name in each: names are per daemon.
    ok(a.docker(&["run", "-d", "--name", "same", "busybox", "sleep", "1000"]));
    ok(b.docker(&["run", "-d", "--name", "same", "busybox", "sleep", "1000"]));
    let names = |d: &Berthd| {
        let mut n: Vec<String> = ok(d.docker(&["ps", "-a", "--format", "{{.Names}}"]))
            .lines()
            .map(str::to_owned)
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&a), ["only-a", "same"]);
    assert_eq!(names(&b), ["only-b", "same"]);
    assert_ne!(a.inspect("same", "{{.Id}}"), b.inspect("same", "{{.Id}}"));
    let out = a.docker(&["inspect", "only-b"]);
    assert_ne!(out.status.code(), Some(0));
    // Removing in one leaves the other's alone.
    ok(a.docker(&["rm", "-f", "same", "only-a"]));
    assert_eq!(names(&b), ["only-b", "same"]);
    assert_eq!(b.inspect("same", "{{.State.Running}}"), "true");
    ok(b.docker(&["rm", "-f", "same", "only-b"]));
    a.assert_clean();
    b.assert_clean();
}

#[test]
fn log_driver_none_keeps_no_logs() {
    let d = Berthd::start();
    ok(d.docker(&[
        "run",
        "--name",
        "quiet",
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "hi",
    ]));
    assert_eq!(d.inspect("quiet", "{{.HostConfig.LogConfig.Type}}"), "none");
    for out in [d.docker(&["logs", "quiet"]), d.berth(&["logs", "quiet"])] {
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains("configured logging driver does not support reading"),
            "{}",
            text(&out.stderr)
        );
    }
    ok(d.docker(&["rm", "quiet"]));
    d.assert_clean();
}

#[test]
fn daemon_json_log_driver_none_is_the_default() {
    let d = Berthd::start_with_config(r#"{"log-driver": "none"}"#);
    ok(d.docker(&["run", "--name", "qq", "busybox", "echo", "hi"]));
    assert_eq!(d.inspect("qq", "{{.HostConfig.LogConfig.Type}}"), "none");
    let out = d.docker(&["logs", "qq"]);
    assert!(
        text(&out.stderr).contains("configured logging driver does not support reading"),
        "{}",
        text(&out.stderr)
    );
    // json-file asked for explicitly still logs.
    ok(d.docker(&[
        "run",
        "--name",
        "jj",
        "--log-driver",
        "json-file",
        "busybox",
        "echo",
        "hi",
    ]));
    assert_eq!(ok(d.docker(&["logs", "jj"])), "hi\n");
    ok(d.docker(&["rm", "qq", "jj"]));
    d.assert_clean();
}

#[test]
fn unknown_log_driver_is_refused_at_create() {
    let d = Berthd::start();
    let out = d.docker(&[
        "run",
        "--rm",
        "--log-driver",
        "nosuchdriver",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("no log driver named 'nosuchdriver' is registered"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(ok(d.docker(&["ps", "-aq"])), "");
    d.assert_clean();
}
