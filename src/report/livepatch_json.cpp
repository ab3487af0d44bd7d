// Loaded livepatches and per-task patch_state as JSON, part of the kernel
// check's document (docs/json-format.md, "kernel.livepatch"); in the library
// because the C API returns the same document as the command.
#include "report/livepatch_report.h"

#include <map>

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

void add_patch_states(json& tasks, const std::vector<readers::TaskPatchState>& states) {
    std::map<std::pair<int, int>, const readers::TaskPatchState*> by_task;
    for (const readers::TaskPatchState& s : states) by_task[{s.pid, s.tid}] = &s;
    for (json& t : tasks) {
        const auto it = by_task.find({t["pid"].get<int>(), t["tid"].get<int>()});
        if (it == by_task.end()) continue;
        t["patch_state"] = patch_state_label(*it->second);
        if (!it->second->state) t["patch_state_error"] = it->second->unreadable;
    }
}

}  // namespace lpsafe::report
