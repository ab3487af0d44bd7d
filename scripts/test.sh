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
meson test -C "$BUILD" --print-errorlogs --num-processes 2
