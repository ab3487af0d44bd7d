// Patch sets, built the way the command builds them from --func,
// --patch-file and --klp-module (src/pipeline/process_run.h).
#include "handles.h"

using lpsafe::capi::fail;
using lpsafe::capi::guarded;
using lpsafe::capi::missing;

namespace {

template <typename Add>
lpsafe_status add(lpsafe_patch* patch, const char* arg, const char* what, lpsafe_status on_error, Add&& body) {
    return guarded([&] {
        lpsafe_status st = LPSAFE_OK;
        if (missing(patch, "patch", st) || missing(arg, what, st)) return st;
        auto done = body(std::string(arg));
        return done ? LPSAFE_OK : fail(on_error, done.error());
    });
}

}  // namespace

extern "C" {

LPSAFE_API lpsafe_status lpsafe_patch_new(lpsafe_patch** out) {
    return guarded([&] {
        lpsafe_status st = LPSAFE_OK;
        if (missing(out, "out", st)) return st;
        *out = new lpsafe_patch();
        return LPSAFE_OK;
    });
}

LPSAFE_API lpsafe_status lpsafe_patch_add_function(lpsafe_patch* patch, const char* spec) {
    return add(patch, spec, "spec", LPSAFE_ERR_PATCH,
               [&](const std::string& s) { return lpsafe::pipeline::add_function(patch->set, s); });
}

LPSAFE_API lpsafe_status lpsafe_patch_add_file(lpsafe_patch* patch, const char* path) {
    return add(patch, path, "path", LPSAFE_ERR_INPUT,
               [&](const std::string& p) { return lpsafe::pipeline::add_patch_file(patch->set, p); });
}

LPSAFE_API lpsafe_status lpsafe_patch_add_klp_module(lpsafe_patch* patch, const char* ko_path) {
    return add(patch, ko_path, "ko_path", LPSAFE_ERR_INPUT,
               [&](const std::string& p) { return lpsafe::pipeline::add_klp_module(patch->set, patch->klp, p); });
}

LPSAFE_API lpsafe_status lpsafe_patch_set_klp_disable(lpsafe_patch* patch, const char* module) {
    return add(patch, module, "module", LPSAFE_ERR_USAGE, [&](const std::string& m) -> lpsafe::Status {
        if (m.empty()) return lpsafe::make_error("an empty module name");
        patch->klp_disable = m;
        return lpsafe::Ok{};
    });
}

LPSAFE_API void lpsafe_patch_free(lpsafe_patch* patch) { delete patch; }

}  // extern "C"
