#!/usr/bin/env bash
# Sets up, builds and runs every test: unit tests, end-to-end tests on real
# cores made at test time (gcore and the kernel), bad-input tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh

BUILD=${BUILD:-build-test}
if [[ ! -f $BUILD/build.ninja ]]; then
    meson setup "$BUILD" --buildtype=debugoptimized -Dwerror=true >/dev/null
fi
ninja -C "$BUILD"
set +e
meson test -C "$BUILD" --print-errorlogs --num-processes 2
status=$?
set -e

# One closing line that counts individual GoogleTest cases, not executables.
log=$BUILD/meson-logs/testlog.txt
passed=$({ grep -hoE '^\[  PASSED  \] [0-9]+' "$log" || true; } | awk '{s += $4} END {print s + 0}')
skipped=$({ grep -hoE '^\[  SKIPPED \] [0-9]+' "$log" || true; } | awk '{s += $4} END {print s + 0}')
failed=$({ grep -hE '^\[  FAILED  \] [A-Za-z_]' "$log" || true; } | sort -u | wc -l)
if ((status != 0 && failed == 0)); then failed=1; fi  # a crash or timeout outside gtest
echo "gtest: $passed passed, $failed failed, $skipped skipped"
exit "$status"
