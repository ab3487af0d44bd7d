#!/usr/bin/env bash
# The sanitizer stage of the test command (scripts/test.sh calls it):
#   1. one clang build with -Dfuzzing=true: every library and program carries
#      coverage instrumentation and ASan+UBSan (UBSan aborts on the first report);
#   2. the whole test suite once in that build (LeakSanitizer included);
#   3. every libFuzzer target for FUZZ_SECONDS (default 30) on its seeds in
#      fixtures/fuzz-seeds/<target>/, two at a time. A crash, leak, sanitizer
#      report, an input slower than 1 s or using over 2 GiB fails the stage.
# Prints "sanitizers: ..." as its last line (scripts/test.sh repeats it);
# exit status 0 only when both the suite and every fuzzer passed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/gtest-count.sh

BUILD=${SAN_BUILD:-build-sanitizers}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
if [[ ! -f $BUILD/build.ninja ]]; then
    # -O1 and line tables only: the sanitizers' reports keep file:line, and
    # the build needs about 12% less CPU than -O2 -g (212 s vs 240 s user, measured).
    # Through ccache when there is one: meson adds it only to compilers it
    # finds itself, not to one named in CXX, and without it this build was
    # 11 of CI's 27 minutes on every run.
    cxx=clang++
    command -v ccache >/dev/null && cxx="ccache clang++"
    CXX=$cxx meson setup "$BUILD" --buildtype=plain -Dcpp_args='-O1 -gline-tables-only' \
        -Dfuzzing=true -Db_lundef=false >/dev/null
fi
ninja -C "$BUILD" >"$BUILD/ninja.log" 2>&1 || { cat "$BUILD/ninja.log"; echo "sanitizers: build failed"; exit 1; }

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
set +e
meson test -C "$BUILD" --print-errorlogs --num-processes 2 >"$BUILD/sanitized-tests.txt" 2>&1
suite_status=$?
set -e
[[ $suite_status -eq 0 ]] || cat "$BUILD/sanitized-tests.txt"
suite=$(gtest_count "$BUILD/meson-logs/testlog.txt" "$suite_status")

# One fuzzer: a fresh corpus directory (new inputs land there, the seeds stay
# untouched); crash inputs go to $BUILD/fuzz-artifacts/.
run_fuzzer() {
    local exe=$1 target=${1##*/fuzz_} corpus log seeds=() max_len=65536
    # An s390 boot image's entry table lies at 0x10008 (raw_kernel_image.h):
    # shorter inputs never reach that reader.
    [[ $target == kernel_image ]] && max_len=73728
    [[ -d fixtures/fuzz-seeds/$target ]] && seeds=("fixtures/fuzz-seeds/$target")
    corpus=$(mktemp -d "${TMPDIR:-/tmp}/lpsafe-corpus-$target.XXXXXX")
    log=$BUILD/fuzz-$target.log
    mkdir -p "$BUILD/fuzz-artifacts"
    if "$exe" -max_total_time="$FUZZ_SECONDS" -timeout=1 -rss_limit_mb=2048 -detect_leaks=1 -max_len=$max_len \
        -print_final_stats=1 -artifact_prefix="$BUILD/fuzz-artifacts/$target-" \
        "$corpus" ${seeds[@]+"${seeds[@]}"} >"$log" 2>&1; then
        echo "fuzz_$target: ok $(fuzz_stats "$log")"
    else
        echo "fuzz_$target: FAILED (log $log)"
        tail -n 60 "$log"
    fi
    rm -rf -- "$corpus"
}

fuzz_stats() {  # runs, execs/s and edge coverage from libFuzzer's output
    awk '/stat::number_of_executed_units/ {runs = $2} /stat::average_exec_per_sec/ {eps = $2}
         / cov: / {for (i = 1; i < NF; i++) if ($i == "cov:") cov = $(i + 1)}
         END {printf "runs=%s execs/s=%s cov=%s", runs, eps, cov}' "$1"
}

fuzzers=()
for f in "$BUILD"/tests/fuzz/fuzz_*; do
    [[ -f $f && -x $f ]] && fuzzers+=("$f")
done
results=$BUILD/fuzz-results.txt
: >"$results"
for ((i = 0; i < ${#fuzzers[@]}; i += 2)); do
    run_fuzzer "${fuzzers[i]}" >>"$results" &
    if ((i + 1 < ${#fuzzers[@]})); then run_fuzzer "${fuzzers[i + 1]}" >>"$results" & fi
    wait
done
cat "$results"
failed_fuzzers=$(grep -c '^fuzz_[a-z_]*: FAILED' "$results" || true)

echo "sanitizers: ASan+UBSan suite $suite; fuzzers: ${#fuzzers[@]} run, $failed_fuzzers failed"
[[ $suite_status -eq 0 && $failed_fuzzers -eq 0 ]]
