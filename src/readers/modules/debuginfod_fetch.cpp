#include "readers/modules/debuginfod_fetch.h"

#include <elfutils/debuginfod.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace lpsafe::readers {

struct DebuginfodFetch::Client {
    debuginfod_client* handle = nullptr;
    ~Client() {
        if (handle != nullptr) debuginfod_end(handle);
    }
};

DebuginfodFetch::DebuginfodFetch() = default;
DebuginfodFetch::~DebuginfodFetch() = default;

bool DebuginfodFetch::configured() {
    const char* urls = std::getenv(DEBUGINFOD_URLS_ENV_VAR);
    return urls != nullptr && urls[0] != '\0';
}

Result<std::string> DebuginfodFetch::debuginfo(const std::string& build_id, bool& not_found) {
    not_found = false;
    if (!configured()) return make_error("DEBUGINFOD_URLS is not set");
    if (!client_) {
        client_ = std::make_unique<Client>();
        client_->handle = debuginfod_begin();
    }
    if (client_->handle == nullptr) return make_error("cannot start the debuginfod client");
    char* path = nullptr;
    // A length of 0 says the build-id is given as a hex string.
    const int fd = debuginfod_find_debuginfo(client_->handle, reinterpret_cast<const unsigned char*>(build_id.c_str()),
                                             0, &path);
    not_found = fd == -ENOENT;
    if (fd < 0) return make_error("debuginfod has no debug file for build-id " + build_id + ": " + std::strerror(-fd));
    ::close(fd);
    std::string out = path != nullptr ? path : "";
    std::free(path);
    if (out.empty()) return make_error("debuginfod returned no path for build-id " + build_id);
    return out;
}

}  // namespace lpsafe::readers
