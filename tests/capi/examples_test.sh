#!/bin/sh
# Installs the build into a scratch root (meson install --destdir), then
# builds docs/examples against the installed tree only, through pkg-config,
# and runs them on real input: the committed kernel capture with a real
# livepatch module, and a live child process.
#   examples_test.sh BUILD_DIR SOURCE_DIR
#   examples_test.sh --installed ROOT SOURCE_DIR   a tree installed otherwise
#                                                  (scripts/test-debian.sh: the .debs)
set -eu
child=
scratch=
cleanup() {
    [ -n "$child" ] && kill "$child" 2>/dev/null || true
    [ -n "$scratch" ] && rm -rf "$scratch"
}
trap cleanup EXIT INT TERM HUP
fail() { echo "examples_test: $*" >&2; exit 1; }

if [ "$1" = --installed ]; then
    root=$2
    src=$3
    out=$(mktemp -d /tmp/lpsafe-examples-XXXXXX)
    scratch=$out
else
    build=$1
    src=$2
    root=$(mktemp -d /tmp/lpsafe-examples-XXXXXX)
    scratch=$root
    out="$root/out"
    meson install -C "$build" --destdir "$root" --no-rebuild --quiet >"$root.log" 2>&1 ||
        { cat "$root.log"; rm -f "$root.log"; fail "meson install"; }
    rm -f "$root.log"
fi

# What was installed: the library with its soname links, the headers, the
# .pc file, the command and both man pages.
lib=$(dirname "$(find "$root" -name 'liblpsafe.so.0' | head -n 1)")
[ -n "$lib" ] && [ -L "$lib/liblpsafe.so" ] && [ -L "$lib/liblpsafe.so.0" ] || fail "no liblpsafe.so symlinks"
for f in include/lpsafe.h include/lpsafe.hpp include/lpsafe_version.h bin/lpsafe share/man/man1/lpsafe.1 \
         share/man/man3/lpsafe.3; do
    [ -n "$(find "$root" \( -path "*/$f" -o -path "*/$f.gz" \) | head -n 1)" ] || fail "not installed: $f"
done
# The .so exports the C API and nothing else.
other=$(nm -D --defined-only "$lib/liblpsafe.so.0" | awk '$3 !~ /^lpsafe_/ && $3 != "LPSAFE_0" {print $3}')
[ -z "$other" ] || fail "exported beyond the C API: $other"

# A client of the installed tree: pkg-config with the scratch root as sysroot.
pc=$(dirname "$(find "$root" -name lpsafe.pc | head -n 1)")
export PKG_CONFIG_PATH="$pc" PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_LIBDIR="$pc"
pkg-config --exists lpsafe || fail "pkg-config does not find lpsafe"
cflags=$(pkg-config --cflags lpsafe)
libs=$(pkg-config --libs lpsafe)
mkdir -p "$out"
cc -std=c99 -Wall -Wextra -pedantic -Werror $cflags -o "$out/gate_kernel" "$src/docs/examples/gate_kernel.c" $libs
c++ -std=c++20 -Wall -Wextra -Werror $cflags -o "$out/check_process" "$src/docs/examples/check_process.cpp" $libs
export LD_LIBRARY_PATH="$lib"

# The gate on the committed capture: unreadable tasks in it keep the gate shut.
capture="$src/fixtures/kernel/6.18.44-fc-v669.lpk"
set +e
"$out/gate_kernel" "$src/fixtures/livepatch/klp_vmlinux.ko" "$capture" >"$out/gate.txt"
st=$?
set -e
[ "$st" = 1 ] || { cat "$out/gate.txt"; fail "gate_kernel on the capture: exit $st, want 1"; }
grep -q '^not safe: ' "$out/gate.txt" || fail "gate_kernel printed no summary"
grep -q ' unreadable ' "$out/gate.txt" || fail "gate_kernel printed no blocker"
set +e
"$out/gate_kernel" /nonexistent.ko "$capture" 2>"$out/gate.err"
st=$?
set -e
[ "$st" = 2 ] && grep -q nonexistent "$out/gate.err" || fail "gate_kernel on a missing module: exit $st"

# check_process on a live child sleeping in clock_nanosleep.
sleep 600 &
child=$!
sleep 0.3
set +e
"$out/check_process" "$child" libc.so.6:clock_nanosleep >"$out/blocked.txt"
st=$?
set -e
[ "$st" = 1 ] && grep -q 'blocked in libc.so.6:clock_nanosleep' "$out/blocked.txt" ||
    { cat "$out/blocked.txt"; fail "check_process, patched function on the stack: exit $st"; }
"$out/check_process" "$child" libc.so.6:epoll_create1 >"$out/safe.txt" ||
    { cat "$out/safe.txt"; fail "check_process, function not on the stack: exit $?"; }
grep -q '^patch now$' "$out/safe.txt" || fail "check_process did not say 'patch now'"
echo "examples_test: installed tree, pkg-config, gate_kernel and check_process all passed"
