#!/usr/bin/env python3
"""Side-by-side benchmark of container networking: berthd against Debian's dockerd 20.10.

Built on bench/daemon.py (imported as `base`): the same docker CLI drives every engine
through DOCKER_HOST; each daemon is started here with its own data root, exec root,
socket, daemon.json and cgroup parent in one temporary directory. Four daemons:

  berthd         publishes ports with DNAT (nftables, route_localnet on its bridge);
                 bridge bbench0, 10.211.0.1/24, in the host's network namespace
  berthd-proxy   `"userland-proxy": true`: a relay inside berthd listens on the host port;
                 bridge bbench1, 10.211.1.1/24, in the host's network namespace
  dockerd        dockerd's default, docker-proxy for 127.0.0.1 (and DNAT for the rest);
                 its own network namespace, docker0 10.212.0.1/24, iptables on (its rules
                 live in its namespace)
  dockerd-nat    `"userland-proxy": false`: DNAT with route_localnet, like berthd;
                 another network namespace of its own

Measured:

  setup        `docker run --rm busybox true` (default bridge) and `docker run --rm
               --network none busybox true`, alternated, interleaved round-robin across
               berthd and dockerd: medians and their difference, the cost of a
               container's network (veth, address, bridge, teardown)
  rate         `busybox httpd -f -p 80 -h /www` published with -p 127.0.0.1:<port>:80;
               wrk from the host (for a dockerd: from inside its namespace, with
               nsenter --net, so it reaches that namespace's 127.0.0.1) fetches a 1 KiB
               file: requests/s and transfer/s. busybox httpd answers one request per
               connection and closes it, so requests/s is also new connections/s
  throughput   the same with a 1 MiB file: MiB/s through the published port

wrk runs go engine after engine (the order rotated every round), --rounds rounds
(default 3); the median is reported.

stdlib only; needs root, wrk, nsenter, ip, nft. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import daemon as base  # noqa: E402

Failed = base.Failed
read = base.read

CGROUP_ROOT = base.CGROUP_ROOT
IMAGE = base.IMAGE
WRK = "/usr/bin/wrk"
SMALL = 1024  # bytes, /www/index.html
BIG = 1024 * 1024  # bytes, /www/big
DOCKER_PORT = 18080  # the host port inside a dockerd's own namespace (nothing else there)

RUN_BRIDGE = ["run", "--rm", IMAGE, "true"]
RUN_NONE = ["run", "--rm", "--network", "none", IMAGE, "true"]
WEB_SCRIPT = (
    "mkdir -p /www && dd if=/dev/zero bs=1024 count=1 2>/dev/null | tr '\\0' x > /www/index.html"
    " && dd if=/dev/zero bs=1024 count=1024 2>/dev/null > /www/big"
    " && exec httpd -f -p 80 -h /www"
)

# environment for wrk and the readiness probe: no proxies
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}


# ---------------------------------------------------------------- engines


class Berthd(base.Engine):
    def __init__(self, name, workdir, docker, config_dir, bindir: Path, bridge: str, bip: str, proxy: bool):
        super().__init__(name, workdir, docker, config_dir)
        self.bin = bindir
        self.bridge = bridge
        self.bip = bip
        self.proxy = proxy
        self.cgroup = f"berth-bench-net-{name}"
        self.table = f"berth_{bridge}"
        self.netns = None  # the host's
        self.samples = {}

    def daemon_argv(self) -> list[str]:
        cfg = self.dir / "daemon.json"
        # ip-forward off: nothing here forwards, and the host's sysctl is left alone.
        cfg.write_text(json.dumps({"userland-proxy": self.proxy, "ip-forward": False}) + "\n")
        return [
            str(self.bin / "berthd"),
            "-H", f"unix://{self.sock}",
            "--data-root", str(self.dir / "data"),
            "--exec-root", str(self.dir / "exec"),
            "--config-file", str(cfg),
            "--cgroup-parent", f"/{self.cgroup}",
            "--bridge", self.bridge,
            "--bip", self.bip,
            "--default-address-pool", "base=10.211.0.0/16,size=24",
            "--dns", "127.0.0.1",
        ]


class Dockerd(base.Engine):
    def __init__(self, name, workdir, docker, config_dir, netns: str, proxy: bool):
        super().__init__(name, workdir, docker, config_dir)
        self.netns = netns
        self.proxy = proxy
        self.cgroup = f"berth-bench-net-{name}"
        self.samples = {}

    def daemon_argv(self) -> list[str]:
        cfg = self.dir / "daemon.json"
        cfg.write_text(json.dumps({"userland-proxy": self.proxy}) + "\n")
        # nsenter execs dockerd: self.pid is dockerd's (see daemon.py).
        return [
            "nsenter", f"--net=/run/netns/{self.netns}", "--",
            "dockerd",
            "--config-file", str(cfg),
            "--data-root", str(self.dir / "data"),
            "--exec-root", str(self.dir / "exec"),
            "-H", f"unix://{self.sock}",
            "--pidfile", str(self.dir / "docker.pid"),
            "--iptables=true", "--ip6tables=false",
            "--bip", "10.212.0.1/24",
            "--containerd-namespace", "berth-bench-net",
            "--cgroup-parent", f"/{self.cgroup}",
            "--log-level", "error",
        ]

    def start(self) -> None:
        if Path(f"/run/netns/{self.netns}").exists():
            raise Failed(f"network namespace {self.netns} exists: another run in progress, or left "
                         f"over (remove it with `ip netns del {self.netns}`)")
        r = subprocess.run(["ip", "netns", "add", self.netns], capture_output=True, text=True)
        if r.returncode != 0:
            raise Failed(f"ip netns add {self.netns}: {r.stderr.strip()}")
        base.NETNS_MADE.append(self.netns)
        # A new namespace's lo is down; the published 127.0.0.1 port needs it.
        r = subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], capture_output=True, text=True)
        if r.returncode != 0:
            raise Failed(f"lo up in {self.netns}: {r.stderr.strip()}")
        super().start()


def in_ns(e: base.Engine, argv: list[str]) -> list[str]:
    """argv run in the engine's network namespace (a dockerd's own; berthd: the host's)."""
    if e.netns:
        return ["nsenter", f"--net=/run/netns/{e.netns}", "--", *argv]
    return argv


def free_port() -> int:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


# ---------------------------------------------------------------- wrk

UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def parse_wrk(out: str) -> dict:
    m = re.search(r"Requests/sec:\s*([\d.]+)", out)
    t = re.search(r"Transfer/sec:\s*([\d.]+)\s*([KMGT]?B)", out)
    if not m or not t:
        raise Failed(f"wrk output not understood: {out.strip()[-400:]}")
    res = {"rps": float(m.group(1)), "bytes_per_s": float(t.group(1)) * UNITS[t.group(2)]}
    se = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = sum(int(x) for x in se.groups()) if se else 0
    n2 = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non2xx"] = int(n2.group(1)) if n2 else 0
    req = re.search(r"(\d+) requests in", out)
    res["requests"] = int(req.group(1)) if req else 0
    lat = re.search(r"^\s*50%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if lat:
        res["p50_latency_ms"] = float(lat.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[lat.group(2)]
    return res


def wrk(e: base.Engine, port: int, path: str, args) -> dict:
    argv = in_ns(e, [WRK, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
                     "--latency", f"http://127.0.0.1:{port}{path}"])
    try:
        r = subprocess.run(argv, env=CLEAN_ENV, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           start_new_session=True, timeout=args.duration + 30)
    except subprocess.TimeoutExpired:
        raise Failed("wrk timed out") from None
    finally:
        base.reap_orphans()
    if r.returncode != 0:
        raise Failed(f"wrk exited {r.returncode}: {(r.stderr or r.stdout).strip()[-400:]}")
    res = parse_wrk(r.stdout)
    if res["requests"] == 0:
        raise Failed(f"wrk made no request: {r.stdout.strip()[-400:]}")
    time.sleep(base.PAUSE["s"])
    return res


PROBE = (
    "import sys,urllib.request\n"
    "b=urllib.request.urlopen('http://127.0.0.1:%d/index.html',timeout=2).read()\n"
    "sys.exit(0 if len(b)==%d else 1)\n"
)


def wait_http(e: base.Engine, port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        r = subprocess.run(in_ns(e, [sys.executable, "-c", PROBE % (port, SMALL)]), env=CLEAN_ENV,
                           capture_output=True, text=True, timeout=10)
        if r.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise Failed(f"no HTTP answer on 127.0.0.1:{port} after {timeout} s: {r.stderr.strip()[-300:]}")
        time.sleep(0.2)


# ---------------------------------------------------------------- measurement


def guarded(e: base.Engine, key: str, step) -> None:
    base.guarded(e, key, step)


def measure_setup(engines: list[base.Engine], args) -> None:
    for e in engines:
        e.samples.setdefault("bridge", [])
        e.samples.setdefault("none", [])

    def run(mode):
        def step(e):
            e.samples[mode].append(e.timed(*(RUN_BRIDGE if mode == "bridge" else RUN_NONE)))
        return step

    # warm-up: the first bridge container makes berthd's bridge and rules
    for e in engines:
        guarded(e, "setup", run("bridge"))
        guarded(e, "setup", run("none"))
        e.samples["bridge"].clear()
        e.samples["none"].clear()
    for i in range(args.runs):
        modes = ("bridge", "none") if i % 2 == 0 else ("none", "bridge")
        for mode in modes:
            for e in engines:
                guarded(e, "setup", run(mode))
        base.progress(f"setup {i + 1}/{args.runs}")
    base.progress("")


def measure_http(engines: list[base.Engine], args, notes: list[str]) -> None:
    ports: dict[str, int] = {}

    def start_web(e: base.Engine) -> None:
        port = DOCKER_PORT if e.netns else free_port()
        e.timed("run", "-d", "--name", "web", "-p", f"127.0.0.1:{port}:80", IMAGE, "sh", "-c", WEB_SCRIPT)
        wait_http(e, port)
        ports[e.name] = port
        if isinstance(e, Dockerd):
            # docker-proxy runs only with the userland proxy on: a check that the two
            # dockerd configurations differ as meant
            n = sum(1 for q in base.pids() if "docker-proxy" in base.cmdline(q) and base.ppid_of(q) == e.pid)
            if (n > 0) != e.proxy:
                notes.append(f"{e.name}: {n} docker-proxy processes with userland-proxy {e.proxy}")

    for e in engines:
        guarded(e, "http", start_web)
    live = [e for e in engines if e.name in ports]
    for e in live:
        e.samples.setdefault("small", [])
        e.samples.setdefault("big", [])
    # warm-up, 1 s each
    warm = argparse.Namespace(**{**vars(args), "duration": 1})
    for e in live:
        for path in ("/index.html", "/big"):
            guarded(e, "http", lambda e, p=path: wrk(e, ports[e.name], p, warm))
    for r in range(args.rounds):
        order = live[r % len(live):] + live[: r % len(live)] if live else []
        for key, path in (("small", "/index.html"), ("big", "/big")):
            for e in order:
                def step(e, key=key, path=path):
                    e.samples[key].append(wrk(e, ports[e.name], path, args))
                guarded(e, "http", step)
                base.progress(f"wrk round {r + 1}/{args.rounds} {key} {e.name}")
    base.progress("")
    for e in live:
        errs = sum(s["socket_errors"] for k in ("small", "big") for s in e.samples.get(k, []))
        non2xx = sum(s["non2xx"] for k in ("small", "big") for s in e.samples.get(k, []))
        if errs or non2xx:
            notes.append(f"{e.name}: wrk counted {errs} socket errors and {non2xx} non-2xx responses in all")
        e.quiet("rm", "-f", "web")


# ---------------------------------------------------------------- report


def med(values):
    return statistics.median(values) if values else None


def fmt(v, digits):
    return "–" if v is None else f"{v:,.{digits}f}"


def ratio(b, d):
    return f"{b / d:.2f}×" if b is not None and d else "–"


def report(engines, by, args, notes, machine) -> dict:
    B, BP, D, DN = (by.get(n) for n in ("berthd", "berthd-proxy", "dockerd", "dockerd-nat"))

    def ms(e, mode):
        return med(e.samples.get(mode, [])) if e else None

    def diff(e):
        b, n = ms(e, "bridge"), ms(e, "none")
        return b - n if b is not None and n is not None else None

    def wrkv(e, key, field, scale=1.0):
        if e is None:
            return None
        v = [s[field] * scale for s in e.samples.get(key, []) if field in s]
        return med(v)

    mib = 1 / (1024 * 1024)
    kib = 1 / 1024
    lines = [
        f"`python3 bench/network.py --runs {args.runs} --rounds {args.rounds} --duration {args.duration} "
        f"-t {args.threads} -c {args.connections} --pause {args.pause:g}` — {datetime.date.today().isoformat()}; "
        f"{machine}",
        "",
        f"Container network setup: {args.runs} runs each, interleaved (medians, ms)",
        "",
        "| metric | berthd | dockerd | berth/docker |",
        "|---|---:|---:|---:|",
    ]
    for title, b, d in (
        ("`docker run --rm busybox true` (default bridge)", ms(B, "bridge"), ms(D, "bridge")),
        ("`docker run --rm --network none busybox true`", ms(B, "none"), ms(D, "none")),
        ("**network setup per container** (bridge − none)", diff(B), diff(D)),
    ):
        lines.append(f"| {title} | {fmt(b, 1)} | {fmt(d, 1)} | {ratio(b, d)} |")
    lines += [
        "",
        f"Published port `-p 127.0.0.1:<port>:80`, `busybox httpd`, wrk -t{args.threads} -c{args.connections} "
        f"-d{args.duration}s, median of {args.rounds} rounds",
        "",
        "| metric | berthd (DNAT) | berthd (proxy) | dockerd (docker-proxy) | dockerd (DNAT) "
        "| berth DNAT / docker proxy | berth DNAT / docker DNAT | berth proxy / docker proxy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = (
        ("1 KiB file: requests/s = new connections/s", "small", "rps", 1.0, 0),
        ("1 KiB file: transfer KiB/s", "small", "bytes_per_s", kib, 0),
        ("1 KiB file: p50 latency ms", "small", "p50_latency_ms", 1.0, 2),
        ("1 MiB file: transfer MiB/s", "big", "bytes_per_s", mib, 0),
        ("1 MiB file: requests/s", "big", "rps", 1.0, 1),
    )
    for title, key, field, scale, digits in rows:
        vb, vbp, vd, vdn = (wrkv(e, key, field, scale) for e in (B, BP, D, DN))
        lines.append(f"| {title} | {fmt(vb, digits)} | {fmt(vbp, digits)} | {fmt(vd, digits)} | {fmt(vdn, digits)} "
                     f"| {ratio(vb, vd)} | {ratio(vb, vdn)} | {ratio(vbp, vd)} |")
    lines += [
        "",
        "wrk against berthd runs in the host's network namespace (berthd's rules are in the "
        "host's nftables, beside whatever else the host has); against a dockerd it runs in that "
        "dockerd's own namespace (`nsenter --net`), where the published 127.0.0.1 port is and only "
        "dockerd's rules are. wrk, the server and any proxy share the machine's CPUs.",
        "",
    ]
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
        "rounds": args.rounds,
        "wrk": {"threads": args.threads, "connections": args.connections, "duration_s": args.duration},
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
                "netns": e.netns,
                "userland_proxy": e.proxy,
                "error": e.error,
                "errors": e.errors,
                "samples": e.samples,
            }
            for e in engines
        },
    }


def machine_line(docker: str, engines) -> str:
    line = base.machine_line(docker, [e for e in engines if e.name in ("berthd", "dockerd")])
    return line


# ---------------------------------------------------------------- cleanup


def cleanup(engines: list[base.Engine], workdir: Path) -> list[str]:
    left = []
    base.kill_current()
    for e in engines:
        if e.alive():
            e.remove_all()
    for e in engines:
        e.stop()
    base.reap_orphans()
    base.kill_leftovers(workdir)
    base.unmount_all(workdir)
    for ns in base.NETNS_MADE:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    berths = [e for e in engines if isinstance(e, Berthd)]
    for e in berths:
        if e.pid:  # only what this run's berthd made
            subprocess.run(["ip", "link", "del", e.bridge], capture_output=True)
            subprocess.run(["nft", "delete", "table", "ip", e.table], capture_output=True)
    import shutil
    shutil.rmtree(workdir, ignore_errors=True)
    for e in engines:
        base.remove_cgroups(e.cgroup)
    base.reap_orphans()
    if base.mounts_under(workdir):
        left.append(f"mounts under {workdir}")
    if workdir.exists():
        left.append(f"directory {workdir}")
    for ns in base.NETNS_MADE:
        if Path(f"/run/netns/{ns}").exists():
            left.append(f"netns {ns}")
    for e in berths:
        if Path(f"/sys/class/net/{e.bridge}").exists():
            left.append(f"link {e.bridge}")
        r = subprocess.run(["nft", "list", "table", "ip", e.table], capture_output=True)
        if r.returncode == 0:
            left.append(f"nft table ip {e.table}")
    for e in engines:
        for cg in CGROUP_ROOT.glob(f"*/{e.cgroup}"):
            left.append(f"cgroup {cg}")
    procs = [p for p in base.pids() if str(workdir) in base.cmdline(p)]
    if procs:
        left.append(f"processes {procs}")
    return left


# ---------------------------------------------------------------- main


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bindir", "--bin", dest="bindir", metavar="DIR",
                   help="directory of berthd, berth-shim, berth-runc (default: target/<host>/release)")
    p.add_argument("--runs", type=int, default=20, help="runs per setup timing (default 20)")
    p.add_argument("--rounds", type=int, default=3, help="wrk rounds per engine and file (default 3)")
    p.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    p.add_argument("-t", "--threads", type=int, default=1, help="wrk threads (default 1)")
    p.add_argument("-c", "--connections", type=int, default=8, help="wrk connections (default 8)")
    p.add_argument("--pause", type=float, default=100, metavar="MS",
                   help="idle time after every timed command (default 100 ms)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    p.add_argument("--no-variants", action="store_true",
                   help="skip berthd-proxy and dockerd-nat (the userland-proxy comparisons)")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("network.py needs root", file=sys.stderr)
        return 2
    docker = next((d for d in ("/usr/local/bin/docker", "/usr/bin/docker") if os.access(d, os.X_OK)), None)
    if not docker:
        print("no docker CLI at /usr/local/bin/docker or /usr/bin/docker", file=sys.stderr)
        return 2
    for need in (str(base.ARCHIVE), WRK):
        if not Path(need).exists():
            print(f"missing {need}", file=sys.stderr)
            return 2
    bindir = Path(args.bindir).resolve() if args.bindir else base.default_bindir()
    base.PAUSE["s"] = max(args.pause, 0) / 1000

    signal.signal(signal.SIGTERM, base.interrupt)
    signal.signal(signal.SIGALRM, base.on_alarm)
    base.set_subreaper()
    workdir = Path(tempfile.mkdtemp(prefix="berth-bn-"))
    os.chmod(workdir, 0o755)
    config_dir = workdir / "docker-config"
    config_dir.mkdir()
    engines: list[base.Engine] = []
    notes: list[str] = []
    code = 0
    try:
        missing = [b for b in ("berthd", "berth-shim", "berth-runc") if not os.access(bindir / b, os.X_OK)]
        specs = [
            ("berthd", lambda: Berthd("berthd", workdir, docker, config_dir, bindir, "bbench0", "10.211.0.1/24", False)),
            ("dockerd", lambda: Dockerd("dockerd", workdir, docker, config_dir, "berth-bench-net-docker", True)),
        ]
        if not args.no_variants:
            specs += [
                ("berthd-proxy", lambda: Berthd("berthd-proxy", workdir, docker, config_dir, bindir, "bbench1",
                                                "10.211.1.1/24", True)),
                ("dockerd-nat", lambda: Dockerd("dockerd-nat", workdir, docker, config_dir,
                                                "berth-bench-net-dockernat", False)),
            ]
        for _name, make in specs:
            e = make()
            if isinstance(e, Berthd) and missing:
                e.error = f"not built in {bindir}: {', '.join(missing)}"
            engines.append(e)
        for e in engines:
            if e.error:
                continue
            try:
                e.start()
            except (Failed, OSError) as exc:
                e.error = f"start: {exc}"
        by = {e.name: e for e in engines}
        live = [e for e in engines if not e.error]
        measure_setup([e for e in live if e.name in ("berthd", "dockerd")], args)
        measure_http(live, args, notes)
        machine = machine_line(docker, engines)
        out = report(engines, by, args, notes, machine)
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
