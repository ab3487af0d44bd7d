#!/usr/bin/env bash
# bench.sh [BUILD] [BENCHMARK-ARGS...]
#
# Runs every micro-benchmark program of BUILD (default build-release, set
# up as a release build when missing) on the real cores: the parked.c
# fixtures (fixtures/make-cores.sh, made by the build's fixture-cores target)
# and the 1,000-thread core (scripts/bench-vs-peers.sh --core-only, kept in
# BUILD/bench-core and reused). Extra arguments go to Google Benchmark, e.g.
# --benchmark_filter=unwind --benchmark_repetitions=5.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-$REPO/build-release}
shift || true
if [[ ! -f $BUILD/build.ninja ]]; then
    meson setup "$BUILD" "$REPO" --buildtype=release >/dev/null
fi
BUILD=$(cd "$BUILD" && pwd)
# Inside `ninja bench` the programs and cores are already up to date, and
# calling ninja again from here would deadlock on its lock.
if [[ -z ${MESON_BUILD_ROOT:-} ]]; then
    ninja -C "$BUILD" >/dev/null
    ninja -C "$BUILD" tests/e2e/cores.stamp >/dev/null
fi
if [[ ! -s $BUILD/bench-core/deep_threads.core ]]; then
    "$REPO/scripts/bench-vs-peers.sh" --core-only --out "$BUILD/bench-core"
fi
export LPSAFE_FIXTURES=$BUILD/tests/e2e/cores LPSAFE_DEEP_CORE=$BUILD/bench-core DEBUGINFOD_URLS=
echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
for exe in "$BUILD"/tests/bench/*_bench; do
    echo "== $(basename "$exe")"
    "$exe" "$@"
done
