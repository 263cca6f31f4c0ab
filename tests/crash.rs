//! kill -9 of berthd with containers running: they keep running in their shims,
//! and a restarted berthd finds them again (live restore) with nothing lost.

use std::time::Duration;

use berth_e2e::{ok, text, Berthd};

#[test]
fn containers_outlive_a_killed_daemon_and_nothing_is_lost() {
    let mut d = Berthd::start();
    let ticker = ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.02; done",
    ]));
    let ticker = ticker.trim().to_owned();
    let sleeper = ok(d.docker(&["run", "-d", "--name", "sleeper", "busybox", "sleep", "1000"]));
    let sleeper = sleeper.trim().to_owned();
    let quitter = ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "quitter",
        "busybox",
        "sh",
        "-c",
        "sleep 1.5; exit 7",
    ]));
    let quitter = quitter.trim().to_owned();
    let pids: Vec<String> = [&ticker, &sleeper]
        .iter()
        .map(|id| d.inspect(id, "{{.State.Pid}}"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));

    d.kill9();
    // While the daemon is down, the ticker keeps logging and the quitter exits.
    std::thread::sleep(Duration::from_millis(2500));
    for p in &pids {
        assert!(
            std::path::Path::new(&format!("/proc/{p}")).exists(),
            "container pid {p} survived the daemon"
        );
    }
    d.spawn();

    let ps = ok(d.docker(&["ps", "--format", "{{.Names}}"]));
    let mut names: Vec<&str> = ps.lines().collect();
    names.sort();
    assert_eq!(names, ["sleeper", "ticker"]);
    assert_eq!(d.inspect(&ticker, "{{.State.Pid}}"), pids[0]);
    assert_eq!(d.inspect(&sleeper, "{{.State.Pid}}"), pids[1]);
    assert_eq!(
        d.inspect(&quitter, "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 7",
        "the real exit code of a container that exited while berthd was down"
    );
    assert_eq!(
        ok(d.docker(&["exec", "sleeper", "echo", "alive"])).trim(),
        "alive"
    );

    ok(d.docker(&["stop", "-t", "1", "ticker"]));
    let logs = d.docker(&["logs", "ticker"]);
    let lines: Vec<String> = text(&logs.stdout).lines().map(str::to_owned).collect();
    assert!(
        lines.len() > 100,
        "the ticker logged through the outage: {} lines",
        lines.len()
    );
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l, &format!("line-{i}"), "no log line lost");
    }
    ok(d.docker(&["rm", "-f", "ticker", "sleeper", "quitter"]));
    d.assert_clean();
}

#[test]
fn a_restarted_daemon_keeps_its_containers_and_names() {
    let mut d = Berthd::start();
    ok(d.docker(&["create", "--name", "kept", "busybox", "echo", "from-kept"]));
    d.stop();
    d.spawn();
    let out = d.docker(&["start", "-a", "kept"]);
    assert_eq!(text(&out.stdout), "from-kept\n", "{}", text(&out.stderr));
    ok(d.docker(&["rm", "kept"]));
    d.assert_clean();
}

#[test]
fn without_live_restore_a_daemon_stop_stops_its_containers() {
    let mut d = Berthd::start();
    std::fs::write(
        d.dir.path().join("daemon.json"),
        r#"{"live-restore": false}"#,
    )
    .unwrap();
    d.stop();
    d.spawn();
    assert_eq!(d.inspect_info("{{.LiveRestoreEnabled}}"), "false");
    let id = ok(d.docker(&[
        "run",
        "-d",
        "--stop-timeout",
        "1",
        "busybox",
        "sleep",
        "1000",
    ]));
    let id = id.trim().to_owned();
    let pid = d.inspect(&id, "{{.State.Pid}}");
    d.stop();
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the container stopped with the daemon"
    );
    d.spawn();
    assert_eq!(d.inspect(&id, "{{.State.Status}}"), "exited");
    ok(d.docker(&["rm", &id]));
    d.assert_clean();
}
