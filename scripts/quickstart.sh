#!/usr/bin/env bash
# From a fresh machine to a running container: install deps, build berth, start berthd
# (the Docker Engine API on /run/berth/berth.sock), make a busybox image from Debian's
# busybox-static, and `berth run` it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
. scripts/build-env.sh
cargo build --release -p berth-runtime -p berth-shim -p berth-daemon -p berth-cli
berth="$BERTH_BIN/berth"
if ! "$berth" version >/dev/null 2>&1; then
  # Under tini -s: containers' shims are reparented to it and reaped at once.
  setsid tini -s -- "$BERTH_BIN/berthd" </dev/null >>/var/log/berthd.log 2>&1 &
  for _ in $(seq 100); do [ -S /run/berth/berth.sock ] && break; sleep 0.05; done
fi
if ! "$berth" image inspect busybox >/dev/null 2>&1; then
  rootfs=$(mktemp -d /tmp/berth-quickstart.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  mkdir -p "$rootfs"/{bin,etc,proc,sys,dev,tmp,root}
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
  echo 'root:x:0:' > "$rootfs/etc/group"
  tar -C "$rootfs" -c . | "$berth" import -c 'CMD ["sh"]' - busybox:latest >/dev/null
fi
"$berth" run --rm busybox sh -c 'echo hello from $(hostname), pid $$, in a berth container'
echo "berthd is serving /run/berth/berth.sock: try DOCKER_HOST=unix:///run/berth/berth.sock docker ps" >&2
