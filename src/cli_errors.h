// How the command reports errors, shared by main.cpp and kernel_cli.cpp:
// one line on standard error, and exit status 3, which no verdict uses
// (docs/lpsafe.1.md, EXIT STATUS).
#pragma once

#include <cstdio>
#include <string>

namespace lpsafe::cli {

inline constexpr int kExitError = 3;

inline int fail(const std::string& message) {
    std::fprintf(stderr, "lpsafe: error: %s\n", message.c_str());
    return kExitError;
}

inline void note(const std::string& message) { std::fprintf(stderr, "lpsafe: note: %s\n", message.c_str()); }

}  // namespace lpsafe::cli
