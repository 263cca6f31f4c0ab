#!/usr/bin/env python3
"""Side-by-side unpack benchmark: berth-layer's `apply` against `umoci unpack` and the
floor, `gzip -dc | tar -x` (`zstd -dc | tar -x` for zstd layers), on the same image,
interleaved round-robin so machine drift hits all alike.

Each run unpacks every layer of the image, in order, into a fresh directory on a tmpfs
(/dev/shm by default, so the disk does not dominate) and removes it afterwards. umoci
gets a fresh copy of the OCI layout (it writes into it). Wall time per full unpack;
median, p90, min, and throughput in MB/s of uncompressed layer bytes.

usage: bench/unpack.py --apply PATH [--runs N] [--images DIR] [--scratch DIR] [--json OUT]
  --apply   the berth-layer example binary: cargo build --release --example apply -p berth-layer
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time

IMAGES = [("debian-oci", "bookworm-minbase"), ("multilayer-oci", "latest")]


def layers_of(layout):
    index = json.load(open(os.path.join(layout, "index.json")))
    desc = index["manifests"][0]
    manifest = json.load(open(blob_path(layout, desc["digest"])))
    config = json.load(open(blob_path(layout, manifest["config"]["digest"])))
    blobs = [(blob_path(layout, l["digest"]), l["mediaType"]) for l in manifest["layers"]]
    return blobs, config["rootfs"]["diff_ids"]


def blob_path(layout, digest):
    algo, hexd = digest.split(":", 1)
    return os.path.join(layout, "blobs", algo, hexd)


def uncompressed_size(blobs):
    total = 0
    for path, media in blobs:
        tool = ["zstd", "-dc"] if "zstd" in media else ["gzip", "-dc"]
        out = subprocess.run(tool + [path], stdout=subprocess.PIPE, check=True).stdout
        total += len(out)
    return total


def run_berth(apply_bin, blobs, target):
    subprocess.run([apply_bin, target] + [b for b, _ in blobs], check=True, stdout=subprocess.DEVNULL)


def run_floor(blobs, target):
    for path, media in blobs:
        tool = "zstd -dc" if "zstd" in media else "gzip -dc"
        subprocess.run(f"{tool} {path} | tar -x -p -C {target}", shell=True, check=True)


def run_umoci(layout, tag, target, scratch):
    copy = tempfile.mkdtemp(prefix="berth-bench-layout-", dir=scratch)
    try:
        shutil.rmtree(copy)
        shutil.copytree(layout, copy)
        subprocess.run(["umoci", "unpack", "--image", f"{copy}:{tag}", target],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def summary(samples):
    s = sorted(samples)
    return {"median": statistics.median(s), "p90": s[min(len(s) - 1, int(len(s) * 0.9))], "min": s[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--apply", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--images", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "images"))
    ap.add_argument("--scratch", default="/dev/shm")
    ap.add_argument("--json")
    a = ap.parse_args()
    have_umoci = shutil.which("umoci") is not None
    results = {}
    print(f"{a.runs} runs each, interleaved; unpacking into {a.scratch}\n")
    for name, tag in IMAGES:
        layout = os.path.realpath(os.path.join(a.images, name))
        blobs, _ = layers_of(layout)
        size = uncompressed_size(blobs)
        tools = {"berth-layer apply": lambda t: run_berth(a.apply, blobs, t),
                 "floor: gzip -dc | tar -x": lambda t: run_floor(blobs, t)}
        if have_umoci:
            tools["umoci unpack"] = lambda t: run_umoci(layout, tag, t, a.scratch)
        samples = {k: [] for k in tools}
        for i in range(a.runs + 1):  # the first round warms the page cache, unmeasured
            for tool, fn in tools.items():
                work = tempfile.mkdtemp(prefix="berth-bench-unpack-", dir=a.scratch)
                target = os.path.join(work, "rootfs") if tool == "umoci unpack" else work
                try:
                    start = time.perf_counter()
                    fn(work if tool == "umoci unpack" else target)
                    elapsed = time.perf_counter() - start
                finally:
                    shutil.rmtree(work, ignore_errors=True)
                if i > 0:
                    samples[tool].append(elapsed * 1000)
        floor = statistics.median(samples["floor: gzip -dc | tar -x"])
        print(f"### {name} ({len(blobs)} layers, {size / 1e6:.1f} MB uncompressed)\n")
        print("| tool | median ms | p90 ms | min ms | MB/s | vs floor | vs umoci |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        um = statistics.median(samples["umoci unpack"]) if have_umoci else None
        results[name] = {}
        for tool, s in samples.items():
            sm = summary(s)
            results[name][tool] = {**sm, "samples": s}
            vs_um = f"{sm['median'] / um:.2f}×" if um else "n/a"
            label = tool.replace("|", "\\|")
            print(f"| {label} | {sm['median']:.0f} | {sm['p90']:.0f} | {sm['min']:.0f} | "
                  f"{size / 1e6 / (sm['median'] / 1000):.0f} | {sm['median'] / floor:.2f}× | {vs_um} |")
        print()
    if a.json:
        json.dump(results, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    sys.exit(main())
