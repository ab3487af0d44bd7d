// What the C API's opaque handles are, and the boundary every entry point
// goes through: C++ errors and exceptions become an lpsafe_status plus a
// message for the calling thread (lpsafe_last_error), never an unwind into C.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "lpsafe.h"
#include "lpsafe/analyze.h"
#include "pipeline/kernel_run.h"
#include "pipeline/process_run.h"
#include "report/json_report.h"

struct lpsafe_source {
    enum class Kind { file, live, kernel };
    Kind kind = Kind::file;
    lpsafe::pipeline::ProcessInput input;       // file and live sources
    std::optional<lpsafe::ProcessImage> image;  // file sources: read at open
    std::vector<std::string> open_notes;        // what reading the file had to say
    lpsafe::pipeline::KernelOptions kernel;     // kernel sources
    // Kernel code, read at the first check and reused by later ones (as the
    // command's --watch does); mutated by checks, hence the lock.
    std::optional<lpsafe::KernelImage> kernel_image;
    // Checks of one source from several threads take turns: the kernel image
    // grows, and ptrace is a per-process resource anyway.
    std::mutex lock;
};

struct lpsafe_patch {
    lpsafe::PatchSet set;
    lpsafe::pipeline::KlpModules klp;
    std::string klp_disable;  // a loaded livepatch whose disabling is predicted
    bool empty() const { return set.empty() && klp_disable.empty(); }
};

struct lpsafe_task {
    const lpsafe::TaskVerdict* verdict = nullptr;
};

struct lpsafe_process {
    const lpsafe::ProcessReport* report = nullptr;
    std::vector<lpsafe_task> tasks;
};

// Immutable once made, so any number of threads may read one result; the
// process JSON is rendered on first request, once.
struct lpsafe_result {
    lpsafe::report::Mode mode = lpsafe::report::Mode::check;
    std::vector<lpsafe::ProcessReport> reports;
    lpsafe::Summary summary;
    std::vector<std::string> notes;
    std::vector<lpsafe_process> processes;  // views over `reports`
    mutable std::once_flag json_once;
    // A kernel check's document refers to the source's kernel image, which a
    // later check may change, so it is rendered when the check runs.
    mutable std::string json;
};

namespace lpsafe::capi {

// Sets the calling thread's message and returns `status`.
lpsafe_status fail(lpsafe_status status, const std::string& message);
inline lpsafe_status fail(lpsafe_status status, const Error& error) { return fail(status, error.message); }

// Runs `body` (returning lpsafe_status), turning any exception into a status.
template <typename Body>
lpsafe_status guarded(Body&& body) noexcept {
    try {
        return body();
    } catch (const std::bad_alloc&) {
        return fail(LPSAFE_ERR_NO_MEMORY, "out of memory");
    } catch (const std::exception& e) {
        return fail(LPSAFE_ERR_INTERNAL, std::string("internal error: ") + e.what());
    } catch (...) {
        return fail(LPSAFE_ERR_INTERNAL, "internal error: unknown exception");
    }
}

// A required pointer argument: NULL is LPSAFE_ERR_INVALID naming it.
inline bool missing(const void* p, const char* what, lpsafe_status& st) {
    if (p != nullptr) return false;
    st = fail(LPSAFE_ERR_INVALID, std::string(what) + " is NULL");
    return true;
}

// An optional C string: NULL and "" both mean "not given".
inline std::string optional_string(const char* s) { return s == nullptr ? std::string{} : std::string(s); }

// Builds the views of a result after its reports are final.
void index_result(lpsafe_result& r);

}  // namespace lpsafe::capi
