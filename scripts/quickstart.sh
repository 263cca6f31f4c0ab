#!/usr/bin/env bash
# From a fresh machine to a running container: install deps, build berth-runc, make a
# busybox bundle from Debian's busybox-static, run it, print what it says.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
. scripts/build-env.sh
cargo build --release -p berth-runtime
bundle=$(mktemp -d /tmp/berth-quickstart.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
mkdir -p "$bundle/rootfs"/{bin,etc,proc,sys,dev,tmp,root}
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ -e "$bundle/rootfs/bin/$applet" ] || ln -s busybox "$bundle/rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$bundle/rootfs/etc/passwd"
echo 'root:x:0:' > "$bundle/rootfs/etc/group"
"$BERTH_BIN/berth-runc" spec --bundle "$bundle"
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"sh", "-c", "echo hello from $(hostname), pid $$, in a berth container; uname -a"/' "$bundle/config.json"
tini -s -- "$BERTH_BIN/berth-runc" --root /run/berth-runc run --bundle "$bundle" "quickstart-$$"
