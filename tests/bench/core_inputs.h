// The real cores the benchmarks run on, found through the environment:
//   LPSAFE_FIXTURES   fixtures/make-cores.sh output (parked.c, 9 threads)
//   LPSAFE_DEEP_CORE  directory with deep_threads.core and deep_threads, made
//                     by scripts/bench-vs-peers.sh --core-only (1,001 threads)
// Each benchmark is registered once per core that exists.
#pragma once

#include <cstdlib>
#include <string>
#include <sys/stat.h>
#include <vector>

namespace lpsafe::bench {

struct CoreInput {
    std::string name;  // shown in the benchmark name
    std::string core;
    std::string exe;
};

inline bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

// Cores unwound with CFI: the 1,000-thread core first, then parked.c -O2
// without frame pointers.
inline std::vector<CoreInput> cfi_cores() {
    std::vector<CoreInput> out;
    if (const char* d = std::getenv("LPSAFE_DEEP_CORE"); d != nullptr && exists(std::string(d) + "/deep_threads.core")) {
        out.push_back({"deep_threads", std::string(d) + "/deep_threads.core", std::string(d) + "/deep_threads"});
    }
    if (const char* f = std::getenv("LPSAFE_FIXTURES"); f != nullptr && exists(std::string(f) + "/nofp/core.gcore")) {
        out.push_back({"parked_nofp", std::string(f) + "/nofp/core.gcore", std::string(f) + "/nofp/parked"});
    }
    return out;
}

// parked.c built without any CFI but with frame pointers: its own frames are
// unwound by the frame-pointer walker (libc's by CFI).
inline std::vector<CoreInput> fp_cores() {
    std::vector<CoreInput> out;
    if (const char* f = std::getenv("LPSAFE_FIXTURES"); f != nullptr && exists(std::string(f) + "/nocfi/core.gcore")) {
        out.push_back({"parked_nocfi", std::string(f) + "/nocfi/core.gcore", std::string(f) + "/nocfi/parked"});
    }
    return out;
}

}  // namespace lpsafe::bench
