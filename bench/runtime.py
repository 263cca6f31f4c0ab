#!/usr/bin/env python3
"""Side-by-side benchmark of OCI runtimes: berth-runc, runc and crun.

Builds one busybox bundle, then measures, interleaved round-robin across runtimes
(run i of every runtime before run i+1 of any), so that drift in machine load hits
all runtimes alike:

  run+delete   `run -d <id>` then `delete -f <id>` of /bin/true: the wall time of the pair
               (create, start and teardown; the shim's lifecycle)
  run (fg)     `run <id>` of /bin/true in the foreground; the runtime waits for the
               container and deletes it on exit (`docker run --rm`)
  exec         `exec <id> /bin/true` into one long-running container (`sleep 1000`
               made with `create` + `start`)
  peak RSS     maximum resident set of a foreground `run`, as GNU time(1) reports it
               (ru_maxrss from wait4): the largest among the runtime process and the
               descendants it reaped. Measured in separate runs, through /usr/bin/time
               rather than by this script's own wait4: a child spawned from Python
               inherits the interpreter's RSS high-water mark at exec and would report
               ~13 MiB whatever it does.

The floor is `unshare -pfmuin /bin/true`: the namespaces alone, without any runtime.

stdlib only; needs root. See bench/README.md.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = REPO / "crates" / "runtime" / "src" / "default-spec.json"
HOST_BUSYBOX = "/bin/busybox"
HYBRID_UNIFIED = "/sys/fs/cgroup/unified"
PR_SET_CHILD_SUBREAPER = 36
GNU_TIME = "/usr/bin/time"
RSS_RUNS = 10  # peak RSS barely varies; cap its runs

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    "berth:x:1000:1000:berth:/home/berth:/bin/sh\n"
)
GROUP = "root:x:0:\ntty:x:5:\nnogroup:x:65534:\nberth:x:1000:\n"

METRICS = [
    # key, title, unit
    ("lifecycle", "run -d + delete -f (/bin/true)", "ms"),
    ("run", "run, foreground (/bin/true)", "ms"),
    ("exec", "exec /bin/true into a running container", "ms"),
    ("rss", "peak RSS of a foreground run (GNU time %M)", "MiB"),
]


class Failed(Exception):
    """A runtime command exited unsuccessfully."""


# ---------------------------------------------------------------- bundle


def build_rootfs(rootfs: Path) -> None:
    """The same layout as berth-testkit's Bundle::busybox()."""
    for d in ["bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "root", "etc", "tmp"]:
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    os.chmod(rootfs / "tmp", 0o1777)
    shutil.copy2(HOST_BUSYBOX, rootfs / "bin" / "busybox")
    applets = subprocess.run(
        [HOST_BUSYBOX, "--list-full"], check=True, capture_output=True, text=True
    ).stdout.split()
    for applet in applets:
        applet = applet.lstrip("/")
        if applet == "bin/busybox":
            continue
        link = rootfs / applet
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to("/bin/busybox")
    (rootfs / "etc" / "passwd").write_text(PASSWD)
    (rootfs / "etc" / "group").write_text(GROUP)


def default_spec(workdir: Path) -> dict:
    if DEFAULT_SPEC.is_file():
        return json.loads(DEFAULT_SPEC.read_text())
    # Outside the repository: ask runc for the same document.
    d = workdir / "spec"
    d.mkdir()
    subprocess.run(["runc", "spec"], cwd=d, check=True)
    return json.loads((d / "config.json").read_text())


def write_bundle(bundle: Path, spec: dict, rootfs: Path, args: list[str]) -> Path:
    bundle.mkdir(parents=True, exist_ok=True)
    config = json.loads(json.dumps(spec))
    config["process"]["terminal"] = False
    config["process"]["args"] = args
    config["root"]["path"] = str(rootfs)
    (bundle / "config.json").write_text(json.dumps(config, indent=2))
    return bundle


# ---------------------------------------------------------------- processes


def set_subreaper() -> None:
    """Containers orphaned by `create`/`run -d` come to us, not to a slow pid 1."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "prctl(PR_SET_CHILD_SUBREAPER)")


def reap_orphans() -> None:
    """Reap exited orphans; never blocks (the crun namespace holder stays alive)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def spawn(argv: list[str], errfile: Path) -> tuple[int, int, int]:
    """Runs argv with stdin/stdout on /dev/null and stderr to errfile.

    Returns (wall time in ns, exit status, ru_maxrss in KiB)."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, str(errfile), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]
    t0 = time.perf_counter_ns()
    # Own process group: a Ctrl-C at the terminal reaches only this script, which then
    # lets the command in flight finish and cleans up.
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions, setpgroup=0)
    _, status, rusage = os.wait4(pid, 0)
    elapsed = time.perf_counter_ns() - t0
    return elapsed, os.waitstatus_to_exitcode(status), rusage.ru_maxrss


class Runtime:
    def __init__(self, name: str, prefix: list[str], root: Path | None, workdir: Path):
        self.name = name
        self.prefix = prefix
        self.root = root
        self.errfile = workdir / (name.split(":")[0] + ".stderr")
        self.error: str | None = None
        self.live: set[str] = set()
        self.samples: dict[str, list[float]] = {k: [] for k, _, _ in METRICS}
        self.is_floor = root is None

    def argv(self, *args: str) -> list[str]:
        return self.prefix + list(args)

    def run(self, *args: str) -> int:
        """Runs one command; raises Failed on a non-zero exit. Returns the wall time in ns."""
        return self.check(self.argv(*args), args[:1])

    def peak_rss(self, rssfile: Path, *args: str) -> float:
        """Runs one command under GNU time; returns its peak RSS in MiB."""
        self.check([GNU_TIME, "-f", "%M", "-o", str(rssfile)] + self.argv(*args), args[:1])
        return int(rssfile.read_text().split()[-1]) / 1024

    def check(self, argv: list[str], what) -> int:
        ns, code, _ = spawn(argv, self.errfile)
        if code != 0:
            err = self.errfile.read_text(errors="replace").strip()
            raise Failed(f"{' '.join(what) or argv[0]} exited {code}: {err[-500:]}")
        return ns

    def quiet(self, *args: str) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(
                self.argv(*args),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                start_new_session=True,
            )
        except OSError as e:
            return subprocess.CompletedProcess(args, 127, "", str(e))

    def cleanup(self, cid: str) -> None:
        """delete -f, then reap the container's init if it was orphaned to us."""
        pid = None
        st = self.quiet("state", cid)
        if st.returncode == 0:
            try:
                pid = int(json.loads(st.stdout).get("pid") or 0) or None
            except ValueError:
                pid = None
        self.quiet("delete", "-f", cid)
        if pid:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    break  # not ours, or already reaped
                if done:
                    break
                time.sleep(0.01)
        self.live.discard(cid)


def is_hybrid_cgroup_host() -> bool:
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 4 and fields[4] == HYBRID_UNIFIED and "-" in fields:
                    if fields[fields.index("-") + 1] == "cgroup2":
                        return True
    except OSError:
        pass
    return False


class CrunNamespace:
    """One private mount namespace, kept alive by a sleeping process, in which a tmpfs
    hides the cgroup2 mount of a hybrid host (crun 1.8 refuses to run otherwise).
    Every crun command enters it with nsenter, which execs crun without forking."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [
                "unshare", "-m", "sh", "-c",
                f"mount --make-rprivate / && mount -t tmpfs none {HYBRID_UNIFIED}"
                " && echo ready && exec sleep 2147483647",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,  # a Ctrl-C must not end it before cleanup
        )
        line = self.proc.stdout.readline().strip()
        self.proc.stdout.close()
        if line != "ready":
            self.close()
            raise RuntimeError("could not set up the mount namespace for crun")
        self.ns = f"/proc/{self.proc.pid}/ns/mnt"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except (subprocess.TimeoutExpired, ChildProcessError):
            pass


def make_runtimes(args, workdir: Path, crun_ns: list) -> list[Runtime]:
    runtimes = []

    def root(name: str) -> Path:
        d = workdir / f"root-{name}"
        d.mkdir()
        return d

    berth = os.path.abspath(args.berth) if args.berth else ""
    r = root("berth-runc")
    rt = Runtime("berth-runc", [berth, "--root", str(r)], r, workdir)
    if not args.berth:
        rt.error = "not given (--berth PATH)"
    elif not os.access(berth, os.X_OK):
        rt.error = f"{berth} is not an executable file"
    runtimes.append(rt)

    runc = shutil.which("runc") or "/usr/sbin/runc"
    r = root("runc")
    rt = Runtime("runc", [runc, "--root", str(r)], r, workdir)
    if not shutil.which(runc):
        rt.error = "runc not found"
    runtimes.append(rt)

    crun = shutil.which("crun")
    r = root("crun")
    rt = Runtime("crun", [], r, workdir)
    if not crun:
        rt.error = "crun not found"
    elif not is_hybrid_cgroup_host():
        rt.prefix = [crun, "--root", str(r)]
    elif args.crun_wrapper == "unshare":
        script = (
            f"mount --make-rprivate / && mount -t tmpfs none {HYBRID_UNIFIED}"
            f' && exec {shlex.quote(crun)} --root {shlex.quote(str(r))} "$@"'
        )
        rt.prefix = ["unshare", "-m", "sh", "-c", script, "sh"]
    else:
        try:
            ns = CrunNamespace()
            crun_ns.append(ns)
            rt.prefix = ["nsenter", f"--mount={ns.ns}", "--", crun, "--root", str(r)]
        except (OSError, RuntimeError) as e:
            rt.error = f"mount namespace for crun: {e}"
    runtimes.append(rt)

    floor = Runtime("floor: unshare -pfmuin", ["unshare", "-pfmuin", "/bin/true"], None, workdir)
    runtimes.append(floor)
    return runtimes


# ---------------------------------------------------------------- measurement


def measure(
    runtimes: list[Runtime], args, true_bundle: Path, sleep_bundle: Path, notes: list[str]
) -> None:
    oci = [rt for rt in runtimes if not rt.is_floor]
    ids = {"n": 0}

    def new_id(rt: Runtime, what: str) -> str:
        ids["n"] += 1
        cid = f"bench-{what}-{os.getpid()}-{ids['n']}"
        rt.live.add(cid)
        return cid

    def lifecycle(rt: Runtime) -> None:
        cid = new_id(rt, "life")
        t_run = rt.run("run", "-d", "--bundle", str(true_bundle), cid)
        t_del = rt.run("delete", "-f", cid)
        rt.live.discard(cid)
        rt.samples["lifecycle"].append((t_run + t_del) / 1e6)

    def foreground(rt: Runtime) -> None:
        if rt.is_floor:
            ns = rt.run()
        else:
            cid = new_id(rt, "run")
            ns = rt.run("run", "--bundle", str(true_bundle), cid)
            rt.live.discard(cid)
        rt.samples["run"].append(ns / 1e6)

    rssfile = true_bundle.parent / "rss"

    def rss(rt: Runtime) -> None:
        if rt.is_floor:
            mib = rt.peak_rss(rssfile)
        else:
            cid = new_id(rt, "rss")
            mib = rt.peak_rss(rssfile, "run", "--bundle", str(true_bundle), cid)
            rt.live.discard(cid)
        rt.samples["rss"].append(mib)

    def guarded(rt: Runtime, step) -> None:
        if rt.error:
            return
        try:
            step(rt)
        except (Failed, OSError) as e:
            rt.error = f"{step.__name__}: {e}"
        finally:
            reap_orphans()

    # Warm-up (page cache, first-run setup); also how a broken runtime is found.
    for rt in runtimes:
        guarded(rt, foreground)
        if not rt.is_floor:
            guarded(rt, lifecycle)
        for k in rt.samples:
            rt.samples[k].clear()

    for i in range(args.runs):
        for rt in runtimes:
            guarded(rt, foreground)
        for rt in oci:
            guarded(rt, lifecycle)
        progress(f"run/lifecycle {i + 1}/{args.runs}")

    if os.access(GNU_TIME, os.X_OK):
        for i in range(min(args.runs, RSS_RUNS)):
            for rt in runtimes:
                guarded(rt, rss)
    else:
        notes.append(f"peak RSS not measured: {GNU_TIME} (Debian package `time`) is missing")

    exec_ids: dict[str, str] = {}

    def start_sleeper(rt: Runtime) -> None:
        cid = new_id(rt, "exec")
        rt.run("create", "--bundle", str(sleep_bundle), cid)
        rt.run("start", cid)
        exec_ids[rt.name] = cid

    def exec_true(rt: Runtime) -> None:
        ns = rt.run("exec", exec_ids[rt.name], "/bin/true")
        rt.samples["exec"].append(ns / 1e6)

    for rt in oci:
        guarded(rt, start_sleeper)
    for rt in oci:
        guarded(rt, exec_true)  # warm-up
        rt.samples["exec"].clear()
    for i in range(args.runs):
        for rt in oci:
            guarded(rt, exec_true)
        progress(f"exec {i + 1}/{args.runs}")
    for rt in oci:
        if rt.name in exec_ids:
            rt.cleanup(exec_ids[rt.name])
    progress("")


def progress(msg: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\033[K{msg}")
        sys.stderr.flush()


# ---------------------------------------------------------------- report


def summary(values: list[float]) -> dict | None:
    if not values:
        return None
    s = sorted(values)
    p90 = s[math.ceil(0.9 * len(s)) - 1]  # nearest rank
    return {
        "n": len(s),
        "median": statistics.median(s),
        "p90": p90,
        "min": s[0],
        "mean": statistics.fmean(s),
    }


def ratio(a: dict | None, b: dict | None) -> str:
    if not a or not b or not b["median"]:
        return "–"
    return f"{a['median'] / b['median']:.2f}×"


def report(runtimes: list[Runtime], args, notes: list[str]) -> dict:
    results = {
        rt.name: {k: summary(v) for k, v in rt.samples.items()} for rt in runtimes
    }
    lines = []
    host = os.uname()
    lines.append(
        f"{args.runs} runs each, interleaved; {host.sysname} {host.release}, "
        f"{os.cpu_count()} CPUs; crun wrapper: {args.crun_wrapper}"
    )
    lines.append("")
    for key, title, unit in METRICS:
        lines.append(f"### {title}")
        lines.append("")
        lines.append(f"| runtime | median {unit} | p90 {unit} | min {unit} | vs crun | vs runc |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        crun = results.get("crun", {}).get(key)
        runc = results.get("runc", {}).get(key)
        for rt in runtimes:
            s = results[rt.name][key]
            if s is None:
                if rt.is_floor and key in ("lifecycle", "exec"):
                    continue
                why = rt.error or "not measured"
                lines.append(f"| {rt.name} | unavailable: {why} | | | | |")
                continue
            lines.append(
                f"| {rt.name} | {s['median']:.2f} | {s['p90']:.2f} | {s['min']:.2f} "
                f"| {ratio(s, crun)} | {ratio(s, runc)} |"
            )
        lines.append("")
    errors = [rt for rt in runtimes if rt.error]
    if errors:
        lines.append("Unavailable or failed:")
        for rt in errors:
            lines.append(f"- {rt.name}: {rt.error}")
    for note in notes:
        lines.append(f"Note: {note}")
    print("\n".join(lines))
    return {
        "runs": args.runs,
        "crun_wrapper": args.crun_wrapper,
        "kernel": host.release,
        "cpus": os.cpu_count(),
        "units": {k: u for k, _, u in METRICS},
        "notes": notes,
        "runtimes": {
            rt.name: {
                "argv_prefix": rt.prefix,
                "error": rt.error,
                "summary": results[rt.name],
                "samples": rt.samples,
            }
            for rt in runtimes
        },
    }


# ---------------------------------------------------------------- main


def interrupt(signum, frame):
    raise KeyboardInterrupt


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--berth", help="path to the berth-runc binary")
    p.add_argument("--runs", type=int, default=50, help="measured runs per runtime (default 50)")
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    p.add_argument(
        "--crun-wrapper",
        choices=["nsenter", "unshare"],
        default="nsenter",
        help="on hybrid cgroup hosts: enter one long-lived mount namespace with nsenter "
        "(default), or make a new one with unshare + sh + mount on every crun call",
    )
    args = p.parse_args()
    if os.geteuid() != 0:
        print("runtime.py needs root", file=sys.stderr)
        return 2

    # Ctrl-C and SIGTERM both unwind through the finally below.
    signal.signal(signal.SIGTERM, interrupt)
    set_subreaper()
    workdir = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    crun_ns: list[CrunNamespace] = []
    runtimes: list[Runtime] = []
    try:
        rootfs = workdir / "rootfs"
        build_rootfs(rootfs)
        spec = default_spec(workdir)
        true_bundle = write_bundle(workdir / "bundle-true", spec, rootfs, ["/bin/true"])
        sleep_bundle = write_bundle(workdir / "bundle-sleep", spec, rootfs, ["sleep", "1000"])
        runtimes = make_runtimes(args, workdir, crun_ns)
        notes: list[str] = []
        measure(runtimes, args, true_bundle, sleep_bundle, notes)
        out = report(runtimes, args, notes)
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for rt in runtimes:
            for cid in list(rt.live):
                rt.cleanup(cid)
        for ns in crun_ns:
            ns.close()
        reap_orphans()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
