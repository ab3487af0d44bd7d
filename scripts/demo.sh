#!/usr/bin/env bash
# The main job, end to end: install, build, then run real pre-patch checks on
# core dumps of live processes that this script starts and dumps with gcore:
#   1. coreutils `sleep`, parked in clock_nanosleep: safe for a patch of
#      pause(), blocked for a patch of clock_nanosleep();
#   2. a nine-thread program (fixtures/programs/parked.c) whose threads park in
#      pause, nanosleep, read, a condvar and epoll_wait — plus one that spins,
#      one that smashed its own return address and one 200 frames deep —
#      checked against a patch of pause_inner();
#   3. the same program live, through ptrace (each thread stopped only while
#      its registers and stack are copied);
#   4. the running kernel: every task's /proc stack against a patch of
#      __do_sys_pause (the parked program's pause threads block it);
#   5. a snapshot recorded from a core, replayed without the binaries.
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
    ((status < 3 || status == 4)) || exit "$status"  # 4: some task unreadable (e.g. pid 1)
}

run check --core "$WORK/sleep/core.gcore" --func libc.so.6:pause
run check --core "$WORK/sleep/core.gcore" --func libc.so.6:clock_nanosleep
run check --core "$WORK/fp/core.gcore" --exe "$WORK/fp/parked" --func parked:pause_inner

# A live process: start parked, wait until its threads are parked.
PARKED_TIMEOUT=60 "$WORK/fp/parked" "$WORK/live.roles" &
LIVE=$!
trap 'kill "$LIVE" 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do [[ -s $WORK/live.roles ]] && break; sleep 0.1; done
run check --pid "$LIVE" --func parked:pause_inner

# The kernel's view of every task (needs root for other tasks' stacks).
run check --kernel --func __do_sys_pause

run record --core "$WORK/fp/core.gcore" --exe "$WORK/fp/parked" -o "$WORK/fp.snap"
run check --snapshot "$WORK/fp.snap" --func parked:pause_inner
