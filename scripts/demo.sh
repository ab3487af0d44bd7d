#!/usr/bin/env bash
# The main job, end to end: install, build, then run real pre-patch checks on
# core dumps of live processes that this script starts and dumps with gcore:
#   1. coreutils `sleep`, parked in clock_nanosleep: safe for a patch of
#      pause(), blocked for a patch of clock_nanosleep();
#   2. a nine-thread program (fixtures/programs/parked.c) whose threads park in
#      pause, nanosleep, read, a condvar and epoll_wait — plus one that spins,
#      one that smashed its own return address and one 200 frames deep —
#      checked against a patch of pause_inner().
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
BUILD=${BUILD:-build}
[[ -f $BUILD/build.ninja ]] || meson setup "$BUILD" --buildtype=release -Dtests=false >/dev/null
ninja -C "$BUILD" >/dev/null
LPSAFE=$BUILD/src/lpsafe

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lpsafe-demo.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
bash fixtures/make-cores.sh "$WORK" >/dev/null

run() {  # run lpsafe, show its verdict and exit status (1 and 2 are verdicts)
    echo "\$ lpsafe $*"
    set +e
    "$LPSAFE" "$@"
    local status=$?
    set -e
    echo "(exit status $status)"
    echo
    ((status < 3)) || exit "$status"
}

run check --core "$WORK/sleep/core.gcore" --func libc.so.6:pause
run check --core "$WORK/sleep/core.gcore" --func libc.so.6:clock_nanosleep
run check --core "$WORK/fp/core.gcore" --exe "$WORK/fp/parked" --func parked:pause_inner
