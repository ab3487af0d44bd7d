#!/usr/bin/env bash
# bench-vs-peers.sh [--rounds N] [--threads N] [--out DIR] [--lpsafe PATH] [--reuse-core] [--core-only]
#                    [--baseline PATH] [--ballast-mb N]
#
# Times lpsafe against eu-stack and gdb on the same core: a program with
# 1,000 threads, each about 20 frames deep (fixtures/programs/deep_threads.c,
# -O2 -fomit-frame-pointer), parked in system calls, dumped with gcore.
#
#   lpsafe stack   lpsafe stack --core CORE --exe EXE
#   lpsafe check   lpsafe check --core CORE --exe EXE --func deep_threads:level_7
#   ... --json     both again with --json (the goal: within 1.2x of the text)
#   eu-stack       eu-stack --core CORE -e EXE
#   gdb            gdb -batch -nx -ex 'thread apply all bt' EXE CORE
#
# --baseline PATH adds four rows for another lpsafe binary (e.g. a build of an
# older commit), timed in the same interleaved rounds: before/after figures.
#
# --ballast-mb N makes the program write N MiB of heap first: a bigger core
# with the same stacks, to see that lpsafe's peak memory does not follow.
#
# One untimed warm-up run of each (page cache), then ROUNDS rounds; each round
# runs all of them, in an order rotated per round, so that noise from the other
# work on the machine falls on every tool alike. scripts/measure.c takes wall
# time, CPU time (user + system, all threads) and peak RSS of each run; on a
# shared machine CPU time is the steadier figure.
# Prints the same table every time (docs/performance.md), then checks that
# lpsafe's frames are eu-stack's, thread by thread (exit 1 when not).
set -euo pipefail

PROG=bench-vs-peers.sh
die() { echo "$PROG: error: $*" >&2; exit 1; }
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

ROUNDS=7
THREADS=1000
OUT=$REPO/build-bench
LPSAFE=
REUSE=0
CORE_ONLY=0
BASELINE=
BALLAST=0
while (($#)); do
    case $1 in
        --rounds) ROUNDS=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --lpsafe) LPSAFE=$2; shift 2 ;;
        --reuse-core) REUSE=1; shift ;;
        --core-only) CORE_ONLY=1; shift ;;
        --baseline) BASELINE=$2; shift 2 ;;
        --ballast-mb) BALLAST=$2; shift 2 ;;  # make OUT/deep_threads.core and stop
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds wants a positive number"
[[ $THREADS =~ ^[1-9][0-9]*$ ]] || die "--threads wants a positive number"
for tool in gcc gcore gdb eu-stack; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (bash scripts/install-deps.sh)"
done
export DEBUGINFOD_URLS=  # no network look-ups from gdb or elfutils
mkdir -p -- "$OUT"
OUT=$(cd -- "$OUT" && pwd)

EXE=$OUT/deep_threads
CORE=$OUT/deep_threads.core
CFLAGS=(-O2 -fomit-frame-pointer -pthread -Wall -Wextra)

PID=
cleanup() {
    if [[ -n $PID ]]; then
        kill -KILL "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT

# wait_parked PID: every task inside a system call (first field of
# /proc/PID/task/TID/syscall a number >= 0), bounded at ~30 s.
wait_parked() {
    local pid=$1 i t nr busy
    for ((i = 0; i < 300; i++)); do
        busy=0
        for t in /proc/"$pid"/task/*; do
            nr=
            read -r nr _ <"$t/syscall" 2>/dev/null || true
            [[ $nr =~ ^[0-9]+$ ]] || { busy=1; break; }
        done
        ((busy)) || return 0
        sleep 0.1
    done
    die "pid $pid: not every thread parked in a system call after 30 s"
}

make_core() {
    local ready=$OUT/ready
    gcc "${CFLAGS[@]}" -o "$EXE" "$REPO/fixtures/programs/deep_threads.c" || die "compiling deep_threads.c failed"
    rm -f -- "$ready" "$CORE"
    DEEP_THREADS=$THREADS DEEP_TIMEOUT=300 DEEP_BALLAST_MB=$BALLAST "$EXE" "$ready" &
    PID=$!
    local i
    for ((i = 0; i < 600; i++)); do
        [[ -s $ready ]] && break
        kill -0 "$PID" 2>/dev/null || die "deep_threads exited early"
        sleep 0.1
    done
    [[ -s $ready ]] || die "deep_threads did not start its $THREADS threads within 60 s"
    wait_parked "$PID"
    gcore -o "$OUT/gcore" "$PID" >"$OUT/gcore.log" 2>&1 && [[ -s $OUT/gcore.$PID ]] ||
        { cat "$OUT/gcore.log" >&2; die "gcore failed"; }
    mv -f -- "$OUT/gcore.$PID" "$CORE"
    cleanup
    PID=
}

if ((REUSE == 0)) || [[ ! -s $CORE || ! -x $EXE ]]; then make_core; fi
((CORE_ONLY == 0)) || exit 0

# A release build of lpsafe unless one is given.
if [[ -z $LPSAFE ]]; then
    if [[ ! -f $REPO/build-release/build.ninja ]]; then
        meson setup "$REPO/build-release" "$REPO" --buildtype=release >/dev/null
    fi
    ninja -C "$REPO/build-release" src/lpsafe >/dev/null
    LPSAFE=$REPO/build-release/src/lpsafe
fi
[[ -x $LPSAFE ]] || die "$LPSAFE is not an executable"


NAMES=("lpsafe stack" "lpsafe check" "stack --json" "check --json" "eu-stack" "gdb")
KEYS=(stack check jstack jcheck eu gdb)
if [[ -n $BASELINE ]]; then
    [[ -x $BASELINE ]] || die "--baseline $BASELINE is not an executable"
    NAMES+=("baseline stack" "baseline check" "base stk json" "base chk json")
    KEYS+=(bstack bcheck bjstack bjcheck)
fi
command_for() {  # command_for KEY: sets CMD
    case $1 in
        stack) CMD=("$LPSAFE" stack --core "$CORE" --exe "$EXE") ;;
        check) CMD=("$LPSAFE" check --core "$CORE" --exe "$EXE" --func deep_threads:level_7) ;;
        jstack) CMD=("$LPSAFE" stack --core "$CORE" --exe "$EXE" --json) ;;
        jcheck) CMD=("$LPSAFE" check --core "$CORE" --exe "$EXE" --func deep_threads:level_7 --json) ;;
        bstack) CMD=("$BASELINE" stack --core "$CORE" --exe "$EXE") ;;
        bcheck) CMD=("$BASELINE" check --core "$CORE" --exe "$EXE" --func deep_threads:level_7) ;;
        bjstack) CMD=("$BASELINE" stack --core "$CORE" --exe "$EXE" --json) ;;
        bjcheck) CMD=("$BASELINE" check --core "$CORE" --exe "$EXE" --func deep_threads:level_7 --json) ;;
        eu) CMD=(eu-stack --core "$CORE" -e "$EXE") ;;
        gdb) CMD=(gdb -batch -nx -ex 'thread apply all bt' "$EXE" "$CORE") ;;
    esac
}
gcc -O2 -Wall -o "$OUT/measure" "$REPO/scripts/measure.c" || die "compiling scripts/measure.c failed"
declare -A MS CPU RSS
measure() {  # measure KEY: appends one wall time (ms), CPU time (ms), peak RSS (KiB)
    local key=$1 rc=0 CMD wall cpu rss
    command_for "$key"
    "$OUT/measure" "$OUT/measure.txt" "${CMD[@]}" >"$OUT/out.$key.txt" 2>"$OUT/err.$key.txt" || rc=$?
    # lpsafe exits 1 (blocked) or 2 (unreliable) by design; 3 and up is an error.
    # eu-stack and gdb may exit non-zero over one odd thread; an empty output
    # is what counts as their failure.
    if { [[ $key != eu && $key != gdb ]] && ((rc >= 3)); } || [[ ! -s $OUT/out.$key.txt ]]; then
        tail -n 3 "$OUT/err.$key.txt" >&2
        die "$key exited with status $rc"
    fi
    read -r wall cpu rss _ <"$OUT/measure.txt"
    MS[$key]+=" $wall" CPU[$key]+=" $cpu" RSS[$key]+=" $rss"
}
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minmax() { tr ' ' '\n' | awk 'NF' | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s %s", lo, hi }'; }

for key in "${KEYS[@]}"; do measure "$key"; done  # warm-up
MS=() CPU=() RSS=()
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < ${#KEYS[@]}; k++)); do measure "${KEYS[$(((k + r) % ${#KEYS[@]}))]}"; done
done

# ---- the table -------------------------------------------------------------
frames_of() { grep -cE "$2" "$OUT/out.$1.txt" || true; }
lp_frames=$(frames_of stack '^  #[0-9]+ +0x')
eu_frames=$(frames_of eu '^#[0-9]+ +0x')
gdb_frames=$(frames_of gdb '^#[0-9]+ ')
json_frames=$(frames_of jstack '^ +"pc": ')  # "pc" is a frame's key only
threads_in_core=$(grep -cE '^PID [0-9]+ TID ' "$OUT/out.stack.txt" || true)

echo "lpsafe vs eu-stack vs gdb on one core ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "tools:   lpsafe $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?'), $(eu-stack --version | head -n1), $(gdb --version | head -n1)"
echo "core:    $threads_in_core threads, $(( $(stat -c %s "$CORE") / 1048576 )) MiB, gcc ${CFLAGS[*]} ($(gcc -dumpfullversion))"
echo "rounds:  $ROUNDS (interleaved, after one warm-up run each)"
echo
printf '%-14s %10s %9s %9s %11s %13s %9s %12s\n' tool "median ms" "min ms" "max ms" "median cpu" "peak RSS MiB" frames "x lpsafe stk"
stack_med=$(median <<<"${MS[stack]}")
for ((k = 0; k < ${#KEYS[@]}; k++)); do
    key=${KEYS[$k]}
    med=$(median <<<"${MS[$key]}")
    read -r lo hi <<<"$(minmax <<<"${MS[$key]}")"
    rss=$(median <<<"${RSS[$key]}")
    cpu=$(median <<<"${CPU[$key]}")
    case $key in
        stack|check|bstack|bcheck) fr=$lp_frames ;;
        jstack|jcheck|bjstack|bjcheck) fr=$json_frames ;;
        eu) fr=$eu_frames ;;
        gdb) fr=$gdb_frames ;;
    esac
    printf '%-14s %10.1f %9.1f %9.1f %11.1f %13.1f %9s %11.1fx\n' "${NAMES[$k]}" "$med" "$lo" "$hi" "$cpu" \
        "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$fr" "$(awk -v a="$med" -v b="$stack_med" 'BEGIN { print a / b }')"
done
ratios() {  # ratios LABEL ARRAY-NAME: speed-ups and the goals on one measure
    local -n m=$2
    awk -v l="$1" -v s="$(median <<<"${m[stack]}")" -v c="$(median <<<"${m[check]}")" \
        -v js="$(median <<<"${m[jstack]}")" -v jc="$(median <<<"${m[jcheck]}")" \
        -v e="$(median <<<"${m[eu]}")" -v g="$(median <<<"${m[gdb]}")" 'BEGIN {
        printf "%-6s text: eu-stack/lpsafe stack %.1fx, eu-stack/lpsafe check %.1fx, gdb/lpsafe stack %.1fx, gdb/lpsafe check %.1fx; ",
            l, e / s, e / c, g / s, g / c
        printf ">= 40x eu-stack and < 50 ms: %s\n", (e / s >= 40 && e / c >= 40 && s < 50 && c < 50) ? "met" : "NOT met"
        printf "%-6s json: eu-stack/lpsafe stack %.1fx, eu-stack/lpsafe check %.1fx, gdb/lpsafe stack %.1fx, gdb/lpsafe check %.1fx; ",
            l, e / js, e / jc, g / js, g / jc
        printf "json/text stack %.2fx, check %.2fx, <= 1.2x: %s\n", js / s, jc / c, (js <= 1.2 * s && jc <= 1.2 * c) ? "met" : "NOT met"
    }'
}
baseline_ratios() {  # baseline_ratios LABEL ARRAY-NAME: the baseline's json/text, for before/after
    local -n m=$2
    awk -v l="$1" -v s="$(median <<<"${m[bstack]}")" -v c="$(median <<<"${m[bcheck]}")" \
        -v js="$(median <<<"${m[bjstack]}")" -v jc="$(median <<<"${m[bjcheck]}")" 'BEGIN {
        printf "%-6s baseline json/text stack %.2fx, check %.2fx\n", l, js / s, jc / c
    }'
}
echo
ratios wall: MS
ratios cpu: CPU
if [[ -n $BASELINE ]]; then
    baseline_ratios wall: MS
    baseline_ratios cpu: CPU
fi

# ---- same answers? -----------------------------------------------------------
# Per thread, lpsafe's pcs (text output of `stack`) against eu-stack's.
agree=$(awk '
    function hexnorm(h) { sub(/^0x0*/, "", h); return h }
    FNR == 1 { file++ }
    file == 1 && /^PID [0-9]+ TID / { tid = $4; lp[tid] = ""; next }
    file == 1 && /^  #[0-9]+ +0x/ { lp[tid] = lp[tid] " " hexnorm($2); next }
    file == 1 && /more frames at/ { lp[tid] = "collapsed"; next }
    file == 2 && /^TID [0-9]+:/ { tid = $2; sub(/:/, "", tid); eu[tid] = ""; next }
    file == 2 && /^#[0-9]+ +0x/ { eu[tid] = eu[tid] " " hexnorm($2); next }
    END {
        n = 0; same = 0
        for (t in eu) { n++; if ((t in lp) && lp[t] == eu[t]) same++ }
        for (t in lp) if (!(t in eu)) n++
        printf "%d %d", same, n
    }' "$OUT/out.stack.txt" "$OUT/out.eu.txt")
read -r same total <<<"$agree"
reliable=$(grep -cE '^PID [0-9]+ TID .*: reliable$' "$OUT/out.stack.txt" || true)
summary=$(grep -E '^[0-9]+ safe, ' "$OUT/out.check.txt" || echo "?")
echo "answers:  threads whose pcs equal eu-stack's: $same/$total; lpsafe reliable stacks: $reliable/$threads_in_core; check: $summary"
if ((json_frames != lp_frames)); then
    echo "MISMATCH: stack --json has $json_frames frames, the text $lp_frames (outputs in $OUT/out.*.txt)" >&2
    exit 1
fi
if ((same != total || total == 0)); then
    echo "MISMATCH: lpsafe and eu-stack disagree (outputs in $OUT/out.*.txt)" >&2
    exit 1
fi
