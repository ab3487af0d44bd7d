#!/bin/sh
# The ABI of liblpsafe's C API, with libabigail (Debian: abigail-tools).
#   abi.sh dump  BUILD_DIR SOURCE_DIR   write abi/<soname>.abi (the committed baseline)
#   abi.sh check BUILD_DIR SOURCE_DIR   compare the built library with it (meson test 'abi')
# Only what include/ declares is recorded (--headers-dir, --drop-private-types,
# --exported-interfaces-only): the C API, not the engine behind it.
# check fails on any change but added functions: a compatible addition needs
# a new baseline (dump), an incompatible change a new soversion (capi/meson.build)
# and then a new baseline, whose file name is the new soname.
set -eu
mode=$1
build=$2
src=$3
lib="$build/capi/liblpsafe.so.0"
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
baseline="$src/abi/$soname.abi"

dump() {
    abidw --exported-interfaces-only --drop-private-types --headers-dir "$src/include" \
        --headers-dir "$build/include" --no-corpus-path --no-comp-dir-path --no-show-locs "$lib"
}

if ! readelf -S "$lib" | grep -q '\.debug_info'; then
    echo "abi.sh: $lib has no debug info (build with -g): nothing to compare" >&2
    exit 77
fi
case $mode in
dump)
    mkdir -p "$src/abi"
    dump >"$baseline"
    echo "abi.sh: wrote $baseline"
    ;;
check)
    if [ ! -f "$baseline" ]; then
        echo "abi.sh: no baseline $baseline for soname $soname: record it with scripts/abi.sh dump" >&2
        exit 1
    fi
    current=$(mktemp)
    trap 'rm -f "$current"' EXIT
    dump >"$current"
    set +e
    abidiff --no-added-syms --no-show-locs "$baseline" "$current"
    st=$?
    set -e
    if [ "$st" -ne 0 ]; then
        echo "abi.sh: the C API's ABI differs from $baseline (abidiff status $st)." >&2
        echo "  compatible addition: scripts/abi.sh dump $build $src; incompatible: bump soversion" >&2
        exit 1
    fi
    echo "abi.sh: ABI of $soname matches $baseline"
    ;;
*)
    echo "usage: abi.sh dump|check BUILD_DIR SOURCE_DIR" >&2
    exit 2
    ;;
esac
