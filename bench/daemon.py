#!/usr/bin/env python3
"""Side-by-side benchmark of the engines: berthd against Debian's dockerd 20.10.

The same official docker CLI drives both, pointed by DOCKER_HOST at a berthd and at a
dockerd that this script starts (each with its own data root, exec root and socket in a
temporary directory; dockerd in a network namespace of its own). Measured, interleaved
round-robin across the engines (run i on every engine before run i+1 on any):

  version      `docker version`: the docker CLI's start-up and one request, the floor
               of every other docker command's time
  run          `docker run --rm --network none busybox true`: wall time
  berth run    `berth run --rm --network none busybox true` against berthd (the berth
               CLI), compared with `docker run` against dockerd
  exec         `docker exec <c> true` into a running `busybox sleep 1000`
  start        the sequential start of N (default 100) `docker run -d --network none
               busybox sleep 1000`, alternating engines container by container: total
  ps           `docker ps` with those N containers running
  memory       with the N containers up and idle: RSS and PSS (/proc/<pid>/smaps_rollup)
               summed over the engine's per-container processes (berth-shim;
               containerd-shim-runc-v2) divided by N, plus the daemon's own growth from
               0 to N containers divided by N (berthd; dockerd + containerd); the
               per-container processes too are counted as (with N - with 0) / N

Every timed command is followed by --pause ms of idle time (default 100), so each
starts from an idle machine rather than on the other engine's aftermath.

stdlib only; needs root. Run it under a child subreaper, or let it make itself one
(it does, with prctl). See bench/README.md.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARCHIVE = REPO.parent / "shared" / "images" / "busybox-docker-archive.tar"
IMAGE = "busybox"
NETNS = "berth-bench-docker"
BERTH_CGROUP = "berth-bench"  # berthd --cgroup-parent /berth-bench
DOCKER_CGROUP = "berth-bench-docker"  # dockerd --cgroup-parent, so /docker is not touched
CGROUP_ROOT = Path("/sys/fs/cgroup")
PR_SET_CHILD_SUBREAPER = 36
CMD_TIMEOUT = 30  # seconds, any one timed docker/berth command (a hung engine costs this once per metric)
READY_TIMEOUT = 60  # seconds, a daemon answering `docker version`
STOP_TIMEOUT = 30  # seconds, a daemon exiting on SIGTERM

RUN = ["run", "--rm", "--network", "none", IMAGE, "true"]
SLEEPER = ["run", "-d", "--network", "none", IMAGE, "sleep", "1000"]

# key, title, unit; the timing metrics (samples in ms)
TIMINGS = [
    ("version", "`docker version` (the CLI's own floor: start-up plus one request)", "ms"),
    ("run", "`docker run --rm --network none busybox true`", "ms"),
    ("berth_run", "`berth run --rm --network none busybox true` (berth CLI; ratio against `docker run` on dockerd)", "ms"),
    ("exec", "`docker exec <c> true` into a running `sleep`", "ms"),
    ("start", "one `docker run -d --network none busybox sleep 1000` of the sequential start", "ms"),
    ("ps", "`docker ps` with {n} running containers", "ms"),
]


class Failed(Exception):
    """A command exited unsuccessfully or timed out."""


class Timeout(Exception):
    pass


# ---------------------------------------------------------------- processes

DEAD: dict[int, int] = {}  # pid -> exit code, for children reaped by reap_orphans
CURRENT: dict[str, int] = {}  # the timed command in flight, killed on an interrupt


def set_subreaper() -> None:
    """Shims that double-fork come to us, not to a pid 1 that reaps slowly."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "prctl(PR_SET_CHILD_SUBREAPER)")


def reap_orphans() -> None:
    """Reaps every exited child without blocking; daemons' statuses go to DEAD."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        DEAD[pid] = os.waitstatus_to_exitcode(status)


def on_alarm(signum, frame):
    raise Timeout


def spawn(argv: list[str], env: dict, out: Path, err: Path, timeout: float = CMD_TIMEOUT) -> tuple[int, int]:
    """Runs argv (stdin /dev/null, stdout and stderr to files) in its own process group.

    Returns (wall time in ns, exit code)."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(out), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, str(err), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        t0 = time.perf_counter_ns()
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions, setpgroup=0)
        CURRENT["pid"] = pid
        _, status, _ = os.wait4(pid, 0)
        elapsed = time.perf_counter_ns() - t0
        CURRENT.pop("pid", None)
    except Timeout:
        kill_current()
        raise Failed(f"{' '.join(argv[:3])} … timed out after {timeout} s") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return elapsed, os.waitstatus_to_exitcode(status)


def kill_current() -> None:
    pid = CURRENT.pop("pid", None)
    if pid:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def cmdline(pid: int) -> str:
    return read(f"/proc/{pid}/cmdline").replace("\0", " ").strip()


def ppid_of(pid: int) -> int:
    stat = read(f"/proc/{pid}/stat")
    try:
        return int(stat[stat.rindex(")") + 2 :].split()[1])
    except (ValueError, IndexError):
        return 0


def pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def descends_from(pid: int, roots: set[int]) -> bool:
    seen = 0
    while pid > 1 and seen < 64:
        if pid in roots:
            return True
        pid = ppid_of(pid)
        seen += 1
    return False


def mem_kib(pid: int) -> tuple[int, int]:
    """(Rss, Pss) in KiB from smaps_rollup; (0, 0) if the process is gone."""
    rss = pss = 0
    for line in read(f"/proc/{pid}/smaps_rollup").splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1])
        elif line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss, pss


# ---------------------------------------------------------------- engines


class Engine:
    """One daemon, driven by the docker CLI through DOCKER_HOST."""

    def __init__(self, name: str, workdir: Path, docker: str, config_dir: Path):
        self.name = name
        self.dir = workdir / name
        self.dir.mkdir()
        self.sock = self.dir / f"{name}.sock"
        self.docker = docker
        self.env = {k: v for k, v in os.environ.items() if k not in ("BERTH_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY")}
        self.env.update(DOCKER_HOST=f"unix://{self.sock}", DOCKER_CONFIG=str(config_dir), DOCKER_CLI_HINTS="false")
        self.out = self.dir / "cmd.out"
        self.err = self.dir / "cmd.err"
        self.log = self.dir / "daemon.log"
        self.pid = 0  # the daemon
        self.error: str | None = None  # the engine as a whole is unusable
        self.errors: dict[str, str] = {}  # metric -> why it is missing
        self.samples: dict[str, list[float]] = {k: [] for k, _, _ in TIMINGS}
        self.memory: dict = {}
        self.version = ""
        self.argv: list[str] = []

    # -- the daemon

    def daemon_argv(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        argv = self.argv = self.daemon_argv()
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(self.log), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ]
        # Own process group: a Ctrl-C at the terminal must not reach the daemon.
        self.pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions, setpgroup=0)
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            reap_orphans()
            if self.pid in DEAD:
                raise Failed(f"{argv[0]} exited {DEAD[self.pid]}: {self.log_tail()}")
            if self.sock.exists():
                r = self.quiet("version", "--format", "{{.Server.Version}}", timeout=10)
                if r.returncode == 0:
                    self.version = r.stdout.strip()
                    break
            if time.monotonic() > deadline:
                raise Failed(f"{argv[0]} not ready after {READY_TIMEOUT} s: {self.log_tail()}")
            time.sleep(0.05)
        r = self.quiet("load", "-i", str(ARCHIVE))
        if r.returncode != 0:
            raise Failed(f"docker load exited {r.returncode}: {r.stderr.strip()[-500:]}")

    def alive(self) -> bool:
        reap_orphans()
        return self.pid > 0 and self.pid not in DEAD

    def log_tail(self) -> str:
        return read(str(self.log)).strip()[-800:]

    def stop(self) -> None:
        if not self.pid or self.pid in DEAD:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            reap_orphans()
            if self.pid in DEAD:
                return
            time.sleep(0.05)
        print(f"{self.name}: no exit {STOP_TIMEOUT} s after SIGTERM; SIGKILL", file=sys.stderr)
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass

    # -- commands

    def timed(self, *args: str, cli: str | None = None) -> float:
        """Runs one CLI command; raises Failed on a non-zero exit. Returns ms."""
        ns, code = spawn([cli or self.docker, *args], self.env, self.out, self.err)
        reap_orphans()
        # Let the engine's asynchronous aftermath (shim and runtime teardown, a Go GC)
        # finish before the next engine's command, so it is not billed to that engine.
        time.sleep(PAUSE["s"])
        if code != 0:
            err = read(str(self.err)).strip()
            raise Failed(f"{' '.join(args[:2])} exited {code}: {err[-500:]}")
        return ns / 1e6

    def quiet(self, *args: str, timeout: float = CMD_TIMEOUT) -> subprocess.CompletedProcess:
        try:
            r = subprocess.run(
                [self.docker, *args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                start_new_session=True,
                timeout=timeout,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            r = subprocess.CompletedProcess(args, 127, "", str(e))
        reap_orphans()
        return r

    def container_ids(self) -> list[str]:
        r = self.quiet("ps", "-aq", "--no-trunc", timeout=60)
        return r.stdout.split() if r.returncode == 0 else []

    def remove_all(self) -> None:
        ids = self.container_ids()
        for i in range(0, len(ids), 50):
            self.quiet("rm", "-f", *ids[i : i + 50], timeout=300)

    # -- memory

    def shim_pids(self) -> list[int]:
        raise NotImplementedError

    def daemon_pids(self) -> list[int]:
        raise NotImplementedError

    def owned(self, pid: int) -> bool:
        """A process of this engine: it descends from the daemon or was orphaned to us."""
        return descends_from(pid, {self.pid, os.getpid()})


class Berthd(Engine):
    def __init__(self, workdir: Path, docker: str, config_dir: Path, bindir: Path):
        super().__init__("berthd", workdir, docker, config_dir)
        self.bin = bindir
        self.berth = str(bindir / "berth")

    def daemon_argv(self) -> list[str]:
        cfg = self.dir / "none.json"
        cfg.write_text("{}\n")
        return [
            str(self.bin / "berthd"),
            "-H", f"unix://{self.sock}",
            "--data-root", str(self.dir / "data"),
            "--exec-root", str(self.dir / "exec"),
            "--config-file", str(cfg),
            "--cgroup-parent", f"/{BERTH_CGROUP}",
        ]

    def shim_pids(self) -> list[int]:
        return [p for p in pids() if "berth-shim" in cmdline(p) and p != self.pid and self.owned(p)]

    def daemon_pids(self) -> list[int]:
        return [self.pid]


class Dockerd(Engine):
    def __init__(self, workdir: Path, docker: str, config_dir: Path):
        super().__init__("dockerd", workdir, docker, config_dir)

    def daemon_argv(self) -> list[str]:
        # nsenter without a pid namespace execs dockerd: self.pid is dockerd's pid.
        # Not `ip netns exec`: it remounts /sys and dockerd then finds no devices cgroup.
        return [
            "nsenter", f"--net=/run/netns/{NETNS}", "--",
            "dockerd",
            "--data-root", str(self.dir / "data"),
            "--exec-root", str(self.dir / "exec"),
            "-H", f"unix://{self.sock}",
            "--pidfile", str(self.dir / "docker.pid"),
            "--iptables=false", "--ip6tables=false", "--bridge=none",
            "--containerd-namespace", "berth-bench",
            "--cgroup-parent", f"/{DOCKER_CGROUP}",
            "--log-level", "error",
        ]

    def start(self) -> None:
        if Path(f"/run/netns/{NETNS}").exists():
            raise Failed(f"network namespace {NETNS} exists: another run in progress, or left over "
                         f"(remove it with `ip netns del {NETNS}`)")
        r = subprocess.run(["ip", "netns", "add", NETNS], capture_output=True, text=True)
        if r.returncode != 0:
            raise Failed(f"ip netns add {NETNS}: {r.stderr.strip()}")
        NETNS_MADE.append(NETNS)
        super().start()

    def shim_pids(self) -> list[int]:
        return [p for p in pids() if "containerd-shim-runc-v2" in cmdline(p) and self.owned(p)]

    def daemon_pids(self) -> list[int]:
        # dockerd and the containerd it started (its child); shims are reparented to us.
        out = [self.pid]
        for p in pids():
            argv0 = cmdline(p).split(" ", 1)[0]
            if os.path.basename(argv0) == "containerd" and ppid_of(p) == self.pid:
                out.append(p)
        return out


NETNS_MADE: list[str] = []
PAUSE = {"s": 0.1}  # --pause
LOAD_AT_START = " ".join(read("/proc/loadavg").split()[:3])


# ---------------------------------------------------------------- measurement


def progress(msg: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\033[K{msg}")
        sys.stderr.flush()


def guarded(e: Engine, key: str, step) -> None:
    """Runs one step of `key` for `e` unless the engine or this metric already failed."""
    if e.error or key in e.errors:
        return
    try:
        step(e)
    except (Failed, OSError) as exc:
        e.errors[key] = str(exc)
        if not e.alive():
            e.error = f"daemon exited {DEAD.get(e.pid)}: {e.log_tail()}"
    finally:
        reap_orphans()


def sample_memory(engines: list[Engine]) -> dict[str, dict]:
    """Sums (RSS, PSS) in KiB over each engine's shims and over its daemon processes."""
    out = {}
    for e in engines:
        if e.error:
            continue
        shims = e.shim_pids()
        daemons = e.daemon_pids()
        s = [mem_kib(p) for p in shims]
        d = [mem_kib(p) for p in daemons]
        out[e.name] = {
            "shims": len(shims),
            "shim_rss_kib": sum(x[0] for x in s),
            "shim_pss_kib": sum(x[1] for x in s),
            "daemon_pids": len(daemons),
            "daemon_rss_kib": sum(x[0] for x in d),
            "daemon_pss_kib": sum(x[1] for x in d),
        }
    return out


def median_sample(samples: list[dict[str, dict]], name: str) -> dict:
    """The element-wise median of several memory samples of one engine."""
    rows = [s[name] for s in samples if name in s]
    if not rows:
        return {}
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def measure(engines: list[Engine], berth: Berthd | None, args, notes: list[str]) -> None:
    def run(e: Engine) -> None:
        e.samples["run"].append(e.timed(*RUN))

    def berth_run(e: Engine) -> None:
        e.samples["berth_run"].append(e.timed(*RUN, cli=e.berth))

    def version(e: Engine) -> None:
        e.samples["version"].append(e.timed("version"))

    # Warm-up round (page cache, first-run setup); also finds a broken engine early.
    for e in engines:
        guarded(e, "run", run)
    if berth:
        guarded(berth, "berth_run", berth_run)
    for e in engines:
        guarded(e, "version", version)
    for e in engines:
        for k in ("run", "berth_run", "version"):
            e.samples[k].clear()

    for i in range(args.runs):
        for e in engines:
            guarded(e, "run", run)
        for e in engines:
            guarded(e, "version", version)
        if berth:
            guarded(berth, "berth_run", berth_run)
        progress(f"run {i + 1}/{args.runs}")

    # exec into one sleeper per engine
    sleepers: dict[str, str] = {}

    def start_sleeper(e: Engine) -> None:
        e.timed(*SLEEPER)
        sleepers[e.name] = read(str(e.out)).strip()

    def exec_true(e: Engine) -> None:
        e.samples["exec"].append(e.timed("exec", sleepers[e.name], "true"))

    for e in engines:
        guarded(e, "exec", start_sleeper)
    for e in engines:
        guarded(e, "exec", exec_true)  # warm-up
        e.samples["exec"].clear()
    for i in range(args.runs):
        for e in engines:
            guarded(e, "exec", exec_true)
        progress(f"exec {i + 1}/{args.runs}")
    for e in engines:
        if e.name in sleepers:
            e.quiet("rm", "-f", sleepers[e.name])

    # memory with no container: the baseline. Containers left by a failed step (a `run
    # --rm` that timed out) are removed first; the figures are differences after - before
    # anyway, so any that survive do not count against the engine.
    for e in engines:
        if e.error:
            continue
        if e.container_ids():
            e.remove_all()
        left = e.container_ids()
        if left:
            notes.append(f"{e.name}: {len(left)} containers could not be removed before the memory baseline")
    time.sleep(1)
    before = []
    for _ in range(3):
        before.append(sample_memory(engines))
        time.sleep(0.5)

    # sequential start of N sleepers, alternating engines container by container
    def start_one(e: Engine) -> None:
        e.samples["start"].append(e.timed(*SLEEPER))

    for i in range(args.containers):
        for e in engines:
            guarded(e, "start", start_one)
        progress(f"start {i + 1}/{args.containers}")
    started: dict[str, int] = {}
    for e in engines:
        if e.error:
            continue
        started[e.name] = len(e.samples["start"])
        if started[e.name] != args.containers:
            e.errors.setdefault("start", f"only {started[e.name]} of {args.containers} started")
        r = e.quiet("ps", "-q")
        running = len(r.stdout.split()) if r.returncode == 0 else -1
        if running != started[e.name]:
            notes.append(f"{e.name}: {running} containers running after starting {started[e.name]}")

    # memory with N idle containers; settle first, take the median of 3 samples
    time.sleep(3)
    after = []
    for _ in range(3):
        after.append(sample_memory(engines))
        time.sleep(1)
    for e in engines:
        b = median_sample(before, e.name)
        a = median_sample(after, e.name)
        n = started.get(e.name, 0)
        if not a or not b or n <= 0:
            e.errors.setdefault("memory", "not measured (no running containers or the daemon failed)")
            continue
        d = {k: a[k] - b[k] for k in a}  # the growth from 0 to n containers
        e.memory = {
            "containers": n,
            "before": b,
            "after": a,
            "per_container_kib": {
                "shim_rss": d["shim_rss_kib"] / n,
                "shim_pss": d["shim_pss_kib"] / n,
                "daemon_rss_growth": d["daemon_rss_kib"] / n,
                "daemon_pss_growth": d["daemon_pss_kib"] / n,
                "total_rss": (d["shim_rss_kib"] + d["daemon_rss_kib"]) / n,
                "total_pss": (d["shim_pss_kib"] + d["daemon_pss_kib"]) / n,
            },
        }
        if d["shims"] != n:
            notes.append(f"{e.name}: {d['shims']} more per-container processes for {n} containers "
                         f"({b['shims']} before, {a['shims']} after)")

    # docker ps with N running
    def ps(e: Engine) -> None:
        e.samples["ps"].append(e.timed("ps"))

    for e in engines:
        guarded(e, "ps", ps)  # warm-up
        e.samples["ps"].clear()
    for i in range(args.runs):
        for e in engines:
            guarded(e, "ps", ps)
        progress(f"ps {i + 1}/{args.runs}")
    progress("")


# ---------------------------------------------------------------- report


def summary(values: list[float]) -> dict | None:
    if not values:
        return None
    s = sorted(values)
    return {
        "n": len(s),
        "median": statistics.median(s),
        "p90": s[math.ceil(0.9 * len(s)) - 1],  # nearest rank
        "min": s[0],
        "mean": statistics.fmean(s),
        "total": sum(s),
    }


def machine_line(docker: str, engines: list[Engine]) -> str:
    cli = subprocess.run([docker, "version", "--format", "{{.Client.Version}}"],
                         capture_output=True, text=True, env={**os.environ, "DOCKER_HOST": "unix:///nonexistent"})
    cli_version = cli.stdout.strip() or "?"
    u = os.uname()
    parts = [f"{os.cpu_count()} CPUs", f"{u.sysname} {u.release}", f"docker CLI {cli_version} ({docker})"]
    for e in engines:
        if e.version:
            parts.append(f"{e.name} {e.version}")
    load = read("/proc/loadavg").split()[:3]
    parts.append(f"load average at the start {LOAD_AT_START}, at the end {' '.join(load)}")
    return "; ".join(parts)


def fmt(v: float | None, digits: int) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def report(engines: list[Engine], berth: Berthd | None, docker_e: Dockerd | None, args, notes, machine) -> dict:
    S = {e.name: {k: summary(v) for k, v in e.samples.items()} for e in engines}
    n = args.containers

    def med(e: Engine | None, key: str, stat: str = "median") -> float | None:
        if e is None:
            return None
        s = S[e.name][key]
        return s[stat] if s else None

    def mem(e: Engine | None, key: str) -> float | None:
        if e is None or not e.memory:
            return None
        return e.memory["per_container_kib"][key] / 1024

    def why(e: Engine | None, key: str) -> str:
        if e is None:
            return "not run"
        return "failed" if (e.error or key in e.errors) else "–"

    rows = []  # (title, berth value, docker value, digits, error keys)

    def row(title, b, d, digits, bkey, dkey):
        ratio = f"{b / d:.2f}×" if b is not None and d else "–"
        bs = fmt(b, digits) if b is not None else why(berth, bkey)
        ds = fmt(d, digits) if d is not None else why(docker_e, dkey)
        rows.append(f"| {title} | {bs} | {ds} | {ratio} |")

    row("`docker version` (the docker CLI's floor: its start-up and one request), median ms",
        med(berth, "version"), med(docker_e, "version"), 1, "version", "version")
    row("`docker run --rm --network none busybox true`, median ms",
        med(berth, "run"), med(docker_e, "run"), 1, "run", "run")
    row("`berth run --rm --network none busybox true` (berth CLI; dockerd column: `docker run`), median ms",
        med(berth, "berth_run"), med(docker_e, "run"), 1, "berth_run", "run")
    row("`docker exec <c> true`, median ms", med(berth, "exec"), med(docker_e, "exec"), 1, "exec", "exec")
    def total_s(e: Engine | None) -> float | None:
        # a start that failed part-way has no meaningful total
        t = med(e, "start", "total")
        return None if t is None or "start" in e.errors else t / 1000

    row(f"start of {n} containers (sequential `docker run -d … sleep 1000`), total s",
        total_s(berth), total_s(docker_e), 2, "start", "start")
    row(f"`docker ps` with {n} running containers, median ms", med(berth, "ps"), med(docker_e, "ps"), 1, "ps", "ps")
    row("per-container processes (berth-shim; containerd-shim-runc-v2), RSS MiB per container",
        mem(berth, "shim_rss"), mem(docker_e, "shim_rss"), 3, "memory", "memory")
    row("per-container processes, PSS MiB per container",
        mem(berth, "shim_pss"), mem(docker_e, "shim_pss"), 3, "memory", "memory")
    row(f"daemon growth from 0 to {n} containers (berthd; dockerd + containerd), RSS MiB per container",
        mem(berth, "daemon_rss_growth"), mem(docker_e, "daemon_rss_growth"), 3, "memory", "memory")
    row("daemon growth, PSS MiB per container",
        mem(berth, "daemon_pss_growth"), mem(docker_e, "daemon_pss_growth"), 3, "memory", "memory")
    row("**engine memory per idle container, RSS MiB** (processes + daemon growth)",
        mem(berth, "total_rss"), mem(docker_e, "total_rss"), 3, "memory", "memory")
    row("**engine memory per idle container, PSS MiB** (processes + daemon growth)",
        mem(berth, "total_pss"), mem(docker_e, "total_pss"), 3, "memory", "memory")

    lines = [
        f"`python3 bench/daemon.py --runs {args.runs} --containers {n} --pause {args.pause:g}` — "
        f"{datetime.date.today().isoformat()}; {args.runs} runs each, interleaved; {machine}",
        "",
        "| metric | berthd | dockerd | berth/docker |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        "| timing (ms) | engine | median | p90 | min | n |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for key, title, _unit in TIMINGS:
        for e in engines:
            s = S[e.name][key]
            if s is None:
                continue
            lines.append(
                f"| {title.format(n=n)} | {e.name} | {s['median']:.1f} | {s['p90']:.1f} | {s['min']:.1f} | {s['n']} |"
            )
    lines.append("")
    problems = []
    for e in engines:
        if e.error:
            problems.append(f"- {e.name}: {e.error}")
        for k, v in e.errors.items():
            problems.append(f"- {e.name}, {k}: {v}")
    if problems:
        lines.append("Failed or unavailable:")
        lines.extend(problems)
    for note in notes:
        lines.append(f"Note: {note}")
    print("\n".join(lines))
    return {
        "runs": args.runs,
        "containers": n,
        "pause_ms": args.pause,
        "machine": machine,
        "kernel": os.uname().release,
        "cpus": os.cpu_count(),
        "notes": notes,
        "markdown": "\n".join(lines),
        "engines": {
            e.name: {
                "daemon_argv": e.argv,
                "version": e.version,
                "error": e.error,
                "errors": e.errors,
                "summary_ms": S[e.name],
                "memory": e.memory,
                "samples_ms": e.samples,
            }
            for e in engines
        },
    }


# ---------------------------------------------------------------- cleanup


def mounts_under(root: Path) -> list[str]:
    out = []
    prefix = str(root).rstrip("/") + "/"
    for line in read("/proc/self/mountinfo").splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        # mountinfo escapes space, tab, newline and backslash as octal
        mp = fields[4].encode().decode("unicode_escape")
        if mp == str(root) or mp.startswith(prefix):
            out.append(mp)
    return out


def unmount_all(root: Path) -> None:
    for _ in range(5):  # stacked mounts show once per layer
        mps = mounts_under(root)
        if not mps:
            return
        for mp in sorted(set(mps), key=lambda m: m.count("/"), reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)


def kill_leftovers(workdir: Path) -> None:
    """Kills, by pid, processes we started that are still alive: anything orphaned to us
    (shims, containers) and anything whose command line names our temporary directory."""
    me = os.getpid()
    for _ in range(3):
        victims = [p for p in pids() if p != me and (ppid_of(p) == me or str(workdir) in cmdline(p))]
        if not victims:
            return
        for p in victims:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.3)
        reap_orphans()


def remove_cgroups(name: str) -> None:
    for top in CGROUP_ROOT.glob(f"*/{name}"):
        for dirpath, _dirs, _files in os.walk(top, topdown=False):
            try:
                os.rmdir(dirpath)  # only succeeds when empty of processes and children
            except OSError:
                pass


def cleanup(engines: list[Engine], workdir: Path) -> list[str]:
    left = []
    kill_current()
    for e in engines:
        if e.alive():
            e.remove_all()
    for e in engines:
        e.stop()
    reap_orphans()
    kill_leftovers(workdir)
    unmount_all(workdir)
    for ns in NETNS_MADE:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    shutil.rmtree(workdir, ignore_errors=True)
    remove_cgroups(BERTH_CGROUP)
    remove_cgroups(DOCKER_CGROUP)
    reap_orphans()
    # Report anything that survived.
    if mounts_under(workdir):
        left.append(f"mounts under {workdir}")
    if workdir.exists():
        left.append(f"directory {workdir}")
    for ns in NETNS_MADE:
        if Path(f"/run/netns/{ns}").exists():
            left.append(f"netns {ns}")
    for name in (BERTH_CGROUP, DOCKER_CGROUP):
        for cg in CGROUP_ROOT.glob(f"*/{name}"):
            left.append(f"cgroup {cg}")
    procs = [p for p in pids() if str(workdir) in cmdline(p)]
    if procs:
        left.append(f"processes {procs}")
    return left


# ---------------------------------------------------------------- main


def interrupt(signum, frame):
    raise KeyboardInterrupt


def default_bindir() -> Path:
    host = ""
    try:
        out = subprocess.run(["rustc", "-vV"], capture_output=True, text=True).stdout
        host = next((l.split(": ", 1)[1] for l in out.splitlines() if l.startswith("host: ")), "")
    except OSError:
        pass
    return REPO / "target" / host / "release" if host else REPO / "target" / "release"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", metavar="DIR", help="directory of berthd, berth-shim, berth-runc and berth "
                   "(default: target/<host>/release, the build of scripts/build-env.sh)")
    p.add_argument("--runs", type=int, default=30, help="measured runs per timing (default 30)")
    p.add_argument("--containers", type=int, default=100, help="containers started for ps and memory (default 100)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    p.add_argument("--pause", type=float, default=100, metavar="MS",
                   help="idle time after every timed command (default 100 ms)")
    p.add_argument("--only", choices=["berth", "docker"], help="run one engine only (debugging)")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("daemon.py needs root", file=sys.stderr)
        return 2
    docker = next((d for d in ("/usr/local/bin/docker", "/usr/bin/docker") if os.access(d, os.X_OK)), None)
    if not docker:
        print("no docker CLI at /usr/local/bin/docker or /usr/bin/docker", file=sys.stderr)
        return 2
    if not ARCHIVE.is_file():
        print(f"missing {ARCHIVE}", file=sys.stderr)
        return 2
    bindir = Path(args.bin).resolve() if args.bin else default_bindir()
    PAUSE["s"] = max(args.pause, 0) / 1000

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGALRM, on_alarm)
    set_subreaper()
    workdir = Path(tempfile.mkdtemp(prefix="berth-bd-"))
    os.chmod(workdir, 0o755)
    config_dir = workdir / "docker-config"
    config_dir.mkdir()
    engines: list[Engine] = []
    berth: Berthd | None = None
    docker_e: Dockerd | None = None
    notes: list[str] = []
    code = 0
    try:
        if args.only != "docker":
            berth = Berthd(workdir, docker, config_dir, bindir)
            missing = [b for b in ("berthd", "berth-shim", "berth-runc", "berth") if not os.access(bindir / b, os.X_OK)]
            if missing:
                berth.error = f"not built in {bindir}: {', '.join(missing)}"
            engines.append(berth)
        if args.only != "berth":
            docker_e = Dockerd(workdir, docker, config_dir)
            engines.append(docker_e)
        for e in engines:
            if e.error:
                continue
            try:
                e.start()
            except (Failed, OSError) as exc:
                e.error = f"start: {exc}"
        live = [e for e in engines if not e.error]
        measure(live, berth if berth in live else None, args, notes)
        machine = machine_line(docker, engines)
        out = report(engines, berth, docker_e, args, notes, machine)
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        code = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.setitimer(signal.ITIMER_REAL, 0)
        left = cleanup(engines, workdir)
        if left:
            print(f"cleanup left behind: {'; '.join(left)}", file=sys.stderr)
            code = code or 1
    return code


if __name__ == "__main__":
    sys.exit(main())
