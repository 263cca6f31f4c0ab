//! Volumes with the official `docker` CLI (and `berth`): create/ls/inspect/rm/prune,
//! `-v name:/path` and `--mount type=volume`, copy-up, `nocopy`, read-only volumes,
//! anonymous volumes from an image's `VOLUME`, tmpfs- and bind-backed volumes,
//! `system df -v`, and data that survives container removal and a berthd restart.

use berth_e2e::{ok, text, Berthd};

/// The names `docker volume ls -q` prints.
fn volume_names(d: &Berthd) -> Vec<String> {
    ok(d.docker(&["volume", "ls", "-q"]))
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn volume_create_ls_inspect_rm_prune() {
    let d = Berthd::start();
    assert_eq!(
        ok(d.docker(&["volume", "create", "--label", "team=a", "vol1"])).trim(),
        "vol1"
    );
    assert_eq!(ok(d.docker(&["volume", "create", "vol2"])).trim(), "vol2");
    // Creating an existing name returns it.
    assert_eq!(ok(d.docker(&["volume", "create", "vol2"])).trim(), "vol2");
    let anon = ok(d.docker(&["volume", "create"])).trim().to_owned();
    assert_eq!(anon.len(), 64, "{anon}");

    let ls = ok(d.docker(&["volume", "ls"]));
    assert!(ls.starts_with("DRIVER    VOLUME NAME\n"), "{ls}");
    assert!(ls.contains("local     vol1\n"), "{ls}");
    let filtered = ok(d.docker(&["volume", "ls", "-q", "--filter", "label=team=a"]));
    assert_eq!(filtered, "vol1\n");
    let by_name = ok(d.docker(&["volume", "ls", "-q", "--filter", "name=vol"]));
    assert_eq!(by_name, "vol1\nvol2\n");
    let dangling = ok(d.docker(&["volume", "ls", "-q", "--filter", "dangling=true"]));
    assert_eq!(dangling.lines().count(), 3, "{dangling}");

    let fmt = "{{.Name}} {{.Driver}} {{.Scope}} {{.Labels}} {{.Mountpoint}}";
    let line = ok(d.docker(&["volume", "inspect", "-f", fmt, "vol1"]));
    let mountpoint = d.data_root().join("volumes/vol1/_data");
    assert_eq!(
        line.trim(),
        format!("vol1 local local map[team:a] {}", mountpoint.display())
    );
    let created = ok(d.docker(&["volume", "inspect", "-f", "{{.CreatedAt}}", "vol1"]));
    assert!(
        created.trim().ends_with('Z') && created.contains('T'),
        "{created}"
    );

    // Bad input: Docker's status codes and words.
    let out = d.docker(&["volume", "create", "bad name"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("\"bad name\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed"),
        "{}",
        text(&out.stderr)
    );
    let (code, body) = d.http("POST", "/volumes/create", r#"{"Name": "x/y"}"#);
    assert_eq!(code, 400, "{body}");
    let (code, body) = d.http("DELETE", "/volumes/nosuch", "");
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("get nosuch: no such volume"), "{body}");
    let out = d.docker(&["volume", "rm", "nosuch"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no such volume"),
        "{}",
        text(&out.stderr)
    );
    ok(d.docker(&["volume", "rm", "-f", "nosuch"]));
    let out = d.docker(&["volume", "create", "-o", "bogus=1", "v3"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("invalid option"),
        "{}",
        text(&out.stderr)
    );

    assert_eq!(ok(d.docker(&["volume", "rm", "vol2"])), "vol2\n");
    let out = ok(d.docker(&["volume", "prune", "-f", "--filter", "label=team=a"]));
    assert!(out.starts_with("Deleted Volumes:\nvol1\n"), "{out}");
    let out = ok(d.docker(&["volume", "prune", "-f"]));
    assert!(out.contains(&anon), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert!(volume_names(&d).is_empty());
    d.assert_clean();
}

#[test]
fn named_volume_keeps_data_across_containers_and_a_restart() {
    let mut d = Berthd::start();
    ok(d.docker(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]));
    assert_eq!(volume_names(&d), ["data"]);
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        "busybox",
        "cat",
        "/data/f",
    ]));
    assert_eq!(out, "kept\n");
    d.stop();
    d.spawn();
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        "busybox",
        "cat",
        "/data/f",
    ]));
    assert_eq!(out, "kept\n");

    // Copy-up: an empty volume gets the image's /etc, owners and modes included.
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "-v",
        "fresh:/etc",
        "busybox",
        "cat",
        "/etc/passwd",
    ]));
    assert!(out.starts_with("root:x:0:0"), "{out}");
    let host = d.data_root().join("volumes/fresh/_data/passwd");
    assert!(host.exists());
    // A second mount does not copy again over what the volume holds.
    ok(d.docker(&[
        "run",
        "--rm",
        "-v",
        "fresh:/etc",
        "busybox",
        "rm",
        "/etc/group",
    ]));
    let out = ok(d.docker(&["run", "--rm", "-v", "fresh:/etc", "busybox", "ls", "/etc"]));
    assert!(!out.contains("group"), "{out}");
    // nocopy: nothing copied.
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "-v",
        "bare:/etc:nocopy",
        "busybox",
        "ls",
        "/etc",
    ]));
    assert!(!out.contains("passwd"), "{out}");

    // Read-only.
    let out = d.docker(&[
        "run",
        "--rm",
        "-v",
        "data:/data:ro",
        "busybox",
        "touch",
        "/data/x",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Read-only file system"),
        "{}",
        text(&out.stderr)
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=mvol,dst=/x,readonly",
        "busybox",
        "touch",
        "/x/y",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Read-only file system"),
        "{}",
        text(&out.stderr)
    );

    // In use: 409 and Docker's words; inspect shows the mount.
    let id = ok(d.docker(&["run", "-d", "-v", "data:/data", "busybox", "sleep", "100"]))
        .trim()
        .to_owned();
    let mounts = d.inspect(
        &id,
        "{{range .Mounts}}{{.Type}} {{.Name}} {{.Source}} {{.Destination}} {{.Driver}} {{.RW}}{{end}}",
    );
    assert_eq!(
        mounts,
        format!(
            "volume data {} /data local true",
            d.data_root().join("volumes/data/_data").display()
        )
    );
    let out = d.docker(&["volume", "rm", "data"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(&format!("remove data: volume is in use - [{id}]")),
        "{}",
        text(&out.stderr)
    );
    let (code, _) = d.http("DELETE", "/volumes/data", "");
    assert_eq!(code, 409);
    // Prune leaves volumes in use.
    ok(d.docker(&["volume", "prune", "-f"]));
    assert_eq!(volume_names(&d), ["data"]);
    ok(d.docker(&["rm", "-f", &id]));
    ok(d.docker(&["volume", "rm", "data"]));
    d.assert_clean();
}

#[test]
fn anonymous_volumes_from_an_image_go_with_rm_v_and_run_rm() {
    let d = Berthd::start();
    ok(d.docker(&["create", "--name", "base", "busybox", "true"]));
    ok(d.docker(&["commit", "--change", "VOLUME /data", "base", "withvol"]));
    ok(d.docker(&["rm", "base"]));

    ok(d.docker(&["run", "--rm", "withvol", "true"]));
    assert!(volume_names(&d).is_empty(), "{:?}", volume_names(&d));

    ok(d.docker(&[
        "create",
        "--name",
        "anon",
        "-v",
        "keep:/keep",
        "withvol",
        "true",
    ]));
    let names = volume_names(&d);
    assert_eq!(names.len(), 2, "{names:?}");
    let anon = names.iter().find(|n| *n != "keep").unwrap().clone();
    assert_eq!(anon.len(), 64);
    let labels = ok(d.docker(&["volume", "inspect", "-f", "{{.Labels}}", &anon]));
    assert_eq!(labels.trim(), "map[com.docker.volume.anonymous:]");
    ok(d.docker(&["rm", "-v", "anon"]));
    assert_eq!(volume_names(&d), ["keep"]);

    // `-v /path` makes an anonymous volume too.
    ok(d.docker(&["run", "--rm", "-v", "/anon", "busybox", "true"]));
    assert_eq!(volume_names(&d), ["keep"]);
    ok(d.docker(&[
        "create", "--name", "anon2", "-v", "/anon", "busybox", "true",
    ]));
    assert_eq!(volume_names(&d).len(), 2);
    ok(d.docker(&["rm", "-v", "anon2"]));
    assert_eq!(volume_names(&d), ["keep"]);

    // A volume mount at the image's VOLUME path replaces the anonymous one.
    ok(d.docker(&["run", "--rm", "-v", "keep:/data", "withvol", "true"]));
    assert_eq!(volume_names(&d), ["keep"]);
    ok(d.docker(&["volume", "rm", "keep"]));
    d.assert_clean();
}

#[test]
fn tmpfs_and_bind_backed_volumes() {
    let mut d = Berthd::start();
    ok(d.docker(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m",
        "tmpv",
    ]));
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "-v",
        "tmpv:/data",
        "busybox",
        "grep",
        " /data ",
        "/proc/mounts",
    ]));
    assert!(out.starts_with("tmpfs /data tmpfs "), "{out}");
    assert!(out.contains("size=1024k"), "{out}");

    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("hello"), "from the host\n").unwrap();
    let device = format!("device={}", host.path().display());
    ok(d.docker(&[
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        "o=bind",
        "-o",
        &device,
        "bindv",
    ]));
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "-v",
        "bindv:/data",
        "busybox",
        "cat",
        "/data/hello",
    ]));
    assert_eq!(out, "from the host\n");

    let df = ok(d.docker(&["system", "df", "-v"]));
    assert!(df.contains("Local Volumes space usage:"), "{df}");
    assert!(df.contains("tmpv"), "{df}");
    assert!(df.contains("bindv"), "{df}");

    // berthd unmounts them when it stops with no container using them, and
    // mounts them again when it starts.
    d.stop();
    assert!(d.leftover_mounts().is_empty(), "{:?}", d.leftover_mounts());
    d.spawn();
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "-v",
        "tmpv:/data",
        "busybox",
        "grep",
        " /data ",
        "/proc/mounts",
    ]));
    assert!(out.starts_with("tmpfs /data tmpfs "), "{out}");
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "-v",
        "bindv:/data",
        "busybox",
        "cat",
        "/data/hello",
    ]));
    assert_eq!(out, "from the host\n");

    ok(d.docker(&["volume", "rm", "tmpv", "bindv"]));
    // The host's directory and its file stay.
    assert!(host.path().join("hello").exists());
    d.assert_clean();
}

#[test]
fn berth_volume_commands_print_what_docker_prints() {
    let d = Berthd::start();
    assert_eq!(
        ok(d.berth(&[
            "volume",
            "create",
            "--label",
            "team=b",
            "-o",
            "type=tmpfs",
            "-o",
            "device=tmpfs",
            "bv1"
        ])),
        "bv1\n"
    );
    assert_eq!(ok(d.berth(&["volume", "create", "--name", "bv2"])), "bv2\n");
    ok(d.docker(&["volume", "create", "dv3"]));
    for args in [
        &["volume", "ls"][..],
        &["volume", "ls", "-q"],
        &["volume", "ls", "--filter", "label=team=b"],
        &[
            "volume",
            "ls",
            "--format",
            "{{.Name}} {{.Driver}} {{.Labels}} {{.Scope}}",
        ],
        &["volume", "inspect", "bv1", "dv3"],
        &["volume", "inspect", "-f", "{{.Name}} {{.Options}}", "bv1"],
    ] {
        assert_eq!(ok(d.berth(args)), ok(d.docker(args)), "{args:?}");
    }
    let out = d.berth(&["volume", "create", "bad name"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("includes invalid characters"),
        "{}",
        text(&out.stderr)
    );
    let id = ok(d.docker(&["run", "-d", "-v", "bv2:/x", "busybox", "sleep", "100"]))
        .trim()
        .to_owned();
    let out = d.berth(&["volume", "rm", "bv2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&format!("remove bv2: volume is in use - [{id}]")),
        "{}",
        text(&out.stderr)
    );
    let out = ok(d.berth(&["volume", "prune", "-f", "--filter", "label=team=b"]));
    assert_eq!(out, "Deleted Volumes:\nbv1\n\nTotal reclaimed space: 0B\n");
    ok(d.docker(&["rm", "-f", &id]));
    assert_eq!(ok(d.berth(&["volume", "rm", "bv2", "dv3"])), "bv2\ndv3\n");
    assert_eq!(ok(d.berth(&["volume", "ls", "-q"])), "");
    d.assert_clean();
}

#[test]
fn volumes_from_shares_another_containers_volumes_and_binds() {
    let d = Berthd::start();
    let host_dir = tempfile::tempdir().unwrap();
    std::fs::write(host_dir.path().join("from-host"), "bound\n").unwrap();
    let bind = format!("{}:/hostdir", host_dir.path().display());
    ok(d.docker(&[
        "run",
        "--name",
        "owner",
        "-v",
        "shared:/data",
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/file",
    ]));
    // The volume and the bind, at the same places; `:ro` makes both read-only.
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "owner",
        "busybox",
        "sh",
        "-c",
        "cat /data/file /hostdir/from-host; echo more >> /data/file",
    ]));
    assert_eq!(out, "kept\nbound\n");
    let out = d.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "owner:ro",
        "busybox",
        "sh",
        "-c",
        "cat /data/file; echo x > /data/other",
    ]);
    assert!(!out.status.success());
    assert_eq!(text(&out.stdout), "kept\nmore\n");
    assert!(
        text(&out.stderr).contains("Read-only file system"),
        "{}",
        text(&out.stderr)
    );
    // The same through berth; inspect shows what was taken over.
    ok(d.berth(&[
        "create",
        "--name",
        "heir",
        "--volumes-from",
        "owner",
        "busybox",
        "true",
    ]));
    let mounts = d.inspect(
        "heir",
        "{{range .Mounts}}{{.Type}}:{{.Destination}} {{end}}",
    );
    assert!(
        mounts.contains("volume:/data") && mounts.contains("bind:/hostdir"),
        "{mounts}"
    );
    // Removing the heir with -v keeps the owner's volume.
    ok(d.docker(&["rm", "-v", "heir"]));
    assert_eq!(volume_names(&d), ["shared"]);
    let out = d.docker(&["run", "--rm", "--volumes-from", "nosuch", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("No such container: nosuch"),
        "{}",
        text(&out.stderr)
    );
    ok(d.docker(&["rm", "owner"]));
    ok(d.docker(&["volume", "rm", "shared"]));
    d.assert_clean();
}

#[test]
fn berth_mount_and_tmpfs_flags_reach_the_container() {
    let d = Berthd::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "on-host\n").unwrap();
    let bind = format!("type=bind,src={},dst=/b,ro", dir.path().display());
    let out = ok(d.berth(&[
        "run", "--rm", "--mount", &bind, "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m",
        "--mount", "src=mvol,dst=/v", "--tmpfs", "/scratch:size=2m", "busybox", "sh", "-c",
        "cat /b/f; touch /b/x 2>/dev/null || echo ro; df -k /t /scratch | tail -2 | awk '{print $2}'; echo hi > /v/f",
    ]));
    assert_eq!(out, "on-host\nro\n1024\n2048\n");
    let out = ok(d.docker(&["run", "--rm", "-v", "mvol:/v", "busybox", "cat", "/v/f"]));
    assert_eq!(out, "hi\n");
    let out = d.berth(&[
        "run",
        "--rm",
        "--mount",
        "type=bind,dst=/x,volume-nocopy",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    ok(d.docker(&["volume", "rm", "mvol"]));
    d.assert_clean();
}
