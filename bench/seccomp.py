#!/usr/bin/env python3
"""Start latency with Docker's default seccomp profile: berth-runc against runc.

The profile is the OCI `linux.seccomp` section berthd gives a default container
(`berthd --print-seccomp-profile`: Docker's default profile for the default
capabilities, ~370 syscall names on x86_64, three architectures). The same busybox
bundle as bench/runtime.py runs `/bin/true` in the foreground (`run <id>`: create,
start, wait, delete — `docker run --rm`), and `exec /bin/true` goes into a running
`sleep`, under these variants, interleaved round-robin:

  berth-runc                 no seccomp section (the baseline)
  berth-runc +seccomp        the profile, compiled filter read from berth-runc's cache
                             (the cache is warmed by an unmeasured first run)
  berth-runc +seccomp nocache   the profile compiled with libseccomp on every start
                             (BERTH_SECCOMP_CACHE=off)
  runc                       no seccomp section
  runc +seccomp              the profile (runc compiles it on every start; it has no cache)

stdlib only; needs root, runc, /bin/busybox. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import runtime as common  # noqa: E402  (bench/runtime.py: bundle, subreaper, summaries)


class Variant:
    def __init__(self, name: str, binary: str, root: Path, env: dict, seccomp: bool):
        self.name = name
        self.binary = binary
        self.root = root
        self.env = env
        self.seccomp = seccomp
        self.samples: dict[str, list[float]] = {"run": [], "exec": []}
        self.error: str | None = None
        self.live: set[str] = set()
        self.errfile = root.parent / f"{root.name}.stderr"

    def argv(self, *args: str) -> list[str]:
        return [self.binary, "--root", str(self.root), *args]

    def timed(self, *args: str) -> float:
        """Runs one command with this variant's environment; its wall time in ms."""
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, str(self.errfile), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        ]
        argv = self.argv(*args)
        t0 = time.perf_counter_ns()
        pid = os.posix_spawn(argv[0], argv, self.env, file_actions=actions, setpgroup=0)
        _, status = os.waitpid(pid, 0)
        ms = (time.perf_counter_ns() - t0) / 1e6
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err = self.errfile.read_text(errors="replace").strip()
            raise common.Failed(f"{args[0]} exited {code}: {err[-400:]}")
        return ms

    def cleanup(self, cid: str) -> None:
        subprocess.run(self.argv("delete", "-f", cid), env=self.env, capture_output=True)
        self.live.discard(cid)


def profile(berthd: str) -> dict:
    out = subprocess.run([berthd, "--print-seccomp-profile"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", required=True, help="directory with berth-runc and berthd (e.g. $BERTH_BIN)")
    p.add_argument("--runs", type=int, default=30, help="measured runs per variant (default 30)")
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("seccomp.py needs root", file=sys.stderr)
        return 2
    bindir = Path(args.bin).resolve()
    berth = str(bindir / "berth-runc")
    runc = shutil.which("runc") or "/usr/sbin/runc"

    signal.signal(signal.SIGTERM, common.interrupt)
    common.set_subreaper()
    workdir = Path(tempfile.mkdtemp(prefix="berth-bench-seccomp-"))
    variants: list[Variant] = []
    try:
        seccomp = profile(str(bindir / "berthd"))
        rootfs = workdir / "rootfs"
        common.build_rootfs(rootfs)
        spec = common.default_spec(workdir)
        plain = {"true": common.write_bundle(workdir / "plain-true", spec, rootfs, ["/bin/true"]),
                 "sleep": common.write_bundle(workdir / "plain-sleep", spec, rootfs, ["sleep", "1000"])}
        filtered_spec = json.loads(json.dumps(spec))
        filtered_spec.setdefault("linux", {})["seccomp"] = seccomp
        # As in a default Docker container: no no_new_privs, so the filter is loaded
        # while the process still holds CAP_SYS_ADMIN, before its identity switch.
        filtered_spec["process"]["noNewPrivileges"] = False
        filtered = {"true": common.write_bundle(workdir / "sc-true", filtered_spec, rootfs, ["/bin/true"]),
                    "sleep": common.write_bundle(workdir / "sc-sleep", filtered_spec, rootfs, ["sleep", "1000"])}

        env = dict(os.environ)
        nocache = dict(env, BERTH_SECCOMP_CACHE="off")

        def root(name: str) -> Path:
            d = workdir / f"root-{name}"
            d.mkdir()
            return d

        variants = [
            Variant("berth-runc", berth, root("berth"), env, False),
            Variant("berth-runc +seccomp (cached)", berth, root("berth-sc"), env, True),
            Variant("berth-runc +seccomp (compiled each start)", berth, root("berth-sc-nc"), nocache, True),
            Variant("runc", runc, root("runc"), env, False),
            Variant("runc +seccomp", runc, root("runc-sc"), env, True),
        ]
        if not shutil.which(runc):
            for v in variants:
                if v.binary == runc:
                    v.error = "runc not found"
        ids = {"n": 0}

        def new_id(v: Variant) -> str:
            ids["n"] += 1
            cid = f"bench-sc-{os.getpid()}-{ids['n']}"
            v.live.add(cid)
            return cid

        def foreground(v: Variant, record: bool = True) -> None:
            bundle = (filtered if v.seccomp else plain)["true"]
            cid = new_id(v)
            ms = v.timed("run", "--bundle", str(bundle), cid)
            v.live.discard(cid)
            if record:
                v.samples["run"].append(ms)

        def guarded(v: Variant, step, *a) -> None:
            if v.error:
                return
            try:
                step(v, *a)
            except (common.Failed, OSError) as e:
                v.error = f"{step.__name__}: {e}"
            finally:
                common.reap_orphans()

        for v in variants:  # warm-up: page cache, berth-runc's filter cache
            guarded(v, foreground, False)
        for i in range(args.runs):
            for v in variants:
                guarded(v, foreground)
            common.progress(f"run {i + 1}/{args.runs}")

        sleepers: dict[str, str] = {}

        def start_sleeper(v: Variant) -> None:
            bundle = (filtered if v.seccomp else plain)["sleep"]
            cid = new_id(v)
            v.timed("create", "--bundle", str(bundle), cid)
            v.timed("start", cid)
            sleepers[v.name] = cid

        def exec_true(v: Variant, record: bool = True) -> None:
            ms = v.timed("exec", sleepers[v.name], "/bin/true")
            if record:
                v.samples["exec"].append(ms)

        for v in variants:
            guarded(v, start_sleeper)
            guarded(v, exec_true, False)
        for i in range(args.runs):
            for v in variants:
                guarded(v, exec_true)
            common.progress(f"exec {i + 1}/{args.runs}")
        common.progress("")

        results = {v.name: {k: common.summary(s) for k, s in v.samples.items()} for v in variants}
        names = sum(len(s.get("names", [])) for s in seccomp.get("syscalls", []))
        host = os.uname()
        lines = [
            f"{args.runs} runs each, interleaved; {host.sysname} {host.release}, {os.cpu_count()} CPUs; "
            f"profile: {len(seccomp.get('syscalls', []))} rules, {names} syscall names, "
            f"architectures {', '.join(seccomp.get('architectures', []))}",
            "",
        ]
        for key, title in (("run", "run, foreground (/bin/true)"), ("exec", "exec /bin/true into a running container")):
            lines += [f"### {title}", "", "| variant | median ms | p90 ms | min ms | vs runc +seccomp |",
                      "|---|---:|---:|---:|---:|"]
            peer = results["runc +seccomp"][key]
            for v in variants:
                s = results[v.name][key]
                if s is None:
                    lines.append(f"| {v.name} | unavailable: {v.error or 'not measured'} | | | |")
                    continue
                lines.append(f"| {v.name} | {s['median']:.2f} | {s['p90']:.2f} | {s['min']:.2f} "
                             f"| {common.ratio(s, peer)} |")
            lines.append("")
        for v in variants:
            if v.error:
                lines.append(f"- {v.name}: {v.error}")
        print("\n".join(lines))
        if args.json:
            Path(args.json).write_text(json.dumps(
                {"runs": args.runs, "kernel": host.release, "profile": seccomp,
                 "variants": {v.name: {"error": v.error, "summary": results[v.name], "samples": v.samples}
                              for v in variants}}, indent=2) + "\n")
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for v in variants:
            for cid in list(v.live):
                v.cleanup(cid)
        common.reap_orphans()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
