#!/usr/bin/env bash
# Installs what berth's build, tests and benchmarks need from Debian's packages.
# Idempotent: does nothing when everything is there.
set -euo pipefail
need=()
for pair in busybox:busybox-static runc:runc crun:crun tini:tini pkg-config:pkg-config \
            hyperfine:hyperfine ps:procps /usr/bin/time:time unshare:util-linux ip:iproute2 umoci:umoci \
            nft:nftables iptables:iptables docker-compose:docker-compose wrk:wrk; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  if [[ $cmd == /* ]]; then [ -x "$cmd" ] || need+=("$pkg"); else command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg"); fi
done
[ -e /usr/include/seccomp.h ] || need+=(libseccomp-dev)
[ -x /usr/bin/tini-static ] || need+=(tini)
command -v script >/dev/null 2>&1 || need+=(bsdutils)
# The black-box tests drive clients nobody here wrote: the official docker CLI (28 at
# /usr/local/bin where the machine has it, else Debian's 20.10) and docker-py.
[ -x /usr/local/bin/docker ] || [ -x /usr/bin/docker ] || need+=(docker.io)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
python3 -c 'import docker' 2>/dev/null || python3 -m pip install -q docker \
  || { export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq python3-docker >/dev/null; }
