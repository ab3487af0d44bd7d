#!/usr/bin/env bash
# Sets up, builds and runs every test: unit tests, end-to-end tests on real
# cores made at test time (gcore and the kernel), bad-input tests; then the
# sanitizer stage (scripts/test-sanitizers.sh: the suite again under
# ASan+UBSan, and every libFuzzer target for 30 s); then the Debian
# packages (scripts/test-debian.sh: built, lintian, examples run against
# them). LPSAFE_SANITIZERS=0 and LPSAFE_DEBIAN=0 skip those stages for a
# quick local run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/gtest-count.sh

# How long each stage took, printed at the end (README, "Tests").
timings=()
stage_start=$SECONDS
stage_done() {
    timings+=("$1 $((SECONDS - stage_start)) s")
    stage_start=$SECONDS
}

bash scripts/install-deps.sh
stage_done "install"

BUILD=${BUILD:-build-test}
if [[ ! -f $BUILD/build.ninja ]]; then
    meson setup "$BUILD" --buildtype=debugoptimized -Dwerror=true >/dev/null
fi
ninja -C "$BUILD"
stage_done "build"
set +e
meson test -C "$BUILD" --print-errorlogs --num-processes 2
status=$?
set -e
main=$(gtest_count "$BUILD/meson-logs/testlog.txt" "$status")
stage_done "tests (oracle included)"

debian="debian packages skipped (LPSAFE_DEBIAN=0)"
if [[ ${LPSAFE_DEBIAN:-1} != 0 ]]; then
    set +e
    bash scripts/test-debian.sh "$BUILD/debian" | tee "$BUILD/debian.txt"
    deb_status=${PIPESTATUS[0]}
    set -e
    debian=$(tail -n 1 "$BUILD/debian.txt")
    ((deb_status == 0)) || { status=1; debian="test-debian: failed (see above)"; }
    stage_done "debian packages"
fi

sanitizers="sanitizer stage skipped (LPSAFE_SANITIZERS=0)"
if [[ ${LPSAFE_SANITIZERS:-1} != 0 ]]; then
    set +e
    bash scripts/test-sanitizers.sh | tee "$BUILD/sanitizers.txt"
    san_status=${PIPESTATUS[0]}
    set -e
    sanitizers=$(tail -n 1 "$BUILD/sanitizers.txt")
    [[ $sanitizers == sanitizers:* ]] || sanitizers="sanitizers: stage failed (see above)"
    ((san_status == 0)) || status=1
    stage_done "sanitizer build, suite and fuzzers"
fi
echo "stages: $(IFS=';'; echo "${timings[*]}" | sed 's/;/; /g')"

# Closing lines: the Debian stage's result, then the GoogleTest cases of the
# main build and the sanitizer stage's own summary.
echo "$debian"
echo "gtest: $main; $sanitizers"
exit "$status"
