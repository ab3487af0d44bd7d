// Status names, the per-thread error message and the version: the parts of
// the C API that need no handle.
#include "handles.h"

namespace {

// Per thread, like errno: threads checking independently never see each
// other's messages, and no lock is needed.
thread_local std::string last_error;

}  // namespace

namespace lpsafe::capi {

lpsafe_status fail(lpsafe_status status, const std::string& message) {
    try {
        last_error = message;
    } catch (...) {
        last_error.clear();  // out of memory for the message: the status still says
                             // what happened
    }
    return status;
}

}  // namespace lpsafe::capi

extern "C" {

LPSAFE_API const char* lpsafe_status_name(lpsafe_status status) {
    switch (status) {
    case LPSAFE_OK:
        return "ok";
    case LPSAFE_ERR_INVALID:
        return "invalid argument";
    case LPSAFE_ERR_USAGE:
        return "usage error";
    case LPSAFE_ERR_INPUT:
        return "input error";
    case LPSAFE_ERR_PATCH:
        return "patch set error";
    case LPSAFE_ERR_CHECK:
        return "check failed";
    case LPSAFE_ERR_RANGE:
        return "index out of range";
    case LPSAFE_ERR_NO_MEMORY:
        return "out of memory";
    case LPSAFE_ERR_INTERNAL:
        return "internal error";
    case LPSAFE_STATUS_MAX_ENUM:
        break;
    }
    return "unknown status";
}

LPSAFE_API const char* lpsafe_last_error(void) { return last_error.c_str(); }

LPSAFE_API const char* lpsafe_version(void) { return LPSAFE_VERSION; }

}  // extern "C"
