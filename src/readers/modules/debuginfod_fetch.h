// Separate debug files from debuginfod servers, through elfutils' client
// library (libdebuginfod): DEBUGINFOD_URLS names the servers (unset or empty:
// no look-up at all), DEBUGINFOD_CACHE_PATH the download cache and
// DEBUGINFOD_TIMEOUT the seconds a transfer may stall; the library reads
// them itself. docs/symbols.md.
#pragma once

#include <memory>
#include <string>

#include "lpsafe/result.h"

namespace lpsafe::readers {

class DebuginfodFetch {
public:
    DebuginfodFetch();
    ~DebuginfodFetch();
    DebuginfodFetch(const DebuginfodFetch&) = delete;
    DebuginfodFetch& operator=(const DebuginfodFetch&) = delete;

    // DEBUGINFOD_URLS is set and not empty.
    static bool configured();
    // The path of the (cached) debug file for `build_id` (lower-case hex).
    // Nothing here is trusted: the caller checks the file's build-id.
    // `not_found` tells "no server has it" (the common case) from failures.
    Result<std::string> debuginfo(const std::string& build_id, bool& not_found);

private:
    struct Client;
    std::unique_ptr<Client> client_;  // started on first use
};

}  // namespace lpsafe::readers
