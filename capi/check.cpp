// lpsafe_check and lpsafe_stack: the same runs as `lpsafe check` and
// `lpsafe stack` (src/pipeline), their reports kept in an lpsafe_result.
#include "handles.h"

using lpsafe::capi::fail;
using lpsafe::capi::guarded;
using lpsafe::capi::missing;

namespace {

using lpsafe::report::Mode;

lpsafe_status check_kernel(lpsafe_source& s, const lpsafe_patch& patch, const lpsafe_options& o, Mode mode,
                           lpsafe_result& r) {
    lpsafe::pipeline::KernelOptions k = s.kernel;
    k.klp = patch.klp;
    k.klp_disable = patch.klp_disable;
    k.strict = o.strict != 0;
    auto run = lpsafe::pipeline::check_kernel_once(k, patch.set, s.kernel_image);
    if (!run) return fail(LPSAFE_ERR_CHECK, run.error());
    r.summary = lpsafe::pipeline::counted(run->report);
    r.notes = run->notes;
    lpsafe::report::JsonOut out(r.json);
    lpsafe::pipeline::kernel_json(out, *run, mode);
    std::call_once(r.json_once, [] {});  // rendered: lpsafe_result_json must not render it again
    r.reports.push_back(std::move(run->report));
    return LPSAFE_OK;
}

lpsafe_status check_processes(lpsafe_source& s, const lpsafe_patch& patch, const lpsafe_options& o, lpsafe_result& r) {
    if (!patch.klp_disable.empty()) {
        return fail(LPSAFE_ERR_USAGE, "lpsafe_patch_set_klp_disable predicts a kernel livepatch: use a kernel source");
    }
    const auto options = lpsafe::pipeline::make_check_options(o.max_frames, o.no_cross_check == 0);
    if (s.image) {
        r.notes = s.open_notes;
        auto report = lpsafe::check_process(*s.image, patch.set, options);
        if (!report) return fail(LPSAFE_ERR_PATCH, report.error());
        r.reports.push_back(std::move(*report));
    } else {
        auto reports = lpsafe::pipeline::check_processes(s.input, patch.set, options,
                                                         [&](const std::string& n) { r.notes.push_back(n); });
        if (!reports) return fail(LPSAFE_ERR_CHECK, reports.error());
        r.reports = std::move(*reports);
    }
    r.summary = lpsafe::report::total(r.reports);
    return LPSAFE_OK;
}

lpsafe_status run(lpsafe_source* source, const lpsafe_patch& patch, const lpsafe_options* options, Mode mode,
                  lpsafe_result** out) {
    lpsafe_options o;
    lpsafe_options_init(&o);
    if (options != nullptr) o = *options;
    if (o.max_frames == 0 || o.max_frames > 100000) {
        return fail(LPSAFE_ERR_INVALID, "max_frames must be 1..100000 (lpsafe_options_init sets 128)");
    }
    auto r = std::make_unique<lpsafe_result>();
    r->mode = mode;
    std::lock_guard hold(source->lock);
    const lpsafe_status st = source->kind == lpsafe_source::Kind::kernel ? check_kernel(*source, patch, o, mode, *r)
                                                                         : check_processes(*source, patch, o, *r);
    if (st != LPSAFE_OK) return st;
    lpsafe::capi::index_result(*r);
    *out = r.release();
    return LPSAFE_OK;
}

}  // namespace

extern "C" {

LPSAFE_API lpsafe_status lpsafe_options_init(lpsafe_options* options) {
    lpsafe_status st = LPSAFE_OK;
    if (missing(options, "options", st)) return st;
    *options = lpsafe_options{128, 0, 0};
    return LPSAFE_OK;
}

LPSAFE_API lpsafe_status lpsafe_check(lpsafe_source* source, const lpsafe_patch* patch, const lpsafe_options* options,
                                      lpsafe_result** out) {
    return guarded([&] {
        lpsafe_status st = LPSAFE_OK;
        if (missing(out, "out", st)) return st;
        *out = nullptr;
        if (missing(source, "source", st) || missing(patch, "patch", st)) return st;
        // A check with nothing to look for would call every task safe.
        if (patch->empty()) {
            return fail(LPSAFE_ERR_USAGE,
                        "no functions to check: add some with "
                        "lpsafe_patch_add_function, _add_file or _add_klp_module (or lpsafe_patch_set_klp_disable)");
        }
        return run(source, *patch, options, Mode::check, out);
    });
}

LPSAFE_API lpsafe_status lpsafe_stack(lpsafe_source* source, const lpsafe_options* options, lpsafe_result** out) {
    return guarded([&] {
        lpsafe_status st = LPSAFE_OK;
        if (missing(out, "out", st)) return st;
        *out = nullptr;
        if (missing(source, "source", st)) return st;
        const lpsafe_patch none;
        return run(source, none, options, Mode::stack, out);
    });
}

}  // extern "C"
