// Loaded livepatches and per-task patch_state as JSON, part of the kernel
// check's document (docs/json-format.md, "kernel.livepatch"); in the library
// because the C API returns the same document as the command.
#include "report/livepatch_report.h"

namespace lpsafe::report {
namespace {

using nlohmann::json;

template <typename T>
json or_null(const std::optional<T>& v) {
    return v ? json(*v) : json(nullptr);
}

}  // namespace

std::string patch_state_label(const readers::TaskPatchState& t) {
    return t.state ? readers::patch_state_name(*t.state) : "unreadable";
}

json livepatch_to_json(const readers::LivepatchStatus& status) {
    json patches = json::array();
    for (const readers::LoadedPatch& p : status.patches) {
        json objects = json::array();
        for (const readers::LivepatchObject& o : p.objects) {
            json funcs = json::array();
            for (const readers::LivepatchFunc& f : o.funcs) funcs.push_back({{"name", f.name}, {"sympos", f.sympos}});
            objects.push_back({{"name", o.name}, {"patched", or_null(o.patched)}, {"functions", std::move(funcs)}});
        }
        patches.push_back({{"name", p.name},
                           {"enabled", p.enabled},
                           {"transition", p.transition},
                           {"replace", or_null(p.replace)},
                           {"stack_order", or_null(p.stack_order)},
                           {"objects", std::move(objects)}});
    }
    return {{"available", status.available}, {"in_transition", status.in_transition()}, {"patches", std::move(patches)}};
}

}  // namespace lpsafe::report
