// Debian 12's real kernel package (linux-image-<release>-amd64), unpacked
// once per machine by fixtures/fetch-debian-kernel.sh into the shared cache
// (${LPSAFE_CACHE:-/var/cache/lpsafe}/kernel-<release>/). The tests that use
// it fail, never skip, when it cannot be had: CI reaches Debian's archive.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "readers/kernel/kernel_image_file.h"
#include "test_support.h"

namespace lpsafe::test {

struct DebianKernel {
    std::string dir;      // the cache directory
    std::string release;  // "6.1.0-57-amd64"
    std::string vmlinuz() const { return dir + "/boot/vmlinuz-" + release; }
    std::string modules() const { return dir + "/lib/modules"; }  // holds <release>/
    bool ok() const { return !dir.empty(); }
};

inline const DebianKernel& debian_kernel() {
    static const DebianKernel k = [] {
        DebianKernel out;
        const char* fixtures = std::getenv("LPSAFE_SOURCE_FIXTURES");
        if (fixtures == nullptr) {
            ADD_FAILURE() << "LPSAFE_SOURCE_FIXTURES is not set (tests/meson.build sets it)";
            return out;
        }
        std::string dir = run(std::string(fixtures) + "/fetch-debian-kernel.sh");
        while (!dir.empty() && dir.back() == '\n') dir.pop_back();
        const auto dash = dir.rfind("/kernel-");
        if (dir.empty() || dash == std::string::npos) {
            ADD_FAILURE() << "fixtures/fetch-debian-kernel.sh could not unpack Debian's kernel package";
            return out;
        }
        out.dir = dir;
        out.release = dir.substr(dash + 8);
        return out;
    }();
    return k;
}

// The package's vmlinuz unpacked and opened once per test binary (null,
// with a failure, when it cannot be).
inline std::shared_ptr<ElfImage> debian_vmlinux() {
    static const std::shared_ptr<ElfImage> image = []() -> std::shared_ptr<ElfImage> {
        const DebianKernel& k = debian_kernel();
        if (!k.ok()) return nullptr;
        auto opened = readers::open_kernel_image(k.vmlinuz());
        if (!opened) {
            ADD_FAILURE() << opened.error().message;
            return nullptr;
        }
        return opened->elf;
    }();
    return image;
}

}  // namespace lpsafe::test
