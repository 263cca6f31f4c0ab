//! The harness of berth's black-box tests: a `berthd` of the test's own (its own
//! data root, exec root, socket and cgroup parent, so tests run side by side and
//! never touch a berthd of the machine), the busybox image loaded into it, and
//! the clients nobody here wrote — the official `docker` CLI and docker-py —
//! pointed at it, next to `berth`.
//!
//! Dropping a [`Berthd`] removes every container it made (`rm -f`), stops the
//! daemon, and then checks and cleans what could be left on the host: shims,
//! mounts under its root, cgroups under its parent. Containers are children of
//! their shims, which are reparented to the nearest subreaper: run the tests
//! under `tini -s` (scripts/test.sh does).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use berth_testkit::workspace_bin;

/// The busybox image of `../shared/images` as a docker archive.
pub const BUSYBOX_ARCHIVE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/images/busybox-docker-archive.tar"
);

/// The official Docker CLI: 28 at /usr/local/bin, else Debian's 20.10.
pub fn docker_cli() -> PathBuf {
    for p in ["/usr/local/bin/docker", "/usr/bin/docker"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("no docker CLI: install docker.io (the tests use the official client against berthd)")
}

/// A berthd of the test's own.
pub struct Berthd {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub cgroup_parent: String,
    child: Option<Child>,
    /// Set by the first [`Berthd::spawn`]: a daemon that never ran has nothing to clean.
    spawned: bool,
    /// This daemon's network slot (see [`NetSlot`]).
    pub net: NetSlot,
}

/// A network slot of one test daemon, unique across every test process on the
/// machine (held by a lock file): its default bridge `bte<k>` on
/// 10.<100+k>.0.0/24, new networks from 10.<100+k>.0.0/16 in /24s, and its own
/// firewall table, so daemons side by side never share a bridge, a subnet or a rule.
pub struct NetSlot {
    pub k: u8,
    lock: PathBuf,
}

impl NetSlot {
    fn take() -> NetSlot {
        loop {
            for k in 0..100u8 {
                let lock = PathBuf::from(format!("/tmp/berth-e2e-net-{k}.lock"));
                let made = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&lock);
                match made {
                    Ok(mut f) => {
                        use std::io::Write;
                        let _ = write!(f, "{}", std::process::id());
                        return NetSlot { k, lock };
                    }
                    Err(_) => {
                        // A slot of a process that is gone is free again.
                        let owner = std::fs::read_to_string(&lock).unwrap_or_default();
                        let alive = owner
                            .trim()
                            .parse::<u32>()
                            .is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
                        if !alive && !owner.trim().is_empty() {
                            let _ = std::fs::remove_file(&lock);
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    /// The default bridge's interface.
    pub fn bridge(&self) -> String {
        format!("bte{}", self.k)
    }
    /// The second octet of this slot's addresses.
    pub fn octet(&self) -> u8 {
        100 + self.k
    }
    /// The daemon's nftables table.
    pub fn table(&self) -> String {
        format!("berth_{}", self.bridge())
    }
}

impl Drop for NetSlot {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.lock);
    }
}

impl Berthd {
    /// Starts a berthd and loads busybox into it.
    pub fn start() -> Berthd {
        Berthd::start_with(None)
    }

    fn start_with(config: Option<&str>) -> Berthd {
        let mut d = Berthd::unstarted();
        if let Some(config) = config {
            std::fs::write(d.dir.path().join("daemon.json"), config).expect("write daemon.json");
        }
        d.spawn();
        let out = d.docker(&["load", "-i", BUSYBOX_ARCHIVE]);
        assert!(out.status.success(), "docker load: {}", text(&out.stderr));
        d
    }

    /// The berthd command line for this daemon's directory, socket and cgroup parent.
    fn command(&self) -> Command {
        let mut c = Command::new(workspace_bin("berthd"));
        c.arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .arg("--data-root")
            .arg(self.data_root())
            .arg("--exec-root")
            .arg(self.exec_root())
            .arg("--config-file")
            .arg(self.dir.path().join("daemon.json"))
            .arg("--pidfile")
            .arg(self.dir.path().join("berthd.pid"))
            .arg("--cgroup-parent")
            .arg(&self.cgroup_parent)
            .arg("--bridge")
            .arg(self.net.bridge())
            .arg("--bip")
            .arg(format!("10.{}.0.1/24", self.net.octet()))
            .arg("--default-address-pool")
            .arg(format!("base=10.{}.0.0/16,size=24", self.net.octet()))
            // Names the embedded DNS does not know go to the host's loopback,
            // where nothing answers: tests never query a resolver off this machine.
            .arg("--dns")
            .arg("127.0.0.1")
            .stdin(Stdio::null());
        c
    }

    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn exec_root(&self) -> PathBuf {
        self.dir.path().join("exec")
    }

    /// Starts the daemon process (again) on the same roots and waits for its socket.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("berthd.log"))
            .expect("log file");
        let child = self
            .command()
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start berthd");
        self.child = Some(child);
        self.spawned = true;
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("berthd exited with {status}: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("berthd did not listen within 20 s: {}", self.log());
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// kill -9 of the daemon (its containers and shims stay).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(c.id() as i32).expect("pid"),
                rustix::process::Signal::TERM,
            );
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("berthd.log")).unwrap_or_default()
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// A command for a client with `DOCKER_HOST` pointing here.
    pub fn client(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env_remove("DOCKER_CONTEXT")
            .stdin(Stdio::null());
        c
    }

    /// Runs the official docker CLI.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.client(docker_cli())
            .args(args)
            .output()
            .expect("run docker")
    }

    /// Runs `berth`.
    pub fn berth(&self, args: &[&str]) -> Output {
        self.client(workspace_bin("berth"))
            .args(args)
            .output()
            .expect("run berth")
    }

    /// `docker inspect -f FORMAT ID`, trimmed.
    pub fn inspect(&self, id: &str, format: &str) -> String {
        let out = self.docker(&["inspect", "-f", format, id]);
        assert!(out.status.success(), "inspect {id}: {}", text(&out.stderr));
        text(&out.stdout).trim().to_owned()
    }

    /// One raw HTTP/1.1 request on the socket: the status and the body (a chunked
    /// body is returned as received, chunk sizes included).
    pub fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(&self.socket).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("write request");
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        let status = resp
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = resp
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// Runs `client run -it --rm busybox sh` in a terminal (`script`), types `input`
    /// line by line, and returns what the terminal showed and the exit code.
    pub fn interactive_shell(&self, client: &Path, input: &[&str]) -> (String, Option<i32>) {
        self.in_terminal(
            &format!("{} run -it --rm busybox sh", client.display()),
            input,
        )
    }

    /// Runs `command` in a terminal (`script`), types each of `input` followed by a
    /// newline — except control bytes alone (ctrl-p ctrl-q), sent as they are — and
    /// returns what the terminal showed and the exit code.
    pub fn in_terminal(&self, command: &str, input: &[&str]) -> (String, Option<i32>) {
        use std::io::Write;
        let mut child = self
            .client("script")
            .args(["-qefc", command, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("script");
        let mut stdin = child.stdin.take().expect("stdin");
        std::thread::sleep(Duration::from_millis(1500));
        for line in input {
            stdin.write_all(line.as_bytes()).expect("type");
            if !line.bytes().all(|b| b < 0x20) {
                stdin.write_all(b"\n").expect("type");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let out = child.wait_with_output().expect("script");
        (text(&out.stdout), out.status.code())
    }

    /// `docker info -f FORMAT`, trimmed.
    pub fn inspect_info(&self, format: &str) -> String {
        text(&self.docker(&["info", "-f", format]).stdout)
            .trim()
            .to_owned()
    }

    /// Waits until `f` is true (panics after `secs`).
    pub fn eventually(&self, secs: u64, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if f() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("timed out waiting for {what}\nberthd log:\n{}", self.log());
    }

    /// Processes whose command line mentions this daemon's directory (its shims,
    /// runtimes), other than the daemon itself.
    pub fn leftover_processes(&self) -> Vec<String> {
        let root = self.dir.path().to_string_lossy().into_owned();
        let mut out = Vec::new();
        for p in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = p.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if Some(pid) == self.child.as_ref().map(|c| c.id()) {
                continue;
            }
            let Ok(cmd) = std::fs::read(p.path().join("cmdline")) else {
                continue;
            };
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(&root) {
                out.push(format!("{pid}: {cmd}"));
            }
        }
        out
    }

    /// Mount points under this daemon's directory.
    pub fn leftover_mounts(&self) -> Vec<String> {
        let root = self.dir.path().to_string_lossy().into_owned();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&root))
            .map(str::to_owned)
            .collect()
    }

    /// Container cgroups under this daemon's parent, in every hierarchy.
    pub fn leftover_cgroups(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for h in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let parent = h.path().join(self.cgroup_parent.trim_start_matches('/'));
            for c in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
                if c.path().is_dir() {
                    out.push(c.path());
                }
            }
        }
        out
    }

    /// Asserts that the daemon's containers left nothing on the host.
    pub fn assert_clean(&self) {
        let procs = self.leftover_processes();
        assert!(procs.is_empty(), "processes left: {procs:#?}");
        let mounts = self.leftover_mounts();
        assert!(mounts.is_empty(), "mounts left: {mounts:#?}");
        let cgroups = self.leftover_cgroups();
        assert!(cgroups.is_empty(), "cgroups left: {cgroups:#?}");
        // The host end of an exited container's veth goes a moment after the
        // container (off berthd's exit path, or with the container's namespace).
        let mut links = self.leftover_links();
        let deadline = Instant::now() + Duration::from_secs(3);
        while !links.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            links = self.leftover_links();
        }
        assert!(links.is_empty(), "interfaces left: {links:#?}");
    }

    /// The bridges of this daemon's networks (the default one and user-defined
    /// ones, from the daemon's network files).
    pub fn bridges(&self) -> Vec<String> {
        let mut out = vec![self.net.bridge()];
        for f in std::fs::read_dir(self.data_root().join("network"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let text = std::fs::read_to_string(f.path()).unwrap_or_default();
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                if let Some(b) = v["Bridge"].as_str().filter(|b| !b.is_empty()) {
                    if !out.iter().any(|x| x == b) {
                        out.push(b.to_owned());
                    }
                }
            }
        }
        out
    }

    /// Interfaces still attached to this daemon's bridges (containers' veths), and
    /// veths attached to no bridge at all (what a removed network would leave:
    /// berth makes a veth on its bridge in one step, so none is ever loose).
    pub fn leftover_links(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(o) = Command::new("ip")
            .args(["-o", "link", "show", "type", "veth"])
            .output()
        {
            for line in text(&o.stdout).lines() {
                if !line.contains(" master ") {
                    out.push(format!(
                        "loose {}",
                        line.split(':').nth(1).unwrap_or("").trim()
                    ));
                }
            }
        }
        for b in self.bridges() {
            let o = Command::new("ip")
                .args(["-o", "link", "show", "master", &b])
                .output();
            if let Ok(o) = o {
                for line in text(&o.stdout).lines() {
                    out.push(line.split(':').nth(1).unwrap_or("").trim().to_owned());
                }
            }
        }
        out
    }
}

impl Drop for Berthd {
    fn drop(&mut self) {
        if !self.spawned {
            return;
        }
        if self.child.is_none() && std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            self.spawn();
        }
        let ids = self.docker(&["ps", "-aq"]);
        for id in text(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        self.stop();
        // Whatever is still here is a bug the tests report; clean it anyway.
        for p in self.leftover_processes() {
            if let Some(pid) = p.split(':').next().and_then(|s| s.parse::<i32>().ok()) {
                if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
        let mut mounts = self.leftover_mounts();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = Command::new("umount").arg("-l").arg(&m).output();
        }
        // The daemon keeps its bridges and rules (as dockerd keeps docker0); the
        // test's daemon is gone for good, so they go.
        for b in self.bridges() {
            let _ = Command::new("ip").args(["link", "del", &b]).output();
        }
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.net.table()])
            .output();
        std::thread::sleep(Duration::from_millis(50));
        for c in self.leftover_cgroups() {
            let _ = std::fs::remove_dir(&c);
        }
        for h in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = std::fs::remove_dir(h.path().join(self.cgroup_parent.trim_start_matches('/')));
        }
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts success and returns stdout.
#[track_caller]
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "command failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Daemons with a `daemon.json` of the test's own.
impl Berthd {
    /// A daemon directory, socket and cgroup parent, with nothing started yet.
    fn unstarted() -> Berthd {
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let name = dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        Berthd {
            socket: dir.path().join("berth.sock"),
            cgroup_parent: format!("/{name}"),
            dir,
            child: None,
            spawned: false,
            net: NetSlot::take(),
        }
    }

    /// Writes `config` as the daemon's `daemon.json`, then starts it and loads busybox.
    pub fn start_with_config(config: &str) -> Berthd {
        Berthd::start_with(Some(config))
    }

    /// Starts berthd with `config` as its `daemon.json` and expects it to refuse:
    /// returns its exit code and what it wrote. Panics if it listens instead.
    pub fn refuses_to_start_with_config(config: &str) -> (Option<i32>, String) {
        let d = Berthd::unstarted();
        std::fs::write(d.dir.path().join("daemon.json"), config).expect("write daemon.json");
        let mut child = d
            .command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start berthd");
        let socket = d.socket.clone();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !matches!(child.try_wait(), Ok(Some(_))) {
            if Instant::now() > deadline || std::os::unix::net::UnixStream::connect(&socket).is_ok()
            {
                let _ = child.kill();
                let out = child.wait_with_output().expect("berthd output");
                panic!(
                    "berthd started with {config}: {}{}",
                    text(&out.stdout),
                    text(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().expect("berthd output");
        (
            out.status.code(),
            format!("{}{}", text(&out.stdout), text(&out.stderr)),
        )
    }
}
