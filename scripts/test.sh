#!/usr/bin/env bash
# Runs every test: installs dependencies, builds release binaries, then the whole
# workspace's tests under a subreaper (`tini -s`), because the host's pid 1 reaps
# orphaned container processes only after seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
. scripts/build-env.sh
cargo build --release --workspace --all-targets
exec tini -s -- cargo test --release --workspace -- --test-threads=2
