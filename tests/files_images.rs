//! Files in and out of containers, and images, with the official `docker` CLI
//! and with `berth`: `cp`, `export`, `diff`, `commit`, `top`, `stats`, `port`,
//! `wait`, `attach`, `start -a`, `logs --since`, the prunes and `system df`;
//! `images`, `tag`, `rmi`, `history`, `save`/`load`, `import`. Where the output
//! is deterministic, both CLIs must print the same.

use std::io::{BufRead, Write};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use berth_e2e::{docker_cli, ok, text, workspace_bin, Berthd};

/// Runs `program args` against `d` with `input` on its stdin.
fn with_stdin(d: &Berthd, program: std::path::PathBuf, args: &[&str], input: &[u8]) -> Output {
    let mut child = d
        .client(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn client");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("client output");
    writer.join().unwrap();
    out
}

/// The names in a tar archive, as `tar -t` lists them.
fn tar_names(archive: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar");
    std::fs::write(&path, archive).unwrap();
    let out = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&path)
        .output()
        .unwrap();
    ok(out).lines().map(str::to_owned).collect()
}

/// A tar archive holding `name` with `content`, made by the host's tar.
fn tar_of(name: &str, content: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), content).unwrap();
    let out = std::process::Command::new("tar")
        .arg("-C")
        .arg(dir.path())
        .arg("-cf")
        .arg("-")
        .arg(name)
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

/// The first line `child` writes to stdout (panics if none comes within `secs`:
/// a hang guard, not a timing assertion).
fn first_line(child: &mut Child, secs: u64) -> String {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .expect("a line from the attached client")
}

#[test]
fn cp_copies_files_and_directories_both_ways_and_as_tar_streams() {
    let d = Berthd::start();
    ok(d.docker(&["run", "-d", "--name", "cp1", "busybox", "sleep", "1000"]));
    let host = tempfile::tempdir().unwrap();
    let h = |p: &str| host.path().join(p).to_string_lossy().into_owned();

    // A file in, with each CLI.
    std::fs::write(h("in.txt"), "from the host\n").unwrap();
    ok(d.docker(&["cp", &h("in.txt"), "cp1:/tmp/docker.txt"]));
    ok(d.berth(&["cp", &h("in.txt"), "cp1:/tmp/berth.txt"]));
    assert_eq!(
        ok(d.docker(&["exec", "cp1", "cat", "/tmp/docker.txt", "/tmp/berth.txt"])),
        "from the host\nfrom the host\n"
    );
    // Into a directory: the file keeps its name.
    ok(d.docker(&["cp", &h("in.txt"), "cp1:/tmp/"]));
    assert_eq!(
        ok(d.docker(&["exec", "cp1", "cat", "/tmp/in.txt"])),
        "from the host\n"
    );

    // A file out, with each CLI.
    ok(d.docker(&["exec", "cp1", "sh", "-c", "echo inside > /tmp/out.txt"]));
    ok(d.docker(&["cp", "cp1:/tmp/out.txt", &h("docker-out.txt")]));
    ok(d.berth(&["cp", "cp1:/tmp/out.txt", &h("berth-out.txt")]));
    assert_eq!(
        std::fs::read_to_string(h("docker-out.txt")).unwrap(),
        "inside\n"
    );
    assert_eq!(
        std::fs::read_to_string(h("berth-out.txt")).unwrap(),
        "inside\n"
    );

    // A directory out: a new host path gets the directory's content.
    ok(d.docker(&[
        "exec",
        "cp1",
        "sh",
        "-c",
        "mkdir -p /data/sub && echo a > /data/a && echo b > /data/sub/b",
    ]));
    for (cli, dest) in [("docker", h("docker-data")), ("berth", h("berth-data"))] {
        let out = if cli == "docker" {
            d.docker(&["cp", "cp1:/data", &dest])
        } else {
            d.berth(&["cp", "cp1:/data", &dest])
        };
        ok(out);
        let dest = std::path::Path::new(&dest);
        assert_eq!(
            std::fs::read_to_string(dest.join("a")).unwrap(),
            "a\n",
            "{cli}"
        );
        assert_eq!(
            std::fs::read_to_string(dest.join("sub/b")).unwrap(),
            "b\n",
            "{cli}"
        );
    }

    // `-` as the destination: a tar stream on stdout.
    for out in [
        d.docker(&["cp", "cp1:/data", "-"]),
        d.berth(&["cp", "cp1:/data", "-"]),
    ] {
        assert!(out.status.success(), "{}", text(&out.stderr));
        let mut names = tar_names(&out.stdout);
        names.sort();
        assert_eq!(names, ["data/", "data/a", "data/sub/", "data/sub/b"]);
    }

    // `-` as the source: a tar stream on stdin, extracted into the directory.
    let archive = tar_of("streamed.txt", "via docker\n");
    ok(with_stdin(
        &d,
        docker_cli(),
        &["cp", "-", "cp1:/tmp"],
        &archive,
    ));
    let archive = tar_of("streamed2.txt", "via berth\n");
    ok(with_stdin(
        &d,
        workspace_bin("berth"),
        &["cp", "-", "cp1:/tmp"],
        &archive,
    ));
    assert_eq!(
        ok(d.docker(&[
            "exec",
            "cp1",
            "cat",
            "/tmp/streamed.txt",
            "/tmp/streamed2.txt"
        ])),
        "via docker\nvia berth\n"
    );

    ok(d.docker(&["rm", "-f", "cp1"]));
    d.assert_clean();
}

#[test]
fn cp_of_a_missing_path_fails_with_dockers_words() {
    let d = Berthd::start();
    ok(d.docker(&["run", "-d", "--name", "cp2", "busybox", "sleep", "1000"]));
    let host = tempfile::tempdir().unwrap();
    let dest = host.path().join("x").to_string_lossy().into_owned();
    for out in [
        d.docker(&["cp", "cp2:/nope", &dest]),
        d.berth(&["cp", "cp2:/nope", &dest]),
    ] {
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(
            err.contains("Could not find the file /nope in container cp2"),
            "{err}"
        );
    }
    // A missing source on the host side too.
    let missing = host.path().join("missing").to_string_lossy().into_owned();
    let out = d.docker(&["cp", &missing, "cp2:/tmp/"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("no such file or directory"),
        "{}",
        text(&out.stderr)
    );
    // And a container that does not exist.
    let out = d.docker(&["cp", "nosuchctr:/etc/passwd", &dest]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("No such container: nosuchctr"),
        "{}",
        text(&out.stderr)
    );
    assert!(!host.path().join("x").exists());
    ok(d.docker(&["rm", "-f", "cp2"]));
    d.assert_clean();
}

#[test]
fn export_diff_and_commit_capture_the_containers_changes() {
    let d = Berthd::start();
    ok(d.docker(&[
        "run",
        "--name",
        "chg",
        "busybox",
        "sh",
        "-c",
        "mkdir /data && echo committed > /data/f && rm /bin/true && echo x >> /etc/group",
    ]));

    // export: the whole filesystem as a tar, busybox in it.
    for out in [d.docker(&["export", "chg"]), d.berth(&["export", "chg"])] {
        assert!(out.status.success(), "{}", text(&out.stderr));
        let names = tar_names(&out.stdout);
        assert!(names.iter().any(|n| n == "bin/busybox"), "{names:?}");
        assert!(names.iter().any(|n| n == "data/f"), "{names:?}");
        assert!(!names.iter().any(|n| n == "bin/true"), "{names:?}");
    }
    let host = tempfile::tempdir().unwrap();
    let file = host.path().join("chg.tar").to_string_lossy().into_owned();
    ok(d.docker(&["export", "-o", &file, "chg"]));
    let names = tar_names(&std::fs::read(&file).unwrap());
    assert!(names.iter().any(|n| n == "bin/busybox"), "{names:?}");

    // diff: A, C and D lines, the same from both CLIs.
    let diff = ok(d.docker(&["diff", "chg"]));
    for line in [
        "A /data",
        "A /data/f",
        "C /bin",
        "D /bin/true",
        "C /etc",
        "C /etc/group",
    ] {
        assert!(diff.lines().any(|l| l == line), "{line} in\n{diff}");
    }
    assert_eq!(ok(d.berth(&["diff", "chg"])), diff);

    // commit with a new CMD and a message; the image runs with the change.
    let id = ok(d.docker(&[
        "commit",
        "-c",
        "CMD [\"cat\", \"/data/f\"]",
        "-m",
        "added data",
        "chg",
        "committed:v1",
    ]));
    let id = id.trim();
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(
        ok(d.docker(&["image", "inspect", "-f", "{{.Id}}", "committed:v1"])).trim(),
        id
    );
    assert_eq!(
        ok(d.docker(&[
            "image",
            "inspect",
            "-f",
            "{{.Comment}} {{json .Config.Cmd}}",
            "committed:v1"
        ]))
        .trim(),
        "added data [\"cat\",\"/data/f\"]"
    );
    assert_eq!(
        ok(d.docker(&["run", "--rm", "committed:v1"])),
        "committed\n"
    );
    let out = d.docker(&["run", "--rm", "committed:v1", "ls", "/bin/true"]);
    assert_ne!(out.status.code(), Some(0));
    // The commit's message is in its history.
    let history = ok(d.docker(&["history", "--format", "{{.Comment}}", "committed:v1"]));
    assert_eq!(history.lines().next(), Some("added data"), "{history}");

    // berth commit too.
    let id2 = ok(d.berth(&[
        "commit",
        "-c",
        "CMD [\"cat\", \"/etc/group\"]",
        "chg",
        "committed:v2",
    ]));
    assert!(id2.trim().starts_with("sha256:"), "{id2}");
    let group = ok(d.berth(&["run", "--rm", "committed:v2"]));
    assert!(group.ends_with("x\n"), "{group}");

    ok(d.docker(&["rm", "chg"]));
    ok(d.docker(&["rmi", "committed:v1", "committed:v2"]));
    assert_eq!(
        ok(d.docker(&["images", "--format", "{{.Repository}}"])).trim(),
        "busybox"
    );
    d.assert_clean();
}

#[test]
fn top_stats_and_port_of_a_running_container() {
    let d = Berthd::start();
    let id = ok(d.docker(&["run", "-d", "--name", "busy", "busybox", "sleep", "1000"]));
    let id = id.trim();

    for out in [d.docker(&["top", "busy"]), d.berth(&["top", "busy"])] {
        let top = ok(out);
        let header: Vec<&str> = top.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(
            header,
            ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
            "{top}"
        );
        assert!(
            top.lines().skip(1).any(|l| l.ends_with("sleep 1000")),
            "{top}"
        );
        let pid = d.inspect("busy", "{{.State.Pid}}");
        assert!(
            top.lines()
                .skip(1)
                .any(|l| l.split_whitespace().nth(1) == Some(pid.as_str())),
            "pid {pid} in {top}"
        );
    }
    let top = ok(d.docker(&["top", "busy", "-o", "pid,comm"]));
    assert!(top.lines().skip(1).any(|l| l.ends_with("sleep")), "{top}");

    let stats = ok(d.docker(&["stats", "--no-stream"]));
    let mut lines = stats.lines();
    let header = lines.next().unwrap();
    for col in ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "PIDS"] {
        assert!(header.contains(col), "{stats}");
    }
    let row = lines.next().unwrap();
    assert!(row.starts_with(&id[..12]), "{stats}");
    assert!(row.contains("busy"), "{stats}");
    assert_eq!(lines.next(), None, "{stats}");
    for out in [
        d.docker(&["stats", "--no-stream", "--format", "{{.Name}} {{.ID}}"]),
        d.berth(&["stats", "--no-stream", "--format", "{{.Name}} {{.ID}}"]),
    ] {
        assert_eq!(ok(out), format!("busy {}\n", &id[..12]));
    }
    let berth_stats = ok(d.berth(&["stats", "--no-stream", "busy"]));
    assert!(berth_stats.lines().next().unwrap().contains("CONTAINER ID"));
    assert!(berth_stats.lines().nth(1).unwrap().starts_with(&id[..12]));

    // No published ports: nothing printed, success.
    assert_eq!(ok(d.docker(&["port", "busy"])), "");
    assert_eq!(ok(d.berth(&["port", "busy"])), "");
    let out = d.docker(&["port", "busy", "80"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("No public port '80' published for busy"),
        "{}",
        text(&out.stderr)
    );

    // top of a container that is not running.
    ok(d.docker(&["create", "--name", "idle", "busybox", "true"]));
    for out in [d.docker(&["top", "idle"]), d.berth(&["top", "idle"])] {
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains("is not running"),
            "{}",
            text(&out.stderr)
        );
    }
    ok(d.docker(&["rm", "idle"]));

    ok(d.docker(&["rm", "-f", "busy"]));
    d.assert_clean();
}

#[test]
fn wait_attach_and_start_attached() {
    let d = Berthd::start();
    // wait returns the exit code, from both CLIs.
    ok(d.docker(&["run", "-d", "--name", "w1", "busybox", "sh", "-c", "exit 3"]));
    assert_eq!(ok(d.docker(&["wait", "w1"])), "3\n");
    assert_eq!(ok(d.berth(&["wait", "w1"])), "3\n");

    // attach to a running container that keeps writing; it ends with the container.
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.1; done",
    ]));
    for cli in [docker_cli(), workspace_bin("berth")] {
        let mut child = d
            .client(&cli)
            .args(["attach", "--sig-proxy=false", "talker"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        assert_eq!(first_line(&mut child, 30), "tick\n", "{}", cli.display());
        ok(d.docker(&["restart", "-t", "0", "talker"]));
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(137), "{}", text(&out.stderr));
    }
    ok(d.docker(&["rm", "-f", "talker"]));

    // start -a: the output and the exit code of the container.
    ok(d.docker(&[
        "create",
        "--name",
        "sa",
        "busybox",
        "sh",
        "-c",
        "echo started; echo to-err >&2; exit 2",
    ]));
    for out in [
        d.docker(&["start", "-a", "sa"]),
        d.berth(&["start", "-a", "sa"]),
    ] {
        assert_eq!(text(&out.stdout), "started\n");
        assert_eq!(text(&out.stderr), "to-err\n");
        assert_eq!(out.status.code(), Some(2));
    }

    // start -ai: stdin reaches the container.
    ok(d.docker(&[
        "create", "-i", "--name", "sai", "busybox", "tr", "a-z", "A-Z",
    ]));
    let out = with_stdin(&d, docker_cli(), &["start", "-ai", "sai"], b"hello\n");
    assert_eq!(text(&out.stdout), "HELLO\n", "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(0));
    let out = with_stdin(
        &d,
        workspace_bin("berth"),
        &["start", "-ai", "sai"],
        b"again\n",
    );
    assert_eq!(text(&out.stdout), "AGAIN\n", "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(0));

    ok(d.docker(&["rm", "w1", "sa", "sai"]));
    d.assert_clean();
}

#[test]
fn logs_since_a_time_between_two_lines_gives_the_second() {
    let d = Berthd::start();
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "two",
        "busybox",
        "sh",
        "-c",
        "echo one; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo two",
    ]));
    d.eventually(30, "the first line", || {
        text(&d.docker(&["logs", "two"]).stdout) == "one\n"
    });
    // Now is after the first line was logged and before the second is written.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let since = format!("{}.{:09}", now.as_secs(), now.subsec_nanos());
    ok(d.docker(&["exec", "two", "touch", "/tmp/go"]));
    assert_eq!(ok(d.docker(&["wait", "two"])), "0\n");
    assert_eq!(ok(d.docker(&["logs", "two"])), "one\ntwo\n");
    assert_eq!(
        ok(d.docker(&["logs", "--since", &since, "two"])),
        "two\n",
        "since {since}: {}",
        ok(d.docker(&["logs", "-t", "two"]))
    );
    // A time before both gives both; an RFC 3339 time works too.
    assert_eq!(
        ok(d.docker(&["logs", "--since", "2000-01-01T00:00:00Z", "two"])),
        "one\ntwo\n"
    );
    assert_eq!(
        ok(d.docker(&["logs", "--since", "1h", "two"])),
        "one\ntwo\n"
    );
    ok(d.docker(&["rm", "two"]));
    d.assert_clean();
}

#[test]
fn prunes_remove_stopped_containers_and_system_df_counts() {
    let d = Berthd::start();
    let keep = ok(d.docker(&["run", "-d", "--name", "keep", "busybox", "sleep", "1000"]));
    let keep = keep.trim();
    let gone1 = ok(d.docker(&["create", "--name", "gone1", "busybox", "true"]));
    ok(d.docker(&["run", "--name", "gone2", "busybox", "true"]));
    let gone2 = d.inspect("gone2", "{{.Id}}");

    let df_format = "{{.Type}} {{.TotalCount}} {{.Active}}";
    let df = ok(d.docker(&["system", "df", "--format", df_format]));
    assert!(df.lines().any(|l| l == "Images 1 1"), "{df}");
    assert!(df.lines().any(|l| l == "Containers 3 1"), "{df}");
    assert_eq!(ok(d.berth(&["system", "df", "--format", df_format])), df);
    let table = ok(d.docker(&["system", "df"]));
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        "{table}"
    );

    let out = ok(d.docker(&["container", "prune", "-f"]));
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    assert!(out.contains(gone1.trim()), "{out}");
    assert!(out.contains(&gone2), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert_eq!(ok(d.docker(&["ps", "-aq", "--no-trunc"])).trim(), keep);

    // system prune: stopped containers go, the running one and its image stay.
    ok(d.docker(&["create", "--name", "gone3", "busybox", "true"]));
    let out = ok(d.berth(&["system", "prune", "-f"]));
    assert!(out.contains("Deleted Containers:"), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert_eq!(ok(d.docker(&["ps", "-aq", "--no-trunc"])).trim(), keep);
    assert_eq!(
        ok(d.docker(&["images", "--format", "{{.Repository}}"])).trim(),
        "busybox"
    );
    // berth's prune with nothing to prune.
    let out = ok(d.berth(&["container", "prune", "-f"]));
    assert_eq!(out, "Total reclaimed space: 0B\n");

    ok(d.docker(&["rm", "-f", "keep"]));
    d.assert_clean();
}

#[test]
fn images_tag_inspect_and_rmi_with_conflicts() {
    let d = Berthd::start();
    let images = ok(d.docker(&["images"]));
    let header: Vec<&str> = images
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .filter(|s| !s.is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(
        header,
        ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
        "{images}"
    );
    assert!(
        images.lines().nth(1).unwrap().starts_with("busybox "),
        "{images}"
    );

    let id = ok(d.docker(&["image", "inspect", "-f", "{{.Id}}", "busybox"]));
    let id = id.trim().to_owned();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert_eq!(
        ok(d.berth(&["image", "inspect", "-f", "{{.Id}}", "busybox"])).trim(),
        id
    );
    let short = &id[7..19];
    let format = "{{.Repository}}:{{.Tag}} {{.ID}}";
    assert_eq!(
        ok(d.docker(&["image", "ls", "--format", format])),
        format!("busybox:latest {short}\n")
    );

    // tag: a second name for the same image.
    ok(d.docker(&["tag", "busybox", "mybox:1"]));
    ok(d.berth(&["tag", "busybox", "berthbox"]));
    let mut listed: Vec<String> = ok(d.docker(&["image", "ls", "--format", format]))
        .lines()
        .map(str::to_owned)
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            format!("berthbox:latest {short}"),
            format!("busybox:latest {short}"),
            format!("mybox:1 {short}")
        ]
    );
    let mut berth_listed: Vec<String> = ok(d.berth(&["image", "ls", "--format", format]))
        .lines()
        .map(str::to_owned)
        .collect();
    berth_listed.sort();
    assert_eq!(berth_listed, listed);
    assert_eq!(
        ok(d.docker(&["image", "inspect", "-f", "{{.Id}}", "mybox:1"])).trim(),
        id
    );
    assert_eq!(ok(d.docker(&["rmi", "mybox:1"])), "Untagged: mybox:1\n");
    assert_eq!(
        ok(d.berth(&["rmi", "berthbox"])),
        "Untagged: berthbox:latest\n"
    );

    // A container uses busybox: rmi is a 409 conflict until forced.
    let ctr = ok(d.docker(&["create", "--name", "user", "busybox", "echo", "still-runs"]));
    let ctr = ctr.trim();
    for out in [d.docker(&["rmi", "busybox"]), d.berth(&["rmi", "busybox"])] {
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!(
                "conflict: unable to remove repository reference \"busybox\" (must force) - container {} is using its referenced image {short}",
                &ctr[..12]
            )),
            "{err}"
        );
    }
    let (status, body) = d.http("DELETE", "/images/busybox", "");
    assert_eq!(status, 409, "{body}");
    let out = d.docker(&["rmi", short]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("(must be forced) - image is being used by stopped container"),
        "{}",
        text(&out.stderr)
    );
    // -f untags; the image stays for the container, which still runs.
    assert_eq!(
        ok(d.docker(&["rmi", "-f", "busybox"])),
        "Untagged: busybox:latest\n"
    );
    assert_eq!(ok(d.docker(&["start", "-a", "user"])), "still-runs\n");
    assert_eq!(
        ok(d.docker(&[
            "images",
            "-a",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}}"
        ])),
        format!("<none>:<none> {short}\n")
    );
    ok(d.docker(&["rm", "user"]));
    // Now dangling and unused: image prune deletes it.
    let out = ok(d.docker(&["image", "prune", "-f"]));
    assert!(out.starts_with("Deleted Images:\n"), "{out}");
    assert!(out.contains(&format!("deleted: {id}")), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert_eq!(ok(d.docker(&["images", "-aq"])), "");
    d.assert_clean();
}

#[test]
fn history_lists_the_layers_alike_in_both_clis() {
    let d = Berthd::start();
    let history = ok(d.docker(&["history", "busybox"]));
    let header: Vec<&str> = history
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .filter(|s| !s.is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(
        header,
        ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
        "{history}"
    );
    assert!(history.lines().count() >= 2, "{history}");
    let format = "{{.ID}} {{.CreatedBy}} {{.Size}}";
    let docker = ok(d.docker(&["history", "--no-trunc", "--format", format, "busybox"]));
    assert_eq!(
        ok(d.berth(&["history", "--no-trunc", "--format", format, "busybox"])),
        docker
    );
    let id = d.inspect("busybox", "{{.Id}}");
    assert!(docker.starts_with(&id), "{docker}");
    let out = d.docker(&["history", "nosuchimage"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("No such image: nosuchimage"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn save_rmi_load_round_trip_keeps_the_image_id() {
    let d = Berthd::start();
    let id = d.inspect("busybox", "{{.Id}}");
    let host = tempfile::tempdir().unwrap();
    let file = host.path().join("bb.tar").to_string_lossy().into_owned();
    let berth_file = host.path().join("bb2.tar").to_string_lossy().into_owned();
    ok(d.docker(&["save", "-o", &file, "busybox"]));
    ok(d.berth(&["save", "-o", &berth_file, "busybox"]));
    for f in [&file, &berth_file] {
        let names = tar_names(&std::fs::read(f).unwrap());
        assert!(names.iter().any(|n| n == "manifest.json"), "{names:?}");
    }
    // save to stdout is the same archive.
    let out = d.docker(&["save", "busybox"]);
    assert!(out.status.success());
    assert!(tar_names(&out.stdout).iter().any(|n| n == "manifest.json"));

    assert_eq!(
        ok(d.docker(&["rmi", "busybox"])).lines().next(),
        Some("Untagged: busybox:latest")
    );
    assert_eq!(ok(d.docker(&["images", "-aq"])), "");
    assert_eq!(
        ok(d.docker(&["load", "-i", &file])).trim(),
        "Loaded image: busybox:latest"
    );
    assert_eq!(d.inspect("busybox", "{{.Id}}"), id);
    ok(d.docker(&["rmi", "busybox"]));
    assert_eq!(
        ok(d.berth(&["load", "-i", &berth_file])).trim(),
        "Loaded image: busybox:latest"
    );
    assert_eq!(d.inspect("busybox", "{{.Id}}"), id);
    // Loading again over the present image changes nothing.
    ok(d.docker(&["load", "-i", &file]));
    assert_eq!(ok(d.docker(&["images", "-q"])).trim(), &id[7..19]);
    assert_eq!(
        ok(d.docker(&["run", "--rm", "busybox", "echo", "loaded"])),
        "loaded\n"
    );
    d.assert_clean();
}

#[test]
fn import_of_an_exported_container_runs_as_a_new_image() {
    let d = Berthd::start();
    ok(d.docker(&[
        "run",
        "--name",
        "src",
        "busybox",
        "sh",
        "-c",
        "echo exported > /marker",
    ]));
    let host = tempfile::tempdir().unwrap();
    let file = host.path().join("src.tar").to_string_lossy().into_owned();
    ok(d.docker(&["export", "-o", &file, "src"]));
    let id = ok(d.docker(&["import", &file, "imported:1"]));
    let id = id.trim();
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(d.inspect("imported:1", "{{.Id}}"), id);
    assert_ne!(id, d.inspect("busybox", "{{.Id}}"));
    assert_eq!(
        ok(d.docker(&["run", "--rm", "imported:1", "cat", "/marker"])),
        "exported\n"
    );
    // berth import, with a CMD.
    let id2 = ok(d.berth(&[
        "import",
        "-c",
        "CMD [\"cat\", \"/marker\"]",
        &file,
        "imported:2",
    ]));
    assert!(id2.trim().starts_with("sha256:"), "{id2}");
    assert_eq!(ok(d.docker(&["run", "--rm", "imported:2"])), "exported\n");
    // Import from stdin.
    let archive = std::fs::read(&file).unwrap();
    let out = with_stdin(&d, docker_cli(), &["import", "-", "imported:3"], &archive);
    ok(out);
    assert_eq!(
        ok(d.docker(&["run", "--rm", "imported:3", "cat", "/marker"])),
        "exported\n"
    );
    ok(d.docker(&["rm", "src"]));
    ok(d.docker(&["rmi", "imported:1", "imported:2", "imported:3"]));
    d.assert_clean();
}

#[test]
fn inspect_of_missing_names_fails_with_dockers_words() {
    let d = Berthd::start();
    for out in [
        d.docker(&["image", "inspect", "nosuch"]),
        d.berth(&["image", "inspect", "nosuch"]),
    ] {
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains("No such image: nosuch"),
            "{}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout).trim(), "[]");
    }
    let (status, body) = d.http("GET", "/images/nosuch/json", "");
    assert_eq!(status, 404);
    assert!(body.contains("No such image: nosuch"), "{body}");
    // Neither a container nor an image.
    for out in [
        d.docker(&["inspect", "nosuch"]),
        d.berth(&["inspect", "nosuch"]),
    ] {
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains("No such object: nosuch"),
            "{}",
            text(&out.stderr)
        );
    }
    // Container commands on a missing container.
    for args in [
        ["diff", "nosuch"],
        ["export", "nosuch"],
        ["top", "nosuch"],
        ["commit", "nosuch"],
    ] {
        for out in [d.docker(&args), d.berth(&args)] {
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            assert!(
                text(&out.stderr).contains("No such container: nosuch"),
                "{args:?}: {}",
                text(&out.stderr)
            );
        }
    }
    // rmi of a missing image.
    let out = d.docker(&["rmi", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("No such image: nosuch"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn berth_logs_since_keeps_the_fraction_of_a_second() {
    let d = Berthd::start();
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "two",
        "busybox",
        "sh",
        "-c",
        "echo one; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo two",
    ]));
    d.eventually(30, "the first line", || {
        text(&d.docker(&["logs", "two"]).stdout) == "one\n"
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let since = format!("{}.{:09}", now.as_secs(), now.subsec_nanos());
    // The container ends as soon as it sees the file, and its end kills what is left
    // in its pid namespace: the touch may be killed (137) after it made the file.
    let out = d.docker(&["exec", "two", "touch", "/tmp/go"]);
    assert!(matches!(out.status.code(), Some(0 | 137)), "{out:?}");
    assert_eq!(ok(d.docker(&["wait", "two"])), "0\n");
    assert_eq!(ok(d.berth(&["logs", "--since", &since, "two"])), "two\n");
    ok(d.docker(&["rm", "two"]));
    d.assert_clean();
}

#[test]
fn docker_system_prune_removes_stopped_containers() {
    let d = Berthd::start();
    let keep = ok(d.docker(&["run", "-d", "--name", "keep", "busybox", "sleep", "1000"]));
    ok(d.docker(&["create", "--name", "gone", "busybox", "true"]));
    let out = ok(d.docker(&["system", "prune", "-f"]));
    assert!(out.contains("Deleted Containers:"), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert_eq!(
        ok(d.docker(&["ps", "-aq", "--no-trunc"])).trim(),
        keep.trim()
    );
    assert_eq!(
        ok(d.docker(&["images", "--format", "{{.Repository}}"])).trim(),
        "busybox"
    );
    ok(d.docker(&["rm", "-f", "keep"]));
    d.assert_clean();
}
