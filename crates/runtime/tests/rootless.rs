//! User namespaces and rootless berth-runc: root running a container whose root is
//! host uid 100000, `spec --rootless` against runc's, and an unprivileged user (uid
//! 1000, through `setpriv`) running, listing and deleting containers with its own
//! state root and no cgroup, mknod or other privilege.
//!
//! The tests need root (to become uid 1000 and to chown); without it they skip.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;
use serde_json::{json, Value};

/// The unprivileged user the tests become. No passwd entry is needed.
const USER: u32 = 1000;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn chown_r(path: &Path, uid: u32) {
    let status = Command::new("chown")
        .args(["-R", &format!("{uid}:{uid}"), path.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success(), "chown -R {uid} {}", path.display());
}

/// `program` run as [`USER`] with no groups and no capabilities.
fn as_user(program: &Path) -> Command {
    let mut c = Command::new("setpriv");
    c.args([
        &format!("--reuid={USER}"),
        &format!("--regid={USER}"),
        "--clear-groups",
        "--inh-caps=-all",
    ])
    .arg(program);
    c
}

/// berth-runc as the unprivileged user: a copy of the binary the user can execute (the
/// target dir may not be reachable) and a state root the user owns, in a temp dir.
struct UserRuntime {
    dir: tempfile::TempDir,
}

impl UserRuntime {
    fn new() -> UserRuntime {
        let dir = tempfile::Builder::new()
            .prefix("berth-rootless-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::copy(
            env!("CARGO_BIN_EXE_berth-runc"),
            dir.path().join("berth-runc"),
        )
        .unwrap();
        std::fs::set_permissions(
            dir.path().join("berth-runc"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("state")).unwrap();
        chown_r(&dir.path().join("state"), USER);
        UserRuntime { dir }
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("berth-runc")
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// `berth-runc --root <root> args…` as the user.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = as_user(&self.bin());
        c.arg("--root").arg(self.root()).args(args);
        c.stdin(Stdio::null());
        c
    }

    fn output(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs a command that leaves a container holding its stdio; output to files.
    fn detached(&self, args: &[&str]) -> (std::process::ExitStatus, String) {
        let err = tempfile::tempfile().unwrap();
        let status = self
            .cmd(args)
            .stdout(Stdio::null())
            .stderr(err.try_clone().unwrap())
            .status()
            .unwrap();
        let mut text = String::new();
        use std::io::{Read, Seek};
        let mut err = err;
        err.rewind().unwrap();
        err.read_to_string(&mut text).unwrap();
        (status, text)
    }

    fn state(&self, id: &str) -> Option<Value> {
        let out = self.output(&["state", id]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    }

    fn status(&self, id: &str) -> String {
        self.state(id)
            .map(|v| v["status"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    }
}

/// Force-deletes the user's container when dropped, also when a test fails midway.
struct UserGuard<'a> {
    rt: &'a UserRuntime,
    id: String,
}

impl Drop for UserGuard<'_> {
    fn drop(&mut self) {
        let _ = self.rt.output(&["delete", "-f", &self.id]);
    }
}

/// A busybox bundle the user owns whose config is what `berth-runc spec --rootless`
/// writes for that user, with no terminal.
fn rootless_bundle(rt: &UserRuntime) -> Bundle {
    let mut b = Bundle::busybox();
    std::fs::set_permissions(b.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::remove_file(b.config_path()).unwrap();
    chown_r(b.path(), USER);
    let out = as_user(&rt.bin())
        .args(["spec", "--rootless", "--bundle", b.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "spec --rootless: {}", stderr(&out));
    let spec: Value = serde_json::from_slice(&std::fs::read(b.config_path()).unwrap()).unwrap();
    b.config_mut(|c| {
        *c = spec;
        c["process"]["terminal"] = json!(false);
    });
    b
}

/// Nothing of `id` is left: state dir, cgroup dirs, mounts of the bundle, processes.
fn assert_user_left_nothing(rt: &UserRuntime, id: &str, bundle: &Bundle) {
    assert_nothing_left_in(&rt.root(), id, bundle);
}

macro_rules! need_root {
    () => {
        if !is_root() {
            eprintln!("skipped: needs root (to become uid {USER} and chown)");
            return;
        }
    };
}

#[test]
fn root_runs_a_user_namespace_with_a_65536_id_mapping() {
    need_root!();
    let rt = berth();
    let mut b = Bundle::busybox();
    // The mapped root (host uid 100000) must reach the rootfs: root-owned busybox
    // files are world-readable, the bundle dir needs to be searchable.
    std::fs::set_permissions(b.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // The mapped root cannot make a mount point in the root-owned rootfs.
    std::fs::create_dir(b.rootfs().join("data")).unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    b.config_mut(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "bind",
            "source": data.path(), "options": ["rbind", "rw"]
        }));
    });
    b.set_args(&[
        "sh",
        "-c",
        "id -u; id -g; cat /proc/self/uid_map; cat /proc/self/gid_map; touch /data/made-inside; echo x > /dev/null && echo null-ok",
    ]);
    let id = unique_id("userns");
    let (code, out, err) = run_container(&rt, &b, &id);
    assert_eq!(code, 0, "{err}\n{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "{out}");
    assert_eq!(lines[1], "0", "{out}");
    let words = |l: &str| l.split_whitespace().map(String::from).collect::<Vec<_>>();
    assert_eq!(words(lines[2]), ["0", "100000", "65536"]);
    assert_eq!(words(lines[3]), ["0", "100000", "65536"]);
    assert_eq!(lines[4], "null-ok");
    let meta = std::fs::metadata(data.path().join("made-inside")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (100000, 100000));
    assert_nothing_left(&rt, &id, &b);
}

/// A spec with its ids replaced, so runc's and berth's compare for any caller.
fn normalised(spec: &Path) -> Value {
    let mut v: Value = serde_json::from_slice(&std::fs::read(spec).unwrap()).unwrap();
    for key in ["uidMappings", "gidMappings"] {
        for m in v["linux"][key].as_array_mut().into_iter().flatten() {
            m["hostID"] = json!("ID");
        }
    }
    v
}

#[test]
fn spec_rootless_matches_runcs() {
    need_root!();
    let Some(runc) = ["/usr/sbin/runc", "/usr/bin/runc"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    else {
        eprintln!("skipped: runc is not installed");
        return;
    };
    let rt = UserRuntime::new();
    let dirs = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dirs.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for who in ["root", "user"] {
        let theirs = dirs.path().join(format!("runc-{who}"));
        let ours = dirs.path().join(format!("berth-{who}"));
        for d in [&theirs, &ours] {
            std::fs::create_dir(d).unwrap();
            chown_r(d, USER);
        }
        let spec = |bin: &Path, dir: &Path| {
            let args = ["spec", "--rootless", "--bundle", dir.to_str().unwrap()];
            let out = if who == "root" {
                Command::new(bin).args(args).output().unwrap()
            } else {
                as_user(bin).args(args).output().unwrap()
            };
            assert!(
                out.status.success(),
                "{} {args:?} as {who}: {}",
                bin.display(),
                stderr(&out)
            );
        };
        spec(&runc, &theirs);
        spec(&rt.bin(), &ours);
        let (t, o) = (
            normalised(&theirs.join("config.json")),
            normalised(&ours.join("config.json")),
        );
        assert_eq!(
            o,
            t,
            "as {who}: berth-runc's spec --rootless differs from runc's:\n{}",
            serde_json::to_string_pretty(&o).unwrap()
        );
        // The mapping is the caller's own id.
        let want = if who == "root" { 0 } else { USER };
        let raw: Value =
            serde_json::from_slice(&std::fs::read(ours.join("config.json")).unwrap()).unwrap();
        assert_eq!(raw["linux"]["uidMappings"][0]["hostID"], json!(want));
        assert_eq!(raw["linux"]["gidMappings"][0]["hostID"], json!(want));
    }
}

#[test]
fn unprivileged_user_runs_a_rootless_container() {
    need_root!();
    let rt = UserRuntime::new();
    let mut b = rootless_bundle(&rt);
    b.config_mut(|c| c["hostname"] = json!("rootless-box"));
    b.set_args(&[
        "sh",
        "-c",
        "id -u; echo x > /dev/null && echo null-ok; head -c 4 /dev/urandom | wc -c; hostname; \
         cat /proc/self/uid_map; cat /proc/self/setgroups; touch /tmp/w && echo rootfs-rw",
    ]);
    b.set_readonly(false);
    let id = unique_id("rootless");
    let _guard = UserGuard {
        rt: &rt,
        id: id.clone(),
    };
    let out = rt.output(&[
        "--debug",
        "run",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "run as uid {USER} failed: {e}\n{o}");
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines[0], "0", "root inside: {o}");
    assert_eq!(lines[1], "null-ok", "{o}");
    assert_eq!(lines[2].trim(), "4", "{o}");
    assert_eq!(lines[3], "rootless-box");
    let map: Vec<&str> = lines[4].split_whitespace().collect();
    assert_eq!(map, ["0", &USER.to_string(), "1"]);
    assert_eq!(lines[5], "deny");
    assert_eq!(lines[6], "rootfs-rw");
    // The file the container's root made belongs to the user on the host.
    assert_eq!(
        std::fs::metadata(b.rootfs().join("tmp/w")).unwrap().uid(),
        USER
    );
    // No cgroup: the debug log says why.
    assert!(e.contains("not delegated"), "{e}");
    assert_user_left_nothing(&rt, &id, &b);
}

#[test]
fn unprivileged_user_lists_states_and_deletes() {
    need_root!();
    let rt = UserRuntime::new();
    let mut b = rootless_bundle(&rt);
    b.set_args(&["sleep", "1000"]);
    let id = unique_id("rootless-life");
    let guard = UserGuard {
        rt: &rt,
        id: id.clone(),
    };
    let bundle = b.path().to_str().unwrap();
    let (status, err) = rt.detached(&["create", "--bundle", bundle, &id]);
    assert!(status.success(), "create: {err}");
    let st = rt.state(&id).expect("state after create");
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], json!(id));
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid > 0);
    // The init runs as the user on the host.
    let owner = std::fs::metadata(format!("/proc/{pid}")).unwrap().uid();
    assert_eq!(owner, USER);

    let out = rt.output(&["start", &id]);
    assert!(out.status.success(), "start: {}", stderr(&out));
    assert_eq!(rt.status(&id), "running");

    let out = rt.output(&["list", "-q"]);
    assert!(out.status.success(), "list: {}", stderr(&out));
    assert_eq!(stdout(&out).trim(), id);
    let out = rt.output(&["list", "--format", "json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["id"], json!(id));
    assert_eq!(list[0]["status"], "running");
    let out = rt.output(&["list"]);
    let table = stdout(&out);
    // OWNER as runc shows it: the user's name, or #uid without a passwd entry.
    let owner = std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == USER.to_string())
        .map(|f| f[0].to_string())
        .unwrap_or(format!("#{USER}"));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("running") && l.ends_with(&owner)),
        "{table}"
    );
    // Without --root, a rootless berth-runc keeps its state under $XDG_RUNTIME_DIR.
    let xdg = rt.dir.path().join("xdg");
    std::fs::create_dir(&xdg).unwrap();
    chown_r(&xdg, USER);
    let out = as_user(&rt.bin())
        .env("XDG_RUNTIME_DIR", &xdg)
        .args(["list", "-q"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "",
        "a fresh XDG root has no containers"
    );

    // Without a delegated cgroup there is nothing to freeze: a clear error.
    let out = rt.output(&["pause", &id]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not delegated"),
        "pause: {}",
        stderr(&out)
    );
    assert_eq!(rt.status(&id), "running");

    // delete refuses a running container, kill stops it, delete removes it.
    let out = rt.output(&["delete", &id]);
    assert!(!out.status.success(), "delete of a running container");
    let out = rt.output(&["kill", &id, "KILL"]);
    assert!(out.status.success(), "kill: {}", stderr(&out));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while rt.status(&id) != "stopped" {
        assert!(std::time::Instant::now() < deadline, "never stopped");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = rt.output(&["delete", &id]);
    assert!(out.status.success(), "delete: {}", stderr(&out));
    assert!(rt.state(&id).is_none(), "state after delete");
    assert_eq!(stdout(&rt.output(&["list", "-q"])).trim(), "");
    drop(guard);
    assert_user_left_nothing(&rt, &id, &b);
}

/// A change to a config.
type Edit = fn(&mut Value);

#[test]
fn unprivileged_user_gets_clear_errors_for_what_needs_root() {
    need_root!();
    let rt = UserRuntime::new();
    let bundle = rootless_bundle(&rt);
    let cases: [(&str, Edit, &str); 4] = [
        (
            "cgroup limits",
            |c| c["linux"]["resources"] = json!({"pids": {"limit": 10}}),
            "not delegated",
        ),
        (
            "a wide mapping without newuidmap",
            |c| c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}, {"containerID": 1, "hostID": 100000, "size": 65536}]),
            "newuidmap",
        ),
        (
            "no user namespace",
            |c| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|n| n["type"] != "user");
                c["linux"].as_object_mut().unwrap().remove("uidMappings");
                c["linux"].as_object_mut().unwrap().remove("gidMappings");
            },
            "user namespace",
        ),
        (
            "lowering oom_score_adj",
            |c| c["process"]["oomScoreAdj"] = json!(-500),
            "oomScoreAdj",
        ),
    ];
    if Command::new("sh")
        .args(["-c", "command -v newuidmap"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("note: newuidmap is installed; the wide-mapping case may pass");
    }
    for (what, edit, want) in cases {
        let mut b = Bundle::busybox();
        std::fs::set_permissions(b.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        chown_r(b.path(), USER);
        let mut config = bundle.config().clone();
        edit(&mut config);
        b.config_mut(|c| *c = config);
        b.set_args(&["true"]);
        let id = unique_id("rootless-bad");
        let _guard = UserGuard {
            rt: &rt,
            id: id.clone(),
        };
        let out = rt.output(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
        if what.contains("newuidmap") && out.status.success() {
            continue;
        }
        assert!(!out.status.success(), "{what}: run succeeded");
        let err = stderr(&out);
        assert!(err.contains(want), "{what}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{what}: one line: {err}");
        assert_user_left_nothing(&rt, &id, &b);
    }
}

/// The name /etc/passwd gives [`USER`], if any.
fn user_name() -> Option<String> {
    std::fs::read_to_string("/etc/passwd")
        .ok()?
        .lines()
        .map(|l| l.split(':').map(String::from).collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == USER.to_string())
        .map(|f| f[0].clone())
}

#[test]
fn unprivileged_user_maps_a_range_with_newuidmap() {
    need_root!();
    // Runs only where the host is set up for it: the helpers installed (Debian's
    // uidmap) and a subordinate range for the user in /etc/subuid and /etc/subgid.
    let range = |file: &str| -> Option<(u32, u32)> {
        let name = user_name()?;
        std::fs::read_to_string(file).ok()?.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() == 3 && (f[0] == name || f[0] == USER.to_string()))
                .then(|| Some((f[1].parse().ok()?, f[2].parse().ok()?)))
                .flatten()
        })
    };
    let helpers = ["/usr/bin/newuidmap", "/usr/bin/newgidmap"]
        .iter()
        .all(|p| Path::new(p).exists());
    let (Some((uid_start, uid_count)), Some((gid_start, gid_count)), true) =
        (range("/etc/subuid"), range("/etc/subgid"), helpers)
    else {
        eprintln!(
            "skipped: needs newuidmap/newgidmap and /etc/subuid, /etc/subgid ranges for uid {USER}"
        );
        return;
    };
    let rt = UserRuntime::new();
    let mut b = rootless_bundle(&rt);
    let size = uid_count.min(gid_count).min(65536);
    b.config_mut(|c| {
        c["linux"]["uidMappings"] = json!([
            {"containerID": 0, "hostID": USER, "size": 1},
            {"containerID": 1, "hostID": uid_start, "size": size}
        ]);
        c["linux"]["gidMappings"] = json!([
            {"containerID": 0, "hostID": USER, "size": 1},
            {"containerID": 1, "hostID": gid_start, "size": size}
        ]);
    });
    b.set_args(&[
        "sh",
        "-c",
        "cat /proc/self/uid_map; cat /proc/self/setgroups",
    ]);
    let id = unique_id("rootless-range");
    let _guard = UserGuard {
        rt: &rt,
        id: id.clone(),
    };
    let out = rt.output(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let o = stdout(&out);
    let lines: Vec<Vec<&str>> = o.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["0", &USER.to_string(), "1"], "{o}");
    assert_eq!(
        lines[1],
        ["1", &uid_start.to_string(), &size.to_string()],
        "{o}"
    );
    // newgidmap leaves setgroups allowed.
    assert_eq!(lines[2], ["allow"], "{o}");
    assert_user_left_nothing(&rt, &id, &b);
}
