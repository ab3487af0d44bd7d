#!/usr/bin/env bash
# Builds the Debian packages (liblpsafe0, liblpsafe-dev, lpsafe) from the
# tracked files of this tree with dpkg-buildpackage, checks them with
# lintian (no errors), unpacks them into a scratch root and builds and runs
# docs/examples against it through pkg-config (tests/capi/examples_test.sh).
#   scripts/test-debian.sh [WORK_DIR]      (default: a temporary directory)
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
work=$(realpath -m "${1:-$(mktemp -d /tmp/lpsafe-debian-XXXXXX)}")
tree="$work/lpsafe-$version"
rm -rf "$tree" "$work"/*.deb "$work/root"
mkdir -p "$tree" "$work/root"

# Only what git tracks: no build directories, no local leftovers.
git -C "$src" ls-files -z | (cd "$src" && tar --null -T - -cf -) | tar -xf - -C "$tree"
# Through ccache when there is one: the package build compiles the whole
# library again with Debian's flags, and WORK_DIR (the test command's
# build-test/debian) keeps the tree's path, so a second run hits.
if command -v ccache >/dev/null; then
    export CC="ccache ${CC:-cc}" CXX="ccache ${CXX:-c++}"
fi
(cd "$tree" && dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) ||
    { tail -n 50 "$work/build.log"; echo "test-debian: dpkg-buildpackage failed (log $work/build.log)" >&2; exit 1; }
changes=$(ls "$work"/lpsafe_"$version"_*.changes)
lintian --fail-on error --tag-display-limit 0 "$changes" | tee "$work/lintian.txt"

for deb in "$work"/liblpsafe0_*.deb "$work"/liblpsafe-dev_*.deb "$work"/lpsafe_*.deb; do
    dpkg-deb -x "$deb" "$work/root"
done
"$src/tests/capi/examples_test.sh" --installed "$work/root" "$src"
echo "test-debian: $(cd "$work" && ls ./*.deb | tr '\n' ' ')built, lintian without errors, examples ran against them"
