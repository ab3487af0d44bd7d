#!/usr/bin/env bash
# Unpacks Debian 12's real kernel image package for the tests that need a
# real vmlinuz and real modules, and prints the directory it went to:
#   ${LPSAFE_CACHE:-/var/cache/lpsafe}/kernel-<version>/   (the whole package, dpkg -x)
# The layout is shared with the kernel-oracle test: a directory that already
# holds boot/vmlinuz-<version> is used as it is, nothing is downloaded again.
# Only Debian's archive is reached (apt-get download). Exit 2: not available.
set -euo pipefail

cache=${LPSAFE_CACHE:-/var/cache/lpsafe}
# linux-image-amd64 depends on exactly one versioned image package.
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1)
if [[ -z $pkg ]]; then
    echo "fetch-debian-kernel.sh: apt-cache names no linux-image package (run apt-get update)" >&2
    exit 2
fi
version=${pkg#linux-image-}
dir=$cache/kernel-$version
if [[ -f $dir/boot/vmlinuz-$version ]]; then
    echo "$dir"
    exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
if ! (cd "$work" && apt-get download -qq "$pkg" >/dev/null 2>&1); then
    echo "fetch-debian-kernel.sh: apt-get download $pkg failed" >&2
    exit 2
fi
mkdir -p "$work/tree"
dpkg -x "$work"/*.deb "$work/tree"
# Rename into place at once so that a concurrent reader never sees half a tree.
if ! mv -T "$work/tree" "$dir" 2>/dev/null && [[ ! -f $dir/boot/vmlinuz-$version ]]; then
    echo "fetch-debian-kernel.sh: cannot create $dir" >&2
    exit 2
fi
echo "$dir"
