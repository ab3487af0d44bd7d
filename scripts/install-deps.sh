#!/usr/bin/env bash
# Installs what lpsafe needs to build and test on Debian 12, as root.
# Idempotent: does nothing when every package is already installed.
set -euo pipefail

PACKAGES=(
    # build
    g++ meson ninja-build pkg-config
    # engine
    libdw-dev libelf-dev libcapstone-dev libbpf-dev libunwind-dev
    # compressed kernel dumps (makedumpfile's kdump format)
    libkdumpfile-dev
    # the unpacked kernel image cache's content hash (XXH3)
    libxxhash-dev
    # snapshot files (deflate)
    zlib1g-dev
    # symbols for stripped modules (src/readers/modules/debug_symbols.h): MiniDebugInfo
    # is xz (liblzma), debuginfod through elfutils' client library
    liblzma-dev libdebuginfod-dev
    # command and output
    libcli11-dev nlohmann-json3-dev libfmt-dev
    # kernel capture archives (src/readers/kernel/kernel_archive.cpp)
    zlib1g-dev
    # kernel images and modules (/boot/vmlinuz-R, *.ko.xz): src/readers/kernel/decompress.cpp
    liblzma-dev libzstd-dev liblz4-dev libbz2-dev
    # the decompression tests recompress a real vmlinux with the kernel's tools
    xz-utils zstd lz4 bzip2 gzip
    # tests and benchmarks
    libgtest-dev libgmock-dev libbenchmark-dev
    # fixtures (real cores) and the peers we compare against
    gcc binutils gdb elfutils
    # debug symbols tests: a real local debuginfod server, xz for MiniDebugInfo,
    # and a distribution's own debug file (libc.so.6's, in Debian's build-id tree)
    debuginfod xz-utils libc6-dbg
    # snapshot replay test: proves no module file is opened
    strace
    # real-kernel oracle (fixtures/kernel-guest): boots Debian's kernel under
    # TCG with a busybox initramfs; the kernel image and its headers are
    # fetched by fixtures/kernel-guest/fetch-kernel.sh (versioned names);
    # make builds its livepatch modules (linux-headers-* does not depend on it)
    qemu-system-x86 busybox-static make
    # real-software e2e test (tests/e2e/real_software_test.cpp): Debian's
    # python3, packaged multi-threaded daemons, a JIT runtime that must stay
    # unreliable
    python3 memcached redis-server nodejs
    # the library's tests (tests/capi): its ABI against the committed
    # baseline (scripts/abi.sh), and man rendering lpsafe(1) and lpsafe(3)
    abigail-tools man-db
    # Debian packages of the library and command (debian/, scripts/test-debian.sh)
    dpkg-dev debhelper lintian
    # aarch64, ppc64le and s390x cores (fixtures/make-foreign-cores.sh): the
    # cross compilers and glibcs, and qemu-user to run them and write their cores
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-powerpc64le-linux-gnu libc6-dev-ppc64el-cross
    gcc-s390x-linux-gnu libc6-dev-s390x-cross qemu-user
    # sanitizers and libFuzzer (scripts/test-sanitizers.sh)
    clang libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps.sh: missing packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
fi
echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
