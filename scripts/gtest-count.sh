# Sourced by the test scripts. gtest_count LOG STATUS: "N passed, M failed,
# K skipped", counting individual GoogleTest cases in a meson test log, not
# executables. A non-zero STATUS with no failed case means a crash or timeout
# outside gtest, which counts as one failure.
gtest_count() {
    local log=$1 status=$2 passed skipped failed
    passed=$({ grep -hoE '^\[  PASSED  \] [0-9]+' "$log" || true; } | awk '{s += $4} END {print s + 0}')
    skipped=$({ grep -hoE '^\[  SKIPPED \] [0-9]+' "$log" || true; } | awk '{s += $4} END {print s + 0}')
    failed=$({ grep -hE '^\[  FAILED  \] [A-Za-z_]' "$log" || true; } | sort -u | wc -l)
    if ((status != 0 && failed == 0)); then failed=1; fi
    echo "$passed passed, $failed failed, $skipped skipped"
}
