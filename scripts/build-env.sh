# Sourced by the scripts that build berth: release binaries are linked statically
# (static-pie: ASLR kept) against glibc. berth-runc then maps no ld.so and no shared
# libc, which takes its peak RSS per `run` from 4.0 to 3.2 MiB (see BENCHMARKS.md).
# Building for the explicit host target keeps the flag off build scripts and proc macros.
host=$(rustc -vV | sed -n 's/^host: //p')
export CARGO_BUILD_TARGET="$host"
export "CARGO_TARGET_$(echo "$host" | tr 'a-z-' 'A-Z_')_RUSTFLAGS=-C target-feature=+crt-static"
BERTH_BIN="target/$host/release"
export BERTH_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
# berth-runc links libseccomp (Debian's libseccomp-dev): statically here, like libc.
# libseccomp-sys reads these two; a plain `cargo build` leaves them unset and links the
# shared library. The directory comes from the compiler, so multiarch paths just work.
seccomp_a=$(${CC:-cc} -print-file-name=libseccomp.a 2>/dev/null || true)
if [ -n "$seccomp_a" ] && [ -f "$seccomp_a" ]; then
  export LIBSECCOMP_LINK_TYPE=static
  LIBSECCOMP_LIB_PATH=$(cd "$(dirname "$seccomp_a")" && pwd -P)
  export LIBSECCOMP_LIB_PATH
fi
unset seccomp_a
