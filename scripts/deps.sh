#!/usr/bin/env bash
# Installs what berth's build, tests and benchmarks need from Debian's packages.
# Idempotent: does nothing when everything is there.
set -euo pipefail
need=()
for pair in busybox:busybox-static runc:runc crun:crun tini:tini pkg-config:pkg-config \
            hyperfine:hyperfine ps:procps /usr/bin/time:time unshare:util-linux ip:iproute2 umoci:umoci; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  if [[ $cmd == /* ]]; then [ -x "$cmd" ] || need+=("$pkg"); else command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg"); fi
done
[ -e /usr/include/seccomp.h ] || need+=(libseccomp-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
