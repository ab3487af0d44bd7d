// Shared by unit tests that ask an independent tool (nm, eu-readelf,
// readelf) for the expected values.
#pragma once

#include <cstdio>
#include <string>

namespace lpsafe::test {

inline constexpr const char* kLibc = "/lib/x86_64-linux-gnu/libc.so.6";

// Standard output of a shell command ("" when it cannot be started).
inline std::string run(const std::string& cmd) {
    std::string out;
    FILE* f = popen(cmd.c_str(), "r");
    if (f == nullptr) return out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    pclose(f);
    return out;
}

}  // namespace lpsafe::test
